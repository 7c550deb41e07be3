"""Tests for continuous features between the top and reference tiers: Mann-Whitney, Cliff's delta, Welch.

* :func:`mann_whitney` - continuous features: Mann-Whitney U p; Cliff's delta (= rank-biserial correlation) with a
  Brunner-Munzel interval (placement variance, Satterthwaite t, logit scale): unlike Newcombe's model-based score
  interval it keeps ~95 % coverage when the top tier is more (or less) spread out than the reference tier, which
  the unbalanced top-vs-middle design makes likely. Newcombe's method 5 covers what it cannot (complete separation,
  common with 4-8 videos per tier). Hodges-Lehmann shift with its exact distribution-free (Moses) interval.
* :func:`welch` - Welch t p; Hedges' g with the noncentral-t interval (exact under normality, equal variances).

Inputs drop NaN / infinite values (missing features) before anything else; ``n_top``/``n_ref`` count what was kept.
Pure numpy/scipy, no Dagster; degenerate and invalid inputs follow :mod:`.tier_comparison`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from optimizer_pipeline.lib.patterns.tier_comparison import TierComparison, critical_z, monotone_root

#: Exact Mann-Whitney null distribution up to this many pooled values (counts stay well inside int64).
_EXACT_U_MAX_TOTAL = 60


@dataclass(frozen=True, slots=True)
class ContinuousComparison(TierComparison):
    """Top vs reference tier for a continuous feature.

    ``effect`` is Cliff's delta (mann-whitney) or Hedges' g (welch); ``shift`` is the matching location difference
    top - ref: the Hodges-Lehmann estimate (mann-whitney) or the mean difference (welch), named by ``shift_name``.
    """

    median_top: float
    median_ref: float
    mean_top: float
    mean_ref: float
    shift: float
    shift_name: str
    shift_ci_low: float
    shift_ci_high: float
    statistic: float
    note: str = ""


def _finite(values: ArrayLike) -> tuple[np.ndarray, int]:
    """1-d float array without NaN/inf (missing features), plus how many values were dropped."""
    if hasattr(values, "to_numpy"):  # pandas (incl. nullable dtypes whose NA numpy cannot cast)
        arr = np.asarray(values.to_numpy(dtype=float, na_value=np.nan), dtype=float).ravel()
    else:
        arr = np.asarray(values, dtype=float).ravel()
    keep = np.isfinite(arr)
    return arr[keep], int(arr.size - keep.sum())


def _join(*parts: str) -> str:
    """Notes joined with "; ", empty parts left out."""
    return "; ".join(p for p in parts if p)


def _describe(top: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """Medians/means of both tiers (0.0 for an empty tier, flagged by n = 0 and a note)."""

    def stat(f: Callable[[np.ndarray], Any], a: np.ndarray) -> float:
        return float(f(a)) if a.size else 0.0

    return {
        "n_top": int(top.size),
        "n_ref": int(ref.size),
        "median_top": stat(np.median, top),
        "median_ref": stat(np.median, ref),
        "mean_top": stat(np.mean, top),
        "mean_ref": stat(np.mean, ref),
    }


def _degenerate_reason(top: np.ndarray, ref: np.ndarray) -> str:
    if top.size == 0 or ref.size == 0:
        return "empty tier: nothing to compare"
    pooled = np.concatenate([top, ref])
    if np.all(pooled == pooled[0]):
        return "all values identical"
    return ""


def _mwu_null_cdf(m: int, n: int) -> np.ndarray:
    """Exact null CDF of the Mann-Whitney U (no ties) for sizes m, n: ``cdf[u] = P(U <= u)``.

    The counts are the coefficients of the Gaussian binomial ``[m+n choose m]_q``, built as the product of
    ``(1 - q^(n+i)) / (1 - q^i)`` for i = 1..m; every partial product is itself a Gaussian binomial, so the integer
    arithmetic is exact while C(m+n, m) fits in int64.
    """
    m, n = min(m, n), max(m, n)
    size = m * n + 1
    poly = np.zeros(size, dtype=np.int64)
    poly[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        if shift < size:
            poly[shift:] -= poly[: size - shift].copy()
        for r in range(i):
            poly[r::i] = np.cumsum(poly[r::i])
    return np.cumsum(poly) / float(poly.sum())


@functools.lru_cache(maxsize=256)
def _hl_order_index(m: int, n: int, alpha: float) -> int:
    """1-based k with ``P(U <= k - 1) <= alpha / 2`` maximal: the HL interval is ``[D_(k), D_(mn + 1 - k)]``.

    Exact null distribution up to 60 pooled values, normal approximation with continuity correction beyond. 0 means
    the samples are too small for any distribution-free interval at this level.
    """
    if m + n <= _EXACT_U_MAX_TOTAL:
        cdf = _mwu_null_cdf(m, n)
        return int(np.sum(cdf <= alpha / 2 + 1e-12))
    sigma = math.sqrt(m * n * (m + n + 1) / 12.0)
    return max(0, math.floor(m * n / 2.0 + 0.5 - critical_z(alpha) * sigma))


def _newcombe_theta_ci(theta: float, m: int, n: int, alpha: float) -> tuple[float, float]:
    """Newcombe (2006) method 5: score-type interval for theta = P(X > Y) + P(X = Y) / 2 from sizes alone.

    Only the fallback of :func:`_theta_ci` (it assumes the exponential model and under-covers when the tiers differ
    in spread), used where the placement variance is 0 or undefined: complete separation, a single value per tier.

    Solves ``(theta - theta_hat)^2 = z^2 V(theta)`` with the Hanley-McNeil variance under the exponential model,
    made symmetric by replacing m - 1 and n - 1 with N* - 1, N* = (m + n) / 2:
    ``V = theta (1 - theta) / (m n) * [1 + (N* - 1) ((1 - theta) / (2 - theta) + theta / (1 + theta))]``.
    """
    z2 = critical_z(alpha) ** 2
    n_star = (m + n) / 2.0

    def bracket(t: float) -> float:
        return (1.0 + (n_star - 1.0) * ((1.0 - t) / (2.0 - t) + t / (1.0 + t))) / (m * n)

    def f(t: float) -> float:
        return (t - theta) ** 2 - z2 * t * (1.0 - t) * bracket(t)

    # At theta_hat = 1 (complete separation) f has a trivial root at 1; dividing it out gives the informative one.
    if theta >= 1.0:
        low = float(optimize.brentq(lambda t: (1.0 - t) - z2 * t * bracket(t), 0.0, 1.0, xtol=1e-12))
    else:
        low = 0.0 if theta <= 0.0 else float(optimize.brentq(f, 0.0, theta, xtol=1e-12))
    if theta <= 0.0:
        high = float(optimize.brentq(lambda t: t - z2 * (1.0 - t) * bracket(t), 0.0, 1.0, xtol=1e-12))
    else:
        high = 1.0 if theta >= 1.0 else float(optimize.brentq(f, theta, 1.0, xtol=1e-12))
    return low, high


def _theta_ci(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """theta_hat = P(X > Y) + P(X = Y) / 2 and its interval: Brunner-Munzel variance, t with Satterthwaite df, logit.

    The variance is the placement (DeLong / Brunner-Munzel) estimate ``var(P_x) / m + var(P_y) / n``, where ``P_x[i]``
    is the share of y below x[i] (ties 1/2) and ``P_y[j]`` the share of x above y[j]; it needs no shift or equal-spread
    assumption, and the logit scale keeps the interval inside (0, 1) with better small-sample coverage (Perme &
    Manevski 2019). Where that variance is 0 or undefined, Newcombe's method 5 takes over.
    """
    m, n = x.size, y.size
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    theta = float(psi.mean())
    if m >= 2 and n >= 2 and 0.0 < theta < 1.0:
        a = float(np.var(psi.mean(axis=1), ddof=1)) / m
        b = float(np.var(psi.mean(axis=0), ddof=1)) / n
        if a + b > 0.0:
            df = (a + b) ** 2 / (a * a / (m - 1) + b * b / (n - 1))
            half = float(stats.t.isf(alpha / 2, df)) * math.sqrt(a + b) / (theta * (1.0 - theta))
            logit = math.log(theta / (1.0 - theta))
            return theta, float(special.expit(logit - half)), float(special.expit(logit + half))
    low, high = _newcombe_theta_ci(theta, m, n, alpha)
    return theta, low, high


def _not_tested(note: str, base: dict[str, Any]) -> ContinuousComparison:
    """The result of a comparison that cannot be made (degenerate tiers): no effect, p = 1, and why in ``note``."""
    return ContinuousComparison(
        p_value=1.0,
        effect=0.0,
        ci_low=0.0,
        ci_high=0.0,
        shift=0.0,
        shift_ci_low=0.0,
        shift_ci_high=0.0,
        statistic=0.0,
        note=note,
        **base,
    )


def mann_whitney(top: ArrayLike, ref: ArrayLike, *, alpha: float = 0.05) -> ContinuousComparison:
    """Rank-based comparison of a continuous feature (robust to the heavy tails of engagement-like features).

    p: two-sided Mann-Whitney U (``scipy.stats.mannwhitneyu``, ``method="auto"``: exact for small samples without
    ties, normal approximation with tie and continuity correction otherwise). Effect: Cliff's delta
    ``P(top > ref) - P(top < ref)`` (= rank-biserial = 2 U / (m n) - 1) with the interval of :func:`_theta_ci`
    mapped through delta = 2 theta - 1 (it does not assume equal distributions under the null as the U test does,
    so the two can disagree right at the alpha edge). Shift: Hodges-Lehmann estimate (median of all pairwise
    differences top - ref) with the exact distribution-free Moses interval from the order statistics of those
    differences (coverage >= 1 - alpha for continuous data under a shift model; when the tiers are too small for any
    such interval the full range of differences is reported, with a note).
    """
    critical_z(alpha)
    x, dropped_x = _finite(top)
    y, dropped_y = _finite(ref)
    desc = _describe(x, y)
    dropped = f"dropped {dropped_x + dropped_y} missing/non-finite values" if dropped_x + dropped_y else ""
    base = {"test": "mann-whitney", "effect_name": "cliff's delta", "shift_name": "hodges-lehmann", **desc}
    reason = _degenerate_reason(x, y)
    if reason:
        return _not_tested(_join(reason, dropped), base)
    m, n = x.size, y.size
    res = stats.mannwhitneyu(x, y, alternative="two-sided", method="auto")
    theta, t_low, t_high = _theta_ci(x, y, alpha)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    k = _hl_order_index(m, n, alpha)
    note = ""
    if k >= 1:
        s_low, s_high = float(diffs[k - 1]), float(diffs[m * n - k])
    else:
        s_low, s_high = float(diffs[0]), float(diffs[-1])
        note = f"tiers too small for a {1 - alpha:.0%} distribution-free shift interval: range of differences shown"
    return ContinuousComparison(
        p_value=min(1.0, float(res.pvalue)),
        effect=2.0 * theta - 1.0,
        ci_low=2.0 * t_low - 1.0,
        ci_high=2.0 * t_high - 1.0,
        shift=float(np.median(diffs)),
        shift_ci_low=s_low,
        shift_ci_high=s_high,
        statistic=float(res.statistic),
        note=_join(note, dropped),
        **base,
    )


def _hedges_j(df: float) -> float:
    """Exact small-sample bias correction of Cohen's d: Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))."""
    return math.exp(special.gammaln(df / 2.0) - 0.5 * math.log(df / 2.0) - special.gammaln((df - 1.0) / 2.0))


