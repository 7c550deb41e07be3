"""Bayesian read-out: gbstats 0.8.0 reference values, Monte Carlo cross-checks and A/A calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from optimizer_pipeline.lib.decisions.bayesian_comparison import (
    ComparisonInputError,
    beta_posterior,
    compare_normal,
    compare_proportions,
    prob_beta_greater,
    probability_best,
)

# Reference: gbstats 0.8.0 (GrowthBook), EffectBayesianABTest with its default flat prior, run in a separate venv
# (gbstats pins numpy < 2 and pandas < 2, so it cannot live in this project's environment).
# (control successes, trials, variant successes, trials) -> chance_to_win, risk of the variant, expected effect.
GB_PROPORTIONS = {
    ("absolute", (100, 1000, 120, 1000)): (0.9236459949030611, 0.0004798424057869258, 0.02),
    ("absolute", (1500, 100000, 1560, 100000)): (0.8628139861903005, 3.818731792280976e-05, 0.0006),
    ("absolute", (30, 500, 25, 500)): (0.24393241074671973, 0.01208167734338774, -0.01),
    ("absolute", (48, 2000, 61, 2100)): (0.8429510894533201, 0.00041249013683417003, 0.005047619047619047),
    ("relative", (100, 1000, 120, 1000)): (0.9039004818067533, 0.006921607912677944, 0.2),
    ("relative", (1500, 100000, 1560, 100000)): (0.8580988600394092, 0.002706821045016311, 0.04),
    ("relative", (30, 500, 25, 500)): (0.22376045506523473, 0.1949760921655647, -0.1666666666666666),
    ("relative", (48, 2000, 61, 2100)): (0.8192945582958535, 0.022610388392719748, 0.2103174603174603),
}
# SampleMeanStatistic(n, sum, sum_squares) for control and variant -> chance_to_win, risk of the variant
GB_MEANS = {
    ("absolute", (500, 5000.0, 60000.0, 520, 5400.0, 66000.0)): (0.9173434330605501, 0.010449878761531778),
    ("absolute", (1000, 25000.0, 900000.0, 1000, 24000.0, 860000.0)): (0.09063873692381186, 1.0314751568283522),
    ("relative", (500, 5000.0, 60000.0, 520, 5400.0, 66000.0)): (0.9130687517805476, 0.0011321385245753302),
    ("relative", (1000, 25000.0, 900000.0, 1000, 24000.0, 860000.0)): (0.08638097910172504, 0.0411655523845167),
}


def _prop_arm(s: float, n: float) -> tuple[float, float]:
    p = s / n
    return p, p * (1 - p) / n


def _mean_arm(n: int, total: float, squares: float) -> tuple[float, float]:
    var = (squares - total**2 / n) / (n - 1)
    return total / n, var / n


@pytest.mark.parametrize(("key", "expected"), list(GB_PROPORTIONS.items()))
def test_normal_matches_gbstats_for_proportions(key, expected) -> None:
    kind, (sa, na, sb, nb) = key
    r = compare_normal(_prop_arm(sa, na), _prop_arm(sb, nb), relative=kind == "relative")
    assert r.chance_to_win == pytest.approx(expected[0], rel=1e-9)
    assert r.expected_loss == pytest.approx(expected[1], rel=1e-9)
    assert r.difference == pytest.approx(expected[2], rel=1e-9)


@pytest.mark.parametrize(("key", "expected"), list(GB_MEANS.items()))
def test_normal_matches_gbstats_for_means(key, expected) -> None:
    kind, c = key
    r = compare_normal(_mean_arm(*c[:3]), _mean_arm(*c[3:]), relative=kind == "relative")
    assert r.chance_to_win == pytest.approx(expected[0], rel=1e-9)
    assert r.expected_loss == pytest.approx(expected[1], rel=1e-9)


@pytest.mark.parametrize(("key", "expected"), [(k, v) for k, v in GB_PROPORTIONS.items() if k[0] == "absolute"])
def test_beta_is_close_to_gbstats_normal(key, expected) -> None:
    """Exact Beta(1, 1) posteriors vs gbstats' normal: measured |d chance| <= 0.0022, risk within 3.0 %."""
    _, (sa, na, sb, nb) = key
    r = compare_proportions((sa, na), (sb, nb))
    assert r.chance_to_win == pytest.approx(expected[0], abs=0.005)
    assert r.expected_loss == pytest.approx(expected[1], rel=0.05)


@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("case", [(100, 1000, 120, 1000), (30, 500, 25, 500), (1500, 100000, 1560, 100000)])
def test_beta_integrals_match_monte_carlo(case, relative: bool) -> None:
    sa, na, sb, nb = case
    r = compare_proportions((sa, na), (sb, nb), relative=relative)
    rng = np.random.default_rng(1)
    draws = 400_000
    c = rng.beta(sa + 1, na - sa + 1, draws)
    v = rng.beta(sb + 1, nb - sb + 1, draws)
    scale = c if relative else 1.0
    checks = [
        (r.chance_to_win, (v > c).astype(float)),
        (r.expected_loss, np.maximum(c - v, 0) / scale),
        (r.expected_loss_control, np.maximum(v - c, 0) / scale),
        (r.difference, v / c - 1 if relative else v - c),
    ]
    for value, sample in checks:
        assert abs(value - sample.mean()) < 4 * sample.std() / np.sqrt(draws) + 1e-12


