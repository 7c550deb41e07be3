"""Lan-DeMets group-sequential tests: published boundaries, gsDesign's integration, and simulated error rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower

from optimizer_pipeline.lib.decisions.group_sequential import (
    SequentialInputError,
    SequentialPlan,
    boundaries,
    obf_spending,
    pocock_spending,
    repeated_ci,
    sequential_look,
)
from optimizer_pipeline.lib.decisions.holm_sequential import holm_sequential
from optimizer_pipeline.lib.decisions.relative_lift import LogLift, lift_interval

ALPHA = 0.05
K = 120  # a look every 6 h for 30 days
T = np.arange(1, K + 1) / K
# Traffic per 6-hour look: night looks get little, weekends less (unequal information increments).
TRAFFIC = np.resize([1.0, 0.35, 0.15, 0.75], K) * np.resize(np.repeat([1.0, 1.1, 1.0, 0.9, 1.2, 0.6, 0.5], 4), K)
FRAC = np.cumsum(TRAFFIC) / TRAFFIC.sum()


def _mc_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def test_published_lan_demets_boundaries_k5() -> None:
    t = np.arange(1, 6) / 5
    obf = boundaries(t, t, ALPHA, "obf")
    pocock = boundaries(t, t, ALPHA, "pocock")
    # gsDesign / ldbounds, two-sided alpha = 0.05 (0.025 per side), 5 equally spaced looks.
    np.testing.assert_allclose(obf, [4.877, 3.357, 2.680, 2.290, 2.031], atol=1e-3)
    np.testing.assert_allclose(pocock, [2.438, 2.427, 2.410, 2.397, 2.386], atol=1e-3)
    assert obf_spending(1.0, ALPHA) == pytest.approx(ALPHA)
    assert pocock_spending(1.0, ALPHA) == pytest.approx(ALPHA)
    assert obf_spending(2.0, ALPHA) == pytest.approx(ALPHA)  # t capped at 1


@pytest.mark.parametrize("spending", ["obf", "pocock"])
@pytest.mark.parametrize("schedule", ["k5", "k120"])
def test_boundaries_spend_the_alpha_per_gsdesign_integration(spending: str, schedule: str) -> None:
    """gsDesign's own recursion (Python port ``gsdesign``, dev-only) integrates our boundaries to the spending.

    120 unequal looks need a fine reference grid (r = 72): a 6-hour look with little traffic makes the transition
    kernel narrower than the r = 18 grid (ours refines such panels; gsDesign's r = 18 is off by ~0.009 there).
    """
    gsdesign = pytest.importorskip("gsdesign")
    t, info, r = (np.arange(1, 6) / 5, np.arange(1, 6) / 5, 18) if schedule == "k5" else (T, FRAC * 1000, 72)
    c = boundaries(t, info, ALPHA, spending)  # type: ignore[arg-type]
    grid = gsdesign.h1(r=r, theta=0.0, info=info[0], a=-c[0], b=c[0])
    cont = [float(np.sum(grid[2]))]
    for k in range(1, t.size):
        grid = gsdesign.hupdate(r, 0.0, info[k], -c[k], c[k], 0.0, info[k - 1], grid)
        cont.append(float(np.sum(grid[2])))
    spent = 1.0 - np.asarray(cont)  # P(crossed by look k) under H0
    spend = obf_spending if spending == "obf" else pocock_spending
    np.testing.assert_allclose(spent, spend(t, ALPHA), atol=2e-5)


def test_aa_brownian_120_unequal_looks_false_rejection_rate() -> None:
    rng = np.random.default_rng(2026)
    paths = 20_000
    c = boundaries(T, FRAC, ALPHA)
    w = np.cumsum(rng.standard_normal((paths, K)) * np.sqrt(np.diff(FRAC, prepend=0.0)), axis=1)
    rate = float(np.mean(np.any(np.abs(w / np.sqrt(FRAC)) >= c, axis=1)))
    se = _mc_se(ALPHA, paths)
    assert ALPHA - 3 * se <= rate <= ALPHA + 2 * se


def _binomial_log_lifts(
    rng: np.random.Generator, p_variant: float, p_control: float, n_per_arm: float, paths: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative counts per look; log ratio and its delta-method se as ``log_lift(rate_estimate(...))`` computes."""
    n = np.round(n_per_arm * FRAC).astype(int)
    dn = np.diff(n, prepend=0)
    xv = np.cumsum(rng.binomial(dn, p_variant, (paths, K)), axis=1)
    xc = np.cumsum(rng.binomial(dn, p_control, (paths, K)), axis=1)
    mv, mc = xv / n, xc / n
    se = np.sqrt((1 - mv) / (n * mv) + (1 - mc) / (n * mc))
    return np.log(mv / mc), se, n


def test_aa_binomial_counts_false_winner_rate() -> None:
    rng = np.random.default_rng(13)
    paths = 4000
    log_ratio, se, n = _binomial_log_lifts(rng, 0.02, 0.02, 160_000, paths)
    c = boundaries(T, n / 2.0, ALPHA)  # information ~ n_v n_c / (n_v + n_c): non-decreasing
    rate = float(np.mean(np.any(np.abs(log_ratio / se) >= c, axis=1)))
    assert rate <= ALPHA + 2 * _mc_se(ALPHA, paths)


def _fixed_n_per_arm(p: float, lift: float) -> float:
    pv = p * (1 + lift)
    sigma = math.sqrt(((1 - pv) / pv + (1 - p) / p) / 2)  # per-unit sd of the log ratio, per arm
    return float(NormalIndPower().solve_power(effect_size=math.log1p(lift) / sigma, power=0.8, alpha=ALPHA))


def test_power_ratio_to_fixed_horizon_and_repeated_ci_coverage() -> None:
    rng = np.random.default_rng(17)
    paths, p, lift = 4000, 0.02, 0.10
    n_fixed = _fixed_n_per_arm(p, lift)
    log_ratio, se, n = _binomial_log_lifts(rng, p * (1 + lift), p, 1.5 * n_fixed, paths)
    c = boundaries(T, n / 2.0, ALPHA)
    z = log_ratio / se
    power_by_look = np.mean(np.maximum.accumulate(z >= c, axis=1), axis=0)  # correct-direction rejections
    assert power_by_look[-1] >= 0.8
    ratio = n[np.argmax(power_by_look >= 0.8)] / n_fixed
    assert 0.95 <= ratio <= 1.6  # horizon = 1.5 x n_fixed; see the report for other horizons

    inside = np.abs(log_ratio - math.log1p(lift)) / se <= c  # the RCI contains the true lift at that look
    coverage = float(np.mean(np.all(inside, axis=1)))
    assert coverage >= 0.95 - 2 * _mc_se(0.95, paths)


def test_repeated_ci_is_the_lift_interval_at_the_boundary() -> None:
    lift = LogLift(lift=math.expm1(0.08), log_ratio=0.08, se=0.03)
    assert repeated_ci(0.08, 0.03, 2.7) == pytest.approx(lift_interval(lift, 2.7))
    assert repeated_ci(0.08, 0.03, math.inf) == (-1.0, math.inf)


def test_holm_sequential_family_wise_error_with_shared_control() -> None:
    rng = np.random.default_rng(23)
    paths, m = 1500, 3
    inc = np.sqrt(np.diff(FRAC, prepend=0.0))
    plans = None
    false_any = {"global null": 0, "partial null": 0}
    true_found = 0
    for _ in range(paths):
        for case, drift in (("global null", 0.0), ("partial null", 4.0)):
            arms = np.cumsum(rng.standard_normal((m + 1, K)) * inc, axis=1)  # arm 0 is the control
            z = (arms[1:] - arms[0]) / np.sqrt(2 * FRAC)
            z[0] += drift * np.sqrt(FRAC)  # variant 0 truly better in the partial null
            histories = [list(zip(T, FRAC, z[j], strict=True)) for j in range(m)]
            result = holm_sequential(histories, ALPHA, plans=plans)
            plans = result.plans  # same information schedule for every path: designs are reused
            nulls = range(m) if case == "global null" else range(1, m)
            false_any[case] += any(result.reject[j] for j in nulls)
            true_found += case == "partial null" and result.reject[0]
    for case, count in false_any.items():
        assert count / paths <= ALPHA + 2 * _mc_se(ALPHA, paths), case
    assert true_found / paths >= 0.9


def test_holm_steps_down_levels_after_a_rejection() -> None:
    t = np.arange(1, 6) / 5
    c_half = boundaries(t, t, ALPHA / 2)
    c_third = boundaries(t, t, ALPHA / 3)
    # Variant 0 clears the alpha/3 boundary at look 3; variant 1 clears alpha/2 but not alpha/3 at look 4.
    z0 = [0.5, 1.0, c_third[2] + 0.1, 1.0, 1.0]
    z1 = [0.1, 0.2, 0.3, (c_half[3] + c_third[3]) / 2, 0.5]
    z2 = [0.0, 0.0, 0.0, 0.0, 0.0]
    hist = [list(zip(t, t, z, strict=True)) for z in (z0, z1, z2)]
    result = holm_sequential(hist, ALPHA)
    assert result.reject == (True, True, False)
    assert result.level == pytest.approx((ALPHA / 3, ALPHA / 2, ALPHA))
    without_first = holm_sequential([hist[1], hist[2]], ALPHA)
    assert without_first.reject == (True, False)  # with two variants, variant 1 is tested at alpha/2 at once
    assert without_first.level == pytest.approx((ALPHA / 2, ALPHA))


def test_look_without_new_data_repeats_boundary_and_after_horizon_nothing_is_spent() -> None:
    t = [0.25, 0.5, 0.5, 0.75, 1.0, 1.25]
    info = [10.0, 20.0, 20.0, 30.0, 40.0, 50.0]
    plan = SequentialPlan(ALPHA).extend(t, info)
    c = np.asarray(plan.boundaries)
    assert c[2] == c[1]
    assert math.isinf(c[5])
    assert plan.alpha_spent == pytest.approx(ALPHA, abs=1e-9)
    # The skipped look's alpha rolls forward: same boundaries as a design without the repeated look.
    np.testing.assert_allclose(c[[0, 1, 3, 4]], boundaries([0.25, 0.5, 0.75, 1.0], [10, 20, 30, 40], ALPHA), rtol=1e-9)


def test_past_boundaries_are_kept_and_later_looks_spend_the_rest() -> None:
    t = np.arange(1, 9) / 8
    past = [4.0, 3.5, 3.0]  # e.g. computed under an earlier traffic forecast
    plan = SequentialPlan(ALPHA).extend(t, t, past=past)
    np.testing.assert_array_equal(plan.boundaries[:3], past)
    assert plan.alpha_spent == pytest.approx(ALPHA, abs=1e-9)
    np.testing.assert_allclose(boundaries(t, t, ALPHA, past=plan.boundaries), plan.boundaries, rtol=1e-12)


def test_incremental_plan_cache_and_storage_match_the_batch_design() -> None:
    info = FRAC[:40] * 5000
    batch = boundaries(T[:40], info, ALPHA)
    plan = SequentialPlan(ALPHA)
    for k in range(40):
        if k == 20:
            plan = SequentialPlan.from_dict(plan.to_dict())
        plan = plan.extend([T[k]], [info[k]])
    np.testing.assert_allclose(plan.boundaries, batch, rtol=1e-9)
    record = plan.to_dict()
    record["density"] = None  # replayed from the stored boundaries instead
    replayed = SequentialPlan.from_dict(record).extend([T[40]], [FRAC[40] * 5000])
    np.testing.assert_allclose(replayed.boundaries[-1], plan.extend([T[40]], [FRAC[40] * 5000]).boundaries[-1])


def test_sequential_look_reports_crossing_and_nominal_levels() -> None:
    t = np.arange(1, 6) / 5
    c = boundaries(t, t, ALPHA)
    zs = [1.0, 3.4, 1.0]
    history = [(t[k], t[k], zs[k]) for k in range(3)]
    look = sequential_look(history, ALPHA)
    assert look.reject and look.first_crossing == 1
    assert look.boundary == pytest.approx(c[2]) and look.z == 1.0
    assert look.nominal_p == pytest.approx(0.3173, abs=1e-4)
    assert look.nominal_alpha == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(c[2] / math.sqrt(2)))))
    cached = sequential_look(history[:2], ALPHA)
    again = sequential_look(history, ALPHA, plan=cached.plan)
    assert again.boundary == pytest.approx(look.boundary, rel=1e-12)
    assert not sequential_look(history[:1], ALPHA).reject


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: boundaries([0.5, 0.4], [1, 2], ALPHA), "spend_times"),
        (lambda: boundaries([0.5, 0.6], [2, 1], ALPHA), "information"),
        (lambda: boundaries([0.5, 0.6], [0, 1], ALPHA), "information"),
        (lambda: boundaries([0.5], [1, 2], ALPHA), "differ in length"),
        (lambda: boundaries([0.5], [1], 1.5), "alpha"),
        (lambda: boundaries([0.5], [1], ALPHA, "linear"), "spending"),  # type: ignore[arg-type]
        (lambda: boundaries([0.5], [1], ALPHA, past=[-1.0]), "past"),
        (lambda: sequential_look([], ALPHA), "no look"),
        (lambda: sequential_look([(0.5, 1.0, float("nan"))], ALPHA), "z not NaN"),
        (
            lambda: sequential_look([(0.5, 2.0, 1.0)], ALPHA, plan=SequentialPlan(ALPHA).extend([0.5], [1.0])),
            "plan does not match",
        ),
        (lambda: repeated_ci(0.1, -1.0, 2.0), "se and boundary"),
        (lambda: holm_sequential([], ALPHA), "no variant"),
        (lambda: SequentialPlan(ALPHA, lambda t, a: a * t).to_dict(), "named spending"),
        (lambda: sequential_look([(0.5, 1.0, 1.0)], ALPHA, "pocock", plan=SequentialPlan(ALPHA)), "spending"),
    ],
)
def test_bad_input_raises_named_error(call: object, match: str) -> None:
    with pytest.raises(SequentialInputError, match=match):
        call()  # type: ignore[operator]
