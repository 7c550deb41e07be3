"""Compound learning: DerSimonian-Laird prior against metafor's published BCG values, the winner's-curse
simulation (planted true lifts, selection by the group-sequential rule), and the compounding of a small trail."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.actions.compound_learning import (
    CompoundLearningError,
    compound_learning,
    fit_lift_prior,
    log_lift_se,
    shrink_log_lifts,
)
from optimizer_pipeline.lib.decisions.group_sequential import boundaries

# BCG vaccine trials (Colditz et al. 1994): tpos, tneg, cpos, cneg. metafor (Viechtbauer 2010, JSS 36(3), the
# rma(method="DL") example) reports tau^2 = 0.3088 and estimate -0.7141 for the log risk ratios.
BCG = np.array(
    [[4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619], [33, 5036, 47, 5761],
     [180, 1361, 372, 1079], [8, 2537, 10, 619], [505, 87886, 499, 87892], [29, 7470, 45, 7232],
     [17, 1699, 65, 1600], [186, 50448, 141, 27197], [5, 2493, 3, 2338], [27, 16886, 29, 17825]],
    dtype=float,
)  # fmt: skip


def test_dersimonian_laird_matches_metafor_bcg() -> None:
    tp, tn, cp, cn = BCG.T
    y = np.log((tp / (tp + tn)) / (cp / (cp + cn)))
    v = 1 / tp - 1 / (tp + tn) + 1 / cp - 1 / (cp + cn)
    prior = fit_lift_prior(y, np.sqrt(v))
    assert prior.tau2 == pytest.approx(0.3088, abs=5e-5)
    assert prior.mean == pytest.approx(-0.7141, abs=5e-5)
    assert prior.k == 13


def test_shrinkage_formula_and_floor() -> None:
    prior = fit_lift_prior(np.array([0.0, 0.001, -0.001]), np.array([0.05, 0.05, 0.05]), tau_floor=0.02)
    assert prior.tau2 == pytest.approx(0.02**2)  # DL gives 0 here: the floor holds
    post, sd, b = shrink_log_lifts(np.array([0.1]), np.array([0.02]), prior)
    assert b[0] == pytest.approx(0.5)
    assert post[0] == pytest.approx(prior.mean + 0.5 * (0.1 - prior.mean))
    assert sd[0] == pytest.approx(math.sqrt(0.5) * 0.02)


def test_se_from_z_then_from_interval() -> None:
    se = log_lift_se([0.1, 0.1], [2.0, np.nan], [0.0, 0.0], [0.2, 0.2], [2.5, 2.5])
    assert se[0] == pytest.approx(math.log(1.1) / 2)
    assert se[1] == pytest.approx((math.log(1.2) - math.log(1.0)) / 5)


def test_bad_input() -> None:
    with pytest.raises(CompoundLearningError, match="no experiment"):
        fit_lift_prior(np.array([]), np.array([]))
    with pytest.raises(CompoundLearningError, match="finite"):
        fit_lift_prior(np.array([0.1, np.nan]), np.array([0.1, 0.1]))
    with pytest.raises(CompoundLearningError, match="tau_floor"):
        fit_lift_prior(np.array([0.1]), np.array([0.1]), tau_floor=0)
    with pytest.raises(CompoundLearningError, match="level"):
        compound_learning(pd.DataFrame(), level=1.5)


def _simulate(slab: bool, k: int = 4000, looks: int = 8, se_end: float = 0.03) -> tuple[np.ndarray, ...]:
    """Planted true log lifts; each experiment's z path (Brownian motion in information) is checked at 8 looks
    against the O'Brien-Fleming-type group-sequential boundaries (alpha 0.05) the decision loop uses; a positive
    crossing promotes at that look; otherwise the last look's estimate is kept."""
    t = np.arange(1, looks + 1) / looks
    c = boundaries(t, t, 0.05)
    rng = np.random.default_rng(20261205)
    theta = np.where(rng.random(k) < 0.6, 0.0, rng.normal(0.0, 0.05, k)) if slab else rng.normal(0.0, 0.03, k)
    info = t / se_end**2
    step = np.diff(np.r_[0.0, info])
    s = np.cumsum(rng.normal(theta[:, None] * step, np.sqrt(step)), axis=1)
    z = s / np.sqrt(info)
    crossed = np.abs(z) >= c
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), looks - 1)
    rows = np.arange(k)
    y, se = s[rows, first] / info[first], 1 / np.sqrt(info[first])
    won = crossed.any(axis=1) & (z[rows, first] > 0)
    return theta, y, se, won


def _mcse(a: np.ndarray) -> float:
    return float(a.std(ddof=1) / math.sqrt(len(a)))


