"""Practical significance: is a lift both real and big enough to matter, given its confidence interval?

Why: with enough traffic a 0.3 % lift is "significant" yet not worth a creative change, and an interval that excludes
0 can still include lifts too small to pay for the switch. The decision compares the interval on the relative lift
with 0 and with the smallest lift worth acting on, ``min_lift`` (the "region of practical equivalence" reading of an
interval: Kruschke 2018, AMPPS 1:270; Lakens 2017, SPPS 8:355 for equivalence by interval inclusion).

Rule. Turn the interval into "good-direction" units ``[g_lo, g_hi]`` (itself when higher is better; ``[-high, -low]``
when lower is better, as for CPA), ``m = min_lift``; the first rule that holds wins:

1. ``g_lo > 0`` and ``g_lo >= m``: **practically significant** (every plausible lift is a real gain of at least m);
2. ``g_hi < 0``: **worse** (every plausible lift is a loss, however small);
3. ``g_lo > 0`` and ``g_hi < m``: **significant but below the minimum** (a real gain, but too small to matter);
4. ``-m < g_lo`` and ``g_hi < m``: **equivalent** (any difference is smaller than m either way; needs m > 0);
5. otherwise **inconclusive** (the interval is too wide to say; more data would decide).

Sign beats size on purpose: a loss is reported as "worse" even when it lies inside the equivalence margin. An interval
above 0 that straddles m stays inconclusive (the reason says it is a real gain of uncertain size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class PracticalInputError(ValueError):
    """An interval or minimum lift that cannot be classified (NaN, low > high, negative minimum)."""


class Significance(StrEnum):
    """The five outcomes of :func:`classify_lift`."""

    PRACTICALLY_SIGNIFICANT = "practically significant"
    WORSE = "worse"
    BELOW_MINIMUM = "significant but below the minimum"
    EQUIVALENT = "equivalent"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class PracticalVerdict:
    """An outcome and a one-line plain-English reason quoting the interval and the minimum."""

    outcome: Significance
    reason: str


def classify_lift(low: float, high: float, min_lift: float, *, higher_is_better: bool = True) -> PracticalVerdict:
    """Classify the interval ``[low, high]`` on the relative lift (0.05 = +5 %) against ``min_lift`` (>= 0)."""
    if math.isnan(low) or math.isnan(high) or low > high:
        raise PracticalInputError(f"need an interval with low <= high (no NaN), got [{low}, {high}]")
    if not (math.isfinite(min_lift) and min_lift >= 0):
        raise PracticalInputError(f"min_lift must be finite and >= 0, got {min_lift}")
    g_lo, g_hi = (low, high) if higher_is_better else (-high, -low)
    m = min_lift
    shown = f"the lift interval [{_pct(low)}, {_pct(high)}]"
    good = "an increase" if higher_is_better else "a decrease"
    size = f"{'+' if higher_is_better else '-'}{m:.1%}"
    if g_lo > 0 and g_lo >= m:
        return PracticalVerdict(Significance.PRACTICALLY_SIGNIFICANT, f"{shown} lies beyond the minimum {size}: "
                                f"a real gain worth acting on")  # fmt: skip
    if g_hi < 0:
        return PracticalVerdict(Significance.WORSE, f"{shown} lies entirely on the bad side of 0 ({good} is better)")
    if g_lo > 0 and g_hi < m:
        return PracticalVerdict(Significance.BELOW_MINIMUM, f"{shown} is a real gain but entirely smaller than the "
                                f"minimum {size}: not worth acting on")  # fmt: skip
    if -m < g_lo and g_hi < m:
        return PracticalVerdict(Significance.EQUIVALENT, f"{shown} lies within ±{m:.1%}: any difference is too small "
                                f"to matter")  # fmt: skip
    if g_lo > 0:
        why = f"{shown} is a real gain but may or may not reach the minimum {size}; more data would decide"
    else:
        why = f"{shown} includes both no effect and effects that matter; more data would decide"
    return PracticalVerdict(Significance.INCONCLUSIVE, why)


def _pct(x: float) -> str:
    return f"{x:+.1%}" if math.isfinite(x) else ("+inf" if x > 0 else "-inf")
