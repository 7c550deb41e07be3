"""Relative lift: delta-method log-ratio intervals against statsmodels, and coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from optimizer_pipeline.lib.decisions.relative_lift import (
    ArmEstimate,
    LiftInputError,
    LogLift,
    lift_interval,
    log_lift,
    rate_estimate,
    ratio_estimate,
)

Z95 = float(stats.norm.ppf(0.975))


def _coverage_tolerance(n: int, level: float = 0.95) -> float:
    return 3.0 * math.sqrt(level * (1 - level) / n)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(230, 10_000, 200, 10_100), (12, 500, 30, 800), (1, 50, 49, 50)])
def test_rate_lift_interval_matches_statsmodels_katz_log_interval(x1: int, n1: int, x2: int, n2: int) -> None:
    lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="log", compare="ratio", alpha=0.05)
    lift = log_lift(rate_estimate(x1, n1), rate_estimate(x2, n2))
    ours = lift_interval(lift, Z95)
    assert ours[0] + 1 == pytest.approx(lo, rel=1e-10)
    assert ours[1] + 1 == pytest.approx(hi, rel=1e-10)
    assert lift.lift == pytest.approx((x1 / n1) / (x2 / n2) - 1, rel=1e-12)
    assert lift.z == pytest.approx(lift.log_ratio / lift.se)
    assert lift.information == pytest.approx(1 / lift.se**2)


def test_rate_estimate_variance_vif_and_zero_successes() -> None:
    arm = rate_estimate(20, 1000, vif=2.5)
    assert arm.mean == 0.02 and arm.n == 1000
    assert arm.variance == pytest.approx(0.02 * 0.98 / 1000 * 2.5)
    zero = rate_estimate(0, 1000)
    assert zero.mean == 0.0
    assert zero.variance == pytest.approx(0.0005 * 0.9995 / 1000)  # 0.5 continuity for the variance only
    assert rate_estimate(1000, 1000).variance == pytest.approx(0.9995 * 0.0005 / 1000)
    with pytest.raises(LiftInputError, match="variant mean"):
        log_lift(zero, rate_estimate(5, 1000))


def test_ratio_estimate_matches_delta_method_formula() -> None:
    num = np.array([120.0, 80.0, 150.0, 95.0])
    den = np.array([10.0, 9.0, 12.0, 8.0])
    arm = ratio_estimate(num, den)
    r = num.sum() / den.sum()
    # Delta method for mean(num)/mean(den) with the sample covariance of the day pairs.
    cov = np.cov(num, den, ddof=1) / num.size
    mx, my = den.mean(), num.mean()
    delta = cov[0, 0] / mx**2 - 2 * my * cov[0, 1] / mx**3 + my**2 * cov[1, 1] / mx**4
    assert arm.mean == pytest.approx(r)
    assert arm.variance == pytest.approx(delta, rel=1e-12)
    assert arm.n == 4


def test_rate_lift_coverage_with_and_without_overdispersion() -> None:
    rng = np.random.default_rng(7)
    reps, n, p_c, true_lift = 4000, 20_000, 0.02, 0.10
    xc = rng.binomial(n, p_c, reps)
    xv = rng.binomial(n, p_c * (1 + true_lift), reps)
    hits = [
        lift_interval(log_lift(rate_estimate(v, n), rate_estimate(c, n)), Z95)[0]
        <= true_lift
        <= lift_interval(log_lift(rate_estimate(v, n), rate_estimate(c, n)), Z95)[1]
        for v, c in zip(xv, xc, strict=True)
    ]
    assert abs(np.mean(hits) - 0.95) <= _coverage_tolerance(reps)

    # Over-dispersed: 40 days x 500 trials, day rate ~ Beta with intra-day correlation rho -> vif = 1 + 499 rho.
    days, per_day, rho = 40, 500, 0.002
    vif = 1 + (per_day - 1) * rho

    def beta_binomial_totals(p: float) -> np.ndarray:
        a, b = p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho
        return rng.binomial(per_day, rng.beta(a, b, (reps, days))).sum(axis=1)

    xc, xv = beta_binomial_totals(p_c), beta_binomial_totals(p_c * (1 + true_lift))
    n = days * per_day
    naive, fixed = [], []
    for v, c in zip(xv, xc, strict=True):
        lo, hi = lift_interval(log_lift(rate_estimate(v, n), rate_estimate(c, n)), Z95)
        naive.append(lo <= true_lift <= hi)
        lo, hi = lift_interval(log_lift(rate_estimate(v, n, vif), rate_estimate(c, n, vif)), Z95)
        fixed.append(lo <= true_lift <= hi)
    assert np.mean(naive) < 0.95 - _coverage_tolerance(reps)  # binomial variance alone is too narrow
    assert abs(np.mean(fixed) - 0.95) <= _coverage_tolerance(reps)


def _ratio_arm(rng: np.random.Generator, ratio: float, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Spend per day with a weekly pattern; revenue = ratio * spend * day-level noise (mean 1, CV 0.35)."""
    weekly = np.resize([1.0, 1.1, 1.0, 0.9, 1.2, 0.6, 0.5], days)
    spend = rng.gamma(8.0, 100.0 * weekly / 8.0)
    noise = rng.gamma(1 / 0.35**2, 0.35**2, days)
    return ratio * spend * noise, spend


