"""An inbox folder as a sensor sees it: which files in ``<inbox>/<client>/`` are ready, and which are new.

Written for the conversion inbox; the ad inbox (``<home>/ad_inbox/<client>/``, CSV exports) follows the same rules
with its own suffixes.

Pure logic (``os.scandir`` of one folder level, no parsing, no Dagster), so a sensor tick stays cheap and testable.

* A file is a *candidate* when :func:`optimizer_pipeline.lib.testloop.event_files.read_inbox_files` would read it: a
  ``.jsonl`` / ``.ndjson`` / ``.json`` regular file, not hidden (``.x``), not an editor backup (``x~``). In-flight
  uploads (``x.tmp``, ``x.part``, ``x.partial``, ``x.crdownload``) never have one of those suffixes.
* Its *arrival* is ``max(mtime, ctime)`` in nanoseconds: a rename into the folder updates ctime but keeps mtime
  (``mv``, ``rsync -t``), so mtime alone would miss a file moved in with an old timestamp.
* A candidate is *settled* when it arrived at least ``settle_seconds`` ago (a writer still appending keeps moving
  its arrival forward), otherwise *pending*.
* The high-water mark of a client is the newest ``(arrival_ns, name)`` already handed to a run; *new* files are the
  settled ones above it, oldest first, at most ``limit`` per tick (the rest wait for the next tick).
* The run key is a digest of every settled file at or below the new mark (name, size, mtime): exactly the inbox
  content the run will ingest. A reset cursor recomputes the same set and so the same key, and Dagster never
  starts a second run for a key it has seen.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from optimizer_pipeline.lib.testloop.event_files import INBOX_SUFFIXES

CURSOR_VERSION = 1


@dataclass(frozen=True, order=True)
class InboxFile:
    """One candidate file; ordering is ``(arrival_ns, name)``, the order files are handed to runs."""

    arrival_ns: int
    name: str
    size: int = field(compare=False)
    mtime_ns: int = field(compare=False)

    @property
    def mark(self) -> tuple[int, str]:
        return (self.arrival_ns, self.name)


@dataclass
class FolderScan:
    """One client folder at one instant: settled and pending candidates, each sorted oldest first."""

    settled: list[InboxFile]
    pending: list[InboxFile]
    skipped: int  # entries that are not candidates (temp names, dotfiles, other suffixes, folders)


@dataclass
class NewFiles:
    """What one tick hands to one run for one client."""

    files: list[InboxFile]  # new settled files, oldest first (at most ``limit``)
    mark: tuple[int, str]  # the high-water mark after this tick
    run_key: str
    remaining: int  # new settled files left for later ticks
    covered: list[InboxFile] = field(default_factory=list)  # every file the run reads: what ``run_key`` digests

    @property
    def covered_names(self) -> list[str]:
        """The names the run must read, sorted as the parser orders files."""
        return sorted(f.name for f in self.covered)


def is_candidate_name(name: str, suffixes: Sequence[str] = INBOX_SUFFIXES) -> bool:
    """Whether the inbox's reader would read a file of this name (see the module docstring); ``suffixes``: what the
    reader reads (the conversion parser's by default; the ad inbox passes its CSV suffix)."""
    if name.startswith(".") or name.endswith("~"):
        return False
    return Path(name).suffix.lower() in suffixes


def scan_folder(
    folder: str | Path, *, now_ns: int, settle_seconds: float, suffixes: Sequence[str] = INBOX_SUFFIXES
) -> FolderScan:
    """Candidates (names with one of ``suffixes``) directly in ``folder`` (one level, no recursion); a missing
    folder is empty."""
    settled: list[InboxFile] = []
    pending: list[InboxFile] = []
    skipped = 0
    cutoff = now_ns - int(settle_seconds * 1e9)
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return FolderScan([], [], 0)
    for entry in entries:
        if not is_candidate_name(entry.name, suffixes):
            skipped += 1
            continue
        try:
            if not entry.is_file():
                skipped += 1
                continue
            st = entry.stat()
        except FileNotFoundError:  # deleted between listing and stat
            continue
        f = InboxFile(max(st.st_mtime_ns, st.st_ctime_ns), entry.name, st.st_size, st.st_mtime_ns)
        (settled if f.arrival_ns <= cutoff else pending).append(f)
    return FolderScan(sorted(settled), sorted(pending), skipped)


def run_key(client: str, files: list[InboxFile]) -> str:
    """``<client>:<digest>`` of the files a run covers (name, size, mtime: a chmod or touch of ctime alone does not
    change it)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        h.update(f"{f.name}\0{f.size}\0{f.mtime_ns}\n".encode())
    return f"{client}:{h.hexdigest()[:24]}"


def new_files(client: str, scan: FolderScan, mark: tuple[int, str] | None, *, limit: int) -> NewFiles | None:
    """The settled files above ``mark`` (at most ``limit``), the advanced mark and the run key; None if none."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    fresh = [f for f in scan.settled if mark is None or f.mark > tuple(mark)]
    if not fresh:
        return None
    taken = fresh[:limit]
    new_mark = taken[-1].mark
    covered = [f for f in scan.settled if f.mark <= new_mark]
    return NewFiles(taken, new_mark, run_key(client, covered), len(fresh) - len(taken), covered)


def load_cursor(cursor: str | None) -> dict[str, tuple[int, str]]:
    """Client → high-water mark from a sensor cursor (``None`` / empty / unreadable = start from scratch)."""
    if not cursor:
        return {}
    try:
        doc = json.loads(cursor)
        marks = doc["clients"] if doc.get("v") == CURSOR_VERSION else {}
        return {str(c): (int(m[0]), str(m[1])) for c, m in marks.items()}
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return {}  # a cursor we cannot read: rescanning is safe, run keys prevent duplicate runs


def dump_cursor(marks: dict[str, tuple[int, str]]) -> str:
    """The cursor string (sorted, so equal marks give equal cursors)."""
    return json.dumps({"v": CURSOR_VERSION, "clients": {c: list(m) for c, m in sorted(marks.items())}})
