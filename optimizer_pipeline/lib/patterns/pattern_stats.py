"""Statistics behind "pattern X separates top videos from average ones" (one duration bucket, one feature at a time).

Pure numpy/scipy, no Dagster. Every comparison puts a *top* tier (e.g. the top 10 % by engagement) against a
*reference* tier (e.g. the middle 40 %); tiers are small (4-30 videos), so every method below was picked for small
samples and every effect is signed "top minus reference" (positive = more of it among top videos).

* :func:`fisher_binary` - 0/1 features: two-sided Fisher exact p; risk difference with the Newcombe hybrid-score
  interval (Newcombe 1998, method 10: two Wilson intervals combined, good coverage at small n and never outside
  [-1, 1]); odds ratio with the Woolf (log) interval and the Haldane-Anscombe correction (0.5 added to *every* cell
  when any cell is 0). We chose Haldane-Anscombe over scipy's conditional interval because a zero cell ("never seen
  in the reference tier") is routine at these tier sizes, and the conditional interval is then infinite.
* :func:`chi2_categorical` - few-level string features: Pearson chi-square on the 2 x L table, or a Monte-Carlo
  permutation p-value (fixed seed, margins fixed) when the expected counts are small; Cramér's V with the
  noncentral chi-square interval; the level most over-represented in the top tier.
* :func:`mann_whitney` - continuous features: Mann-Whitney U p; Cliff's delta (= rank-biserial correlation) with a
  Brunner-Munzel interval (placement variance, Satterthwaite t, logit scale): unlike Newcombe's model-based score
  interval it keeps ~95 % coverage when the top tier is more (or less) spread out than the reference tier, which
  the unbalanced top-vs-middle design makes likely. Newcombe's method 5 covers what it cannot (complete separation,
  common with 4-8 videos per tier). Hodges-Lehmann shift with its exact distribution-free (Moses) interval.
* :func:`welch` - Welch t p; Hedges' g with the noncentral-t interval (exact under normality, equal variances).
* :func:`lift` - P(top | pattern) / P(top) with a Wilson-based interval.
* :func:`bh_qvalues` - Benjamini-Hochberg q-values across the features tested in a bucket.

Degenerate inputs (an empty tier, a constant feature, all values identical) never raise and never return NaN: the
p-value is 1.0, the effect is neutral (0, or 1 for ratios) with a zero-width interval unless a valid interval still
exists, and ``note`` says why. Invalid inputs (negative counts, k > n, alpha outside (0, 1)) raise ``ValueError``.
Continuous inputs drop NaN / infinite values (missing features) before anything else; ``n_top``/``n_ref`` count
what was kept.
"""

from __future__ import annotations

import functools
import math
import operator
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

__all__ = [
    "PERMUTATION_RESAMPLES",
    "PERMUTATION_SEED",
    "BinaryComparison",
    "CategoricalComparison",
    "ContinuousComparison",
    "LiftEstimate",
    "bh_qvalues",
    "chi2_categorical",
    "fisher_binary",
    "lift",
    "mann_whitney",
    "welch",
    "wilson_interval",
]

#: Monte-Carlo resamples for the permutation chi-square; the p-value's standard error is at most
#: sqrt(0.05 * 0.95 / 19_999) ~ 0.0015 near 0.05.
PERMUTATION_RESAMPLES = 19_999
#: Fixed seed so the same table always gets the same permutation p-value (reports are reproducible).
PERMUTATION_SEED = 20_240_917
#: Exact Mann-Whitney null distribution up to this many pooled values (counts stay well inside int64).
_EXACT_U_MAX_TOTAL = 60


# --------------------------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, slots=True)
class BinaryComparison:
    """Top vs reference tier for a 0/1 feature; ``effect`` is the risk difference prevalence_top - prevalence_ref."""

    test: str
    p_value: float
    effect: float
    effect_name: str
    ci_low: float
    ci_high: float
    n_top: int
    n_ref: int
    k_top: int
    k_ref: int
    prevalence_top: float
    prevalence_ref: float
    odds_ratio: float
    odds_ratio_ci_low: float
    odds_ratio_ci_high: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class CategoricalComparison:
    """Top vs reference tier for a categorical feature; ``effect`` is Cramér's V (unsigned, 0..1).

    ``top_level`` is the level whose share rises most from the reference to the top tier; ``prevalence_top`` /
    ``prevalence_ref`` are that level's shares, ``shares_top`` / ``shares_ref`` hold every level's share.
    """

    test: str
    p_value: float
    effect: float
    effect_name: str
    ci_low: float
    ci_high: float
    n_top: int
    n_ref: int
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


