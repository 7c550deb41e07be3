"""Tests for 0/1 features between the top and reference tiers: Fisher exact, risk difference, odds ratio, lift.

* :func:`fisher_binary` - 0/1 features: two-sided Fisher exact p; risk difference with the Newcombe hybrid-score
  interval (Newcombe 1998, method 10: two Wilson intervals combined, good coverage at small n and never outside
  [-1, 1]); odds ratio with the Woolf (log) interval and the Haldane-Anscombe correction (0.5 added to *every* cell
  when any cell is 0). We chose Haldane-Anscombe over scipy's conditional interval because a zero cell ("never seen
  in the reference tier") is routine at these tier sizes, and the conditional interval is then infinite.
* :func:`lift` - P(top | pattern) / P(top) with a Wilson-based interval.

Pure numpy/scipy, no Dagster; degenerate and invalid inputs follow :mod:`.tier_comparison`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from optimizer_pipeline.lib.patterns.tier_comparison import TierComparison, critical_z, validated_count


@dataclass(frozen=True, slots=True)
class BinaryComparison(TierComparison):
    """Top vs reference tier for a 0/1 feature; ``effect`` is the risk difference prevalence_top - prevalence_ref."""

    k_top: int
    k_ref: int
    prevalence_top: float
    prevalence_ref: float
    odds_ratio: float
    odds_ratio_ci_low: float
    odds_ratio_ci_high: float
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


def wilson_interval(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a proportion: good coverage at small n and never outside [0, 1].

    ``n == 0`` gives the uninformative ``(0.0, 1.0)``.
    """
    z = critical_z(alpha)
    k, n = validated_count(k, "k"), validated_count(n, "n")
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
    z = critical_z(alpha)
    top_k, top_n = validated_count(top_k, "top_k"), validated_count(top_n, "top_n")
    ref_k, ref_n = validated_count(ref_k, "ref_k"), validated_count(ref_n, "ref_n")
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
    critical_z(alpha)
    k, n_pat = validated_count(k_pattern_top, "k_pattern_top"), validated_count(n_pattern, "n_pattern")
    n_top, n_all = validated_count(n_top, "n_top"), validated_count(n_all, "n_all")
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
