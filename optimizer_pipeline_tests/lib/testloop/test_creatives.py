"""The creative registry: tags validated against the label vocabulary (missing ones recorded for the autopsy when
there is a video), the canonical pattern hash, ad ids owned by one creative, quarantine of bad entries with reasons
that name the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from optimizer_pipeline.lib.decisions.experiment_registry import load_experiments
from optimizer_pipeline.lib.features.labels import vocabulary
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.testloop.creatives import (
    CREATIVE_COLUMNS,
    TAG_FIELDS,
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
#: Test fixture: three good entries (c3 has every tag, so it needs no video) and four deliberately malformed ones
#: (never in the shipped sample).
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
  - {id: c5, name: No cta and no video, status: active,
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
    assert list(result.accepted["creative_id"]) == ["c1", "c3", "c4"]
    rejected = result.rejected.set_index("entry")
    assert list(rejected.index) == [1, 2, 5, 6]
    assert all(str(path) in r for r in rejected["reason"])
    assert "creatives[1] (id 'c2')" in rejected.loc[1, "reason"]
    assert rejected.loc[1, "field"] == "tags.emotion" and "'joy' is not one of" in rejected.loc[1, "reason"]
    assert rejected.loc[2, "field"] == "id"
    assert "duplicate id 'c1' (first used by creatives[0])" in rejected.loc[2, "reason"]
    assert rejected.loc[5, "field"] == "tags"
    assert "tag(s) ['cta_type'] missing and no video_path to derive them from" in rejected.loc[5, "reason"]
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
    assert result.rejected.empty
    active = active_creatives(result.accepted)
    assert len(active) == 12 and active["pattern_hash"].nunique() == 12
    assert active["tags_missing"].map(len).eq(0).all()  # only fully tagged creatives go to influencers
    untagged = result.accepted[result.accepted["tags_missing"].map(len) > 0]
    assert list(untagged["status"]) == ["draft"] and untagged["video_path"].notna().all()  # the autopsy's demo


def test_sample_ad_ids_cover_the_sample_ad_account_with_consistent_tags():
    client = load_registry(SAMPLE_CLIENTS_FILE).client("glowfuel")
    accepted = load_creatives(client.test_loop.creatives_file).accepted
    owner = {ad: row["creative_id"] for row in accepted.to_dict("records") for ad in row["ad_ids"]}
    experiments = load_experiments(client.decisions.experiments_file, timezone_name="UTC")
    assert set(owner) == {ad for e in experiments for v in e.variants for ad in v.ad_ids}  # every ad, each once
    tags = accepted.set_index("creative_id")[list(TAG_FIELDS)]

    def differing(ad_a: str, ad_b: str) -> list[str]:
        a, b = tags.loc[owner[ad_a]], tags.loc[owner[ad_b]]
        return [f for f in TAG_FIELDS if a[f] != b[f]]

    by_experiment = {e.id: [v.ad_ids[0] for v in e.variants] for e in experiments}
    assert differing(*by_experiment["hook-question-vs-statement"]) == ["hook_type"]
    assert tags.loc[owner["glowfuel-ad-01"], "hook_type"] == "bold_claim"  # a statement hook
    assert tags.loc[owner["glowfuel-ad-02"], "hook_type"] == "question"
    assert owner["glowfuel-ad-03"] == owner["glowfuel-ad-04"]  # the A/A test: one creative uploaded twice
    assert differing(*by_experiment["cta-shop-vs-learn"]) == ["cta_type"]
    assert differing(*by_experiment["price-anchor-offer"]) == []  # the price display is no pattern attribute


def test_missing_tags_are_recorded_not_rejected_when_there_is_a_video():
    entries = [
        {"id": "none", "name": "No tags", "video_path": "v/none.mp4", "status": "draft"},
        {"id": "null", "name": "Null tags", "video_path": "v/null.mp4", "status": "draft", "tags": None},
        {"id": "part", "name": "Partly", "video_path": "v/p.mp4", "status": "draft",
         "tags": {"hook_type": "Question", "emotion": None, "pacing": "", "cta_type": "save"}},
    ]  # fmt: skip
    result = parse_creatives(entries)
    assert result.rejected.empty and len(result.accepted) == 3
    rows = result.accepted.set_index("creative_id")
    assert rows.loc["none", "tags_missing"] == list(TAG_FIELDS) == rows.loc["null", "tags_missing"]
    assert rows.loc["part", "tags_missing"] == ["emotion", "pacing", "pain_point"]
    assert rows.loc["part", "hook_type"] == "question" and rows.loc["part", "emotion"] == ""
    assert rows["pattern_hash"].isna().all()  # named only once every tag is known (creative_dna)
    assert parse_creatives([GOOD]).accepted.loc[0, "tags_missing"] == []


def test_incomplete_tags_without_a_video_and_bad_tag_values_are_still_rejected():
    no_video = {k: v for k, v in GOOD.items() if k != "video_path"} | {"tags": {"hook_type": "pov"}}
    typo = {**GOOD, "id": "c2", "tags": {"hook_type": "questoin"}}  # a typo is an error, not a missing tag
    not_a_mapping = {**GOOD, "id": "c3", "tags": ["question"]}
    empty_path = {**GOOD, "id": "c4", "video_path": "  "}
    result = parse_creatives([no_video, typo, not_a_mapping, empty_path], source="f.yaml")
    assert result.accepted.empty
    reasons = list(result.rejected["reason"])
    assert (
        "field 'tags': tag(s) ['emotion', 'pacing', 'pain_point', 'cta_type'] missing and no video_path" in reasons[0]
    )
    assert "field 'tags.hook_type': 'questoin' is not one of" in reasons[1]
    assert "field 'tags': expected a mapping" in reasons[2]
    assert "field 'video_path': '  ' is not a path" in reasons[3]
    complete_without_video = {k: v for k, v in GOOD.items() if k != "video_path"}
    [row] = parse_creatives([complete_without_video]).accepted.to_dict("records")
    assert row["video_path"] is None and row["pattern_hash"] == full_pattern_hash(GOOD["tags"])


def test_ad_ids_are_text_and_belong_to_one_creative():
    entries = [
        {**GOOD, "ad_ids": [120210000000000001, " ad-2 "]},
        {**GOOD, "id": "c2", "ad_ids": ["ad-3", "120210000000000001"]},  # claimed by creatives[0]
        {**GOOD, "id": "c3", "ad_ids": ["ad-4", "ad-4"]},
        {**GOOD, "id": "c4", "ad_ids": "ad-5"},
        {**GOOD, "id": "c5", "ad_ids": ["ad 6", True]},
        {**GOOD, "id": "c6"},
    ]
    result = parse_creatives(entries, source="f.yaml")
    assert list(result.accepted["creative_id"]) == ["c1", "c6"]
    assert result.accepted["ad_ids"].tolist() == [["120210000000000001", "ad-2"], []]
    reasons = result.rejected.set_index("creative_id")["reason"]
    assert "ad id '120210000000000001' already belongs to creatives[0]" in reasons["c2"]
    assert "ad id 'ad-4' listed twice" in reasons["c3"]
    assert "expected a list of ad ids" in reasons["c4"]
    assert "ad_ids[0] = 'ad 6' is not an ad id" in reasons["c5"] and "ad_ids[1] = True" in reasons["c5"]
    assert set(result.rejected["field"]) == {"ad_ids"}


def test_ad_ids_and_tags_missing_survive_parquet(tmp_path):
    entries = [{**GOOD, "ad_ids": ["a1", "a2"]}, {"id": "n", "name": "New", "video_path": "n.mp4", "status": "draft"}]
    accepted = parse_creatives(entries).accepted
    accepted.to_parquet(tmp_path / "c.parquet")
    back = pd.read_parquet(tmp_path / "c.parquet")
    assert [list(v) for v in back["ad_ids"]] == [["a1", "a2"], []]
    assert [list(v) for v in back["tags_missing"]] == [[], list(TAG_FIELDS)]
    assert back["pattern_hash"].isna().tolist() == [False, True]
