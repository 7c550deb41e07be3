"""``bucket_null_verdict_rate``: how often a hashtag whose duration buckets are all alike still gets a prioritise /
deprioritise verdict from ``bucket_intelligence`` (target <= 0.05).

Simulation (``optimizer_pipeline.lib.sample.bucket_hashtags``): five buckets with 120 / 90 / 70 / 45 / 30 candidate
videos of one log-normal ER (geometric mean 0.08, sigma 0.5), posted by a pool of 60 creators with exponential
activity whose effects (ICC 0.4) are shared across buckets; the pipeline keeps each bucket's top 50 by ER. ``value``
runs today's rules (``bucket_verdicts``: every quality-passed video, CR2 intervals by creator, each bucket against
the rest of the hashtag, Holm across buckets). ``before`` applies the old rules (the top-50 selection only,
independent-video t intervals, each bucket's CI against the pooled reference, no multiplicity control).

``detail``: the same rate with independent videos; the old rate without the selection effect (old rules on every
video: what clustering and multiplicity alone did); 95 % interval coverage of the true geometric mean at ICC 0.3 /
0.4 / 0.5 (old: independent-video t intervals on the same videos); P(prioritise) of two identical buckets with 400
vs 55 candidates run end to end through ``select_bucket`` and ``bucket_ranking``; and the power to prioritise a bucket
with a 1.5x (and 1.25x) geometric-mean ER and 60 videos.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from optimizer_pipeline.lib.market.bucket_selection import select_bucket
from optimizer_pipeline.lib.patterns.intelligence import (
    DEPRIORITISE,
    MIN_BUCKET_VIDEOS,
    PRIORITISE,
    bucket_ranking,
    bucket_verdicts,
)
from optimizer_pipeline.lib.sample.bucket_hashtags import as_scraped, hashtag_candidates

KEY = "bucket_null_verdict_rate"
TARGET = 0.05
SIZES = {"0-15s": 120, "16-30s": 90, "31-60s": 70, "61-90s": 45, "91-120s": 30}
GEO_MEAN = 0.08
TOP_N = 50
ICC = 0.4
CALLS = (PRIORITISE, DEPRIORITISE)


def _logs(candidates: dict[str, pd.DataFrame]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return {
        b: (np.log(f["engagement_rate"].to_numpy()), np.ones(len(f)), f["author"].to_numpy(dtype=object))
        for b, f in candidates.items()
    }


def _t_interval(y: np.ndarray) -> tuple[float, float]:
    half = float(stats.t.ppf(0.975, len(y) - 1)) * float(np.std(y, ddof=1)) / np.sqrt(len(y))
    return float(y.mean()) - half, float(y.mean()) + half


def _old_any_call(logs: dict[str, np.ndarray]) -> bool:
    """The old rules (unit weights): a bucket's t interval on log ER against the pooled reference, no adjustment."""
    reference = float(np.concatenate(list(logs.values())).mean())
    for y in logs.values():
        if len(y) >= MIN_BUCKET_VIDEOS:
            low, high = _t_interval(y)
            if low > reference or high < reference:
                return True
    return False


