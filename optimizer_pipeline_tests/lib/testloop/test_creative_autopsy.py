"""The creative autopsy: missing tags filled from a real video (the market loop's extractor and rule labeler, through
the feature batch runner), the given tag winning, each field's source recorded, planted disagreements flagged, videos
that cannot be analysed set aside with their reason and counted, and a rerun giving the same table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.features import FEATURE_VERSION, extract_video_features
from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY, pacing_label
from optimizer_pipeline.lib.features.labels.rules import rule_labeler
from optimizer_pipeline.lib.features.runner import run_feature_batch
from optimizer_pipeline.lib.sample.creative_videos import creative_design
from optimizer_pipeline.lib.sample.media import plan_video, render_video
from optimizer_pipeline.lib.testloop.creative_autopsy import (
    ANALYSED,
    DNA_COLUMNS,
    NO_VIDEO,
    SET_ASIDE,
    VIDEO_FEATURES,
    autopsy,
    batch_evidence,
    derive_tags,
    video_job_id,
    video_jobs,
)
from optimizer_pipeline.lib.testloop.creatives import TAG_FIELDS, parse_creatives
from optimizer_pipeline.lib.testloop.pattern_hash import full_pattern_hash

#: Cut rates well inside each pacing band of lib/features/dictionary.py (fast >= 0.5 cuts/s, slow < 0.2).


def render_creative_video(path: Path, pacing: str, *, seed: int = 0, duration_s: int = 10) -> Path:
    """A small real mp4 from the sample corpus renderer whose cut rate reads as ``pacing``."""
    return render_video(path, plan_video(creative_design(pacing), duration_s, np.random.default_rng(seed)))


def registry(tmp_path: Path) -> pd.DataFrame:
    """Five creatives: untagged + video, hand-tagged with planted errors + video, partly tagged + missing video,
    empty video file, fully tagged without video."""
    (tmp_path / "v").mkdir()
    render_creative_video(tmp_path / "v" / "fast.mp4", "fast")
    (tmp_path / "v" / "empty.mp4").write_bytes(b"")
    entries = [
        {"id": "untagged", "name": "Too tired to cook? 3 quick protein dinners, link in bio",
         "video_path": "v/fast.mp4", "status": "draft", "ad_ids": ["ad-1"]},
        {"id": "planted", "name": "Why am I always tired at 3 pm?", "video_path": "v/fast.mp4", "status": "active",
         # the video is fast-cut and the name asks a question: hook and pacing are planted errors; the rules find
         # no CTA in the name ("none"), which never contradicts the given one
         "tags": {"hook_type": "bold_claim", "emotion": "curiosity", "pacing": "slow", "pain_point": "no_energy",
                  "cta_type": "save"}},
        {"id": "lost", "name": "Lost video", "video_path": "v/nowhere.mp4", "status": "draft",
         "tags": {"hook_type": "pov"}},
        {"id": "empty", "name": "Empty file", "video_path": "v/empty.mp4", "status": "draft"},
        {"id": "plain", "name": "No video needed", "status": "paused", "ad_ids": ["ad-2", "ad-3"],
         "tags": {"hook_type": "story", "emotion": "trust", "pacing": "slow", "pain_point": "budget",
                  "cta_type": "buy_now"}},
    ]  # fmt: skip
    result = parse_creatives(entries, base_dir=tmp_path)
    assert result.rejected.empty
    return result.accepted


def analyse(creatives: pd.DataFrame, cache_dir: Path):
    jobs = video_jobs(creatives, "acme")
    batch = run_feature_batch(
        list(jobs.values()),
        extractor=extract_video_features,
        cache_dir=cache_dir,
        feature_version=FEATURE_VERSION,
        labeler=rule_labeler,
        max_failure_share=1.0,
    )
    evidence, reasons = batch_evidence(jobs, batch.rows, batch.quarantined)
    return autopsy(creatives, evidence, reasons), batch


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("autopsy")
    creatives = registry(tmp_path)
    result, batch = analyse(creatives, tmp_path / "features")
    return tmp_path, creatives, result, batch


def test_missing_tags_are_derived_from_a_real_video(analysed):
    _, _, result, _ = analysed
    row = result.dna.set_index("creative_id").loc["untagged"]
    assert row["video_status"] == ANALYSED
    assert math.isclose(row["duration_s"], 10.0, abs_tol=0.2)
    assert pacing_label(row["cuts_per_second"]) == "fast" == row["pacing"]  # measured, not guessed
    derived = {f: row[f] for f in TAG_FIELDS}
    assert derived == {
        "hook_type": "question",  # "…?"
        "emotion": "curiosity",
        "pacing": "fast",
        "pain_point": "no_energy",  # "tired"
        "cta_type": "link_in_bio",  # "link in bio"
    }
    assert [row[f"{f}_source"] for f in TAG_FIELDS] == ["derived"] * 5
    assert row["tags_filled"] == list(TAG_FIELDS) and row["tags_missing"] == []
    assert row["pattern_hash"] == full_pattern_hash(derived)
    assert row["label_source"] == "rules" and row["feature_version"] == FEATURE_VERSION
    assert row["ad_ids"] == ["ad-1"] and not row["has_disagreement"]


def test_given_tags_win_and_planted_disagreements_are_flagged(analysed):
    _, _, result, _ = analysed
    row = result.dna.set_index("creative_id").loc["planted"]
    assert (row["hook_type"], row["pacing"], row["cta_type"]) == ("bold_claim", "slow", "save")  # given wins
    assert [row[f"{f}_source"] for f in TAG_FIELDS] == ["given"] * 5
    assert (row["derived_hook_type"], row["derived_pacing"], row["derived_cta_type"]) == ("question", "fast", "none")
    assert row["has_disagreement"] and row["disagreement_fields"] == ["hook_type", "pacing"]
    assert row["disagreements"] == ["hook_type: given bold_claim, derived question", "pacing: given slow, derived fast"]
    assert row["pattern_hash"] == "hook:bold_claim|emo:curiosity|pace:slow|pain:no_energy|cta:save"
    pairs = result.disagreements
    assert pairs.to_dict("records") == [
        {"creative_id": "planted", "field": "hook_type", "given": "bold_claim", "derived": "question"},
        {"creative_id": "planted", "field": "pacing", "given": "slow", "derived": "fast"},
    ]


def test_unusable_videos_are_set_aside_with_their_reason_and_counted(analysed):
    tmp_path, _, result, batch = analysed
    aside = result.set_aside.set_index("creative_id")
    assert sorted(aside.index) == ["empty", "lost"]
    assert aside.loc["lost", "reason"] == f"missing file: {tmp_path / 'v' / 'nowhere.mp4'}"
    assert aside.loc["empty", "reason"] == "empty file (0 bytes)"
    dna = result.dna.set_index("creative_id")
    lost = dna.loc["lost"]
    assert lost["video_status"] == SET_ASIDE and lost["hook_type"] == "pov" and lost["hook_type_source"] == "given"
    assert lost["emotion_source"] == "missing" and lost["emotion"] == "" and pd.isna(lost["pattern_hash"])
    assert lost["tags_missing"] == ["emotion", "pacing", "pain_point", "cta_type"]
    assert dna.loc[["lost", "empty", "plain"], list(VIDEO_FEATURES)].isna().all().all()  # not measured, not 0
    plain = dna.loc["plain"]
    assert plain["video_status"] == NO_VIDEO and plain["ad_ids"] == ["ad-2", "ad-3"]
    assert plain["pattern_hash"] == "hook:story|emo:trust|pace:slow|pain:budget|cta:buy_now"
    assert result.counts == {
        "read": 5,
        "with_video": 4,
        "analysed": 2,
        "set_aside": 2,
        "no_video": 1,
        "tags_filled": 5,
        "creatives_filled": 1,
        "disagreements": 2,
        "creatives_disagreeing": 1,
        "pattern_unknown": 2,
    }
    assert len(batch.quarantined) == 2 and batch.computed == 1  # one content hash, extracted once for two creatives


def test_schema_is_fixed_and_features_use_the_market_names(analysed):
    _, _, result, _ = analysed
    assert list(result.dna.columns) == list(DNA_COLUMNS)
    assert set(VIDEO_FEATURES) <= set(FEATURE_DICTIONARY) and "duration_s" in VIDEO_FEATURES
    assert all(FEATURE_DICTIONARY[name].role in ("feature", "flag") for name in VIDEO_FEATURES)
    assert (result.dna[list(VIDEO_FEATURES)].dtypes == "float64").all()


def test_rerun_gives_the_same_table_from_the_cache(analysed):
    tmp_path, creatives, first, _ = analysed
    again, batch = analyse(creatives, tmp_path / "features")
    assert batch.computed == 0 and batch.cached == 2
    pd.testing.assert_frame_equal(again.dna, first.dna)
    pd.testing.assert_frame_equal(again.set_aside, first.set_aside)
    assert again.counts == first.counts
    fresh, batch = analyse(creatives, tmp_path / "fresh-cache")  # recomputed from the video: same numbers
    assert batch.computed == 1
    pd.testing.assert_frame_equal(fresh.dna, first.dna)


def test_derived_none_fills_a_missing_tag_but_never_contradicts_and_bad_labels_are_ignored():
    creatives = parse_creatives(
        [
            {"id": "a", "name": "A", "video_path": "a.mp4", "status": "draft",
             "tags": {"hook_type": "pov", "emotion": "humor"}},
        ]
    ).accepted  # fmt: skip
    labels = {"hook_type": "none", "emotion": "joy", "cta_type": "none", "pain_point": "none", "pacing_label": "warp"}
    assert derive_tags(labels) == {
        "hook_type": "none",
        "emotion": None,  # outside the vocabulary: no derived value
        "pacing": None,
        "pain_point": "none",
        "cta_type": "none",
    }
    row = autopsy(creatives, {"a": labels}, {}).dna.iloc[0]
    assert not row["has_disagreement"] and row["hook_type"] == "pov"
    assert (row["cta_type"], row["cta_type_source"]) == ("none", "derived")
    assert (row["pacing"], row["pacing_source"]) == ("", "missing") and pd.isna(row["pattern_hash"])


def test_a_creative_without_a_feature_row_or_a_reason_is_still_set_aside_and_counted():
    creatives = parse_creatives([{"id": "a", "name": "A", "video_path": "a.mp4", "status": "draft"}]).accepted
    result = autopsy(creatives, {}, {})
    assert result.counts["set_aside"] == 1 and "not analysed" in result.set_aside.loc[0, "reason"]
    assert video_jobs(creatives, "acme")["a"].video_id == video_job_id("acme", "a") == "creative:acme:a"


def test_ad_ids_read_back_from_parquet_are_lists_of_strings(tmp_path):
    creatives = parse_creatives(
        [{"id": "a", "name": "A", "status": "draft", "ad_ids": ["x", 7],
          "tags": {"hook_type": "pov", "emotion": "humor", "pacing": "fast", "pain_point": "budget",
                   "cta_type": "save"}}]
    ).accepted  # fmt: skip
    creatives.to_parquet(tmp_path / "c.parquet")
    back = pd.read_parquet(tmp_path / "c.parquet")
    assert isinstance(back.loc[0, "ad_ids"], np.ndarray)
    assert autopsy(back, {}, {}).dna.loc[0, "ad_ids"] == ["x", "7"]
