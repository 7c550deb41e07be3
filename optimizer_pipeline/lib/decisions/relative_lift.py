"""Per-arm estimates and the relative lift between two arms, on the log scale where the delta method behaves.

Why: ad tests are judged on relative lift (CTR +10 %, CPA -8 %), and a ratio of two means is skewed, so its interval
is built for the log ratio, ``log(m_v / m_c)``, whose delta-method variance is ``var_v / m_v^2 + var_c / m_c^2``
(Katz et al. 1978, "Obtaining confidence intervals for the risk ratio in cohort studies", Biometrics 34:469-474;
the ``method="log"`` ratio interval of ``statsmodels.stats.proportion.confint_proportions_2indep``). The same
``(log_ratio, se)`` feeds the group-sequential test: ``z = log_ratio / se``, information ``1 / se^2``.

- Rates (CTR, CVR): binomial variance ``p(1 - p) / n`` times an over-dispersion inflation ``vif >= 1`` estimated
  elsewhere (identical ad arms differ more than binomial noise).
- Ratio metrics (CPA = spend / conversions, ROAS = revenue / spend, revenue per impression): the ratio estimator
  ``sum(num) / sum(den)`` over days, with the delta-method (linearisation) variance that treats days as independent
  units (Cochran 1977, *Sampling Techniques*, sec. 6.4). Day-to-day variation is in the residuals, so day-level
  over-dispersion is already carried; do not multiply by a vif again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


class LiftInputError(ValueError):
    """Invalid input for an arm estimate or a lift (counts, days, means)."""


@dataclass(frozen=True)
class ArmEstimate:
    """One arm's metric: ``mean``, ``variance`` of that mean estimate, ``n`` sample units behind it."""

    mean: float
    variance: float
    n: float


@dataclass(frozen=True)
class LogLift:
    """Relative lift of variant over control: ``lift = exp(log_ratio) - 1``; ``se`` is the log ratio's se."""

    lift: float
    log_ratio: float
    se: float

    @property
    def z(self) -> float:
        """Wald statistic of the log ratio (0 when se is 0 and the ratio is 1)."""
        return (
            self.log_ratio / self.se
            if self.se > 0.0
            else (0.0 if self.log_ratio == 0.0 else math.copysign(math.inf, self.log_ratio))
        )

    @property
    def information(self) -> float:
        """``1 / se^2``. It can dip when an estimated rate moves; the group-sequential time scale should use the
        never-decreasing ``n_v n_c / (n_v + n_c)`` instead (see ``group_sequential``)."""
        return 1.0 / self.se**2 if self.se > 0.0 else math.inf


def rate_estimate(successes: float, trials: float, vif: float = 1.0) -> ArmEstimate:
    """Proportion ``successes / trials`` with variance ``p(1 - p) / trials * vif``.

    With 0 successes (or 0 failures) the variance uses ``p = 0.5 / trials`` (``(trials - 0.5) / trials``), a 0.5
    continuity for the variance only, so it stays positive; the mean stays 0 (or 1). A log lift needs both means
    > 0, so an arm with no success yet cannot be compared on the log scale (``log_lift`` raises).
    """
    if not (np.isfinite(successes) and np.isfinite(trials)) or successes < 0 or trials <= 0 or successes > trials:
        raise LiftInputError(f"need 0 <= successes <= trials and trials > 0, got {successes!r}/{trials!r}")
    if not (np.isfinite(vif) and vif >= 1.0):
        raise LiftInputError(f"vif must be a finite number >= 1, got {vif!r}")
    p = successes / trials
    p_var = min(max(p, 0.5 / trials), (trials - 0.5) / trials) if trials >= 1.0 else p
    return ArmEstimate(float(p), float(p_var * (1.0 - p_var) / trials * vif), float(trials))


def ratio_estimate(numerators: ArrayLike, denominators: ArrayLike) -> ArmEstimate:
    """Ratio ``sum(num) / sum(den)`` from one arm's per-day aggregates; days are the independent units.

    Variance (delta method / linearisation): ``sum((num_i - R den_i)^2) / (d (d - 1) mean(den)^2)`` over ``d``
    days; ``n`` = d. Raises ``LiftInputError`` for fewer than 2 days (no variance estimate), mismatched lengths,
    negative or non-finite values, or a zero denominator total.
    """
    num = np.asarray(numerators, dtype=float).ravel()
    den = np.asarray(denominators, dtype=float).ravel()
    if num.size != den.size:
        raise LiftInputError(f"numerators ({num.size}) and denominators ({den.size}) differ in length")
    if num.size < 2:
        raise LiftInputError(f"a ratio's variance needs >= 2 days, got {num.size}")
    if not (np.all(np.isfinite(num)) and np.all(np.isfinite(den))) or np.any(num < 0) or np.any(den < 0):
        raise LiftInputError("numerators and denominators must be finite and >= 0")
    if den.sum() <= 0:
        raise LiftInputError("denominators sum to 0: the ratio is undefined")
    d = num.size
    ratio = num.sum() / den.sum()
    resid = num - ratio * den
    variance = float(resid @ resid) / (d * (d - 1) * den.mean() ** 2)
    return ArmEstimate(float(ratio), variance, float(d))


def log_lift(variant: ArmEstimate, control: ArmEstimate) -> LogLift:
    """Log ratio of means with delta-method se ``sqrt(var_v / m_v^2 + var_c / m_c^2)``; both means must be > 0."""
    for name, arm in (("variant", variant), ("control", control)):
        if not (arm.mean > 0.0 and math.isfinite(arm.mean)):
            raise LiftInputError(f"{name} mean must be > 0 for a relative lift, got {arm.mean!r}")
        if not (arm.variance >= 0.0 and math.isfinite(arm.variance)):
            raise LiftInputError(f"{name} variance must be finite and >= 0, got {arm.variance!r}")
    log_ratio = math.log(variant.mean) - math.log(control.mean)
    se = math.sqrt(variant.variance / variant.mean**2 + control.variance / control.mean**2)
    return LogLift(math.expm1(log_ratio), log_ratio, se)


def lift_interval(lift: LogLift, z: float) -> tuple[float, float]:
    """Interval ``exp(log_ratio ± z se) - 1`` for a critical value ``z``: ``z_{1-alpha/2}`` for a fixed-horizon
    interval, or a group-sequential boundary ``c_k`` for the repeated confidence interval at look k."""
    if not z >= 0.0:
        raise LiftInputError(f"critical value must be >= 0, got {z!r}")
    half = z * lift.se if lift.se > 0.0 else 0.0
    return math.expm1(lift.log_ratio - half), math.expm1(lift.log_ratio + half)
