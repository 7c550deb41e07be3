"""Test for few-level string features between the top and reference tiers: chi-square and Cramér's V.

* :func:`chi2_categorical` - few-level string features: Pearson chi-square on the 2 x L table, or a Monte-Carlo
  permutation p-value (fixed seed, margins fixed) when the expected counts are small; Cramér's V with the
  noncentral chi-square interval; the level most over-represented in the top tier.

Pure numpy/scipy, no Dagster; degenerate and invalid inputs follow :mod:`.tier_comparison`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from optimizer_pipeline.lib.patterns.tier_comparison import TierComparison, critical_z, monotone_root, validated_count

#: Monte-Carlo resamples for the permutation chi-square; the p-value's standard error is at most
#: sqrt(0.05 * 0.95 / 19_999) ~ 0.0015 near 0.05.
PERMUTATION_RESAMPLES = 19_999
#: Fixed seed so the same table always gets the same permutation p-value (reports are reproducible).
PERMUTATION_SEED = 20_240_917


@dataclass(frozen=True, slots=True)
class CategoricalComparison(TierComparison):
    """Top vs reference tier for a categorical feature; ``effect`` is Cramér's V (unsigned, 0..1).

    ``top_level`` is the level whose share rises most from the reference to the top tier; ``prevalence_top`` /
    ``prevalence_ref`` are that level's shares, ``shares_top`` / ``shares_ref`` hold every level's share.
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
    n_resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> CategoricalComparison:
    """Compare a categorical feature between tiers from per-level video counts.

    Pearson chi-square test of independence on the 2 x L table (no Yates correction; levels absent from both tiers
    are dropped). When expected counts are small (Cochran: < 5 in more than 20 % of cells, or any < 1) the
    asymptotic p is unreliable, so the p-value is a Monte-Carlo permutation p instead: ``n_resamples`` tables drawn
    with both margins fixed (multivariate hypergeometric, i.e. shuffled tier labels), seeded so reruns agree,
    ``p = (1 + #{chi2* >= chi2}) / (n_resamples + 1)``. Cramér's V = sqrt(chi2 / N) (2 rows) with the noncentral
    chi-square interval (test inversion on lambda = N * V^2), which is asymptotic: under the permutation fallback the
    interval is indicative only (see ``note``). It is an interval for the population V, so for a table fitting
    independence unusually well the biased-up sample V can exceed its upper end.
    """
    critical_z(alpha)
    if n_resamples < 1:
        raise ValueError("n_resamples must be >= 1")
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
    col = top + ref
    n = n_top + n_ref
    exp_top, exp_ref = n_top * col / n, n_ref * col / n
    statistic = float(np.sum((top - exp_top) ** 2 / exp_top + (ref - exp_ref) ** 2 / exp_ref))
    df = len(levels) - 1
    expected = np.concatenate([exp_top, exp_ref])
    small = bool(np.mean(expected < 5.0) > 0.2 or np.any(expected < 1.0))
    v_low, v_high = (math.sqrt(lam / n) for lam in _noncentral_chi2_ci(statistic, df, alpha))
    effect = math.sqrt(statistic / n)
    if small:
        rng = np.random.default_rng(seed)
        sims = rng.multivariate_hypergeometric(col, n_top, size=n_resamples)
        sim_stats = np.sum((sims - exp_top) ** 2 / exp_top + ((col - sims) - exp_ref) ** 2 / exp_ref, axis=1)
        tol = 1e-9 * max(1.0, statistic)
        p_value = (1.0 + float(np.sum(sim_stats >= statistic - tol))) / (n_resamples + 1.0)
        test, used, note = (
            "chi2-permutation",
            n_resamples,
            "small expected counts: permutation p; V interval is asymptotic",
        )
    else:
        p_value = float(stats.chi2.sf(statistic, df))
        test, used, note = "chi2", 0, ""
    return CategoricalComparison(
        test=test,
        p_value=min(1.0, p_value),
        effect=min(1.0, effect),
        ci_low=min(1.0, v_low),
        ci_high=min(1.0, v_high),
        statistic=statistic,
        df=df,
        n_resamples=used,
        note=note,
        **base,
    )