@dataclass(frozen=True, slots=True)
class ContinuousComparison:
    """Top vs reference tier for a continuous feature.

    ``effect`` is Cliff's delta (mann-whitney) or Hedges' g (welch); ``shift`` is the matching location difference
    top - ref: the Hodges-Lehmann estimate (mann-whitney) or the mean difference (welch), named by ``shift_name``.
    """

    test: str
    p_value: float
    effect: float
    effect_name: str
    ci_low: float
    ci_high: float
    n_top: int
    n_ref: int
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


@dataclass(frozen=True, slots=True)
class LiftEstimate:
    """``lift = P(top | pattern) / P(top)`` among the compared videos, with its interval."""

    lift: float
    ci_low: float
    ci_high: float
    p_top_given_pattern: float
    base_rate: float
    k_pattern_top: int
    n_pattern: int
    n_top: int
    n_all: int
    note: str = ""


# --------------------------------------------------------------------------------------------------------------------
# small helpers


def _z(alpha: float) -> float:
    """Two-sided normal critical value; validates alpha so a typo cannot silently give a 0-width interval."""
    if not (isinstance(alpha, int | float) and 0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(stats.norm.isf(float(alpha) / 2.0))


def _count(value: Any, name: str) -> int:
    """A non-negative integer count (numpy ints and integral floats accepted)."""
    try:
        out = operator.index(value)
    except TypeError:
        if isinstance(value, float | np.floating) and float(value).is_integer():
            out = int(value)
        else:
            raise ValueError(f"{name} must be an integer count, got {value!r}") from None
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {out}")
    return int(out)


def _finite(values: ArrayLike) -> tuple[np.ndarray, int]:
    """1-d float array without NaN/inf (missing features), plus how many values were dropped."""
    if hasattr(values, "to_numpy"):  # pandas (incl. nullable dtypes whose NA numpy cannot cast)
        arr = np.asarray(values.to_numpy(dtype=float, na_value=np.nan), dtype=float).ravel()
    else:
        arr = np.asarray(values, dtype=float).ravel()
    keep = np.isfinite(arr)
    return arr[keep], int(arr.size - keep.sum())


def _root(func: Callable[[float], float], lo: float, hi: float) -> float:
    """Root of a monotone function, widening ``[lo, hi]`` until it brackets a sign change."""
    f_lo, f_hi = func(lo), func(hi)
    width = max(hi - lo, 1.0)
    for _ in range(60):
        if f_lo * f_hi <= 0:
            break
        width *= 2.0
        if abs(f_lo) < abs(f_hi):
            lo -= width
            f_lo = func(lo)
        else:
            hi += width
            f_hi = func(hi)
    return float(optimize.brentq(func, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=500))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# --------------------------------------------------------------------------------------------------------------------
# multiple testing


def bh_qvalues(p: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), so a bucket's report can control the FDR across features.

    Step-up: ``q_(i) = min_{j >= i} min(1, p_(j) * m / j)``, hence monotone in p and capped at 1. NaN p-values
    (features that could not be tested) stay NaN and are not counted in ``m``. Keeps the input shape. Raises
    ``ValueError`` for p-values outside [0, 1], which are always a bug upstream.
    """
    arr = np.asarray(p, dtype=float)
    flat = arr.ravel()
    out = np.full(flat.shape, np.nan)
    mask = ~np.isnan(flat)
    pv = flat[mask]
    if np.any((pv < 0.0) | (pv > 1.0)):
        raise ValueError("p-values must lie in [0, 1] (NaN allowed)")
    m = pv.size
    if m:
        order = np.argsort(pv, kind="mergesort")
        scaled = pv[order] * m / np.arange(1, m + 1)
        q_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        q = np.empty(m)
        q[order] = q_sorted
        out[mask] = q
    return out.reshape(arr.shape)


# --------------------------------------------------------------------------------------------------------------------
# binary features


def wilson_interval(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a proportion: good coverage at small n and never outside [0, 1].

    ``n == 0`` gives the uninformative ``(0.0, 1.0)``.
    """
    z = _z(alpha)
    k, n = _count(k, "k"), _count(n, "n")
    if k > n:
        raise ValueError(f"k ({k}) must be <= n ({n})")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return low, high


def _newcombe_diff(k1: int, n1: int, k2: int, n2: int, alpha: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10): squares of the Wilson half-widths combined."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, alpha)
    l2, u2 = wilson_interval(k2, n2, alpha)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, low), min(1.0, high)


