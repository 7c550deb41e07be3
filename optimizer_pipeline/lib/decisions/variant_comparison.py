"""The statistical core of an experiment look: each variant against the control on one metric, valid at every look.

Why: the decision engine and the A/A benchmark must run the very same test, so this module works on plain numbers
(per arm totals, per-day arrays for ratio metrics, the VIF, alpha, the calendar fraction of the horizon) and on the
stored sequential state, never on data frames or registry objects.

Method, per look:

* Estimate. Rates (CTR, CVR) are ``successes / trials`` with the binomial variance times the over-dispersion
  factor (``relative_lift.rate_estimate``); ratio metrics (CPA, ROAS, revenue per impression) are ``sum / sum`` over
  days with the delta-method variance that treats days as the units (``relative_lift.ratio_estimate``; day-to-day
  variation already carries the over-dispersion, so no VIF). The lift is ``variant / control - 1`` and the test runs
  on the log ratio (Katz et al. 1978), ``z = log_ratio / se``, signed so that positive means better (for CPA a lower
  cost is better, so its z is ``-log_ratio / se``).
* Sequential test. Lan-DeMets O'Brien-Fleming spending over the calendar fraction of the planned horizon (capped at
  1) and the information ``n_v n_c / (n_v + n_c)`` in the metric's sample unit (never decreasing); a look without new
  data spends nothing. Several variants: group-sequential Holm (``holm_sequential.holm_sequential``), each variant
  tested at ``alpha / h`` with its own design; each (variant, h) design is stored and only extended by one look.
* Repeated confidence interval (Jennison & Turnbull 2000, ch. 9) of the lift at the boundary of the level the
  variant is tested at: ``exp(log_ratio +- c_k se) - 1``; simultaneous over looks.
* Guardrails (:func:`guardrail_look`): the same estimate for the guardrail metric and its own design, read
  one-sided: a two-sided design at ``2 alpha`` puts ``alpha`` on the degradation side, and the guardrail is breached
  when the repeated interval lies entirely beyond the tolerated degradation (CPA above ``+tolerance``; the other
  metrics below ``-tolerance``).

* Bayesian read-out (:func:`bayes_readout`, display only): chance to win and expected loss of each variant from
  ``bayesian_comparison`` (Beta posteriors with the VIF for small rate counts, the normal otherwise).

All state (the z history per variant and the plans) round-trips through JSON-ready dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from optimizer_pipeline.lib.decisions.bayesian_comparison import compare_normal, compare_proportions
from optimizer_pipeline.lib.decisions.experiment_registry import HIGHER_IS_BETTER, METRIC_RATIOS
from optimizer_pipeline.lib.decisions.group_sequential import SequentialPlan
from optimizer_pipeline.lib.decisions.holm_sequential import holm_sequential
from optimizer_pipeline.lib.decisions.relative_lift import (
    ArmEstimate,
    LogLift,
    lift_interval,
    log_lift,
    rate_estimate,
    ratio_estimate,
)

#: Metrics that are proportions of counts (binomial, with a VIF); the others are ratios of sums over days.
RATE_METRICS: frozenset[str] = frozenset({"ctr", "cvr"})
#: Effective successes (or failures) below which the Bayesian read-out of a rate uses exact Beta integrals.
EXACT_BETA_BELOW = 100.0


class ComparisonError(ValueError):
    """Arm totals, metric or design values that cannot be compared."""


@dataclass(frozen=True)
class ArmTotals:
    """One arm's cumulative data: the metric's numerator and denominator totals, the sample units behind it
    (``SAMPLE_UNIT`` of the metric) and, for ratio metrics, the per-day numerators and denominators."""

    name: str
    numerator: float
    denominator: float
    units: float
    daily_numerator: np.ndarray | None = None
    daily_denominator: np.ndarray | None = None


def arm_estimate(arm: ArmTotals, metric: str, vif: float) -> ArmEstimate:
    """The arm's metric with the variance of its estimate (rates: binomial x VIF; ratios: over days)."""
    if metric not in METRIC_RATIOS:
        raise ComparisonError(f"unknown metric {metric!r}; known: {sorted(METRIC_RATIOS)}")
    if metric in RATE_METRICS:
        return rate_estimate(arm.numerator, arm.denominator, vif)
    if arm.daily_numerator is None or arm.daily_denominator is None:
        raise ComparisonError(f"{metric} is a ratio metric: arm {arm.name!r} needs per-day numerators/denominators")
    return ratio_estimate(arm.daily_numerator, arm.daily_denominator)


