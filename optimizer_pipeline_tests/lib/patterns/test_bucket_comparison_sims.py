"""Simulations of the bucket comparison with known truth (fixed seeds): error rates, coverage and power out.

Hashtags come from :mod:`optimizer_pipeline.lib.sample.bucket_hashtags` (log-normal ER, sigma 0.5, a pool of 60
creators with exponential activity whose effects are shared across buckets). Tolerances are the targets of issue 12;
the Monte-Carlo standard errors below say how far the expected figures sit from them. Under the old rules (top-N
selection only, independent-video t intervals, no multiplicity control) identical buckets of 400 vs 55 candidates
gave "prioritise" to the larger one in 100 % of hashtags and every null hashtag of these designs got a verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.market.bucket_selection import select_bucket
from optimizer_pipeline.lib.patterns.intelligence import (
    DEPRIORITISE,
    PRIORITISE,
    bucket_ranking,
    bucket_verdicts,
)
from optimizer_pipeline.lib.sample.bucket_hashtags import as_scraped, hashtag_candidates

SIZES = {"0-15s": 120, "16-30s": 90, "31-60s": 70, "61-90s": 45, "91-120s": 30}
GEO_MEAN = 0.08


def _logs(candidates: dict[str, pd.DataFrame]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What ``bucket_ranking`` hands ``bucket_verdicts``: every compared video's log ER, weight and creator."""
    return {
        b: (np.log(f["engagement_rate"].to_numpy()), np.ones(len(f)), f["author"].to_numpy(dtype=object))
        for b, f in candidates.items()
    }


@pytest.mark.parametrize(("icc", "seed"), [(0.0, 101), (0.3, 102), (0.5, 103)])
def test_null_hashtags_rarely_get_a_verdict_and_intervals_cover(icc, seed):
    """(b) all buckets alike: share of hashtags with any prioritise / deprioritise <= 5 %. Holm over five nearly
    independent exact tests allows up to ~4.9 %; measured 3.4 % (independent) and 4.0 % (ICC 0.4) over 3,000
    hashtags in ``benchmarks/calibration_sims/bucket_null.py``, so at 400 hashtags (MC se ~1 %) this is a fixed-seed
    regression guard; the old rules gave 14 % without and 100 % with the top-N selection. (c) 95 % intervals cover
    the true geometric mean >= 93 % (measured 0.943-0.947; MC se ~0.5 % over 2,000 intervals; old 0.82-0.87)."""
    rng = np.random.default_rng(seed)
    reps, any_verdict, covered = 400, 0, []
    for _ in range(reps):
        comparison, verdicts = bucket_verdicts(
            _logs(hashtag_candidates(rng, SIZES, dict.fromkeys(SIZES, GEO_MEAN), icc=icc))
        )
        any_verdict += any(v in (PRIORITISE, DEPRIORITISE) for v, _ in verdicts.values())
        covered += [e.low <= np.log(GEO_MEAN) <= e.high for e in comparison.estimates]
    assert any_verdict / reps <= 0.05
    assert np.mean(covered) >= 0.93


def test_identical_buckets_of_different_sizes_are_not_prioritised():
    """(a) identical buckets with 400 vs 55 candidates through ``select_bucket`` (top 50, quality filters, fences) and
    ``bucket_ranking``, creators clustered (ICC 0.3): P(prioritise) <= 5 % per bucket (expected ~1 %: with two
    buckets Holm doubles the one p-value), against ~100 % when only the selection is compared."""
    rng = np.random.default_rng(7)
    sizes = {"16-30s": 400, "31-60s": 55}
    reps, prioritised, selected_only = 60, dict.fromkeys(sizes, 0), 0
    for _ in range(reps):
        candidates = hashtag_candidates(rng, sizes, dict.fromkeys(sizes, GEO_MEAN), icc=0.3)
        selected, excluded = {}, {}
        for b, frame in candidates.items():
            sel = select_bucket(as_scraped(frame, b), b)
            selected[b] = sel.selected
            excluded[b] = sel.excluded.merge(frame[["video_id", "author"]], on="video_id")  # see the report
        table = bucket_ranking(selected, excluded=excluded, draws=1000).set_index("duration_bucket")
        for b in sizes:
            prioritised[b] += table.loc[b, "verdict"] == PRIORITISE
        assert table.loc["16-30s", "videos"] == 50 and table.loc["16-30s", "videos_compared"] > 350
        old_way = bucket_ranking(selected, draws=1000).set_index("duration_bucket")
        selected_only += old_way.loc["16-30s", "verdict"] == PRIORITISE
    assert all(count / reps <= 0.05 for count in prioritised.values()), prioritised
    assert selected_only / reps >= 0.9  # the selection effect the comparison removes


@pytest.mark.parametrize("icc", [0.0, 0.4])
def test_a_better_bucket_is_still_prioritised(icc):
    """(d) power: one bucket with a 1.5x geometric-mean ER and 60 videos is prioritised in >= 90 % of hashtags
    (measured 99.7-100 % over 300 hashtags at ICC 0-0.5)."""
    rng = np.random.default_rng(11)
    sizes = {**SIZES, "16-30s": 60}
    geo_means = {**dict.fromkeys(SIZES, GEO_MEAN), "16-30s": 1.5 * GEO_MEAN}
    reps = 100
    hits = sum(
        bucket_verdicts(_logs(hashtag_candidates(rng, sizes, geo_means, icc=icc)))[1]["16-30s"][0] == PRIORITISE
        for _ in range(reps)
    )
    assert hits / reps >= 0.9


def test_ranking_uses_the_verdicts_of_the_simulated_path():
    """The simulations call ``bucket_verdicts`` on numpy arrays; ``bucket_ranking`` reaches the same p-values and
    verdicts from frames of selected + below-top-N rows."""
    rng = np.random.default_rng(5)
    candidates = hashtag_candidates(rng, SIZES, {**dict.fromkeys(SIZES, GEO_MEAN), "0-15s": 0.11}, icc=0.4)
    comparison, verdicts = bucket_verdicts(_logs(candidates))
    selected = {b: f.nlargest(50, "engagement_rate").assign(sample_weight=1.0) for b, f in candidates.items()}
    excluded = {
        b: f.drop(selected[b].index).assign(reason="below top-N", sample_weight=1.0) for b, f in candidates.items()
    }
    table = bucket_ranking(selected, excluded=excluded).set_index("duration_bucket")
    for i, b in enumerate(comparison.buckets):
        assert table.loc[b, "verdict"] == verdicts[b][0]
        assert table.loc[b, "p_adjusted"] == pytest.approx(comparison.p_adjusted[i], rel=1e-10)
        assert table.loc[b, "ci_low"] == pytest.approx(np.exp(comparison.estimates[i].low), rel=1e-10)