def fisher_binary(top_k: int, top_n: int, ref_k: int, ref_n: int, *, alpha: float = 0.05) -> BinaryComparison:
    """Compare a 0/1 feature between tiers: ``top_k`` of ``top_n`` top videos have it, ``ref_k`` of ``ref_n`` reference.

    p: two-sided Fisher exact (``scipy.stats.fisher_exact``), exact at any tier size. Effect: risk difference with the
    Newcombe hybrid-score interval. Odds ratio: sample OR with the Woolf log interval; when any cell is 0, 0.5 is
    added to every cell first (Haldane-Anscombe), so the OR and its interval stay finite.

    A feature constant across both tiers keeps p = 1, risk difference 0 and its (still valid) Newcombe interval,
    but its odds ratio is not estimable and is reported as 1 with (1, 1) and a note. An empty tier gives p = 1,
    effect 0, CI (0, 0).
    """
    z = _z(alpha)
    top_k, top_n = _count(top_k, "top_k"), _count(top_n, "top_n")
    ref_k, ref_n = _count(ref_k, "ref_k"), _count(ref_n, "ref_n")
    if top_k > top_n or ref_k > ref_n:
        raise ValueError(f"counts exceed tier sizes: top {top_k}/{top_n}, ref {ref_k}/{ref_n}")
    prev_top = top_k / top_n if top_n else 0.0
    prev_ref = ref_k / ref_n if ref_n else 0.0
    base = {
        "test": "fisher",
        "effect_name": "risk difference",
        "n_top": top_n,
        "n_ref": ref_n,
        "k_top": top_k,
        "k_ref": ref_k,
        "prevalence_top": prev_top,
        "prevalence_ref": prev_ref,
    }
    if top_n == 0 or ref_n == 0:
        return BinaryComparison(
            p_value=1.0,
            effect=0.0,
            ci_low=0.0,
            ci_high=0.0,
            odds_ratio=1.0,
            odds_ratio_ci_low=1.0,
            odds_ratio_ci_high=1.0,
            note="empty tier: nothing to compare",
            **base,
        )
    rd_low, rd_high = _newcombe_diff(top_k, top_n, ref_k, ref_n, alpha)
    k_all, n_all = top_k + ref_k, top_n + ref_n
    if k_all in (0, n_all):
        return BinaryComparison(
            p_value=1.0,
            effect=0.0,
            ci_low=rd_low,
            ci_high=rd_high,
            odds_ratio=1.0,
            odds_ratio_ci_low=1.0,
            odds_ratio_ci_high=1.0,
            note=f"constant feature (present in {k_all} of {n_all} videos): odds ratio not estimable",
            **base,
        )
    a, b, c, d = float(top_k), float(top_n - top_k), float(ref_k), float(ref_n - ref_k)
    p_value = float(stats.fisher_exact([[a, b], [c, d]], alternative="two-sided").pvalue)
    note = ""
    if min(a, b, c, d) == 0:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
        note = "zero cell: odds ratio uses the Haldane-Anscombe +0.5 correction"
    log_or = math.log(a * d / (b * c))
    half = z * math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return BinaryComparison(
        p_value=min(1.0, p_value),
        effect=prev_top - prev_ref,
        ci_low=rd_low,
        ci_high=rd_high,
        odds_ratio=math.exp(log_or),
        odds_ratio_ci_low=math.exp(log_or - half),
        odds_ratio_ci_high=math.exp(log_or + half),
        note=note,
        **base,
    )


def lift(k_pattern_top: int, n_pattern: int, n_top: int, n_all: int, *, alpha: float = 0.05) -> LiftEstimate:
    """How much likelier a video with the pattern is to be top: ``P(top | pattern) / P(top)``.

    ``n_all`` videos are compared (top + reference tier), ``n_top`` of them are top, ``n_pattern`` have the pattern
    and ``k_pattern_top`` of those are top. The tiers are quantile cuts, so ``P(top) = n_top / n_all`` is fixed by
    design, not estimated; the only sampling error is in ``P(top | pattern)``, hence the interval is the Wilson
    interval for ``k_pattern_top / n_pattern`` divided by the base rate (finite, at most ``n_all / n_top``; slightly
    conservative because the fixed tier sizes make the count hypergeometric rather than binomial).

    Degenerate (no compared or no top videos, no video with the pattern, every video top or every video with the
    pattern): lift 1 with (1, 1) and a note.
    """
    _z(alpha)
    k, n_pat = _count(k_pattern_top, "k_pattern_top"), _count(n_pattern, "n_pattern")
    n_top, n_all = _count(n_top, "n_top"), _count(n_all, "n_all")
    if k > n_pat or k > n_top or n_pat > n_all or n_top > n_all or n_pat - k > n_all - n_top:
        raise ValueError(f"inconsistent counts: k={k}, n_pattern={n_pat}, n_top={n_top}, n_all={n_all}")
    base_rate = n_top / n_all if n_all else 0.0
    p_given = k / n_pat if n_pat else 0.0
    reason = ""
    if n_all == 0 or n_top == 0:
        reason = "no top videos among the compared ones"
    elif n_top == n_all:
        reason = "every compared video is top: lift is 1 by construction"
    elif n_pat == 0:
        reason = "no compared video has the pattern"
    elif n_pat == n_all:
        reason = "every compared video has the pattern: lift is 1 by construction"
    if reason:
        return LiftEstimate(1.0, 1.0, 1.0, p_given, base_rate, k, n_pat, n_top, n_all, note=reason)
    low, high = wilson_interval(k, n_pat, alpha)
    return LiftEstimate(
        p_given / base_rate, low / base_rate, high / base_rate, p_given, base_rate, k, n_pat, n_top, n_all
    )