def test_ratio_metric_se_and_lift_coverage_with_day_level_noise() -> None:
    rng = np.random.default_rng(11)
    reps, days, roas, true_lift = 3000, 28, 2.5, 0.10
    estimates, variances, hits = [], [], []
    for _ in range(reps):
        control = ratio_estimate(*_ratio_arm(rng, roas, days))
        variant = ratio_estimate(*_ratio_arm(rng, roas * (1 + true_lift), days))
        estimates.append(control.mean)
        variances.append(control.variance)
        lo, hi = lift_interval(log_lift(variant, control), Z95)
        hits.append(lo <= true_lift <= hi)
    emp_var = np.var(estimates, ddof=1)
    # The delta-method variance tracks the simulated variance (MC SE of a variance ~ sqrt(2 / reps)).
    assert np.mean(variances) == pytest.approx(emp_var, rel=4 * math.sqrt(2 / reps) + 0.05)
    assert abs(np.mean(hits) - 0.95) <= _coverage_tolerance(reps)


def test_lift_interval_uses_any_critical_value() -> None:
    lift = LogLift(lift=math.expm1(0.1), log_ratio=0.1, se=0.05)
    lo, hi = lift_interval(lift, 2.5)
    assert lo == pytest.approx(math.expm1(-0.025)) and hi == pytest.approx(math.expm1(0.225))
    assert lift_interval(lift, 0.0) == pytest.approx((lift.lift, lift.lift))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rate_estimate(5, 0), "trials"),
        (lambda: rate_estimate(11, 10), "successes"),
        (lambda: rate_estimate(-1, 10), "successes"),
        (lambda: rate_estimate(1, 10, vif=0.5), "vif"),
        (lambda: ratio_estimate([1.0], [2.0]), ">= 2 days"),
        (lambda: ratio_estimate([1.0, 2.0], [2.0]), "differ in length"),
        (lambda: ratio_estimate([1.0, 2.0], [0.0, 0.0]), "sum to 0"),
        (lambda: ratio_estimate([1.0, -2.0], [1.0, 1.0]), ">= 0"),
        (lambda: log_lift(ArmEstimate(1.0, -1.0, 5), ArmEstimate(1.0, 0.1, 5)), "variance"),
        (lambda: lift_interval(LogLift(0.0, 0.0, 0.1), -1.0), "critical value"),
    ],
)
def test_bad_input_raises_named_error(call: object, match: str) -> None:
    with pytest.raises(LiftInputError, match=match):
        call()  # type: ignore[operator]