def comparable(arm: ArmTotals, metric: str) -> bool:
    """Whether an arm can enter a relative lift: a positive metric, and >= 2 days for a ratio metric."""
    if arm.numerator <= 0 or arm.denominator <= 0 or arm.units <= 0:
        return False
    if metric in RATE_METRICS:
        return arm.numerator <= arm.denominator
    return arm.daily_numerator is not None and len(arm.daily_numerator) >= 2


def information(variant: ArmTotals, control: ArmTotals) -> float:
    """``n_v n_c / (n_v + n_c)`` in sample units: the test's time scale (never decreasing with cumulative data)."""
    return variant.units * control.units / (variant.units + control.units)


@dataclass
class SequentialState:
    """What the next look needs: per variant the (spend_time, information, z) of every look, and the Holm plans."""

    histories: list[list[tuple[float, float, float]]]
    plans: dict[tuple[int, int], SequentialPlan] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready record."""
        return {
            "histories": [[list(look) for look in h] for h in self.histories],
            "plans": {f"{j},{h}": p.to_dict() for (j, h), p in sorted(self.plans.items())},
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, object]) -> SequentialState:
        """Inverse of ``to_dict``."""
        hist = [[(float(a), float(b), float(c)) for a, b, c in h] for h in record["histories"]]  # type: ignore[attr-defined]
        plans = {}
        for key, p in record["plans"].items():  # type: ignore[attr-defined]
            j, h = (int(x) for x in key.split(","))
            plans[(j, h)] = SequentialPlan.from_dict(p)
        return cls(hist, plans)


@dataclass(frozen=True)
class VariantResult:
    """One variant against the control at this look; ``z`` and the interval are for this look's data."""

    name: str
    lift: float  # variant / control - 1
    log_ratio: float
    se: float
    z: float  # positive = better (sign flipped for lower-is-better metrics)
    information: float
    boundary: float  # critical value at the level the variant is tested at (inf: no alpha left)
    lift_low: float  # repeated confidence interval of the lift
    lift_high: float
    level: float  # alpha / h of the Holm step it was tested at
    rejected: bool  # Holm: crossed its boundary at this or an earlier look
    alpha_spent: float  # of its current-level design


@dataclass(frozen=True)
class ComparisonLook:
    """All variants at one look, the family's alpha spent and the updated state.

    ``alpha_spent`` sums the variants' designs at the first Holm step (level ``alpha / m`` each), so it is <= alpha;
    each ``VariantResult.alpha_spent`` is that of its design at the level it is currently tested at."""

    variants: tuple[VariantResult, ...]
    alpha_spent: float
    state: SequentialState


def _checked_metric(metric: str) -> None:
    if metric not in METRIC_RATIOS:
        raise ComparisonError(f"unknown metric {metric!r}; known: {sorted(METRIC_RATIOS)}")


def _checked_time(spend_time: float) -> float:
    if not (math.isfinite(spend_time) and spend_time > 0):
        raise ComparisonError(f"spend_time must be a finite calendar fraction > 0, got {spend_time!r}")
    return min(spend_time, 1.0)


def compare_variants(
    control: ArmTotals,
    variants: Sequence[ArmTotals],
    metric: str,
    *,
    vif: float,
    alpha: float,
    spend_time: float,
    state: SequentialState | None = None,
) -> ComparisonLook:
    """Each variant against the control on ``metric`` at one look, Holm across variants, from the stored state.

    Every arm must be :func:`comparable`. ``state`` is the previous look's ``ComparisonLook.state`` (or its
    ``from_dict``); ``None`` at the first judged look.
    """
    if not variants:
        raise ComparisonError("need at least one variant besides the control")
    if not 0 < alpha < 1:
        raise ComparisonError(f"alpha must be in (0, 1), got {alpha!r}")
    _checked_metric(metric)
    t = _checked_time(spend_time)
    for arm in (control, *variants):
        if not comparable(arm, metric):
            raise ComparisonError(f"arm {arm.name!r} has no positive {metric} yet (or fewer than 2 days)")
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    est_c = arm_estimate(control, metric, vif)
    lifts: list[LogLift] = [log_lift(arm_estimate(v, metric, vif), est_c) for v in variants]
    infos = [information(v, control) for v in variants]
    if state is None:
        state = SequentialState([[] for _ in variants])
    if len(state.histories) != len(variants):
        raise ComparisonError(f"stored state has {len(state.histories)} variants, the look has {len(variants)}")
    histories = [[*h, (t, info, sign * lf.z)] for h, info, lf in zip(state.histories, infos, lifts, strict=True)]
    holm = holm_sequential(histories, alpha, plans=state.plans)
    out = []
    m = len(variants)
    spent = sum(holm.plans[(j, m)].alpha_spent for j in range(m))
    for j, (v, lf, info) in enumerate(zip(variants, lifts, infos, strict=True)):
        c = holm.boundary[j]
        h = round(alpha / holm.level[j])
        plan_spent = holm.plans[(j, h)].alpha_spent
        low, high = lift_interval(lf, c) if math.isfinite(c) else (-1.0, math.inf)
        out.append(
            VariantResult(
                name=v.name,
                lift=lf.lift,
                log_ratio=lf.log_ratio,
                se=lf.se,
                z=sign * lf.z,
                information=info,
                boundary=c,
                lift_low=low,
                lift_high=high,
                level=holm.level[j],
                rejected=holm.reject[j],
                alpha_spent=plan_spent,
            )
        )
    return ComparisonLook(tuple(out), spent, SequentialState(histories, dict(holm.plans)))