# --------------------------------------------------------------------------------------------------------------------
# categorical features


def _noncentral_chi2_ci(x: float, df: int, alpha: float) -> tuple[float, float]:
    """Interval for the noncentrality lambda of a chi-square(df) statistic ``x`` by test inversion."""

    def cdf_at(target: float) -> Callable[[float], float]:
        return lambda lam: (
            float(stats.ncx2.cdf(x, df, lam)) - target if lam > 0 else float(stats.chi2.cdf(x, df)) - target
        )

    central = float(stats.chi2.cdf(x, df))
    low = 0.0 if central <= 1.0 - alpha / 2 else _root(cdf_at(1.0 - alpha / 2), 0.0, max(x, 1.0))
    high = 0.0 if central <= alpha / 2 else _root(cdf_at(alpha / 2), 0.0, max(2.0 * x, 10.0))
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
    _z(alpha)
    if n_resamples < 1:
        raise ValueError("n_resamples must be >= 1")
    levels_all: list[str] = list(dict.fromkeys([*top_counts, *ref_counts]))
    top_all = np.array([_count(top_counts.get(lv, 0), f"top_counts[{lv!r}]") for lv in levels_all], dtype=np.int64)
    ref_all = np.array([_count(ref_counts.get(lv, 0), f"ref_counts[{lv!r}]") for lv in levels_all], dtype=np.int64)
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


# --------------------------------------------------------------------------------------------------------------------
# continuous features


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
    return max(0, math.floor(m * n / 2.0 + 0.5 - _z(alpha) * sigma))


def _newcombe_theta_ci(theta: float, m: int, n: int, alpha: float) -> tuple[float, float]:
    """Newcombe (2006) method 5: score-type interval for theta = P(X > Y) + P(X = Y) / 2 from sizes alone.

    Only the fallback of :func:`_theta_ci` (it assumes the exponential model and under-covers when the tiers differ
    in spread), used where the placement variance is 0 or undefined: complete separation, a single value per tier.

    Solves ``(theta - theta_hat)^2 = z^2 V(theta)`` with the Hanley-McNeil variance under the exponential model,
    made symmetric by replacing m - 1 and n - 1 with N* - 1, N* = (m + n) / 2:
    ``V = theta (1 - theta) / (m n) * [1 + (N* - 1) ((1 - theta) / (2 - theta) + theta / (1 + theta))]``.
    """
    z2 = _z(alpha) ** 2
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
    _z(alpha)
    x, dropped_x = _finite(top)
    y, dropped_y = _finite(ref)
    desc = _describe(x, y)
    dropped = f"dropped {dropped_x + dropped_y} missing/non-finite values" if dropped_x + dropped_y else ""
    base = {"test": "mann-whitney", "effect_name": "cliff's delta", "shift_name": "hodges-lehmann", **desc}
    reason = _degenerate_reason(x, y)
    if reason:
        return ContinuousComparison(
            p_value=1.0,
            effect=0.0,
            ci_low=0.0,
            ci_high=0.0,
            shift=0.0,
            shift_ci_low=0.0,
            shift_ci_high=0.0,
            statistic=0.0,
            note=_join(reason, dropped),
            **base,
        )
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

    step = 2.0 * _z(alpha) * math.sqrt(1.0 + t * t / (2.0 * df)) + 1.0
    low = _root(lambda nc: cdf(nc) - (1.0 - alpha / 2), t - step, t)
    high = _root(lambda nc: cdf(nc) - alpha / 2, t, t + step)
    return low, high


def welch(top: ArrayLike, ref: ArrayLike, *, alpha: float = 0.05) -> ContinuousComparison:
    """Mean-based comparison of a continuous feature.

    p: Welch's unequal-variance t-test (``scipy.stats.ttest_ind(equal_var=False)``); shift: mean difference with the
    Welch interval. Effect: Hedges' g = J * (mean_top - mean_ref) / pooled SD with the exact J; its interval inverts
    the noncentral t of the pooled t statistic (Steiger-Fouladi; exact under normality with equal variances) and is
    scaled by J. Needs >= 2 values per tier and some within-tier variance, otherwise degenerate (see ``note``).
    """
    _z(alpha)
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
        return ContinuousComparison(
            p_value=1.0,
            effect=0.0,
            ci_low=0.0,
            ci_high=0.0,
            shift=0.0,
            shift_ci_low=0.0,
            shift_ci_high=0.0,
            statistic=0.0,
            note=_join(reason, dropped),
            **base,
        )
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
