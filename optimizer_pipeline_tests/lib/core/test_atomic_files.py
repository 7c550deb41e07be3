"""Atomic writes: the target is replaced whole or not at all, and no temporary file outlives its block."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from optimizer_pipeline.lib.core.atomic_files import (
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    write_parquet_atomic,
)


def test_replaces_target_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.json"  # missing folder is created
    atomic_write_text(target, "old")
    inode_before = target.stat().st_ino
    with atomic_output(target) as pending:
        assert pending.path.parent == target.parent and pending.path.name.startswith(".a.json.")
        pending.path.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the block ends
    assert target.read_text() == "new"
    assert target.stat().st_ino != inode_before  # a rename of a new file, not an in-place rewrite
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_error_keeps_old_target_and_removes_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError, match="writer failed"), atomic_output(target) as pending:
        pending.path.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert not pending.path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_error_without_previous_target_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_output(tmp_path / "new.parquet") as pending:
        pending.path.write_bytes(b"x")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_late_target_temp_dir_and_discard(tmp_path: Path) -> None:
    """Content-addressed use: the name is known only after writing; identical content already stored is dropped."""
    spool, objects = tmp_path / "tmp", tmp_path / "objects"
    with atomic_output(None, temp_dir=spool, prefix="v1.", suffix=".part") as pending:
        assert pending.path.parent == spool and pending.path.name.startswith("v1.")
        pending.path.write_bytes(b"abc")
        pending.target = objects / "ab" / "abc.mp4"
    assert (objects / "ab" / "abc.mp4").read_bytes() == b"abc"
    with atomic_output(None, temp_dir=spool) as pending:
        pending.path.write_bytes(b"abc")
        pending.discard()
    assert list(spool.iterdir()) == []
    with pytest.raises(ValueError, match="without a target"), atomic_output(None, temp_dir=spool) as pending:
        pending.path.write_bytes(b"lost")
    assert list(spool.iterdir()) == []
    with pytest.raises(ValueError, match="needs a target or a temp_dir"), atomic_output(None):
        pass


def test_replace_failure_removes_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: str | os.PathLike, dst: str | os.PathLike) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_bytes(tmp_path / "a.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_write_parquet_atomic_round_trip(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[5, 6])
    write_parquet_atomic(df, tmp_path / "t" / "0.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t" / "0.parquet"), df.reset_index(drop=True))
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["0.parquet"]
