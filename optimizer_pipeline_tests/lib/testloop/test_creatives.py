"""The creative registry: tags validated against the label vocabulary, the canonical pattern hash, quarantine of bad
entries with reasons that name the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from optimizer_pipeline.lib.features.labels import vocabulary
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.testloop.creatives import (
    CREATIVE_COLUMNS,
    TAG_VALUES,
    CreativesError,
    active_creatives,
    load_creatives,
    parse_creatives,
)
from optimizer_pipeline.lib.testloop.pattern_hash import full_pattern_hash, pattern_hash

GOOD = {
    "id": "c1",
    "name": "Why am I tired?",
    "video_path": "videos/c1.mp4",
    "status": "active",
    "tags": {"hook_type": "question", "emotion": "curiosity", "pacing": "fast", "pain_point": "no_time",
             "cta_type": "urgency"},
}  # fmt: skip
#: Test fixture: two good entries and five deliberately malformed ones (never in the shipped sample).
WITH_ERRORS = """
creatives:
  - {id: c1, name: "Why am I tired?", video_path: videos/c1.mp4, status: active,
     tags: {hook_type: question, emotion: curiosity, pacing: fast, pain_point: no_time, cta_type: urgency}}
  - {id: c2, name: Joyful, video_path: videos/c2.mp4, status: active,
     tags: {hook_type: pov, emotion: joy, pacing: fast, pain_point: no_time, cta_type: follow}}
  - {id: c1, name: Same id again, video_path: videos/c1b.mp4, status: active,
     tags: {hook_type: story, emotion: trust, pacing: slow, pain_point: budget, cta_type: save}}
  - {id: c3, name: No video, status: draft,
     tags: {hook_type: story, emotion: trust, pacing: slow, pain_point: budget, cta_type: save}}
  - {id: c4, name: Before-after, video_path: /abs/c4.mp4, status: Paused,
     tags: {hook_type: Before-After, emotion: inspiration, pacing: medium, pain_point: health worry, cta_type: buy_now}}
  - {id: c5, name: No cta, video_path: videos/c5.mp4, status: active,
     tags: {hook_type: story, emotion: trust, pacing: slow, pain_point: budget}}
  - just a string
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "creatives.yaml"
    path.write_text(text)
    return path


def test_known_pattern_hash_matches_full_and_partial_builders():
    result = parse_creatives([GOOD])
    [row] = result.accepted.to_dict("records")
    assert row["pattern_hash"] == "hook:question|emo:curiosity|pace:fast|pain:no_time|cta:urgency"
    assert row["pattern_hash"] == full_pattern_hash(GOOD["tags"]) == pattern_hash(GOOD["tags"])
    assert list(result.accepted.columns) == list(CREATIVE_COLUMNS)


def test_allowed_values_are_the_vocabulary_tuples_themselves():
    assert TAG_VALUES["hook_type"] is vocabulary.HOOK_TYPES
    assert TAG_VALUES["emotion"] is vocabulary.EMOTIONS
    assert TAG_VALUES["pacing"] is vocabulary.PACING
    assert TAG_VALUES["pain_point"] is vocabulary.PAIN_POINTS
    assert TAG_VALUES["cta_type"] is vocabulary.CTA_TYPES


def test_bad_entries_are_quarantined_with_file_entry_and_field(tmp_path):
    path = write(tmp_path, WITH_ERRORS)
    result = load_creatives(path)
    assert result.read == 7 == len(result.accepted) + len(result.rejected)
    assert list(result.accepted["creative_id"]) == ["c1", "c4"]
    rejected = result.rejected.set_index("entry")
    assert list(rejected.index) == [1, 2, 3, 5, 6]
    assert all(str(path) in r for r in rejected["reason"])
    assert "creatives[1] (id 'c2')" in rejected.loc[1, "reason"]
    assert rejected.loc[1, "field"] == "tags.emotion" and "'joy' is not one of" in rejected.loc[1, "reason"]
    assert rejected.loc[2, "field"] == "id"
    assert "duplicate id 'c1' (first used by creatives[0])" in rejected.loc[2, "reason"]
    assert rejected.loc[3, "field"] == "video_path" and "missing" in rejected.loc[3, "reason"]
    assert rejected.loc[5, "field"] == "tags.cta_type"
    assert rejected.loc[6, "field"] == "entry" and pd.isna(rejected.loc[6, "creative_id"])
    assert yaml.safe_load(rejected.loc[1, "raw"])["tags"]["emotion"] == "joy"  # raw entry kept for the fix


def test_tags_and_status_are_normalised_and_paths_resolved(tmp_path):
    path = write(tmp_path, WITH_ERRORS)
    c4 = load_creatives(path).accepted.set_index("creative_id").loc["c4"]
    assert (c4["hook_type"], c4["pain_point"], c4["status"]) == ("before_after", "health_worry", "paused")
    assert c4["video_path"] == "/abs/c4.mp4"
    c1 = load_creatives(path).accepted.set_index("creative_id").loc["c1"]
    assert c1["video_path"] == str(tmp_path.resolve() / "videos" / "c1.mp4")


def test_active_creatives_only_active_in_id_order(tmp_path):
    active = active_creatives(load_creatives(write(tmp_path, WITH_ERRORS)).accepted)
    assert list(active["creative_id"]) == ["c1"]


def test_several_problems_in_one_entry_are_all_named():
    bad = {**GOOD, "status": "live", "colour": "red", "tags": {**GOOD["tags"], "pacing": "warp"}}
    [reason] = parse_creatives([bad], source="f.yaml").rejected["reason"]
    assert "field 'status': 'live'" in reason and "field 'colour'" in reason and "field 'tags.pacing'" in reason


@pytest.mark.parametrize(
    ("text", "needle"),
    [("creatives: [\n", "not valid YAML"), ("creatives: {a: 1}\n", "expected a mapping with a 'creatives' list")],
)
def test_unreadable_files_raise_naming_the_file(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(CreativesError, match=needle) as info:
        load_creatives(path)
    assert str(path) in str(info.value)
    with pytest.raises(CreativesError, match="not found"):
        load_creatives(tmp_path / "missing.yaml")


def test_sample_creatives_twelve_active_distinct_patterns():
    client = load_registry(SAMPLE_CLIENTS_FILE).client("glowfuel")
    result = load_creatives(client.test_loop.creatives_file)
    assert result.rejected.empty and len(result.accepted) == 12
    assert set(result.accepted["status"]) == {"active"}
    assert result.accepted["pattern_hash"].nunique() == 12
