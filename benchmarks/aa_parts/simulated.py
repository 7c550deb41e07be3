"""(a) Simulated A/A false-winner rates and (b) power and sample size on planted lifts, a look every 6 hours.

Why vectorised: S simulations x 120 looks of ``compare_variants`` would take minutes. With the same impressions per
arm at every look, the information ``n_v n_c / (n_v + n_c)`` and the spend times are the same in every simulation, so
the group-sequential boundaries are one ``group_sequential.boundaries`` call, and z is the engine's own formula
(``relative_lift.rate_estimate`` x VIF, then ``log_lift``) on arrays. ``engine_check`` replays a subset through
``compare_variants`` and raises if any decision (first crossing look and sign) differs.

Over-dispersion: the clicks of each arm in each look increment are beta-binomial, ``p_k ~ Beta`` with intra-look
correlation ``rho = (VIF - 1) / (m - 1)`` for ``m`` impressions per increment, so the variance of every cumulative
count is exactly ``VIF`` times the binomial one. Our method is given a VIF estimated, per simulation, from a separate
simulated history (``overdispersion.between_day_vif``: 20 ads x 28 days at the same daily volume, each day made of
the same increments), as the engine does with a client's history (``history_vif``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from aa_parts.look_replay import first_crossing, naive_crossings, sequential_crossing
from optimizer_pipeline.lib.decisions.group_sequential import boundaries
from optimizer_pipeline.lib.decisions.overdispersion import between_day_vif
from optimizer_pipeline.lib.decisions.sample_size import plan_proportions

ALPHA = 0.05
BASE_CTR = 0.02
AA_PER_LOOK = 2500  # impressions per arm per 6-hour look: 10,000 per arm per day
TRUE_VIF = 2.0
HISTORY_ADS, HISTORY_DAYS = 20, 28
LIFTS = (0.05, 0.10, 0.20)
PLANNED_LIFT = 0.10
HORIZONS = (1.2, 1.5, 2.0)  # sequential horizon (the 30-day sample) as a multiple of the fixed test's n
CHOSEN_HORIZON = 1.5


def simulate_cumulative(
    rng: np.random.Generator, sims: int, looks: int, per_look: int, p: float, vif: float
) -> np.ndarray:
    """Cumulative clicks (sims, looks) of one arm: binomial (vif = 1) or beta-binomial increments with that VIF."""
    if vif == 1.0:
        inc = rng.binomial(per_look, p, size=(sims, looks))
    else:
        rho = (vif - 1.0) / (per_look - 1.0)
        a, b = p * (1.0 / rho - 1.0), (1.0 - p) * (1.0 / rho - 1.0)
        inc = rng.binomial(per_look, rng.beta(a, b, size=(sims, looks)))
    return np.cumsum(inc, axis=1)


def simulated_history_vif(rng: np.random.Generator, per_look: int, looks_per_day: int, p: float, vif: float) -> float:
    """``between_day_vif`` of a simulated history (20 ads x 28 days, same increments as the test)."""
    day = simulate_cumulative(rng, HISTORY_ADS * HISTORY_DAYS, looks_per_day, per_look, p, vif)[:, -1]
    daily = pd.DataFrame(
        {
            "ad_id": np.repeat(np.arange(HISTORY_ADS), HISTORY_DAYS),
            "successes": day,
            "trials": per_look * looks_per_day,
        }
    )
    return between_day_vif(daily).value


def engine_z(sc: np.ndarray, sv: np.ndarray, n: np.ndarray, vif: np.ndarray) -> np.ndarray:
    """``log_lift(rate_estimate(sv, n, vif), rate_estimate(sc, n, vif)).z`` on arrays (NaN: not comparable)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pc, pv = sc / n, sv / n

        def var(p: np.ndarray) -> np.ndarray:
            q = np.minimum(np.maximum(p, 0.5 / n), (n - 0.5) / n)
            return q * (1.0 - q) / n * vif[:, None]

        z = (np.log(pv) - np.log(pc)) / np.sqrt(var(pv) / pv**2 + var(pc) / pc**2)
    return np.where((sc > 0) & (sv > 0), z, np.nan)