def _nct_ci(t: float, df: float, alpha: float) -> tuple[float, float]:
    """Interval for the noncentrality of a t(df) statistic ``t`` by inverting the noncentral t CDF."""

    def cdf(nc: float) -> float:
        value = float(stats.nct.cdf(t, df, nc))
        if math.isnan(value):  # scipy gives NaN far in the tails; the CDF there is 0 or 1 to double precision
            value = 0.0 if nc > t else 1.0
        return value

    step = 2.0 * critical_z(alpha) * math.sqrt(1.0 + t * t / (2.0 * df)) + 1.0
    low = monotone_root(lambda nc: cdf(nc) - (1.0 - alpha / 2), t - step, t)
    high = monotone_root(lambda nc: cdf(nc) - alpha / 2, t, t + step)
    return low, high


def welch(top: ArrayLike, ref: ArrayLike, *, alpha: float = 0.05) -> ContinuousComparison:
    """Mean-based comparison of a continuous feature.

    p: Welch's unequal-variance t-test (``scipy.stats.ttest_ind(equal_var=False)``); shift: mean difference with the
    Welch interval. Effect: Hedges' g = J * (mean_top - mean_ref) / pooled SD with the exact J; its interval inverts
    the noncentral t of the pooled t statistic (Steiger-Fouladi; exact under normality with equal variances) and is
    scaled by J. Needs >= 2 values per tier and some within-tier variance, otherwise degenerate (see ``note``).
    """
    critical_z(alpha)
    x, dropped_x = _finite(top)
    y, dropped_y = _finite(ref)
    desc = _describe(x, y)
    dropped = f"dropped {dropped_x + dropped_y} missing/non-finite values" if dropped_x + dropped_y else ""
    base = {"test": "welch", "effect_name": "hedges g", "shift_name": "mean difference", **desc}
    reason = _degenerate_reason(x, y)
    if not reason and (x.size < 2 or y.size < 2):
        reason = "welch needs at least 2 values per tier"
    if not reason and np.var(x) == 0.0 and np.var(y) == 0.0:
        reason = "no variance within either tier: t-test undefined (use mann_whitney)"
    if reason:
        return _not_tested(_join(reason, dropped), base)
    m, n = x.size, y.size
    with warnings.catch_warnings():  # a constant tier is legitimate here; scipy warns about its variance
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        res = stats.ttest_ind(x, y, equal_var=False)
    shift_ci = res.confidence_interval(confidence_level=1.0 - alpha)
    df = m + n - 2.0
    sd_pooled = math.sqrt(((m - 1) * np.var(x, ddof=1) + (n - 1) * np.var(y, ddof=1)) / df)
    diff = float(np.mean(x) - np.mean(y))
    d = diff / sd_pooled
    scale = math.sqrt(1.0 / m + 1.0 / n)
    nc_low, nc_high = _nct_ci(d / scale, df, alpha)
    j = _hedges_j(df)
    return ContinuousComparison(
        p_value=min(1.0, float(res.pvalue)),
        effect=j * d,
        ci_low=j * nc_low * scale,
        ci_high=j * nc_high * scale,
        shift=diff,
        shift_ci_low=float(shift_ci.low),
        shift_ci_high=float(shift_ci.high),
        statistic=float(res.statistic),
        note=dropped,
        **base,
    )
