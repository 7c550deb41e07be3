"""Cross-hashtag patterns and performance spread on planted inputs."""

import math

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.patterns.cross_hashtag import (
    CROSS_COLUMNS,
    PERFORMANCE_COLUMNS,
    cross_hashtag_patterns,
    engagement_matrix,
    heatmap_png,
    performance_summary,
)
from optimizer_pipeline.lib.patterns.evidence import PATTERN_COLUMNS


def patterns(bucket: str, rows: list[tuple]) -> pd.DataFrame:
    """bucket_patterns rows: (feature, evidence, direction, q_value, lift)."""
    out = pd.DataFrame(columns=list(PATTERN_COLUMNS))
    records = [
        {
            "feature": f,
            "duration_bucket": bucket,
            "evidence": e,
            "direction": d,
            "q_value": q,
            "lift": lift,
            "sentence": f"{f} {d} ({e}, q={q})",
        }
        for f, e, d, q, lift in rows
    ]
    return pd.concat([out, pd.DataFrame(records)], ignore_index=True) if records else out


def videos(er: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"video_id": [f"v{i}" for i in range(len(er))], "engagement_rate": er})


PLANTED = {
    ("nutrition", "0-15s"): patterns(
        "0-15s",
        [
            ("face_in_first_second", "STRONG", "higher", 0.001, 2.0),
            ("caption_words", "MODERATE", "lower", 0.02, 1.6),
            ("cut_rate", "EMERGING", "higher", 0.2, 1.2),
        ],
    ),
    ("mealprep", "0-15s"): patterns(
        "0-15s",
        [
            ("face_in_first_second", "MODERATE", "higher", 0.01, 3.0),
            ("caption_words", "none", "lower", 0.6, 1.0),
            ("cut_rate", "STRONG", "lower", 0.004, 1.8),  # same feature, opposite direction: its own row
        ],
    ),
    ("nutrition", "16-30s"): patterns("16-30s", [("music", "STRONG", "higher", 0.003, 1.9)]),
    ("mealprep", "16-30s"): patterns("16-30s", []),  # insufficient data: not analysed
    ("mealprep", "31-60s"): None,  # not materialised
}


def test_universal_specific_and_single():
    table = cross_hashtag_patterns(PLANTED)
    assert list(table.columns) == list(CROSS_COLUMNS)
    rows = {(r.duration_bucket, r.feature, r.direction): r for r in table.itertuples()}
    assert set(rows) == {
        ("0-15s", "face_in_first_second", "higher"),
        ("0-15s", "caption_words", "lower"),
        ("0-15s", "cut_rate", "lower"),
        ("16-30s", "music", "higher"),
    }
    face = rows[("0-15s", "face_in_first_second", "higher")]
    assert (face.hashtags_claimed, face.hashtags_analysed, face.share) == (2, 2, 1.0)
    assert face.scope == "universal"
    assert face.hashtags == "nutrition, mealprep"
    assert face.best_evidence == "STRONG"
    assert face.median_lift == pytest.approx(2.5)
    assert face.sentence.startswith("face_in_first_second higher (STRONG")
    caption = rows[("0-15s", "caption_words", "lower")]
    assert (caption.hashtags_claimed, caption.share, caption.scope) == (1, 0.5, "hashtag-specific")
    assert caption.hashtags == "nutrition" and caption.best_evidence == "MODERATE"
    cut = rows[("0-15s", "cut_rate", "lower")]
    assert cut.scope == "hashtag-specific" and cut.hashtags == "mealprep"
    music = rows[("16-30s", "music", "higher")]
    assert (music.hashtags_analysed, music.scope) == (1, "single hashtag")
    # universal first within a bucket, buckets in duration order
    assert list(table["duration_bucket"]) == ["0-15s", "0-15s", "0-15s", "16-30s"]
    assert table.iloc[0]["feature"] == "face_in_first_second"


def test_share_threshold_is_80_percent():
    tags = [f"h{i}" for i in range(5)]
    planted = {
        (t, "0-15s"): patterns("0-15s", [("hook", "STRONG" if i < 4 else "none", "higher", 0.01, 2.0)])
        for i, t in enumerate(tags)
    }
    [row] = cross_hashtag_patterns(planted).itertuples()
    assert (row.hashtags_claimed, row.hashtags_analysed, row.share, row.scope) == (4, 5, 0.8, "universal")
    planted[("h3", "0-15s")] = patterns("0-15s", [("hook", "EMERGING", "higher", 0.1, 1.2)])
    [row] = cross_hashtag_patterns(planted).itertuples()
    assert row.scope == "hashtag-specific"


