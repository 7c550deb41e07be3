"""The statistical core of experiment looks: reference intervals, signs, Holm, state round trips, and simulated
false-winner rates on over-dispersed A/A data and coverage of the repeated intervals."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from optimizer_pipeline.lib.decisions.overdispersion import between_day_vif
from optimizer_pipeline.lib.decisions.variant_comparison import (
    ArmTotals,
    ComparisonError,
    SequentialState,
    compare_variants,
    guardrail_look,
)

DAYS = 30


def rate_arm(name: str, successes: float, trials: float) -> ArmTotals:
    return ArmTotals(name, successes, trials, trials)


def test_single_look_at_horizon_matches_statsmodels_log_ratio_interval() -> None:
    # one look at t = 1 spends all alpha: boundary 1.96 and the Katz log interval of statsmodels
    res = compare_variants(
        rate_arm("c", 300, 20000), [rate_arm("v", 330, 20000)], "ctr", vif=1.0, alpha=0.05, spend_time=1.0
    )
    v = res.variants[0]
    lo, hi = confint_proportions_2indep(330, 20000, 300, 20000, method="log", compare="ratio")
    assert v.boundary == pytest.approx(1.959964, abs=1e-6)
    assert v.lift_low == pytest.approx(lo - 1, abs=1e-9)
    assert v.lift_high == pytest.approx(hi - 1, abs=1e-9)
    assert v.lift == pytest.approx(0.1)
    assert v.information == pytest.approx(10000.0)
    assert not v.rejected


def test_vif_widens_the_interval_by_its_square_root() -> None:
    args = (rate_arm("c", 300, 20000), [rate_arm("v", 330, 20000)], "ctr")
    se1 = compare_variants(*args, vif=1.0, alpha=0.05, spend_time=1.0).variants[0].se
    se2 = compare_variants(*args, vif=2.0, alpha=0.05, spend_time=1.0).variants[0].se
    assert se2 == pytest.approx(se1 * math.sqrt(2.0))


def daily_arm(name: str, spend: np.ndarray, conversions: np.ndarray) -> ArmTotals:
    return ArmTotals(name, float(spend.sum()), float(conversions.sum()), float(conversions.sum()), spend, conversions)


def test_cpa_lower_is_better_gives_positive_z() -> None:
    days = 10
    conv = np.full(days, 100.0)
    control = daily_arm("c", np.full(days, 1000.0) + np.arange(days), conv)
    cheaper = daily_arm("v", np.full(days, 800.0) + np.arange(days)[::-1], conv)
    v = compare_variants(control, [cheaper], "cpa", vif=5.0, alpha=0.05, spend_time=1.0).variants[0]
    assert v.lift < 0 and v.z > 0
    assert v.rejected and v.lift_high < 0
    # ratio metrics carry over-dispersion in their day-to-day residuals: the VIF does not change them
    v1 = compare_variants(control, [cheaper], "cpa", vif=1.0, alpha=0.05, spend_time=1.0).variants[0]
    assert v1.se == v.se


def test_holm_frees_alpha_after_a_rejection() -> None:
    control = rate_arm("c", 1000, 100000)
    strong, null = rate_arm("strong", 1400, 100000), rate_arm("null", 1010, 100000)
    res = compare_variants(control, [strong, null], "ctr", vif=1.0, alpha=0.05, spend_time=1.0)
    s, n = res.variants
    assert s.rejected and s.level == pytest.approx(0.025)
    assert not n.rejected and n.level == pytest.approx(0.05)  # tested at alpha / 1 once 'strong' is rejected
    assert n.boundary == pytest.approx(1.959964, abs=1e-6)


def test_state_round_trip_through_json_gives_identical_looks() -> None:
    control, variant = rate_arm("c", 100, 10000), rate_arm("v", 120, 10000)
    first = compare_variants(control, [variant], "ctr", vif=1.5, alpha=0.05, spend_time=0.1)
    stored = SequentialState.from_dict(json.loads(json.dumps(first.state.to_dict())))
    c2, v2 = rate_arm("c", 220, 20000), rate_arm("v", 260, 20000)
    direct = compare_variants(c2, [v2], "ctr", vif=1.5, alpha=0.05, spend_time=0.2, state=first.state)
    loaded = compare_variants(c2, [v2], "ctr", vif=1.5, alpha=0.05, spend_time=0.2, state=stored)
    assert direct.variants == loaded.variants
    assert direct.state.to_dict() == loaded.state.to_dict()
    # a look without new data spends nothing
    again = compare_variants(c2, [v2], "ctr", vif=1.5, alpha=0.05, spend_time=0.25, state=loaded.state)
    assert again.alpha_spent == loaded.alpha_spent
    assert again.variants[0].boundary == loaded.variants[0].boundary


def test_guardrail_breached_only_beyond_the_tolerance() -> None:
    days = 20
    conv = np.full(days, 200.0)
    control = daily_arm("c", 2000.0 + 50 * np.sin(np.arange(days)), conv)
    worse = daily_arm("v", 2800.0 + 50 * np.cos(np.arange(days)), conv)  # CPA +40 %
    slightly = daily_arm("v", 2100.0 + 50 * np.cos(np.arange(days)), conv)  # CPA +5 %
    hit = guardrail_look(control, worse, "cpa", 0.10, vif=1.0, alpha=0.05, spend_time=1.0)
    miss = guardrail_look(control, slightly, "cpa", 0.10, vif=1.0, alpha=0.05, spend_time=1.0)
    assert hit.breached and hit.low > 0.10
    assert not miss.breached
    # one-sided alpha: the two-sided design at 2 alpha, final boundary z_{0.95}
    assert hit.boundary == pytest.approx(1.644854, abs=1e-6)
    # higher-is-better guardrail (CVR) breached when the interval is entirely below -tolerance
    c = rate_arm("c", 3000, 100000)
    low_cvr = ArmTotals("v", 2000, 100000, 100000)
    assert guardrail_look(c, low_cvr, "cvr", 0.10, vif=1.0, alpha=0.05, spend_time=1.0).breached


def test_bad_input_raises_named_errors() -> None:
    c, v = rate_arm("c", 10, 100), rate_arm("v", 0, 100)
    with pytest.raises(ComparisonError, match="no positive ctr"):
        compare_variants(c, [v], "ctr", vif=1.0, alpha=0.05, spend_time=0.5)
    with pytest.raises(ComparisonError, match="spend_time"):
        compare_variants(c, [c], "ctr", vif=1.0, alpha=0.05, spend_time=0.0)
    with pytest.raises(ComparisonError, match="unknown metric"):
        compare_variants(c, [c], "cpm", vif=1.0, alpha=0.05, spend_time=0.5)
    with pytest.raises(ComparisonError, match="at least one variant"):
        compare_variants(c, [], "ctr", vif=1.0, alpha=0.05, spend_time=0.5)
    with pytest.raises(ComparisonError, match="fewer than 2 days"):
        compare_variants(ArmTotals("c", 5, 2, 2), [ArmTotals("v", 5, 2, 2)], "cpa", vif=1.0, alpha=0.05, spend_time=1)


def beta_binomial_days(rng: np.random.Generator, n_exp: int, days: int, n: int, p: float, vif: float) -> np.ndarray:
    """Daily clicks per (experiment, arm, day): each day's true rate ~ Beta with intra-day correlation giving ``vif``
    = 1 + (n - 1) rho (identical arms: an A/A)."""
    rho = (vif - 1) / (n - 1)
    ab = 1 / rho - 1
    rates = rng.beta(p * ab, (1 - p) * ab, size=(n_exp, 2, days))
    return rng.binomial(n, rates).astype(float)


def false_winner_rate(clicks: np.ndarray, n: int, vif: float, alpha: float = 0.05) -> float:
    """Share of A/A experiments with a rejection at any daily look (looks without new data spend nothing and repeat
    the same statistic, so the 6-hourly schedule calls a winner exactly when its first look of a day does)."""
    wrong = 0
    for e in range(clicks.shape[0]):
        state = None
        for d in range(DAYS):
            s = clicks[e, :, : d + 1].sum(axis=1)
            trials = n * (d + 1)
            if min(s) == 0:
                continue
            look = compare_variants(
                rate_arm("c", s[0], trials), [rate_arm("v", s[1], trials)], "ctr",
                vif=vif, alpha=alpha, spend_time=(d + 1) / DAYS, state=state,
            )  # fmt: skip
            state = look.state
            if look.variants[0].rejected:
                wrong += 1
                break
    return wrong / clicks.shape[0]


def test_overdispersed_aa_false_winner_rate_with_vif_from_history() -> None:
    rng = np.random.default_rng(20261205)
    n, p, true_vif, n_exp = 5000, 0.015, 2.0, 300
    # the client's history: 60 ads x 30 days of the same process, never part of the tests
    hist = beta_binomial_days(rng, 30, DAYS, n, p, true_vif).reshape(60, DAYS)
    daily = pd.DataFrame({"ad_id": np.repeat(np.arange(60), DAYS), "successes": hist.ravel(), "trials": float(n)})
    vif = between_day_vif(daily)
    assert 1.6 < vif.value < 2.5
    clicks = beta_binomial_days(rng, n_exp, DAYS, n, p, true_vif)
    rate = false_winner_rate(clicks, n, vif.value)
    naive = false_winner_rate(clicks[:100], n, 1.0)
    mc_se = math.sqrt(0.05 * 0.95 / n_exp)
    print(f"A/A false-winner rate over 30 days of 6-hourly looks: {rate:.3f} with VIF {vif.value:.2f}, "
          f"{naive:.3f} without (first 100), limit {0.05 + 2 * mc_se:.3f}")  # fmt: skip
    assert rate <= 0.05 + 2 * mc_se
    assert naive > rate  # without the VIF the over-dispersion shows as false winners


def test_repeated_intervals_cover_the_true_lift_at_every_look() -> None:
    rng = np.random.default_rng(7)
    n, p, lift, n_exp = 4000, 0.02, 0.10, 200
    covered = 0
    for _ in range(n_exp):
        clicks = rng.binomial(n, [p, p * (1 + lift)], size=(DAYS, 2)).astype(float)
        state, ok = None, True
        for d in range(DAYS):
            s = clicks[: d + 1].sum(axis=0)
            look = compare_variants(
                rate_arm("c", s[0], n * (d + 1)), [rate_arm("v", s[1], n * (d + 1))], "ctr",
                vif=1.0, alpha=0.05, spend_time=(d + 1) / DAYS, state=state,
            )  # fmt: skip
            state, v = look.state, look.variants[0]
            ok &= v.lift_low <= lift <= v.lift_high
        covered += ok
    coverage = covered / n_exp
    print(f"simultaneous coverage of the repeated intervals over 30 looks: {coverage:.3f}")
    assert coverage >= 0.95 - 2 * math.sqrt(0.05 * 0.95 / n_exp)
