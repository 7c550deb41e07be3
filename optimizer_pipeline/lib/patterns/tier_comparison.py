"""The shared contract of a top-vs-reference tier comparison, and the argument checks every test family runs.

Every comparison in :mod:`.binary_tests`, :mod:`.categorical_tests` and :mod:`.continuous_tests` puts a *top* tier
(e.g. the top 10 % by engagement) against a *reference* tier (e.g. the middle 40 %) in one duration bucket, one
feature at a time; tiers are small (4-30 videos), so every method was picked for small samples and every effect is
signed "top minus reference" (positive = more of it among top videos). :mod:`.multiplicity` adjusts the p-values
across the features tested in a bucket.

Degenerate inputs (an empty tier, a constant feature, all values identical) never raise and never return NaN: the
p-value is 1.0, the effect is neutral (0, or 1 for ratios) with a zero-width interval unless a valid interval still
exists, and ``note`` says why. Invalid inputs (negative counts, k > n, alpha outside (0, 1)) raise ``ValueError``
through the checks below, so every family rejects a caller bug the same way. Intervals that have no closed form
are found by test inversion with :func:`monotone_root`. Pure numpy/scipy, no Dagster.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True, slots=True)
class TierComparison:
    """What every top-vs-reference comparison reports, whatever the feature's type: the test, its p-value, the
    effect size with its interval and the two tier sizes (``evidence.py`` reads these; each family adds its own)."""

    test: str
    p_value: float
    effect: float
    effect_name: str
    ci_low: float
    ci_high: float
    n_top: int
    n_ref: int


def critical_z(alpha: float) -> float:
    """Two-sided normal critical value; validates alpha so a typo cannot silently give a 0-width interval."""
    if not (isinstance(alpha, int | float) and 0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(stats.norm.isf(float(alpha) / 2.0))


def validated_count(value: Any, name: str) -> int:
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


def monotone_root(func: Callable[[float], float], lo: float, hi: float) -> float:
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


def effect_sign(effect: float) -> int:
    """+1 / -1 for an effect above / below zero (top minus reference), 0 for none or an undefined one."""
    return 0 if not np.isfinite(effect) or abs(effect) < 1e-12 else (1 if effect > 0 else -1)
