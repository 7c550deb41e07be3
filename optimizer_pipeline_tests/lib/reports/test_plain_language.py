"""Plain language for creators: every dictionary feature has creator words without technical units, thresholds in
seconds / counts / fractions / parts of the video, one recommendation per pattern family, and an exact technical note
for the appendix."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS, bucket_bounds
from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY, TIMELINE_WINDOWS, TIMELINES
from optimizer_pipeline.lib.features.labels.vocabulary import LABEL_FIELDS
from optimizer_pipeline.lib.patterns.evidence import PATTERN_COLUMNS, bucket_patterns
from optimizer_pipeline.lib.patterns.families import FAMILY_COLUMNS
from optimizer_pipeline.lib.patterns.pattern_sentences import pattern_sentence
from optimizer_pipeline.lib.reports.plain_language import (
    LEVEL_WORDS,
    clock_text,
    creator_recommendation,
    creator_recommendations,
    fraction_text,
    plain_phrase,
    plain_threshold,
    seconds_text,
    technical_note,
)

#: Technical words and units that must never reach a creator.
DENYLIST = (
    "luma",
    "dbfs",
    "px",
    "/frame",
    "spectral",
    "flatness",
    "ratio",
    "_",
    "cuts/s",
    "onsets/s",
    "frames/s",
    "w/h",
    "0-255",
    "hasler",
    "density",
    "timeline",
    "variability",
    "onset",
    "rms",
    "e-0",
    "nan",
    "inf",
    ">=",
)
_DB = re.compile(r"\bdb\b")
CREATIVE = [name for name, spec in FEATURE_DICTIONARY.items() if spec.role != "meta"]
META = [name for name, spec in FEATURE_DICTIONARY.items() if spec.role == "meta"]
#: Thresholds of every scale the dictionary holds: shares, seconds, counts, BPM, dBFS, luma.
VALUES = (0.0, 0.0598, 0.18, 0.476, 0.5, 1.0, 1.08333, 2.25, 4.75, 21.5, 99.93, 152.2, -19.8)


def _technical_words(text: str) -> list[str]:
    low = text.lower()
    found = [word for word in DENYLIST if word in low]
    found += ["dB"] if _DB.search(low) else []
    found += [name for name in FEATURE_DICTIONARY if len(name) > 4 and name in text]
    return found


def test_every_creative_feature_has_a_plain_phrase_and_threshold_without_technical_units():
    assert len(CREATIVE) > 100  # the walk covers the timeline columns too
    for feature in CREATIVE:
        phrase = plain_phrase(feature)
        assert phrase and _technical_words(phrase) == [], (feature, phrase)
        for bucket in (None, *DURATION_BUCKETS):
            for value in VALUES if FEATURE_DICTIONARY[feature].role != "label" else ("fast", "medium", "slow"):
                high = plain_threshold(feature, value, "higher", bucket=bucket)
                low = plain_threshold(feature, value, "lower", bucket=bucket)
                assert high and low and high != low, (feature, value, high, low)
                assert _technical_words(high) == [] and _technical_words(low) == [], (feature, value, high, low)


def test_meta_columns_are_excluded_with_a_reason():
    assert set(META) == {"feature_version", "content_sha256", "width", "height", "fps", "frame_count", "has_ocr"}
    for feature in META:
        with pytest.raises(ValueError, match=f"{feature} is a meta column.*not a creative choice"):
            plain_phrase(feature)
        with pytest.raises(ValueError, match="meta column"):
            plain_threshold(feature, 1.0, "higher")


def test_every_label_level_reads_as_creator_words():
    for field, levels in {**LABEL_FIELDS, "pacing_label": ("fast", "medium", "slow")}.items():
        assert _technical_words(plain_phrase(field)) == []
        for level in levels:
            words = plain_threshold(field, level, "higher")
            assert words == LEVEL_WORDS[field][level] and _technical_words(words) == [], (field, level)
            assert plain_threshold(field, level, "lower") == f"anything but {words}"
    assert plain_threshold("hook_type", "question", "higher") == "a question hook"
    assert plain_threshold("pacing_label", "fast", "higher") == "fast pacing (a cut at least every 2 seconds)"
    with pytest.raises(ValueError, match="hook_type has no level 'rant'"):
        plain_threshold("hook_type", "rant", "higher")


def _row(**fields) -> dict:
    """A bucket_patterns row with the columns the sentences read (a lead of its own family unless told)."""
    row = {
        "feature": "hook_cut_count",
        "duration_bucket": "16-30s",
        "kind": "continuous",
        "threshold": "2",
        "direction": "higher",
        "classification": "pattern",
        "evidence": "MODERATE",
        "value_top": 0.8,
        "value_middle": 0.5,
        "value_bottom": 0.24,
        "lift": 1.52,
        "lift_ci_low": 0.81,
        "lift_ci_high": 2.55,
        "effect_name": "cliff's delta",
        "effect": 0.42,
        "ci_low": 0.1,
        "ci_high": 0.7,
        "effect_from": "top vs middle",
        "p_value": 0.004,
        "q_value": 0.031,
        "family_rho": 1.0,
        "family_role": "lead",
        "family_members": "",
        "explained_by": "",
        "p_conditional": np.nan,
    }
    row["family"] = fields.get("feature", row["feature"])
    row.update(fields)
    return row


def test_the_issue_examples_become_plain():
    """'Motion range >= 0.476 luma/frame' and 'Avoid relative position of peak cut density >= 18%'."""
    motion = _row(feature="tl_motion_range", threshold="0.476", duration_bucket="61-90s")
    assert "luma/frame" in pattern_sentence(pd.Series(motion))  # the technical sentence is unchanged
    rec = creator_recommendation(motion, bucket="61-90s")
    assert rec["action"] == "do" and rec["stars"] == 2 and rec["evidence_words"] == "moderate evidence"
    assert rec["text"] == (
        "Aim for bigger swings between calm and fast on-screen movement than the typical 61-90 second video."
    )
    peak = _row(feature="tl_cut_density_peak_time_ratio", threshold="0.18", direction="lower", evidence="STRONG")
    assert "Avoid relative position of peak cut density >= 18%" in pattern_sentence(pd.Series(peak))
    rec = creator_recommendation(peak, bucket="16-30s")
    assert rec["action"] == "avoid" and rec["stars"] == 3
    assert rec["text"] == "Avoid the fastest cutting after the first fifth of the video (around 0:03-0:05)."
    assert rec["instead"] == "Aim for the fastest cutting within the first fifth of the video (around 0:03-0:05)."
    for text in (rec["text"], rec["instead"]):
        assert _technical_words(text) == []


def test_seconds_counts_and_shares_are_rounded_for_a_creator():
    assert [seconds_text(x) for x in (0.04, 0.17415, 0.8333, 1.08333, 2.25, 4.2, 4.75, 11.5, 65.4)] == [
        "0.1 seconds",
        "0.2 seconds",
        "0.8 seconds",
        "1 second",
        "2.5 seconds",
        "4 seconds",
        "5 seconds",
        "12 seconds",
        "65 seconds",
    ]
    assert clock_text(65.4) == "1:05" and clock_text(4.75) == "0:05" and clock_text(0.3) == "0.3 seconds"
    assert plain_threshold("time_to_first_cut_s", 1.0, "lower") == "the first cut within the first second"
    assert plain_threshold("time_to_first_cut_s", 0.8333, "higher") == "the first cut at 0.8 seconds or later"
    assert plain_threshold("cut_count", 21.5, "higher") == "at least 22 cuts"  # a count >= 21.5 is >= 22
    assert plain_threshold("cut_count", 21.5, "lower") == "at most 21 cuts"
    assert plain_threshold("hook_cut_count", 1, "lower") == "no cuts in the first 3 seconds"
    assert plain_threshold("cuts_per_second", 0.6, "higher") == "a cut at least every 1.5 seconds on average"
    assert plain_threshold("tempo_bpm", 99.93, "higher") == "music at 100 BPM or faster"
    assert plain_threshold("silence_ratio", 0.228, "higher") == "silence for at least a quarter of the video"
    assert plain_threshold("text_area_mean", 0.0598, "higher") == "on-screen text covering at least 6 % of the screen"
    assert plain_threshold("aspect_ratio", 0.5625, "higher") == "a frame at least as wide as 9:16 portrait"
    assert [fraction_text(s) for s in (0.102, 0.18, 0.316, 0.496, 0.7, 0.996)] == [
        "a tenth",
        "a fifth",
        "a third",
        "half",
        "70 %",
        "all",
    ]
    assert plain_threshold("pacing_score", 1.5, "higher") == "fast pacing (a cut at least every 2 seconds)"


def _clock_seconds(text: str) -> list[int]:
    return [int(m) * 60 + int(s) for m, s in re.findall(r"(\d+):(\d\d)", text)]


def test_timeline_windows_map_to_parts_and_clock_times_of_the_bucket():
    """Window k covers k/10 .. (k+1)/10 of every video in the bucket: from k/10 of the shortest to (k+1)/10 of the
    longest (the first bucket: of a video of its full length)."""
    assert plain_threshold("tl_loudness_w10", -20.0, "higher", bucket="16-30s") == (
        "louder sound in the last 10 % of the video than the typical 16-30 second video (around 0:14-0:30)"
    )
    assert plain_threshold("tl_brightness_w01", 120.0, "lower", bucket="0-15s") == (
        "a darker picture in the first 10 % of the video than the typical video of up to 15 seconds "
        "(0:00-0:02 in a 15-second video)"
    )
    assert "in the last 30 % of the video" in plain_threshold("tl_motion_closing_mean", 0.4, "higher")
    assert "in the first 30 % of the video" in plain_threshold("tl_cut_density_opening_mean", 0.65, "higher")
    assert plain_threshold("tl_motion_peak_time_s", 65.0, "lower") == "the fastest movement before 1:05"
    for bucket in DURATION_BUCKETS:
        low, high = bucket_bounds(bucket)
        ref = high if low <= 0 else low
        for tl in TIMELINES:
            previous = -1
            for k in range(TIMELINE_WINDOWS):
                text = plain_threshold(f"tl_{tl}_w{k + 1:02d}", 0.5, "higher", bucket=bucket)
                start, end = _clock_seconds(text)
                assert abs(start - k / TIMELINE_WINDOWS * ref) <= 0.5 and abs(end - (k + 1) / 10 * high) <= 0.5
                assert start >= previous and end <= high
                previous = start


def _real_bucket(rng: np.random.Generator, n: int = 60) -> pd.DataFrame:
    """Planted: cuts in the hook help, a late first cut hurts; proxies of each and nulls (dictionary names)."""
    hook_cuts = rng.integers(0, 5, n).astype(float)
    late_cut = rng.uniform(0.2, 3.0, n)
    text_hook = (rng.random(n) < 0.5).astype(float)
    log_er = np.log(0.07) + np.log(2.0) * (hook_cuts >= 2) - 0.5 * late_cut + 0.3 * text_hook
    motion = rng.uniform(0.2, 1.0, n)
    frame = {
        "video_id": [f"v{i:03d}" for i in range(n)],
        "engagement_rate": np.exp(log_er + rng.normal(0, 0.3, n)),
        "hook_cut_count": hook_cuts,
        "tl_cut_density_w01": hook_cuts / 1.5 + rng.normal(0, 0.3, n),
        "tl_cut_density_opening_mean": hook_cuts + rng.normal(0, 0.8, n),
        "time_to_first_cut_s": late_cut,
        "tl_cut_density_peak_time_ratio": late_cut / 10 + rng.normal(0, 0.01, n),
        "has_text_hook": text_hook,
        "motion_max": motion,
        "tl_motion_range": motion + rng.normal(0, 0.05, n),
        "pacing_label": rng.choice(["fast", "medium", "slow"], n),
    }
    for name in ("brightness_mean", "loudness_mean_dbfs", "spectral_flatness_mean", "tempo_bpm", "silence_ratio"):
        frame[name] = rng.lognormal(0, 0.5, n)
    return pd.DataFrame(frame)


def test_one_recommendation_per_family_on_a_real_shaped_table():
    rng = np.random.default_rng(7)
    tables = bucket_patterns({b: _real_bucket(rng) for b in ("16-30s", "31-60s")})
    seen_avoid = 0
    for bucket, rows in tables.items():
        assert list(rows.columns[: len(PATTERN_COLUMNS)]) == list(PATTERN_COLUMNS)
        assert set(FAMILY_COLUMNS) <= set(rows.columns)
        speaking = rows[
            rows["evidence"].isin(["STRONG", "MODERATE", "EMERGING"])
            & (rows["family_role"] == "lead")
            & (rows["explained_by"] == "")
        ]
        recs = creator_recommendations(rows, bucket=bucket)
        assert len(recs) >= 1 and len(recs) == speaking["family"].nunique()
        assert {r["family"] for r in recs} == set(speaking["family"])
        assert [r["stars"] for r in recs] == sorted((r["stars"] for r in recs), reverse=True)
        for record in rows.to_dict("records"):
            rec = creator_recommendation(record, bucket=bucket)
            silent = record["family_role"] == "member" or record["explained_by"] != "" or record["evidence"] == "none"
            assert (rec is None) == silent, record["feature"]
        for rec in recs:
            assert rec["action"] in ("do", "avoid") and rec["text"].startswith(("Aim for", "Avoid", "Use"))
            assert _technical_words(rec["text"]) == [] and _technical_words(rec["instead"] or "") == []
            assert rec["feature"] in rec["technical"]
            seen_avoid += rec["action"] == "avoid"
    assert seen_avoid >= 1  # the planted "late first cut" is an anti-pattern


def test_members_explained_rare_and_unlabelled_rows_give_no_recommendation():
    lead = _row(family_members="tl_cut_density_w01, tl_cut_density_w02")
    assert creator_recommendation(lead, bucket="16-30s") is not None
    member = _row(feature="tl_cut_density_w01", family="hook_cut_count", family_role="member", classification="proxy")
    explained = _row(feature="cut_count", explained_by="hook_cut_count", classification="explained")
    rare = _row(feature="fade_count", classification="too rare")
    unlabelled = _row(feature="tempo_bpm", evidence="none", classification="neutral")
    for row in (member, explained, rare, unlabelled):
        assert creator_recommendation(row, bucket="16-30s") is None, row["feature"]
    table = pd.DataFrame([lead, member, explained, rare, unlabelled, _row(evidence="EMERGING", q_value=0.2)])
    recs = creator_recommendations(table, bucket="16-30s")
    assert len(recs) == 1 and recs[0]["evidence"] == "MODERATE"  # one per family: the stronger of two leads


def test_a_lower_row_gives_an_avoid_text_and_a_categorical_level_gives_use():
    rec = creator_recommendation(_row(feature="time_to_first_cut_s", threshold="1", direction="lower"), bucket="16-30s")
    assert rec["action"] == "avoid" and rec["text"] == "Avoid the first cut at 1 second or later."
    assert rec["instead"] == "Aim for the first cut within the first second."
    flag = creator_recommendation(
        _row(feature="has_text_hook", kind="binary", threshold="1", direction="lower"), bucket="16-30s"
    )
    assert flag["text"] == "Avoid on-screen text in the first 3 seconds." and flag["instead"] is None
    hook = _row(feature="hook_type", kind="categorical", threshold="question")
    assert creator_recommendation(hook, bucket="16-30s")["text"] == "Use a question hook."
    avoid = creator_recommendation({**hook, "direction": "lower"}, bucket="16-30s")
    assert avoid["action"] == "avoid" and avoid["text"] == "Avoid a question hook."
    shots = creator_recommendation(
        _row(feature="shot_length_mean_s", threshold="1.35897", direction="lower"), bucket="16-30s"
    )
    assert shots["text"] == "Avoid shots of 1.5 seconds or longer on average."


def test_the_technical_note_keeps_the_exact_number_and_unit():
    note = technical_note(_row(feature="tl_motion_range", threshold="0.475921", family_members="tl_motion_std"))
    assert "tl_motion_range >= 0.475921 luma/frame" in note and "q = 0.031" in note
    assert "lift 1.52 [0.81, 2.55]" in note and "family proxies: tl_motion_std" in note
    assert "top 80%, middle 50%, bottom 24%" in note and "evidence MODERATE" in note
    assert "0.4759213 " not in technical_note(_row(feature="motion_mean", threshold=0.4759213))
    assert "motion_mean >= 0.475921 luma/frame" in technical_note(_row(feature="motion_mean", threshold=0.4759213))
    low = technical_note(_row(feature="tl_cut_density_peak_time_ratio", threshold="0.180556", direction="lower"))
    assert ">= 0.180556 (share 0-1)" in low and "anti-pattern" in low
    assert "hook_type = question" in technical_note(_row(feature="hook_type", kind="categorical", threshold="question"))


def test_bad_input_names_the_feature_and_field():
    with pytest.raises(ValueError, match="no plain wording for feature 'sparkle'"):
        plain_phrase("sparkle")
    with pytest.raises(ValueError, match="direction of cut_count must be one of"):
        plain_threshold("cut_count", 2, "up")
    with pytest.raises(ValueError, match="threshold of cut_count must be a number, got 'many'"):
        plain_threshold("cut_count", "many", "higher")
    with pytest.raises(ValueError, match="threshold of cut_count must be finite"):
        plain_threshold("cut_count", float("nan"), "higher")
    with pytest.raises(KeyError, match="unknown duration bucket '2-3 min'"):
        plain_threshold("tl_motion_w01", 0.4, "higher", bucket="2-3 min")
    row = _row()
    del row["direction"]
    with pytest.raises(ValueError, match="row 'hook_cut_count' has no value in field 'direction'"):
        creator_recommendation(row, bucket="16-30s")
    with pytest.raises(ValueError, match="row 'hook_cut_count': direction must be one of"):
        creator_recommendation(_row(direction="up"), bucket="16-30s")
    with pytest.raises(ValueError, match="is of bucket '16-30s', asked for '31-60s'"):
        creator_recommendation(_row(), bucket="31-60s")