def sequential_design(looks: int, per_look: int) -> np.ndarray:
    """Boundaries of the engine's design: spend time k / looks, information k m / 2 (equal arms), alpha 0.05."""
    k = np.arange(1, looks + 1)
    return boundaries(k / looks, k * per_look / 2.0, ALPHA)


def decide(sc: np.ndarray, sv: np.ndarray, per_look: int, vif: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First crossing look and sign per simulation under the engine's design (all looks must be comparable)."""
    looks = sc.shape[1]
    n = np.broadcast_to(per_look * np.arange(1, looks + 1, dtype=float), sc.shape)
    z = engine_z(sc, sv, n, vif)
    if np.isnan(z).any():
        raise RuntimeError("a simulated arm had no click at some look: raise the traffic per look")
    return first_crossing(z, sequential_design(looks, per_look))


def engine_check(
    sc: np.ndarray, sv: np.ndarray, per_look: int, vif: np.ndarray, idx: np.ndarray, sign: np.ndarray, rows: int
) -> int:
    """Replay the first ``rows`` simulations through ``compare_variants``; raise if a decision differs."""
    looks = sc.shape[1]
    n = per_look * np.arange(1, looks + 1)
    for i in range(min(rows, len(sc))):
        got = sequential_crossing(
            (sc[i], n), (sv[i], n), metric="ctr", vif=float(vif[i]), alpha=ALPHA, planned_looks=looks
        )
        want = (None if idx[i] < 0 else int(idx[i]), int(sign[i]))
        if (got.look, got.sign) != want:
            raise AssertionError(f"vectorised decision {want} != compare_variants {got} in simulation {i}")
    return min(rows, len(sc))


def _rate(x: np.ndarray) -> tuple[float, float]:
    p = float(np.mean(x))
    return p, math.sqrt(p * (1.0 - p) / len(x))


def aa_rates(sims: int, looks: int, days: float, seed: int, true_vif: float, check_rows: int) -> dict:
    """False-winner rates of our method (VIF from a simulated history, and VIF = 1 known) and the naive test."""
    rng = np.random.default_rng(seed)
    sc = simulate_cumulative(rng, sims, looks, AA_PER_LOOK, BASE_CTR, true_vif)
    sv = simulate_cumulative(rng, sims, looks, AA_PER_LOOK, BASE_CTR, true_vif)
    per_day = max(1, round(looks / days))
    vif = np.array([simulated_history_vif(rng, AA_PER_LOOK, per_day, BASE_CTR, true_vif) for _ in range(sims)])
    idx, sign = decide(sc, sv, AA_PER_LOOK, vif)
    checked = engine_check(sc, sv, AA_PER_LOOK, vif, idx, sign, check_rows)
    idx1, _ = decide(sc, sv, AA_PER_LOOK, np.ones(sims))
    idx_true, _ = decide(sc, sv, AA_PER_LOOK, np.full(sims, true_vif))
    n = np.broadcast_to(AA_PER_LOOK * np.arange(1, looks + 1), sc.shape)
    naive, _ = naive_crossings(sc, n, sv, n, ALPHA)
    ours, se = _rate(idx >= 0)
    return {
        "true_vif": true_vif,
        "sims": sims,
        "impressions_per_arm_per_look": AA_PER_LOOK,
        "ctr": BASE_CTR,
        "vif_estimated_mean": float(vif.mean()),
        "vif_estimated_p5_p95": [float(np.percentile(vif, 5)), float(np.percentile(vif, 95))],
        "ours": ours,
        "ours_mc_se": se,
        "ours_true_vif": _rate(idx_true >= 0)[0],
        "ours_vif_1": _rate(idx1 >= 0)[0],
        "naive": _rate(naive >= 0)[0],
        "naive_mc_se": _rate(naive >= 0)[1],
        "naive_at_final_look_only": float(np.mean(_final_naive(sc, sv, n))),
        "engine_checked_sims": checked,
    }


def _final_naive(sc: np.ndarray, sv: np.ndarray, n: np.ndarray) -> np.ndarray:
    idx, _ = naive_crossings(sc[:, -1:], n[:, -1:], sv[:, -1:], n[:, -1:], ALPHA)
    return idx >= 0


def _n_at_power(curve: np.ndarray, per_look: int, target: float = 0.8) -> float | None:
    """Per-arm sample where the cumulative power curve reaches ``target`` (linear between looks); None: never."""
    above = np.flatnonzero(curve >= target)
    if above.size == 0:
        return None
    k = int(above[0])
    prev = curve[k - 1] if k else 0.0
    return per_look * (k + (target - prev) / (curve[k] - prev))


def power(sims: int, looks: int, days: float, seed: int, check_rows: int) -> dict:
    """Power on planted lifts next to the fixed-horizon test, and the sample each needs for 80 % power."""
    rng = np.random.default_rng(seed)
    n_fixed = math.ceil(plan_proportions(BASE_CTR, relative_effect=PLANNED_LIFT, power=0.8, alpha=ALPHA).n_control)
    out: dict = {"ctr": BASE_CTR, "planned_lift": PLANNED_LIFT, "fixed_n_per_arm": n_fixed, "sims": sims}
    out["chosen_horizon"] = CHOSEN_HORIZON
    rows, lifts = [], {}
    for horizon in HORIZONS:
        per_look = math.ceil(horizon * n_fixed / looks)
        for lift in LIFTS if horizon == CHOSEN_HORIZON else (PLANNED_LIFT,):
            sc = simulate_cumulative(rng, sims, looks, per_look, BASE_CTR, 1.0)
            sv = simulate_cumulative(rng, sims, looks, per_look, BASE_CTR * (1 + lift), 1.0)
            idx, sign = decide(sc, sv, per_look, np.ones(sims))
            engine_check(sc, sv, per_look, np.ones(sims), idx, sign, check_rows if horizon == CHOSEN_HORIZON else 0)
            correct = (idx >= 0) & (sign > 0)
            curve = np.array([np.mean(correct & (idx <= k)) for k in range(looks)])
            k_fixed = math.ceil(n_fixed / per_look) - 1  # first look with at least the fixed test's n
            n80 = _n_at_power(curve, per_look)
            if lift == PLANNED_LIFT:
                rows.append(
                    {
                        "horizon_x_fixed_n": horizon,
                        "impressions_per_arm_per_look": per_look,
                        "power_at_horizon": float(curve[-1]),
                        "power_at_fixed_n": float(curve[k_fixed]),
                        "n80_per_arm": n80,
                        "ratio_n80_to_fixed_n": None if n80 is None else n80 / n_fixed,
                    }
                )
            if horizon != CHOSEN_HORIZON:
                continue
            plan_n = math.ceil(plan_proportions(BASE_CTR, relative_effect=lift, power=0.8, alpha=ALPHA).n_control)
            fc = rng.binomial(n_fixed, BASE_CTR, sims)
            fv = rng.binomial(n_fixed, BASE_CTR * (1 + lift), sims)
            f_idx, f_sign = naive_crossings(fc[:, None], np.full((sims, 1), n_fixed), fv[:, None],
                                            np.full((sims, 1), n_fixed), ALPHA)  # fmt: skip
            hit = idx[correct]
            lifts[f"{lift:g}"] = {
                "ours_power_at_horizon": float(curve[-1]),
                "ours_power_at_fixed_n": float(curve[k_fixed]),
                "fixed_power_simulated": float(np.mean((f_idx >= 0) & (f_sign > 0))),
                "fixed_power_planned": plan_proportions(
                    BASE_CTR, relative_effect=lift, n_control=n_fixed, alpha=ALPHA
                ).power,
                "fixed_n80_per_arm_for_this_lift": plan_n,
                "ours_n80_per_arm": n80,
                "ours_share_correct": float(correct.mean()),
                "ours_wrong_direction": float(np.mean((idx >= 0) & (sign < 0))),
                "ours_median_days_to_correct": float(np.median(hit + 1) * days / looks) if hit.size else None,
                "ours_median_sample_per_arm_to_correct": float(np.median(hit + 1) * per_look) if hit.size else None,
                "fixed_days": n_fixed / per_look * days / looks,
            }
    out["horizons"] = rows
    out["lifts"] = lifts
    chosen = next(r for r in rows if r["horizon_x_fixed_n"] == CHOSEN_HORIZON)
    out["sample_size_ratio_for_80pct_power"] = chosen["ratio_n80_to_fixed_n"]
    return out
