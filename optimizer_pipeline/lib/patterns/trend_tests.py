"""One test per feature of its shift across the ordered tiers bottom < middle < top (the test that makes a claim),
and, for a categorical feature, the level a report names.

A test that uses all three tiers has the power the two pairwise comparisons lack at bucket sizes of 40-80 videos, and
one test per feature keeps the multiplicity family small (see :mod:`optimizer_pipeline.lib.patterns.evidence`).

Missing values: :func:`observed` says which videos carry a value of a feature; every test of a feature's row (this
trend test, the pairwise comparisons, the lift and the prevalences) runs on exactly those videos, so one NaN can
neither void a test nor be counted as "absent" by another. :func:`trend_test` drops missing values itself too.

Categorical features: the trend test is an omnibus levels x tiers chi-square (it has no sign). The level a row
reports is chosen by a fixed rule, :func:`level_trend`: among the candidate levels (enough videos with and without
it, a rule on the bucket's level counts only, blind to the tiers), the one whose indicator has the largest
Cochran-Armitage |z| across the tiers; its sign is the row's direction ("higher" = the level rises with the tier).
Because the level is picked after looking, whatever is said about it (the lift interval) is adjusted for the
``n_candidates`` levels it was picked from. Pure numpy/pandas/scipy, no Dagster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from optimizer_pipeline.lib.patterns.categorical_tests import PERMUTATION_SEED, contingency_p
from optimizer_pipeline.lib.patterns.tier_comparison import effect_sign


@dataclass(frozen=True, slots=True)
class LevelTrend:
    """The level a categorical row reports: its Cochran-Armitage ``z`` across the tiers (positive: rises towards the
    top), ``sign`` of it, and how many candidate levels it was chosen from (the Bonferroni family of its lift)."""

    level: str
    z: float
    sign: int
    n_candidates: int


def observed(x: pd.Series, kind: str) -> np.ndarray:
    """Boolean mask of the videos that carry a value of the feature (numeric kinds: finite; categorical: not NA)."""
    if kind == "categorical":
        return x.notna().to_numpy(dtype=bool)
    values = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.isfinite(values)


def cochran_armitage_z(v: np.ndarray, score: np.ndarray) -> float:
    """Cochran-Armitage trend z of a 0/1 indicator ``v`` over tier scores (0, 1, 2), variance with N (the classic
    statistic; statsmodels' linear-by-linear test uses N - 1). 0 when the indicator or the scores are constant."""
    v = np.asarray(v, dtype=float)
    t = np.asarray(score, dtype=float)
    big_n = v.size
    if big_n == 0:
        return 0.0
    pbar = v.mean()
    var = pbar * (1 - pbar) * (np.sum(t * t) - np.sum(t) ** 2 / big_n)
    if var <= 1e-12:
        return 0.0
    return float(np.sum(t * (v - pbar)) / math.sqrt(var))


def trend_test(x: pd.Series, kind: str, score: np.ndarray, *, seed: int = PERMUTATION_SEED) -> tuple[str, float, int]:
    """(test name, two-sided p, trend sign: +1 rising towards the top tier, 0 none or categorical) of the feature's
    shift across the ordered tiers (``score`` 0 bottom, 1 middle, 2 top, only for videos in a tier): one test per
    feature that uses all three tiers. Missing values (see :func:`observed`) are dropped first.

    binary: Cochran-Armitage chi-square test for trend (1 df); continuous: Jonckheere-Terpstra, computed as Kendall's
    tau-b between value and tier (the same test, ties handled); categorical: chi-square test of independence on the
    levels x tiers table with :func:`~.categorical_tests.contingency_p` (asymptotic when expected counts allow, else
    Monte-Carlo with enough resamples to reach p = 1e-5, seeded by ``seed`` so reruns agree)."""
    keep = observed(x, kind)
    x = x[keep]
    score = np.asarray(score)[keep]
    if kind == "binary":
        v = (x.to_numpy(dtype=float) > 0.5).astype(float)
        z = cochran_armitage_z(v, score)
        if z == 0.0:
            return "cochran-armitage", 1.0, 0
        return "cochran-armitage", float(2 * stats.norm.sf(abs(z))), effect_sign(z)
    if kind == "continuous":
        if x.size < 2:
            return "jonckheere-terpstra", 1.0, 0
        res = stats.kendalltau(score, x.to_numpy(dtype=float), variant="b")
        if not np.isfinite(res.pvalue):
            return "jonckheere-terpstra", 1.0, 0
        return "jonckheere-terpstra", float(res.pvalue), effect_sign(float(res.statistic))
    if x.size == 0:
        return "chi2", 1.0, 0
    _, codes = np.unique(x.astype(str).to_numpy(), return_inverse=True)
    table = np.zeros((int(codes.max()) + 1, 3), dtype=np.int64)
    np.add.at(table, (codes, np.asarray(score, dtype=np.int64)), 1)
    res = contingency_p(table, seed=seed)
    return res.test, res.p_value, 0


def candidate_levels(x: pd.Series, min_count: int) -> tuple[str, ...]:
    """Levels a categorical row may report: at least ``min_count`` videos with it and without it in the bucket (all
    observed levels if none qualifies). A rule on level counts alone, so it cannot favour a level by its tiers."""
    counts = x.dropna().astype(str).value_counts()
    n = int(counts.sum())
    ok = sorted(str(lv) for lv, c in counts.items() if min_count <= c <= n - min_count)
    return tuple(ok) if ok else tuple(sorted(str(lv) for lv in counts.index))


def level_trend(x: pd.Series, score: np.ndarray, candidates: tuple[str, ...]) -> LevelTrend:
    """The candidate level whose indicator shifts most across the tiers (largest Cochran-Armitage |z|; ties: the
    first in ``candidates``), with its signed z. ``x`` and ``score`` cover the in-tier videos (missing dropped)."""
    keep = observed(x, "categorical")
    values = x[keep].astype(str).to_numpy()
    score = np.asarray(score)[keep]
    best, best_z = (candidates[0] if candidates else ""), 0.0
    for level in candidates:
        z = cochran_armitage_z((values == level).astype(float), score)
        if abs(z) > abs(best_z) + 1e-12:
            best, best_z = level, z
    return LevelTrend(best, best_z, effect_sign(best_z), max(1, len(candidates)))
