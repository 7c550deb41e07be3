"""Atomic file writes: readers (DuckDB globs, the UI, a second run, another process) never see half-written files.

Every write goes to a temporary file in the target's folder (or a caller-chosen folder on the same filesystem), is
flushed to disk with ``fsync`` and then renamed over the target with ``os.replace``, which is atomic on POSIX and
Windows: a reader sees the old file or the new one, never a torn one. On any error the temporary file is removed, so
a crash or a failed writer leaves at most a hidden ``.<name>.*.tmp`` file, never a wrong target. The directory
entry itself is not fsync'ed: after a power loss the rename may be lost, but never half-applied.

:func:`atomic_output` is the one primitive; :func:`atomic_write_bytes`, :func:`atomic_write_text` and
:func:`write_parquet_atomic` are the common cases built on it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class PendingFile:
    """The temporary file of one :func:`atomic_output` block: write to ``path``.

    ``target`` may be set or changed inside the block, for files whose name depends on what was written (a
    content-addressed object named by its hash); :meth:`discard` drops the file instead of renaming it (the same
    content is already in place).
    """

    def __init__(self, path: Path, target: Path | None) -> None:
        self.path = path
        self.target = target
        self.discarded = False

    def discard(self) -> None:
        """Remove the temporary file at the end of the block instead of renaming it over ``target``."""
        self.discarded = True


def _fsync(path: Path) -> None:
    """Flush a closed file's bytes to disk (the writer may have been a library that only closes its handle)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(
    target: Path | None,
    *,
    temp_dir: Path | None = None,
    prefix: str | None = None,
    suffix: str = ".tmp",
) -> Iterator[PendingFile]:
    """Yield a :class:`PendingFile` whose ``path`` is a fresh, empty temporary file; on success fsync and rename it
    over ``target``, on error (or :meth:`PendingFile.discard`) remove it.

    The temporary file is created beside ``target`` (its folder is created if missing), or in ``temp_dir``, which
    must be on the same filesystem for the rename to be atomic; its name is ``prefix`` (default ``.<target name>.``)
    + random + ``suffix``, hidden so folder scans skip it. ``target`` may be ``None`` when it is only known once the
    bytes are written; the block must then set ``pending.target`` (or discard). Created with mode 0600 like every
    ``mkstemp`` file; the mode survives the rename.
    """
    folder = Path(temp_dir) if temp_dir is not None else (Path(target).parent if target is not None else None)
    if folder is None:
        raise ValueError("atomic_output needs a target or a temp_dir")
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(target).name if target is not None else "file"
    fd, tmp = tempfile.mkstemp(prefix=prefix if prefix is not None else f".{name}.", suffix=suffix, dir=folder)
    os.close(fd)
    pending = PendingFile(Path(tmp), Path(target) if target is not None else None)
    try:
        yield pending
        if pending.discarded:
            pending.path.unlink(missing_ok=True)
            return
        if pending.target is None:
            raise ValueError("atomic_output block ended without a target: set pending.target or call discard()")
        _fsync(pending.path)
        pending.target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(pending.path, pending.target)
    except BaseException:
        pending.path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, temp_dir: Path | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_output` for ``temp_dir``)."""
    with atomic_output(Path(path), temp_dir=temp_dir) as pending:
        pending.path.write_bytes(data)


def atomic_write_text(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def write_parquet_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` (without its index) to ``path`` atomically. Arrow-backed columns are written as one chunk: a
    frame concatenated from a stored table and fresh rows would otherwise be paged differently from the same rows
    computed at once, and a rerun would change the file's bytes though not its content."""
    table = pa.Table.from_pandas(df, preserve_index=False).combine_chunks()
    with atomic_output(Path(path)) as pending:
        pq.write_table(table, pending.path)
