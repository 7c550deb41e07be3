"""Power, sample size and MDE: published values (R, Cohen), statsmodels directly, the closed-form ad-testing formula,
and simulations showing the planned size delivers the planned power.

R reference values are those printed by R's own help examples for ``power.prop.test`` and ``power.t.test``; R omits
the far tail of a two-sided test (``strict = FALSE``) and statsmodels includes it, hence the 1e-5 tolerances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import power_proportions_2indep, proportion_effectsize
from statsmodels.stats.rates import power_poisson_ratio_2indep
from statsmodels.stats.rates import test_poisson_2indep as poisson_test

from optimizer_pipeline.lib.decisions.sample_size import (
    PowerInputError,
    plan_means,
    plan_poisson,
    plan_proportions,
)
from optimizer_pipeline.lib.decisions.two_sample_tests import EXACT_BELOW, compare_means_from_stats, compare_proportions

Z = stats.norm.ppf


def _ad_formula(p1: float, p2: float, power: float, alpha: float) -> float:
    """n per arm = (z_{1-α/2} sqrt(2 p̄ q̄) + z_{1-β} sqrt(p1 q1 + p2 q2))² / (p1 - p2)², as ad calculators print it."""
    pbar = (p1 + p2) / 2
    num = Z(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar)) + Z(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return num**2 / (p1 - p2) ** 2


# --- published reference values -------------------------------------------------------------------------------------


def test_r_power_prop_test_values() -> None:
    # power.prop.test(p1 = .05, p2 = .06, power = .80) -> n = 8157.7 per group, i.e. 8,158.
    plan = plan_proportions(0.05, effect=0.01, power=0.8)
    assert math.ceil(plan.n_control) == 8158
    assert plan.n_total == 2 * 8158
    # help(power.prop.test): power.prop.test(n = 50, p1 = .50, p2 = .75) -> power = 0.7401659
    assert plan_proportions(0.5, effect=0.25, n_control=50).power == pytest.approx(0.7401659, abs=1e-5)


def test_r_power_t_test_values() -> None:
    # help(power.t.test): n = 20, delta = 1 -> power = 0.8689528; power = .90, delta = 1 -> n = 22.02110;
    # the same one-sided -> n = 17.84713 (sd = 1 by default).
    assert plan_means(0.0, 1.0, effect=1.0, n_control=20).power == pytest.approx(0.8689528, abs=1e-6)
    assert plan_means(0.0, 1.0, effect=1.0, power=0.9).n_control == pytest.approx(22.02110, abs=1e-4)
    assert plan_means(0.0, 1.0, effect=1.0, power=0.9, alternative="larger").n_control == pytest.approx(
        17.84713, abs=1e-4
    )


def test_cohen_tables() -> None:
    # Cohen (1988) Table 6.4.1: h = 0.2, two-sided α = .05, power .80 -> n = 392 per group; Table 2.4.1: d = 0.5 -> 64.
    p2 = 0.5
    p1 = math.sin(math.asin(math.sqrt(p2)) + 0.1) ** 2  # 2 asin √p1 - 2 asin √p2 = 0.2
    assert round(plan_proportions(p2, effect=p1 - p2, power=0.8, method="cohen_h").n_control) == 392
    assert math.ceil(plan_means(10.0, 2.0, effect=1.0, power=0.8).n_control) == 64


@pytest.mark.parametrize(("p1", "p2"), [(0.05, 0.06), (0.02, 0.025), (0.1, 0.08), (0.3, 0.36), (0.5, 0.53)])
@pytest.mark.parametrize(("power", "alpha"), [(0.8, 0.05), (0.9, 0.01)])
def test_pooled_equals_ad_testing_formula(p1: float, p2: float, power: float, alpha: float) -> None:
    n = plan_proportions(p1, effect=p2 - p1, power=power, alpha=alpha).n_control
    assert n == pytest.approx(_ad_formula(p1, p2, power, alpha), rel=1e-4)  # differs only by the far tail


# --- statsmodels directly --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "larger"])
@pytest.mark.parametrize("ratio", [1.0, 2.0, 0.5])
def test_proportions_match_statsmodels(alternative: str, ratio: float) -> None:
    plan = plan_proportions(0.04, effect=0.006, n_control=9000, ratio=ratio, alternative=alternative)
    # statsmodels' arm 1 is our treatment; its ratio is n2 / n1.
    ref = power_proportions_2indep(0.006, 0.04, 9000 * ratio, ratio=1 / ratio, alternative=alternative)
    assert plan.power == pytest.approx(float(ref.power), rel=1e-12)
    assert plan.n_treatment == pytest.approx(ratio * plan.n_control)
    h = proportion_effectsize(0.046, 0.04)
    cohen = plan_proportions(0.04, effect=0.006, power=0.8, ratio=ratio, alternative=alternative, method="cohen_h")
    ref_n = NormalIndPower().solve_power(h, None, 0.05, 0.8, ratio=1 / ratio, alternative=alternative)
    assert cohen.n_treatment == pytest.approx(ref_n, rel=1e-6)


@pytest.mark.parametrize("alternative", ["two-sided", "larger"])
def test_means_match_statsmodels(alternative: str) -> None:
    plan = plan_means(50.0, 20.0, effect=4.0, power=0.85, ratio=1.5, alternative=alternative)
    ref = TTestIndPower().solve_power(0.2, None, 0.05, 0.85, ratio=1 / 1.5, alternative=alternative)
    assert plan.n_treatment == pytest.approx(ref, rel=1e-6)
    assert plan.relative_effect == pytest.approx(0.08)


@pytest.mark.parametrize("dispersion", [1.0, 2.5])
def test_poisson_matches_statsmodels_and_normal_formula(dispersion: float) -> None:
    base, rel = 0.003, 0.15
    plan = plan_poisson(base, relative_effect=rel, n_control=4e5, ratio=1.0, dispersion=dispersion)
    ref = power_poisson_ratio_2indep(base * (1 + rel), base, 4e5, nobs_ratio=1.0, exposure=1.0, value=1.0,
                                     dispersion=dispersion, alternative="two-sided", method_var="score")  # fmt: skip
    assert plan.power == pytest.approx(float(ref.power), rel=1e-12)
    # Closed form on the log rate ratio (Zhu & Lakkis 2014, eq. for equal exposure), far tail ignored:
    # n = (z_{1-α/2} sqrt(v0) + z_{1-β} sqrt(v1))² / (log r)², v1 = φ (1/λ1 + 1/λ2), v0 = φ 4 / (λ1 + λ2).
    l1, l2 = base * (1 + rel), base
    v1, v0 = dispersion * (1 / l1 + 1 / l2), dispersion * 4 / (l1 + l2)
    n = (Z(0.975) * math.sqrt(v0) + Z(0.8) * math.sqrt(v1)) ** 2 / math.log(l1 / l2) ** 2
    solved = plan_poisson(base, relative_effect=rel, power=0.8, dispersion=dispersion)
    assert solved.n_control == pytest.approx(n, rel=1e-5)


@pytest.mark.parametrize(
    "planner",
    [
        lambda **kw: plan_proportions(0.03, **kw),
        lambda **kw: plan_proportions(0.03, method="cohen_h", **kw),
        lambda **kw: plan_means(20.0, 8.0, **kw),
        lambda **kw: plan_poisson(0.01, **kw),
    ],
)
@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_round_trips(planner, alternative: str) -> None:
    """Solving for n, for the effect, then for power gives back the inputs (every solver agrees with every other)."""
    sign = -1 if alternative == "smaller" else 1
    by_n = planner(relative_effect=sign * 0.12, power=0.8, alternative=alternative)
    assert planner(effect=by_n.effect, n_control=by_n.n_control, alternative=alternative).power == pytest.approx(0.8)
    by_effect = planner(n_control=by_n.n_control, power=0.8, alternative=alternative)
    assert by_effect.effect == pytest.approx(by_n.effect, rel=1e-6)
    assert by_effect.relative_effect == pytest.approx(sign * 0.12, rel=1e-6)


def test_two_sided_mde_down_and_more_power_needs_more_n() -> None:
    up = plan_proportions(0.05, n_control=10_000, power=0.8)
    down = plan_proportions(0.05, n_control=10_000, power=0.8, direction="decrease")
    assert down.effect < 0 < up.effect and abs(down.effect) < up.effect  # variance is smaller below the baseline
    assert plan_proportions(0.05, n_control=10_000, effect=down.effect).power == pytest.approx(0.8)
    n80 = plan_poisson(0.02, relative_effect=0.1, power=0.8).n_control
    n90 = plan_poisson(0.02, relative_effect=0.1, power=0.9).n_control
    over = plan_poisson(0.02, relative_effect=0.1, power=0.8, dispersion=2.0).n_control
    assert n80 < n90 and over == pytest.approx(2 * n80, rel=1e-9)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plan_proportions(1.2, effect=0.1, power=0.8), "baseline"),
        (lambda: plan_proportions(0.05, effect=0.01), "exactly one"),
        (lambda: plan_proportions(0.05, effect=0.01, n_control=100, power=0.8), "exactly one"),
        (lambda: plan_proportions(0.05, effect=0.01, relative_effect=0.2, power=0.8), "not both"),
        (lambda: plan_proportions(0.05, effect=0.96, power=0.8), "range"),
        (lambda: plan_proportions(0.05, effect=0.0, power=0.8), "nonzero"),
        (lambda: plan_proportions(0.05, effect=0.01, power=0.01), "power"),
        (lambda: plan_proportions(0.05, effect=0.01, power=0.8, alternative="greater"), "alternative"),
        (lambda: plan_proportions(0.05, effect=0.01, power=0.8, method="arcsine"), "method"),
        (lambda: plan_proportions(0.05, effect=0.01, power=0.8, ratio=0.0), "ratio"),
        (lambda: plan_proportions(0.05, effect=0.01, power=0.8, alpha=1.5), "alpha"),
        (lambda: plan_proportions(0.05, n_control=100, power=0.8, alternative="larger", direction="decrease"), "contr"),
        (lambda: plan_proportions(0.05, n_control=2, power=0.99), "no proportion effect"),
        (lambda: plan_proportions(0.05, effect=1e-9, power=0.8), "too small"),
        (lambda: plan_means(1.0, 0.0, effect=1.0, power=0.8), "sd"),
        (lambda: plan_means(1.0, 1.0, effect=1.0, n_control=1.0), "n_control"),
        (lambda: plan_means(0.0, 1.0, relative_effect=0.1, power=0.8), "nonzero baseline"),
        (lambda: plan_poisson(0.0, effect=1.0, power=0.8), "baseline"),
        (lambda: plan_poisson(1.0, effect=1.0, power=0.8, dispersion=-1.0), "dispersion"),
    ],
)
def test_bad_input_is_named(call, match: str) -> None:
    with pytest.raises(PowerInputError, match=match):
        call()


# --- simulation: the planned size delivers the planned power ---------------------------------------------------------

SIMS = 2000
POWER_SE = math.sqrt(0.8 * 0.2 / SIMS)  # Monte-Carlo SE of a simulated power of 0.8


def test_simulated_power_proportions() -> None:
    plan = plan_proportions(0.05, relative_effect=0.15, power=0.8)
    n = math.ceil(plan.n_control)
    rng = np.random.default_rng(101)
    c = rng.binomial(n, 0.05, SIMS)
    t = rng.binomial(n, 0.05 + plan.effect, SIMS)
    hits = np.mean([compare_proportions(int(a), n, int(b), n).p_value < 0.05 for a, b in zip(c, t, strict=True)])
    assert abs(hits - 0.8) < 3 * POWER_SE  # measured 0.7925 at n = 14,193 per arm (MC SE 0.009)


def test_simulated_power_means() -> None:
    plan = plan_means(40.0, 25.0, relative_effect=0.1, power=0.8, ratio=2.0)
    n_c, n_t = math.ceil(plan.n_control), math.ceil(plan.n_treatment)
    rng = np.random.default_rng(102)
    c = rng.normal(40.0, 25.0, (SIMS, n_c))
    t = rng.normal(40.0 + plan.effect, 25.0, (SIMS, n_t))
    rows = zip(c.mean(1), c.std(1, ddof=1), t.mean(1), t.std(1, ddof=1), strict=True)
    hits = np.mean([compare_means_from_stats(a, s, n_c, b, u, n_t).p_value < 0.05 for a, s, b, u in rows])
    assert abs(hits - 0.8) < 3 * POWER_SE


def test_simulated_power_poisson() -> None:
    """Counts per exposure; the score test of :func:`compare_poisson` (all sims have >= EXACT_BELOW events) run
    vectorised through statsmodels, as the CI of the full call costs ~8 ms each."""
    plan = plan_poisson(0.004, relative_effect=-0.2, power=0.8, alternative="two-sided", direction="decrease")
    expo = math.ceil(plan.n_control)
    rng = np.random.default_rng(103)
    c = rng.poisson(0.004 * expo, SIMS)
    t = rng.poisson((0.004 + plan.effect) * expo, SIMS)
    assert min(c.min(), t.min()) >= EXACT_BELOW
    p = poisson_test(t, float(expo), c, float(expo), method="score", compare="ratio").pvalue
    assert abs(np.mean(p < 0.05) - 0.8) < 3 * POWER_SE
