"""Chi-square tests of a few-level string feature against tiers: the p-value machinery and the pairwise comparison.

* :func:`contingency_p` - the p-value of a levels x groups table that every categorical test uses (the pairwise
  comparisons here and the levels x tiers trend test of :mod:`.trend_tests`): Fisher exact for a 2 x 2 table;
  Pearson's asymptotic chi-square when the expected counts allow it (Cochran's rule); otherwise a Monte-Carlo p-value
  over random tables with both margins fixed (``scipy.stats.chi2_contingency`` with a ``MonteCarloMethod``: shuffled
  group labels, Patefield's algorithm), refined with many more resamples when it is small, so that the smallest
  attainable p lies well below what Benjamini-Hochberg over ~150 features needs for STRONG (q < 0.01 needs
  p <= 0.01 / m ~ 7e-5 for a lone discovery; the refined floor is 1 / 100,000 = 1e-5).
* :func:`chi2_categorical` - top vs reference tier: that p-value, Cramér's V with the noncentral chi-square interval
  and every level's share in each tier.

Pure numpy/scipy, no Dagster; degenerate and invalid inputs follow :mod:`.tier_comparison`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from optimizer_pipeline.lib.patterns.tier_comparison import TierComparison, critical_z, monotone_root, validated_count

#: First-pass Monte-Carlo resamples; the p-value's standard error is at most sqrt(0.05 * 0.95 / 19_999) ~ 0.0015
#: near 0.05.
PERMUTATION_RESAMPLES = 19_999
#: A first-pass p at or below this is recomputed with :data:`REFINED_RESAMPLES` fresh resamples (the p reported):
#: BH decides STRONG among such p-values, and 19,999 resamples cannot go below 5e-5.
REFINE_BELOW = 1e-3
#: Refined resamples: smallest attainable p 1e-5, so q = 145 x 1e-5 = 0.00145 < 0.01 for a lone discovery among 145
#: features (up to ~1,000 features stay below 0.01); standard error ~3e-5 at p = 1e-4. Only the few strongest
#: features pay for it (~0.05-0.15 s each).
REFINED_RESAMPLES = 99_999
#: Fixed seed so the same table always gets the same Monte-Carlo p-value (reports are reproducible).
PERMUTATION_SEED = 20_240_917


@dataclass(frozen=True, slots=True)
class ContingencyP:
    """The p-value of a contingency table's test of independence and how it was obtained.

    ``test`` is "fisher" (2 x 2, exact), "chi2" (asymptotic) or "chi2-permutation" (Monte-Carlo with margins fixed,
    ``n_resamples`` tables); ``statistic`` is always Pearson's chi-square on the table without empty rows/columns.
    """

    test: str
    p_value: float
    statistic: float
    df: int
    n_resamples: int = 0


def small_expected_counts(expected: np.ndarray) -> bool:
    """Cochran's rule fails: more than 20 % of the expected counts below 5, or any below 1."""
    return bool(np.mean(expected < 5.0) > 0.2 or np.any(expected < 1.0))


def contingency_p(
    table: ArrayLike,
    *,
    n_resamples: int | None = None,
    refined_resamples: int | None = None,
    seed: int = PERMUTATION_SEED,
) -> ContingencyP:
    """p-value of independence for a two-way table of counts (e.g. levels x tiers), small counts included.

    Empty rows and columns are dropped; fewer than two of either gives p = 1. A 2 x 2 table gets Fisher's exact p.
    Otherwise Pearson's chi-square, asymptotic when Cochran's rule holds; when it fails, the Monte-Carlo p of
    ``scipy.stats.chi2_contingency`` (``p = (1 + #{chi2* >= chi2}) / (B + 1)``, seeded) with ``B = n_resamples``,
    and when that p is <= :data:`REFINE_BELOW` the p of ``refined_resamples`` fresh tables instead (no refinement
    when ``refined_resamples <= n_resamples``). The two-stage p is still valid: it is <= alpha only if the
    first-stage p is (for alpha >= REFINE_BELOW) or the second-stage p is. ``None`` reads the module constants
    :data:`PERMUTATION_RESAMPLES` / :data:`REFINED_RESAMPLES` at call time.
    """
    n_resamples = PERMUTATION_RESAMPLES if n_resamples is None else n_resamples
    refined_resamples = REFINED_RESAMPLES if refined_resamples is None else refined_resamples
    if n_resamples < 1 or refined_resamples < 1:
        raise ValueError("n_resamples and refined_resamples must be >= 1")
    t = np.atleast_2d(np.asarray(table, dtype=np.int64))
    if t.ndim != 2 or np.any(t < 0):
        raise ValueError("table must be a two-way table of non-negative counts")
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return ContingencyP("chi2", 1.0, 0.0, 0)
    asymptotic = stats.chi2_contingency(t, correction=False)
    statistic, df = float(asymptotic.statistic), int(asymptotic.dof)
    if t.shape == (2, 2):
        return ContingencyP("fisher", float(stats.fisher_exact(t).pvalue), statistic, df)
    if not small_expected_counts(asymptotic.expected_freq):
        return ContingencyP("chi2", float(asymptotic.pvalue), statistic, df)
    used = n_resamples
    p = _monte_carlo_p(t, n_resamples, seed)
    if p <= REFINE_BELOW and refined_resamples > n_resamples:
        used = refined_resamples
        p = _monte_carlo_p(t, refined_resamples, seed + 1)
    return ContingencyP("chi2-permutation", min(1.0, p), statistic, df, used)


