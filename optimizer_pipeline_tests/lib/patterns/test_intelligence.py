"""``lib/patterns/intelligence.py``: ranking, CIs, verdicts, content mix and the bar chart on planted buckets (the
statistics' reference checks: ``test_bucket_comparison.py``; their simulations: ``test_bucket_comparison_sims.py``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.market.bucket_selection import EXCLUDED_BELOW_TOP_N, EXCLUDED_ER_OUTLIER
from optimizer_pipeline.lib.patterns.bucket_comparison import clustered_mean, log_er
from optimizer_pipeline.lib.patterns.intelligence import (
    DEPRIORITISE,
    INSUFFICIENT,
    INTELLIGENCE_COLUMNS,
    MAINTAIN,
    PRIORITISE,
    TEST_MORE,
    bucket_ranking,
    content_mix,
    engagement_bars_png,
    verdict,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _videos(n: int, geo_mean: float, *, seed: int, sigma: float = 0.4, creators: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    er = np.exp(np.log(geo_mean) + rng.normal(0, sigma, n))
    return pd.DataFrame(
        {
            "video_id": [f"v{seed}_{i}" for i in range(n)],
            "author": [f"c{i % creators}" for i in range(n)],
            "engagement_rate": er,
            "sample_weight": 1.0,
            "performance_tier": "middle",
        }
    )


def _patterns(sentence: str, evidence: str = "STRONG") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature": ["hook", "captions", "cuts"],
            "evidence": [evidence, "MODERATE", "none"],
            "direction": ["higher", "higher", "lower"],
            "sentence": [sentence, "captions help", ""],
            "q_value": [0.001, 0.05, 0.8],
        }
    )


def _model(beats: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["ridge", "random_forest"],
            "r2": [0.1, 0.25],
            "baseline_r2": [-0.01, -0.01],
            "status": "ok",
            "beats_baseline": beats,
            "cv_scheme": "group_kfold",
        }
    )


@pytest.fixture(scope="module")
def planted() -> tuple[dict, dict, dict]:
    videos = {
        "0-15s": _videos(60, 0.05, seed=1),
        "16-30s": _videos(60, 0.10, seed=2),  # 2x: the winner
        "31-60s": _videos(60, 0.05, seed=3),
        "61-90s": _videos(60, 0.025, seed=4),  # half: the loser
        "91-120s": _videos(8, 0.20, seed=5),  # tiny (and high): still insufficient
    }
    patterns = {b: _patterns(f"{b} hooks win") for b in videos}
    patterns["91-120s"] = pd.DataFrame(columns=["feature", "evidence", "direction", "sentence", "q_value"])
    models = {b: _model(b == "16-30s") for b in videos}
    models["91-120s"] = pd.DataFrame({"status": ["insufficient data"], "beats_baseline": [False]})
    return videos, patterns, models


def test_planted_ranking_and_verdicts(planted):
    table = bucket_ranking(*planted, seed=0)
    assert list(table.columns) == list(INTELLIGENCE_COLUMNS)
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    by = table.set_index("duration_bucket")
    assert table["duration_bucket"].iloc[0] == "16-30s"
    assert by.loc["16-30s", "verdict"] == PRIORITISE
    assert by.loc["61-90s", "verdict"] == DEPRIORITISE
    assert by.loc["61-90s", "rank"] == 4
    assert by.loc["91-120s", "verdict"] == INSUFFICIENT
    assert by.loc["91-120s", "rank"] == 5  # last despite the highest ER
    assert by.loc["91-120s", "status"] == INSUFFICIENT
    assert by.loc["0-15s", "verdict"] in (MAINTAIN, PRIORITISE, DEPRIORITISE)
    assert by.loc["16-30s", "videos"] == 60 and by.loc["16-30s", "creators"] == 10
    assert by.loc["16-30s", "videos_compared"] == 60 and by.loc["16-30s", "creators_compared"] == 10
    assert by.loc["16-30s", "ratio_to_rest"] > 1.5 and by.loc["16-30s", "p_adjusted"] < 0.05
    assert by.loc["16-30s", "p_adjusted"] >= by.loc["16-30s", "p_value"]
    assert np.isnan(by.loc["91-120s", "p_value"])
    assert by.loc["16-30s", "strong_claims"] == 1 and by.loc["16-30s", "moderate_claims"] == 1
    assert by.loc["16-30s", "top_pattern"] == "16-30s hooks win"
    assert by.loc["16-30s", "top_pattern_evidence"] == "STRONG"
    assert by.loc["91-120s", "top_pattern"] == ""
    assert bool(by.loc["16-30s", "model_beats_baseline"]) is True
    assert bool(by.loc["0-15s", "model_beats_baseline"]) is False
    assert pd.isna(by.loc["91-120s", "model_beats_baseline"])
    assert by.loc["16-30s", "model_best_r2"] == pytest.approx(0.25)
    assert by.loc["16-30s", "q3_q1_ratio"] > 1
    assert "top quartile earns" in by.loc["16-30s", "consistency"]
    assert by.loc["16-30s", "creators_above_median"] > by.loc["61-90s", "creators_above_median"]


def test_ci_matches_scipy_t_interval_with_one_video_per_creator(planted):
    videos = planted[0]["0-15s"].assign(author=lambda f: f["video_id"])
    table = bucket_ranking({"0-15s": videos, "16-30s": planted[0]["16-30s"]}).set_index("duration_bucket")
    y = np.log(videos["engagement_rate"].to_numpy())
    lo, hi = stats.t.interval(0.95, len(y) - 1, loc=y.mean(), scale=stats.sem(y))
    assert table.loc["0-15s", "ci_low"] == pytest.approx(np.exp(lo), rel=1e-10)
    assert table.loc["0-15s", "ci_high"] == pytest.approx(np.exp(hi), rel=1e-10)
    assert table.loc["0-15s", "geo_mean_engagement_rate"] == pytest.approx(np.exp(y.mean()), rel=1e-12)
    assert table.loc["0-15s", "median_engagement_rate"] == pytest.approx(videos["engagement_rate"].median())


def test_creator_clustering_widens_the_interval(planted):
    """The same 60 videos from 10 creators (each creator's videos alike) vs from 60 creators."""
    videos = planted[0]["0-15s"].copy()
    creator_effect = np.repeat(np.random.default_rng(9).normal(0, 0.5, 10), 6)
    videos["author"] = np.repeat([f"c{i}" for i in range(10)], 6)
    videos["engagement_rate"] = videos["engagement_rate"] * np.exp(creator_effect)
    clustered = bucket_ranking({"0-15s": videos}).iloc[0]
    independent = bucket_ranking({"0-15s": videos.assign(author=videos["video_id"])}).iloc[0]
    log_width = np.log(clustered["ci_high"] / clustered["ci_low"])
    assert log_width > 1.5 * np.log(independent["ci_high"] / independent["ci_low"])


def test_excluded_below_top_n_rows_join_the_comparison(planted):
    """Two identical buckets: the one with 300 more candidates is not prioritised once they are compared."""
    rng = np.random.default_rng(11)
    big = _videos(350, 0.05, seed=21, creators=70)
    small = _videos(50, 0.05, seed=22, creators=20)
    ranked = big.sort_values("engagement_rate", ascending=False)
    top, rest = ranked.iloc[:50], ranked.iloc[50:]
    excluded = {
        "0-15s": rest[["video_id", "author", "engagement_rate"]].assign(reason=EXCLUDED_BELOW_TOP_N),
        "16-30s": pd.DataFrame(
            {"video_id": ["x1"], "engagement_rate": [rng.uniform(0.8, 0.9)], "reason": [EXCLUDED_ER_OUTLIER]}
        ),
    }
    selected_only = bucket_ranking({"0-15s": top, "16-30s": small}).set_index("duration_bucket")
    assert selected_only.loc["0-15s", "verdict"] == PRIORITISE  # the selection effect this fixes
    table = bucket_ranking({"0-15s": top, "16-30s": small}, excluded=excluded).set_index("duration_bucket")
    assert table.loc["0-15s", "videos"] == 50 and table.loc["0-15s", "videos_compared"] == 350
    assert table.loc["16-30s", "videos_compared"] == 51  # the outlier-fenced row is compared too
    assert table.loc["0-15s", "verdict"] == MAINTAIN and table.loc["16-30s", "verdict"] == MAINTAIN
    outlier = excluded["16-30s"]["engagement_rate"]
    all_er = np.log(np.concatenate([big["engagement_rate"], small["engagement_rate"], outlier]))
    assert table["hashtag_geo_mean_engagement_rate"].iloc[0] == pytest.approx(np.exp(all_er.mean()), rel=1e-12)


def test_a_single_creator_profile_is_compared_video_by_video(planted):
    """A competitor profile: one author for every video, so creators cannot be clusters (and need not be)."""
    videos = {b: f.assign(author="greenbites") for b, f in planted[0].items()}
    table = bucket_ranking(videos).set_index("duration_bucket")
    assert (table["creators_compared"] == 1).all()
    assert table.loc["16-30s", "verdict"] == PRIORITISE and table.loc["61-90s", "verdict"] == DEPRIORITISE
    assert np.isfinite(table.loc["0-15s", "ci_low"])


def test_weighted_interval_downweights_celebrities():
    y = np.log(np.array([0.01, 0.02, 0.03, 0.04, 0.2]))
    creators = np.array(list("abcde"), dtype=object)
    plain = clustered_mean(y, np.ones(5), creators)
    weighted = clustered_mean(y, np.array([1, 1, 1, 1, 0.5]), creators)
    assert weighted.mean < plain.mean  # the half-weight (celebrity) outlier pulls less
    assert np.isfinite([weighted.low, weighted.high]).all() and weighted.low < weighted.mean < weighted.high
    y2, w2, c2 = log_er(pd.DataFrame({"engagement_rate": [0.0, 0.1, np.nan]}))
    assert len(y2) == 2 and np.isfinite(y2).all() and (w2 == 1).all() and (c2 == None).all()  # noqa: E711


def test_verdict_rules():
    assert verdict(10, 5, 0.5, 0.001)[0] == INSUFFICIENT
    assert verdict(40, 1, 0.5, np.nan)[0] == INSUFFICIENT
    assert verdict(40, 12, 0.3, 0.01)[0] == PRIORITISE
    assert verdict(40, 12, -0.3, 0.01)[0] == DEPRIORITISE
    assert verdict(40, 12, 0.3, 0.2)[0] == MAINTAIN
    assert verdict(25, 12, 0.3, 0.2)[0] == TEST_MORE
    assert verdict(25, 12, 0.3, np.nan)[0] == TEST_MORE
    assert "Holm p 0.01" in verdict(40, 12, 0.3, 0.01)[1]


def test_shares_sum_to_one_and_favour_best(planted):
    table = bucket_ranking(*planted, seed=0).set_index("duration_bucket")
    assert table["recommended_share"].sum() == pytest.approx(1.0)
    assert table["recommended_share"].idxmax() == "16-30s"
    assert table.loc["16-30s", "p_best"] > 0.9
    assert table.loc["91-120s", "recommended_share"] == pytest.approx(0.05)  # the insufficient bucket's exploration
    assert table.loc["91-120s", "p_best"] == 0
    assert (table.drop(index="91-120s")["recommended_share"] >= 0.95 * 0.1 / 4 - 1e-12).all()  # exploration floor


def test_content_mix_edge_cases():
    share, p = content_mix(np.array([0.0, 0.0]), np.diag([0.01, 0.01]), 30.0, np.array([True, True]), np.ones(2, bool))
    assert share.sum() == pytest.approx(1.0) and abs(p[0] - 0.5) < 0.03
    # strongly correlated estimates (shared creators): the clear difference is seen despite wide intervals
    cov = np.array([[0.04, 0.0399], [0.0399, 0.04]])
    _, p = content_mix(np.array([0.05, 0.0]), cov, 30.0, np.array([True, True]), np.ones(2, bool))
    assert p[0] > 0.99
    nan = np.array([np.nan])
    share, _ = content_mix(nan, np.full((1, 1), np.nan), np.nan, np.array([False]), np.array([True]))
    assert share.tolist() == [1.0]
    share, _ = content_mix(nan, np.full((1, 1), np.nan), np.nan, np.array([False]), np.array([False]))
    assert share.tolist() == [0.0]


def test_deterministic_given_seed(planted):
    a = bucket_ranking(*planted, seed=7)
    b = bucket_ranking(*planted, seed=7)
    c = bucket_ranking(*planted, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["p_best"], c["p_best"]) or a["p_best"].max() == 1.0


def test_empty_inputs():
    table = bucket_ranking({}, {}, {})
    assert table.empty and list(table.columns) == list(INTELLIGENCE_COLUMNS)
    empty = pd.DataFrame(columns=["engagement_rate", "sample_weight", "author"])
    table = bucket_ranking({"0-15s": empty, "16-30s": empty}, {}, {})
    assert list(table["verdict"]) == [INSUFFICIENT, INSUFFICIENT]
    assert table["recommended_share"].sum() == 0
    assert table["model_status"].tolist() == ["missing", "missing"]
    assert engagement_bars_png(table).startswith(PNG_SIGNATURE)


def test_png(planted):
    png = engagement_bars_png(bucket_ranking(*planted))
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    assert engagement_bars_png(bucket_ranking({})).startswith(PNG_SIGNATURE)