def test_no_claims_is_an_empty_table_with_columns():
    table = cross_hashtag_patterns({("a", "0-15s"): patterns("0-15s", [("x", "EMERGING", "higher", 0.1, 1.1)])})
    assert table.empty and list(table.columns) == list(CROSS_COLUMNS)
    assert cross_hashtag_patterns({}).empty


VIDEOS = {
    ("nutrition", "0-15s"): videos([0.02, 0.04, 0.10]),  # median 0.04
    ("mealprep", "0-15s"): videos([0.05, 0.07, 0.09, 0.20]),  # median 0.08
    ("snacks", "0-15s"): videos([0.01]),  # median 0.01
    ("nutrition", "16-30s"): videos([0.03, 0.05]),  # median 0.04, the only hashtag
    ("mealprep", "16-30s"): None,
}


def test_performance_against_hand_computation():
    perf = performance_summary(VIDEOS)
    assert list(perf.columns) == list(PERFORMANCE_COLUMNS)
    first = perf.set_index("duration_bucket").loc["0-15s"]
    assert first["hashtags"] == 3 and first["videos"] == 8
    logs = [math.log(0.04), math.log(0.08), math.log(0.01)]
    mean = sum(logs) / 3
    assert first["log_er_variance"] == pytest.approx(sum((x - mean) ** 2 for x in logs) / 2)
    assert (first["best_hashtag"], first["worst_hashtag"]) == ("mealprep", "snacks")
    assert first["best_median_er"] == pytest.approx(0.08) and first["worst_median_er"] == pytest.approx(0.01)
    assert first["best_worst_ratio"] == pytest.approx(8.0)
    assert "nutrition: 0.04" in first["median_er_by_hashtag"]
    single = perf.set_index("duration_bucket").loc["16-30s"]
    assert single["hashtags"] == 1 and np.isnan(single["log_er_variance"])
    assert single["best_hashtag"] == single["worst_hashtag"] == "nutrition"


def test_matrix_and_heatmap_png():
    matrix = engagement_matrix(VIDEOS)
    assert list(matrix.index) == ["nutrition", "mealprep", "snacks"]
    assert list(matrix.columns) == ["0-15s", "16-30s"]
    assert matrix.loc["mealprep", "0-15s"] == pytest.approx(0.08)
    assert np.isnan(matrix.loc["mealprep", "16-30s"])
    png = heatmap_png(matrix)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert heatmap_png(pd.DataFrame())[:8] == b"\x89PNG\r\n\x1a\n"


def test_proxies_and_explained_rows_are_not_claims():
    """Only a family's lead claims: a proxy (``family_role`` "member") or a row explained by a stronger claim is not
    counted for any hashtag, even when a table carries its own label on it."""
    rows = patterns(
        "0-15s",
        [
            ("motion_max", "STRONG", "higher", 0.001, 2.0),
            ("tl_motion_max", "STRONG", "higher", 0.001, 2.0),
            ("tl_loudness_w04", "MODERATE", "higher", 0.02, 1.6),
        ],
    ).assign(
        family=["motion_max", "motion_max", "tl_loudness_w04"],
        family_role=["lead", "member", "lead"],
        explained_by=["", "", "motion_max"],
    )
    table = cross_hashtag_patterns({("nutrition", "0-15s"): rows, ("mealprep", "0-15s"): rows})
    assert list(table["feature"]) == ["motion_max"]
    assert table.iloc[0]["hashtags_claimed"] == 2


def test_different_levels_of_a_categorical_feature_are_different_patterns():
    def hook(level: str) -> pd.DataFrame:
        rows = patterns("0-15s", [("hook_type", "STRONG", "higher", 0.001, 2.0)])
        return rows.assign(kind="categorical", threshold=level)

    both = {("a", "0-15s"): hook("question"), ("b", "0-15s"): hook("question"), ("c", "0-15s"): hook("listicle")}
    table = cross_hashtag_patterns(both).set_index("level")
    assert sorted(table.index) == ["listicle", "question"]  # one pattern per level, never merged into "universal"
    assert table.loc["question", "hashtags"] == "a, b" and table.loc["listicle", "hashtags_claimed"] == 1
    assert set(table["scope"]) == {"hashtag-specific"}
    binary = cross_hashtag_patterns(
        {("a", "0-15s"): patterns("0-15s", [("has_text_hook", "STRONG", "higher", 0.001, 2)])}
    )
    assert binary["level"].tolist() == [""]