def _monte_carlo_p(table: np.ndarray, n_resamples: int, seed: int) -> float:
    method = stats.MonteCarloMethod(n_resamples=n_resamples, rng=np.random.default_rng(seed))
    return float(stats.chi2_contingency(table, correction=False, method=method).pvalue)


@dataclass(frozen=True, slots=True)
class CategoricalComparison(TierComparison):
    """Top vs reference tier for a categorical feature; ``effect`` is Cramér's V (unsigned, 0..1).

    ``top_level`` is the level whose share rises most from the reference to the top tier; ``prevalence_top`` /
    ``prevalence_ref`` are that level's shares, ``shares_top`` / ``shares_ref`` hold every level's share (the
    direction of any other level, e.g. the one a report names, is read from them).
    """

    statistic: float
    df: int
    top_level: str
    prevalence_top: float
    prevalence_ref: float
    levels: tuple[str, ...] = ()
    shares_top: dict[str, float] = field(default_factory=dict)
    shares_ref: dict[str, float] = field(default_factory=dict)
    n_resamples: int = 0
    note: str = ""


def _noncentral_chi2_ci(x: float, df: int, alpha: float) -> tuple[float, float]:
    """Interval for the noncentrality lambda of a chi-square(df) statistic ``x`` by test inversion."""

    def cdf_at(target: float) -> Callable[[float], float]:
        return lambda lam: (
            float(stats.ncx2.cdf(x, df, lam)) - target if lam > 0 else float(stats.chi2.cdf(x, df)) - target
        )

    central = float(stats.chi2.cdf(x, df))
    low = 0.0 if central <= 1.0 - alpha / 2 else monotone_root(cdf_at(1.0 - alpha / 2), 0.0, max(x, 1.0))
    high = 0.0 if central <= alpha / 2 else monotone_root(cdf_at(alpha / 2), 0.0, max(2.0 * x, 10.0))
    return max(0.0, low), max(0.0, high)


def chi2_categorical(
    top_counts: Mapping[str, int],
    ref_counts: Mapping[str, int],
    *,
    alpha: float = 0.05,
    n_resamples: int | None = None,
    refined_resamples: int | None = None,
    seed: int = PERMUTATION_SEED,
) -> CategoricalComparison:
    """Compare a categorical feature between tiers from per-level video counts.

    The p-value is :func:`contingency_p` of the 2 x L table (levels absent from both tiers are dropped): Fisher exact
    for two levels, Pearson's chi-square (no Yates correction) when expected counts allow, else Monte-Carlo with both
    margins fixed. Cramér's V = sqrt(chi2 / N) (2 rows) with the noncentral chi-square interval (test inversion on
    lambda = N * V^2), which is asymptotic: with small expected counts it is indicative only (see ``note``). It is an
    interval for the population V, so for a table fitting independence unusually well the biased-up sample V can
    exceed its upper end.
    """
    critical_z(alpha)
    if (n_resamples is not None and n_resamples < 1) or (refined_resamples is not None and refined_resamples < 1):
        raise ValueError("n_resamples and refined_resamples must be >= 1")
    levels_all: list[str] = list(dict.fromkeys([*top_counts, *ref_counts]))
    top_all = np.array(
        [validated_count(top_counts.get(lv, 0), f"top_counts[{lv!r}]") for lv in levels_all], dtype=np.int64
    )
    ref_all = np.array(
        [validated_count(ref_counts.get(lv, 0), f"ref_counts[{lv!r}]") for lv in levels_all], dtype=np.int64
    )
    keep = (top_all + ref_all) > 0
    levels = tuple(lv for lv, k in zip(levels_all, keep, strict=True) if k)
    top, ref = top_all[keep], ref_all[keep]
    n_top, n_ref = int(top.sum()), int(ref.sum())
    shares_top = top / n_top if n_top else np.zeros(len(levels))
    shares_ref = ref / n_ref if n_ref else np.zeros(len(levels))
    best = int(np.argmax(shares_top - shares_ref)) if levels else -1
    base = {
        "effect_name": "cramer's v",
        "n_top": n_top,
        "n_ref": n_ref,
        "top_level": levels[best] if levels else "",
        "prevalence_top": float(shares_top[best]) if levels else 0.0,
        "prevalence_ref": float(shares_ref[best]) if levels else 0.0,
        "levels": levels,
        "shares_top": dict(zip(levels, map(float, shares_top), strict=True)),
        "shares_ref": dict(zip(levels, map(float, shares_ref), strict=True)),
    }
    reason = ""
    if n_top == 0 or n_ref == 0:
        reason = "empty tier: nothing to compare"
    elif len(levels) < 2:
        reason = "constant feature: a single level observed"
    if reason:
        return CategoricalComparison(
            test="chi2", p_value=1.0, effect=0.0, ci_low=0.0, ci_high=0.0, statistic=0.0, df=0, note=reason, **base
        )
    res = contingency_p(np.vstack([top, ref]), n_resamples=n_resamples, refined_resamples=refined_resamples, seed=seed)
    n = n_top + n_ref
    v_low, v_high = (math.sqrt(lam / n) for lam in _noncentral_chi2_ci(res.statistic, res.df, alpha))
    col = top + ref
    expected = np.concatenate([n_top * col / n, n_ref * col / n])
    note = "small expected counts: V interval is asymptotic" if small_expected_counts(expected) else ""
    return CategoricalComparison(
        test=res.test,
        p_value=min(1.0, res.p_value),
        effect=min(1.0, math.sqrt(res.statistic / n)),
        ci_low=min(1.0, v_low),
        ci_high=min(1.0, v_high),
        statistic=res.statistic,
        df=res.df,
        n_resamples=res.n_resamples,
        note=note,
        **base,
    )
