import os
import time
from pathlib import Path

import pytest

from optimizer_pipeline.lib.testloop.event_files import read_inbox_files
from optimizer_pipeline.lib.testloop.inbox import (
    dump_cursor,
    is_candidate_name,
    load_cursor,
    new_files,
    run_key,
    scan_folder,
)

NOW = time.time_ns()
LATER = NOW + 3600 * 10**9  # an hour on: everything written in the test has settled


def touch(folder: Path, name: str, text: str = "{}\n") -> Path:
    p = folder / name
    p.write_text(text)
    return p


def test_candidates_are_exactly_what_the_parser_reads(tmp_path):
    names = ["a.jsonl", "b.ndjson", "c.JSON", ".hidden.jsonl", "d.jsonl.tmp", "e.json.part", "f.partial", "g.jsonl~"]
    names += ["h.crdownload", "notes.txt", ".x.tmp"]
    for n in names:
        touch(tmp_path, n)
    (tmp_path / "sub.jsonl").mkdir()
    scan = scan_folder(tmp_path, now_ns=LATER, settle_seconds=0)
    assert sorted(f.name for f in scan.settled) == ["a.jsonl", "b.ndjson", "c.JSON"]
    assert sorted(f.name for f in scan.settled) == sorted(p.name for p in read_inbox_files(tmp_path))
    assert scan.skipped == len(names) - 3 + 1  # the folder named like a file is skipped too
    assert not is_candidate_name(".x.tmp") and is_candidate_name("x.ndjson")


def test_missing_folder_is_empty(tmp_path):
    scan = scan_folder(tmp_path / "nope", now_ns=NOW, settle_seconds=0)
    assert (scan.settled, scan.pending, scan.skipped) == ([], [], 0)


def test_recent_files_are_pending_until_settled(tmp_path):
    touch(tmp_path, "a.jsonl")
    now = time.time_ns()
    scan = scan_folder(tmp_path, now_ns=now, settle_seconds=30)
    assert [f.name for f in scan.pending] == ["a.jsonl"] and scan.settled == []
    later = scan_folder(tmp_path, now_ns=now + 31 * 10**9, settle_seconds=30)
    assert [f.name for f in later.settled] == ["a.jsonl"] and later.pending == []


def test_a_file_moved_in_with_an_old_mtime_still_counts_as_new(tmp_path):
    """mv keeps mtime but updates ctime: arrival = max(mtime, ctime) sees the move."""
    inbox, staging = tmp_path / "inbox", tmp_path / "staging"
    inbox.mkdir()
    staging.mkdir()
    touch(inbox, "b.jsonl")
    first = new_files("acme", scan_folder(inbox, now_ns=LATER, settle_seconds=0), None, limit=10)
    old = touch(staging, "a.jsonl")
    os.utime(old, ns=(NOW - 86400 * 10**9, NOW - 86400 * 10**9))  # a day old, sorts before b.jsonl by mtime
    os.rename(old, inbox / "a.jsonl")
    scan = scan_folder(inbox, now_ns=LATER, settle_seconds=0)
    moved = next(f for f in scan.settled if f.name == "a.jsonl")
    assert moved.mtime_ns < first.mark[0] <= moved.arrival_ns
    second = new_files("acme", scan, first.mark, limit=10)
    assert [f.name for f in second.files] == ["a.jsonl"]


def test_high_water_mark_limit_and_run_keys(tmp_path):
    for i in range(5):
        p = touch(tmp_path, f"f{i}.jsonl", f"{i}\n")
        os.utime(p, ns=(NOW + i, NOW + i))
    scan = scan_folder(tmp_path, now_ns=LATER, settle_seconds=0)
    # arrival = max(mtime, ctime) = the ctime of each utime call, i.e. creation order here
    assert [f.name for f in scan.settled] == [f"f{i}.jsonl" for i in range(5)]
    first = new_files("acme", scan, None, limit=2)
    assert [f.name for f in first.files] == ["f0.jsonl", "f1.jsonl"] and first.remaining == 3
    second = new_files("acme", scan, first.mark, limit=2)
    assert [f.name for f in second.files] == ["f2.jsonl", "f3.jsonl"] and second.remaining == 1
    third = new_files("acme", scan, second.mark, limit=2)
    assert [f.name for f in third.files] == ["f4.jsonl"] and third.remaining == 0
    assert new_files("acme", scan, third.mark, limit=2) is None
    keys = {first.run_key, second.run_key, third.run_key}
    assert len(keys) == 3 and all(k.startswith("acme:") for k in keys)
    # the key covers every file up to the mark: a reset cursor (limit large) ends on the same set as the last tick
    assert new_files("acme", scan, None, limit=100).run_key == third.run_key
    assert run_key("other", scan.settled) != third.run_key  # the client is part of the key
    with pytest.raises(ValueError):
        new_files("acme", scan, None, limit=0)


def test_run_key_ignores_ctime_but_not_content(tmp_path):
    p = touch(tmp_path, "a.jsonl", "one\n")
    key = new_files("c", scan_folder(tmp_path, now_ns=LATER, settle_seconds=0), None, limit=9).run_key
    os.chmod(p, 0o600)  # ctime moves, content and mtime do not
    again = new_files("c", scan_folder(tmp_path, now_ns=LATER, settle_seconds=0), None, limit=9)
    assert again.run_key == key
    p.write_text("one\ntwo\n")
    changed = new_files("c", scan_folder(tmp_path, now_ns=LATER, settle_seconds=0), None, limit=9)
    assert changed.run_key != key


def test_cursor_round_trip_and_unreadable_cursors():
    marks = {"b": (5, "x.jsonl"), "a": (7, "y.json")}
    text = dump_cursor(marks)
    assert load_cursor(text) == marks and text == dump_cursor(dict(reversed(list(marks.items()))))
    for bad in (None, "", "not json", '{"v": 99, "clients": {}}', '{"v": 1, "clients": {"a": 5}}', "[]"):
        assert load_cursor(bad) == {}