@dataclass(frozen=True)
class GuardrailResult:
    """A guardrail metric of one variant against the control: its change, repeated interval and verdict."""

    metric: str
    variant: str
    change: float  # variant / control - 1 on the guardrail metric
    low: float
    high: float
    boundary: float
    tolerance: float
    breached: bool  # the repeated interval lies entirely beyond the tolerated degradation
    plan: SequentialPlan


def guardrail_look(
    control: ArmTotals,
    variant: ArmTotals,
    metric: str,
    tolerance: float,
    *,
    vif: float,
    alpha: float,
    spend_time: float,
    plan: SequentialPlan | None = None,
) -> GuardrailResult:
    """One-sided sequential degradation test of ``metric`` (design at ``2 alpha`` two-sided, ``alpha`` per side)."""
    if not 0 < alpha < 0.5:
        raise ComparisonError(f"alpha must be in (0, 0.5) for a one-sided guardrail, got {alpha!r}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ComparisonError(f"tolerance must be >= 0, got {tolerance!r}")
    _checked_metric(metric)
    t = _checked_time(spend_time)
    for arm in (control, variant):
        if not comparable(arm, metric):
            raise ComparisonError(f"arm {arm.name!r} has no positive {metric} yet (or fewer than 2 days)")
    lf = log_lift(arm_estimate(variant, metric, vif), arm_estimate(control, metric, vif))
    base = plan if plan is not None else SequentialPlan(2 * alpha)
    plan = base.extend([t], [information(variant, control)])
    c = plan.boundaries[-1]
    low, high = lift_interval(lf, c) if math.isfinite(c) else (-1.0, math.inf)
    breached = low > tolerance if not HIGHER_IS_BETTER[metric] else high < -tolerance
    return GuardrailResult(metric, variant.name, lf.lift, low, high, c, tolerance, bool(breached), plan)


def bayes_readout(control: ArmTotals, variant: ArmTotals, metric: str, vif: float) -> tuple[float, float]:
    """Chance to win and expected loss (share of the control's metric) of shipping the variant; display only.

    Rates: Beta posteriors on VIF-deflated counts (``compare_proportions``) while an arm has fewer than
    ``EXACT_BETA_BELOW`` effective successes or failures; above that the normal approximation (``compare_normal`` on
    the VIF-inflated rate estimates, 40 times faster) is used: its chance to win is within about 1.5 points of the
    Beta's at 100-200 successes and 0.5 at 2,000. Ratio metrics: normal.
    """
    lower = not HIGHER_IS_BETTER[metric]
    ec, ev = arm_estimate(control, metric, vif), arm_estimate(variant, metric, vif)
    if metric in RATE_METRICS:
        small = min(control.numerator, control.denominator - control.numerator,
                    variant.numerator, variant.denominator - variant.numerator) / vif  # fmt: skip
        if small < EXACT_BETA_BELOW:
            c = compare_proportions(
                (control.numerator, control.denominator),
                (variant.numerator, variant.denominator),
                relative=True,
                lower_is_better=lower,
                vif=vif,
            )
            return c.chance_to_win, c.expected_loss
    c = compare_normal((ec.mean, ec.variance), (ev.mean, ev.variance), relative=True, lower_is_better=lower)
    return c.chance_to_win, c.expected_loss
