"""The creative-fatigue model of ``benchmarks/bandit.py`` part (d), checked against scipy: expected clicks are the
integral of the fatigue curve, and the oracle (water-filling) is the best allocation a constrained optimiser finds.
The benchmark's bar (discounted beats stationary) is measured by the benchmark itself, not here."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy import integrate, optimize

from optimizer_pipeline_tests.shared_data import REPO_ROOT


@pytest.fixture(scope="module")
def bandit():
    spec = importlib.util.spec_from_file_location("bandit_benchmark", REPO_ROOT / "benchmarks" / "bandit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_expected_clicks_integrate_the_fatigue_curve(bandit) -> None:
    base, tau, floor = np.array([0.02, 0.031]), bandit.DRIFT_TAU, bandit.DRIFT_FLOOR
    for exposure in (0.0, 1_000.0, 25_000.0, 180_000.0):
        got = bandit.fatigue_clicks(base, np.full(2, exposure))
        for b, g in zip(base, got, strict=True):
            ref, _ = integrate.quad(lambda e, b=b: b * (floor + (1 - floor) * np.exp(-e / tau)), 0.0, exposure)
            assert g == pytest.approx(ref, rel=1e-9, abs=1e-12)
    # the stated life: -50 % as exposure grows without bound, about -32 % after tau impressions
    rate = lambda e: floor + (1 - floor) * np.exp(-e / tau)  # noqa: E731
    assert 1 - rate(1e9) == pytest.approx(0.5) and 1 - rate(tau) == pytest.approx(0.316, abs=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oracle_is_the_best_allocation(bandit, seed) -> None:
    rng = np.random.default_rng(seed)
    base = rng.beta(0.02 * 2000, 0.98 * 2000, bandit.DRIFT_ARMS)
    horizon = bandit.DRIFT_HORIZON
    best = bandit.fatigue_oracle(base)
    rate = lambda e: base * (bandit.DRIFT_FLOOR + (1 - bandit.DRIFT_FLOOR) * np.exp(-e / bandit.DRIFT_TAU))  # noqa: E731
    res = optimize.minimize(  # scipy's constrained optimiser from an equal split, exact gradient (the current CTRs)
        lambda e: -bandit.fatigue_clicks(base, e).sum(),
        np.full(len(base), horizon / len(base)),
        jac=lambda e: -rate(e),
        hess=lambda e: np.diag(base * (1 - bandit.DRIFT_FLOOR) / bandit.DRIFT_TAU * np.exp(-e / bandit.DRIFT_TAU)),
        method="trust-constr",
        bounds=optimize.Bounds(0, horizon),
        constraints=[optimize.LinearConstraint(np.ones((1, len(base))), horizon, horizon)],
        options={"gtol": 1e-12, "xtol": 1e-12, "maxiter": 5000},
    )
    assert best == pytest.approx(-res.fun, rel=1e-9)
    for shares in rng.dirichlet(np.ones(len(base)), 200):  # no allocation of the horizon does better
        assert bandit.fatigue_clicks(base, shares * horizon).sum() <= best + 1e-9
    one_arm = bandit.fatigue_clicks(base, np.eye(len(base))[base.argmax()] * horizon).sum()
    assert one_arm < best  # serving the fresh winner alone is not optimal: it fatigues and loses its lead
