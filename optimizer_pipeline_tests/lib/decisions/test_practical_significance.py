"""Practical significance: every outcome, both metric directions, the boundaries of the rule, and a simulation of
how often each verdict is reached when the truth is known (normal lift estimates with a 95 % interval)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimizer_pipeline.lib.decisions.practical_significance import (
    PracticalInputError,
    Significance,
    classify_lift,
)

S = Significance


@pytest.mark.parametrize(
    ("low", "high", "minimum", "expected"),
    [
        (0.06, 0.15, 0.05, S.PRACTICALLY_SIGNIFICANT),
        (0.05, 0.15, 0.05, S.PRACTICALLY_SIGNIFICANT),  # the minimum itself counts as reached
        (0.01, 0.02, 0.0, S.PRACTICALLY_SIGNIFICANT),  # no minimum: plain statistical significance
        (-0.20, -0.01, 0.05, S.WORSE),
        (-0.03, -0.01, 0.05, S.WORSE),  # inside the margin, but a real loss: sign beats size
        (0.01, 0.04, 0.05, S.BELOW_MINIMUM),
        (-0.02, 0.03, 0.05, S.EQUIVALENT),
        (0.0, 0.03, 0.05, S.EQUIVALENT),  # touches 0: not a significant gain
        (-0.02, 0.05, 0.05, S.INCONCLUSIVE),  # reaches the minimum: not equivalent
        (0.01, 0.10, 0.05, S.INCONCLUSIVE),  # a real gain of uncertain size
        (-0.10, 0.20, 0.05, S.INCONCLUSIVE),
        (-0.01, 0.01, 0.0, S.INCONCLUSIVE),  # with no margin nothing is "equivalent"
        (-math.inf, math.inf, 0.05, S.INCONCLUSIVE),
        (0.2, math.inf, 0.05, S.PRACTICALLY_SIGNIFICANT),
    ],
)
def test_rule_higher_is_better(low: float, high: float, minimum: float, expected: Significance) -> None:
    verdict = classify_lift(low, high, minimum)
    assert verdict.outcome is expected
    assert "interval" in verdict.reason and "\n" not in verdict.reason
    # Mirror image: the same interval negated for a lower-is-better metric (e.g. CPA) gets the same verdict.
    assert classify_lift(-high, -low, minimum, higher_is_better=False).outcome is expected


def test_lower_is_better_reads_a_drop_as_a_gain() -> None:
    assert classify_lift(-0.30, -0.12, 0.10, higher_is_better=False).outcome is S.PRACTICALLY_SIGNIFICANT
    assert classify_lift(0.02, 0.08, 0.10, higher_is_better=False).outcome is S.WORSE
    reason = classify_lift(-0.08, -0.02, 0.10, higher_is_better=False).reason
    assert "-10.0%" in reason and "[-8.0%, -2.0%]" in reason
    assert str(S.BELOW_MINIMUM) == "significant but below the minimum"


@pytest.mark.parametrize(
    ("args", "match"),
    [((0.2, 0.1, 0.05), "low <= high"), ((math.nan, 0.1, 0.05), "NaN"), ((0.0, 0.1, -0.01), "min_lift"),
     ((0.0, 0.1, math.inf), "min_lift")],
)  # fmt: skip
def test_bad_input_is_named(args: tuple[float, float, float], match: str) -> None:
    with pytest.raises(PracticalInputError, match=match):
        classify_lift(*args)


def test_known_truth_simulation() -> None:
    """Lift estimates ~ N(true, se), 95 % interval, minimum 5 %, 4,000 draws per truth.

    A zero true lift is called practically significant or worse at most 2.5 % of the time each (one tail of a 95 %
    interval); a true lift of 2 % with a tight interval is mostly called "below the minimum" or "equivalent", never
    practically significant beyond 2.5 %; a true lift of 12 % with the same precision is practically significant.
    """
    rng = np.random.default_rng(41)
    reps, z, minimum = 4000, 1.959963984540054, 0.05
    tol = 3 * math.sqrt(0.025 * 0.975 / reps)

    def rates(true: float, se: float) -> dict[Significance, float]:
        est = rng.normal(true, se, reps)
        calls = [classify_lift(e - z * se, e + z * se, minimum).outcome for e in est]
        return {s: float(np.mean([c is s for c in calls])) for s in Significance}

    null = rates(0.0, 0.02)
    assert null[S.PRACTICALLY_SIGNIFICANT] + null[S.BELOW_MINIMUM] <= 0.025 + tol  # any "gain" call is a false one
    assert null[S.WORSE] <= 0.025 + tol
    small = rates(0.02, 0.008)
    assert small[S.PRACTICALLY_SIGNIFICANT] <= 0.025 + tol
    assert small[S.BELOW_MINIMUM] + small[S.EQUIVALENT] > 0.9
    big = rates(0.12, 0.02)
    assert big[S.PRACTICALLY_SIGNIFICANT] > 0.9 and big[S.WORSE] == 0.0