def test_prob_beta_greater_matches_closed_form() -> None:
    """Evan Miller's closed form for integer alpha_V: sum_i B(aC + i, bC + bV) / ((bV + i) B(1 + i, bV) B(aC, bC))."""
    (av, bv), (ac, bc) = beta_posterior(40, 300), beta_posterior(30, 310)
    i = np.arange(int(av))
    from scipy.special import betaln

    terms = betaln(ac + i, bc + bv) - np.log(bv + i) - betaln(1 + i, bv) - betaln(ac, bc)
    assert prob_beta_greater((av, bv), (ac, bc)) == pytest.approx(np.exp(terms).sum(), rel=1e-8)


def test_lower_is_better_swaps_direction() -> None:
    up = compare_proportions((100, 1000), (120, 1000))
    down = compare_proportions((100, 1000), (120, 1000), lower_is_better=True)
    assert down.chance_to_win == pytest.approx(1 - up.chance_to_win)
    assert down.expected_loss == pytest.approx(up.expected_loss_control)
    n_up = compare_normal((10.0, 0.04), (10.3, 0.05))
    n_down = compare_normal((10.0, 0.04), (10.3, 0.05), lower_is_better=True)
    assert n_down.chance_to_win == pytest.approx(1 - n_up.chance_to_win)
    assert n_down.expected_loss == pytest.approx(n_up.expected_loss_control)


def test_vif_widens_posteriors() -> None:
    plain = compare_proportions((100, 1000), (125, 1000))
    wide = compare_proportions((100, 1000), (125, 1000), vif=2.0)
    assert 0.5 < wide.chance_to_win < plain.chance_to_win
    assert compare_normal((1.0, 0.01), (1.2, 0.01), vif=2.0).chance_to_win == pytest.approx(
        compare_normal((1.0, 0.02), (1.2, 0.02)).chance_to_win
    )


def test_aa_chance_to_win_is_uniform() -> None:
    """A/A arms: P(chance_to_win > 0.95) should be 5 %; measured 4.8 % (< 0.05: 5.4 %, KS p 0.09); normal 5.2 %."""
    rng = np.random.default_rng(2)
    sims, n = 4_000, 5_000
    p = rng.uniform(0.01, 0.05, sims)
    sa, sb = rng.binomial(n, p), rng.binomial(n, p)
    ctw = np.array([prob_beta_greater(beta_posterior(b, n), beta_posterior(a, n)) for a, b in zip(sa, sb, strict=True)])
    se = np.sqrt(0.05 * 0.95 / sims)
    assert abs(np.mean(ctw > 0.95) - 0.05) < 3 * se
    assert abs(np.mean(ctw < 0.05) - 0.05) < 3 * se
    assert stats.kstest(ctw, "uniform").pvalue > 0.001
    # normal metric: revenue per click with its own noise
    m = rng.normal(2.0, 0.1, (sims, 2))
    ctw_n = np.array([compare_normal((a, 0.01), (b, 0.01)).chance_to_win for a, b in m])
    assert abs(np.mean(ctw_n > 0.95) - 0.05) < 3 * se


def test_probability_best_two_arms_agrees_with_exact_and_sums_to_one() -> None:
    table = probability_best(["control", "b", "c"], successes=[100, 120, 110], trials=[1000, 1000, 1000], seed=3)
    assert table["p_best"].sum() == pytest.approx(1.0)
    assert table.loc[table["p_best"].idxmax(), "arm"] == "b"
    two = probability_best(["control", "b"], successes=[100, 120], trials=[1000, 1000], seed=4)
    exact = prob_beta_greater(beta_posterior(120, 1000), beta_posterior(100, 1000))
    assert two["p_best"].iloc[1] == pytest.approx(exact, abs=4 * 0.5 / np.sqrt(100_000))
    loss = compare_proportions((100, 1000), (120, 1000)).expected_loss
    assert two["expected_loss"].iloc[1] == pytest.approx(loss, rel=0.05)
    normal = probability_best(["a", "b"], means=[1.0, 1.1], variances_of_mean=[0.01, 0.01], lower_is_better=True)
    assert normal["p_best"].iloc[0] == pytest.approx(stats.norm.cdf(0.1 / np.sqrt(0.02)), abs=0.005)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: beta_posterior(5, 3), "successes"),
        (lambda: beta_posterior(1, 3, prior=(0, 1)), "prior"),
        (lambda: compare_proportions((1, 10), (2, 10), vif=0.5), "vif"),
        (lambda: compare_normal((0.0, 0.1), (1.0, 0.1), relative=True), "control mean"),
        (lambda: compare_normal((1.0, -0.1), (1.0, 0.1)), "variances"),
        (lambda: probability_best(["a"], successes=[1], trials=[5]), "at least 2"),
        (lambda: probability_best(["a", "b"], successes=[1, 2]), "either"),
        (lambda: probability_best(["a", "b"], successes=[1], trials=[5]), "labels"),
    ],
)
def test_bad_input_raises(call, match: str) -> None:
    with pytest.raises(ComparisonInputError, match=match):
        call()