def test_winners_curse_removed_when_the_prior_is_right() -> None:
    # Measured: 365 winners of 4000; naive bias +0.0493 (MC SE 0.0016), shrunk +0.0002 (0.0012), coverage 0.951.
    theta, y, se, won = _simulate(slab=False)
    prior = fit_lift_prior(y, se)
    post, sd, _ = shrink_log_lifts(y[won], se[won], prior)
    naive, shrunk = y[won] - theta[won], post - theta[won]
    assert naive.mean() > 10 * _mcse(naive)
    assert abs(shrunk.mean()) < 3 * _mcse(shrunk)
    cover = np.mean(np.abs(shrunk) <= 1.959964 * sd)
    assert abs(cover - 0.95) < 3 * math.sqrt(0.95 * 0.05 / won.sum())
    # the prior must come from all tests: fitted on the winners only, most of the bias stays (measured +0.041)
    only = fit_lift_prior(y[won], se[won])
    post_w, _, _ = shrink_log_lifts(y[won], se[won], only)
    assert (post_w - theta[won]).mean() > 0.5 * naive.mean()


def test_winners_curse_with_client_sized_portfolios_and_a_wrong_prior_shape() -> None:
    # 100 clients of 40 tests, each fitting its own prior. Normal truth: naive +0.0493, shrunk +0.0031 (MC SE
    # 0.0013). Spike-and-slab truth (60 % exactly 0): naive +0.0420, shrunk -0.0096 (0.0020): the normal prior
    # over-shrinks the large lifts, erring on the side of promising less.
    for slab, lower, upper in ((False, -0.005, 0.15), (True, -0.35, 0.0)):
        theta, y, se, won = _simulate(slab=slab)
        naive, shrunk = [], []
        for client in np.array_split(np.arange(len(y)), 100):
            prior = fit_lift_prior(y[client], se[client])
            w = client[won[client]]
            post, _, _ = shrink_log_lifts(y[w], se[w], prior)
            naive.append(y[w] - theta[w])
            shrunk.append(post - theta[w])
        n, s = np.concatenate(naive), np.concatenate(shrunk)
        assert n.mean() > 10 * _mcse(n)
        assert lower * n.mean() - 3 * _mcse(s) < s.mean() < upper * n.mean() + 3 * _mcse(s)


def _row(
    exp: str, day: int, decision: str, winner: str, decided: int | None, lift: float, z: float, **kw: object
) -> dict:
    look = pd.Timestamp("2026-11-01", tz="UTC") + pd.Timedelta(days=day)
    return {
        "experiment_id": exp, "look_at": look, "look_index": day, "decision": decision, "winner": winner,
        "decided_at": None if decided is None else (pd.Timestamp("2026-11-01", tz="UTC")
                                                    + pd.Timedelta(days=decided)).isoformat(),
        "reason": kw.get("reason", ""), "confidence": 0.95, "primary_metric": kw.get("metric", "ctr"),
        "variant": kw.get("variant", winner or "b"), "lift": lift, "lift_low": lift - 0.05, "lift_high": lift + 0.05,
        "z": z, "boundary": 2.5, "chance_to_win": 0.99,
    }  # fmt: skip


def test_compound_learning_on_a_trail() -> None:
    rows = [
        _row("e1", 1, "continue", "", None, 0.05, 1.0),
        _row("e1", 2, "promote", "b", 2, 0.20, 3.0),
        _row("e1", 3, "promote", "b", 2, 0.15, 3.2),
        _row("e2", 1, "promote", "c", 1, 0.10, 2.8),
        _row("e3", 1, "stop-no-difference", "", 1, 0.01, 0.2),
        _row("e4", 1, "promote", "control", 1, -0.12, -3.0, variant="b"),  # control wins: does not compound
        _row("e5", 1, "continue", "", None, -0.02, -0.5),
    ]
    res = compound_learning(pd.DataFrame(rows))
    p = res.promotions
    assert list(p["experiment_id"]) == ["e2", "e1"]  # decision order
    assert p["lift"].tolist() == pytest.approx([0.10, 0.20])  # the deciding look's lift, not a later one
    assert p["cumulative_lift"].iloc[-1] == pytest.approx(1.1 * 1.2 - 1)
    assert np.all(p["lift_shrunk"] < p["lift"])
    prior = res.priors["ctr"]
    assert prior.k == 5
    total = res.cumulative.iloc[0]
    assert total["promotions"] == 2
    assert total["cumulative_lift_shrunk"] == pytest.approx(math.expm1(np.log1p(p["lift_shrunk"]).sum()))
    assert total["cumulative_shrunk_low"] < total["cumulative_lift_shrunk"] < total["cumulative_shrunk_high"]
    assert total["cumulative_lift_shrunk"] < total["cumulative_lift"]
