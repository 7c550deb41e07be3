"""Brief-test registry: the sample file loads, bad entries are set aside with reasons naming file/entry/field."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from optimizer_pipeline.lib.reports.brief_tests import (
    REJECTED_COLUMNS,
    VIDEO_COLUMNS,
    BriefTestsError,
    load_brief_tests,
    parse_brief_tests,
    videos_frame,
)

SAMPLE = Path(__file__).parents[3] / "optimizer_pipeline" / "sample" / "glowfuel_brief_tests.yaml"


def _entry(**over: object) -> dict:
    base = {
        "id": "t-1",
        "pattern": {"feature": "hook_type", "level": "question", "pattern_hash": "hook:question"},
        "hashtag": "#Meal Prep",
        "bucket": "16-30s",
        "metric": "engagement_rate",
        "with_brief": [
            {"video_id": 1, "author": "a", "views": 1000, "engagements": 50},
            {"video_id": "2", "views": 2000.0, "engagements": 90},
        ],
        "control": [
            {"video_id": "3", "author": "b", "views": 1500, "engagements": 40},
            {"video_id": "4", "author": "c", "views": 900, "engagements": 30},
        ],
    }
    base.update(over)
    return base


def test_sample_file_loads_every_test() -> None:
    result = load_brief_tests(SAMPLE)
    assert result.read == 3 and len(result.accepted) == 3 and result.rejected.empty
    metrics = {t.id: t.metric for t in result.accepted}
    assert metrics["gf-link-in-bio-2026-11"] == "conversion_rate"
    question = result.accepted[0]
    assert question.pattern.key == "hook_type=question" and question.pattern.attributes == {"hook": "question"}
    assert question.hashtag == "nutrition" and question.bucket == "16-30s"
    assert len(question.with_brief) == len(question.control) == 14
    assert question.with_brief[0].author == "creator01"


def test_good_entry_is_normalised() -> None:
    result = parse_brief_tests({"brief_tests": [_entry()]}, source="f.yaml")
    (test,) = result.accepted
    assert test.hashtag == "meal-prep"  # slugified like the client registry's hashtags
    assert test.with_brief[0].video_id == "1" and test.with_brief[1].exposure == 2000
    assert test.with_brief[1].author is None
    frame = videos_frame(result.accepted)
    assert list(frame.columns) == list(VIDEO_COLUMNS) and len(frame) == 4
    assert frame["arm"].tolist() == ["with_brief", "with_brief", "control", "control"]


BAD_CASES = [
    ({"metric": "ctr"}, "metric", "not one of"),
    ({"pattern": None}, "pattern", "expected a mapping"),
    ({"pattern": {"level": "question"}}, "pattern", "give a 'feature'"),
    ({"pattern": {"feature": "hook_type", "level": "shout"}}, "pattern.level", "'shout' is not one of"),
    ({"pattern": {"feature": "hook_type"}}, "pattern.level", "needs the level"),
    ({"pattern": {"feature": "cut_count", "level": "x"}}, "pattern.level", "only a categorical feature"),
    ({"pattern": {"feature": "sparkle"}}, "pattern.feature", "not a feature"),
    ({"pattern": {"pattern_hash": "pace:fast|hook:question"}}, "pattern.pattern_hash", "not canonical"),
    ({"pattern": {"pattern_hash": "hook:yelling"}}, "pattern.pattern_hash", "hook:yelling is not one of"),
    ({"pattern": {"feature": "hook_type", "level": "pov", "pattern_hash": "hook:question"}}, "pattern", "disagrees"),
    ({"hashtag": None}, "hashtag", "missing"),
    ({"bucket": "0-10s"}, "bucket", "is not one of"),
    ({"id": "bad id!"}, "id", "may only use"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"control": [{"video_id": "3", "views": 10, "engagements": 1}]}, "control", "at least 2 videos"),
    (
        {
            "control": [
                {"video_id": "1", "views": 10, "engagements": 1},
                {"video_id": "9", "views": 5, "engagements": 1},
            ]
        },
        "control[0].video_id",
        "listed twice (first in with_brief[0])",
    ),
    (
        {
            "control": [
                {"video_id": "3", "views": 0, "engagements": 0},
                {"video_id": "9", "views": 5, "engagements": -1},
            ]
        },
        "control[0].views",
        "whole number > 0",
    ),
    ({"metric": "conversion_rate"}, "with_brief[0].engagements", "unknown field(s) ['engagements', 'views']"),
]


@pytest.mark.parametrize(("change", "field", "words"), BAD_CASES)
def test_bad_entry_is_set_aside_with_file_entry_and_field(change: dict, field: str, words: str) -> None:
    good = _entry(id="good")
    bad = _entry(**change)
    result = parse_brief_tests({"brief_tests": [good, bad]}, source="clients/gf_brief.yaml")
    assert result.read == 2 == len(result.accepted) + len(result.rejected)
    assert [t.id for t in result.accepted] == ["good"]
    row = result.rejected.iloc[0]
    assert list(result.rejected.columns) == list(REJECTED_COLUMNS)
    assert row["entry"] == 1 and row["source_file"] == "clients/gf_brief.yaml"
    assert field in row["field"].split(", ")
    assert row["reason"].startswith("clients/gf_brief.yaml: brief_tests[1]")
    assert f"field '{field}'" in row["reason"] and words in row["reason"]


def test_conversion_entry_checks_conversions_against_clicks() -> None:
    videos = [{"video_id": "a", "clicks": 10, "conversions": 11}, {"video_id": "b", "clicks": 10, "conversions": 1}]
    ok = [{"video_id": "c", "clicks": 10, "conversions": 0}, {"video_id": "d", "clicks": 20, "conversions": 2}]
    entry = _entry(metric="conversion_rate", with_brief=videos, control=ok)
    result = parse_brief_tests([entry], source="f.yaml")
    assert not result.accepted
    assert "field 'with_brief[0].conversions': 11 conversions exceed 10 clicks" in result.rejected["reason"].iloc[0]


def test_duplicate_id_and_non_mapping_entries() -> None:
    result = parse_brief_tests({"brief_tests": [_entry(), _entry(), "oops"]}, source="f.yaml")
    assert len(result.accepted) == 1 and result.read == 3
    dup, junk = result.rejected.to_dict("records")
    assert dup["test_id"] == "t-1" and "duplicate id 't-1' (first used by brief_tests[0])" in dup["reason"]
    assert junk["entry"] == 2 and junk["field"] == "entry" and pd.isna(junk["test_id"])


def test_unreadable_files_raise_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(BriefTestsError, match="brief-tests file not found"):
        load_brief_tests(tmp_path / "none.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("brief_tests: [\n", encoding="utf-8")
    with pytest.raises(BriefTestsError, match=r"broken\.yaml: not valid YAML"):
        load_brief_tests(broken)
    with pytest.raises(BriefTestsError, match="expected a mapping with a 'brief_tests' list"):
        parse_brief_tests({"brief_tests": {"id": "x"}}, source="x.yaml")
    for empty in (None, {}, {"brief_tests": None}):
        assert parse_brief_tests(empty).read == 0


def test_rerun_is_identical() -> None:
    doc = {"brief_tests": [_entry(), _entry(id="t-2", metric="ctr"), _entry(id="t-3")]}
    first = parse_brief_tests(copy.deepcopy(doc), source="f.yaml")
    second = parse_brief_tests(copy.deepcopy(doc), source="f.yaml")
    assert first.accepted == second.accepted
    pd.testing.assert_frame_equal(first.rejected, second.rejected)
