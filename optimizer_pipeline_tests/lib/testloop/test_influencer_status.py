"""The outreach status lifecycle and its append-only log: every transition of the 5 × 5 matrix, log round trip with
line numbers, unreadable lines, replay that reports (and skips) invalid entries, concurrent appends."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from optimizer_pipeline.lib.testloop.influencer_status import (
    STATUSES,
    StatusError,
    allowed_next,
    append_entry,
    new_entry,
    normalize_status,
    read_log,
    replay,
    status_log_path,
    transition_problem,
)

VALID = {
    ("potential", "contacted"),
    ("contacted", "agreed"),
    ("agreed", "posted"),
    ("potential", "rejected"),
    ("contacted", "rejected"),
    ("agreed", "rejected"),
}


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
def test_transition_matrix(current, new):
    assert (transition_problem(current, new) is None) is ((current, new) in VALID)


def test_final_states_and_messages():
    assert allowed_next("posted") == allowed_next("rejected") == ()
    assert allowed_next("contacted") == ("agreed", "rejected")
    assert transition_problem("posted", "rejected") == "posted is final; it cannot become rejected"
    assert transition_problem("potential", "agreed") == (
        "potential → agreed is not allowed (from potential: contacted or rejected)"
    )


def test_normalize_status():
    assert normalize_status(" Posted ") == "posted"
    with pytest.raises(StatusError, match="unknown status 'live'"):
        normalize_status("live")


def test_log_round_trip_line_numbers_and_bad_lines(tmp_path):
    path = status_log_path(tmp_path, "glowfuel")
    assert path == tmp_path / "testloop" / "glowfuel" / "status_log.jsonl"
    at = datetime(2026, 3, 1, 12, 0, 0, 123, tzinfo=UTC)
    append_entry(path, new_entry("@Maya", "c1", "Contacted", "sent the draft", at=at))
    with path.open("a") as fh:
        fh.write("{not json\n\n")
        fh.write(json.dumps({"at": "2026-03-02T00:00:00Z", "handle": "maya", "status": "agreed"}) + "\n")
        fh.write(json.dumps({"at": "yesterday", "handle": "maya", "creative_id": "c1", "status": "agreed"}) + "\n")
    append_entry(path, new_entry("maya", "c1", "agreed", at=at))
    entries, problems = read_log(path)
    assert [(e.line, e.handle, e.creative_id, e.status) for e in entries] == [
        (1, "maya", "c1", "contacted"),
        (6, "maya", "c1", "agreed"),
    ]
    assert entries[0].at == "2026-03-01T12:00:00Z" and entries[0].note == "sent the draft"
    assert [p["line"] for p in problems] == [2, 4, 5]
    assert "missing field(s) ['creative_id']" in problems[1]["reason"]
    assert read_log(tmp_path / "nothing.jsonl") == ([], [])


def test_concurrent_appends_never_interleave(tmp_path):
    path = status_log_path(tmp_path, "glowfuel")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: append_entry(path, new_entry(f"h{i}", "c1", "contacted", "x" * 500)), range(200)))
    entries, problems = read_log(path)
    assert len(entries) == 200 and not problems


def test_replay_applies_valid_entries_and_reports_the_rest():
    start = {("maya", "c1"): "potential", ("leo", "c2"): "posted"}
    entries = [
        new_entry("maya", "c1", "agreed"),  # skips contacted: reported, not applied
        new_entry("maya", "c1", "contacted"),
        new_entry("leo", "c2", "rejected"),  # posted is final
        new_entry("ana", "c1", "contacted"),  # no such assignment
        new_entry("maya", "c1", "agreed"),
    ]
    entries = [e.__class__(**{**e.__dict__, "line": i + 1}) for i, e in enumerate(entries)]
    result = replay(start, entries)
    assert result.status == {("maya", "c1"): "agreed", ("leo", "c2"): "posted"}
    assert result.applied == 2
    assert [(p["line"], p["handle"]) for p in result.problems] == [(1, "maya"), (3, "leo"), (4, "ana")]
    assert "not an assignment" in result.problems[2]["reason"]
    assert result.changed_at[("maya", "c1")] == entries[4].at