def _null_run(icc: float, reps: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    calls = old_calls = old_all_calls = 0
    covered, old_covered = [], []
    for _ in range(reps):
        candidates = hashtag_candidates(rng, SIZES, dict.fromkeys(SIZES, GEO_MEAN), icc=icc)
        comparison, verdicts = bucket_verdicts(_logs(candidates))
        calls += any(v in CALLS for v, _ in verdicts.values())
        covered += [e.low <= np.log(GEO_MEAN) <= e.high for e in comparison.estimates]
        every = {b: np.log(f["engagement_rate"].to_numpy()) for b, f in candidates.items()}
        top = {b: np.sort(y)[::-1][:TOP_N] for b, y in every.items()}
        old_calls += _old_any_call(top)
        old_all_calls += _old_any_call(every)
        old_covered += [lo <= np.log(GEO_MEAN) <= hi for lo, hi in map(_t_interval, every.values())]
    return {
        "rate": calls / reps,
        "old_rate": old_calls / reps,
        "old_rate_without_selection": old_all_calls / reps,
        "coverage": float(np.mean(covered)),
        "old_coverage": float(np.mean(old_covered)),
    }


def _identical_buckets(reps: int, seed: int) -> dict[str, dict[str, float]]:
    """Two identical buckets, 400 vs 55 candidates, through ``select_bucket`` (top 50) and ``bucket_ranking``."""
    rng = np.random.default_rng(seed)
    sizes = {"16-30s": 400, "31-60s": 55}
    new, old = dict.fromkeys(sizes, 0), dict.fromkeys(sizes, 0)
    for _ in range(reps):
        candidates = hashtag_candidates(rng, sizes, dict.fromkeys(sizes, GEO_MEAN), icc=0.3)
        selected, excluded = {}, {}
        for b, frame in candidates.items():
            sel = select_bucket(as_scraped(frame, b), b, videos_per_bucket=TOP_N)
            selected[b] = sel.selected
            excluded[b] = sel.excluded.merge(frame[["video_id", "author"]], on="video_id")
        table = bucket_ranking(selected, excluded=excluded, draws=500).set_index("duration_bucket")
        top = {b: np.log(s["engagement_rate"].to_numpy()) for b, s in selected.items()}
        reference = float(np.concatenate(list(top.values())).mean())
        for b in sizes:
            new[b] += table.loc[b, "verdict"] == PRIORITISE
            old[b] += _t_interval(top[b])[0] > reference
    return {
        "p_prioritise": {f"{sizes[b]} candidates": new[b] / reps for b in sizes},
        "before": {f"{sizes[b]} candidates": old[b] / reps for b in sizes},
    }


def _power(ratio: float, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    sizes = {**SIZES, "16-30s": 60}
    geo_means = {**dict.fromkeys(SIZES, GEO_MEAN), "16-30s": ratio * GEO_MEAN}
    hits = sum(
        bucket_verdicts(_logs(hashtag_candidates(rng, sizes, geo_means, icc=ICC)))[1]["16-30s"][0] == PRIORITISE
        for _ in range(reps)
    )
    return hits / reps


def measure(quick: bool = False) -> dict:
    """The figure, its old-rules counterpart and the supporting figures (module docstring)."""
    n = 400 if quick else 3000
    side = 150 if quick else 1000
    headline = _null_run(ICC, n, seed=40)
    independent = _null_run(0.0, side, seed=41)
    coverage = {
        "icc_0.3": _null_run(0.3, side, seed=43),
        "icc_0.4": headline,
        "icc_0.5": _null_run(0.5, side, seed=45),
    }
    identical = _identical_buckets(30 if quick else 300, seed=47)
    return {
        "key": KEY,
        "value": headline["rate"],
        "target": f"<= {TARGET}",
        "passed": headline["rate"] <= TARGET,
        "before": headline["old_rate"],
        "detail": {
            "hashtags": n,
            "icc": ICC,
            "independent_videos_rate": independent["rate"],
            "independent_videos_before": independent["old_rate"],
            "before_without_selection": {
                "icc_0.4": headline["old_rate_without_selection"],
                "independent": independent["old_rate_without_selection"],
            },
            "coverage": {k: round(v["coverage"], 4) for k, v in coverage.items()},
            "coverage_before": {k: round(v["old_coverage"], 4) for k, v in coverage.items()},
            "identical_buckets_p_prioritise": identical["p_prioritise"],
            "identical_buckets_before": identical["before"],
            "power_1.5x_60_videos": _power(1.5, 100 if quick else 500, seed=49),
            "power_1.25x_60_videos": _power(1.25, 100 if quick else 500, seed=50),
        },
    }
