"""Bandit benchmark of optimizer_pipeline.lib.testloop.thompson, all numbers from one run.

    python benchmarks/bandit.py [--upworthy PATH] [--obd DIR] [--json] [--quick] [--batch N] [--mab-tests N]

(a) Decision time: one exact Thompson decision over 1,000 arms. Ours (``ThompsonSampler.decide`` with block=1: one
    decision per call, exact inversion over its quantile table) is the barred figure; also shown: ours with block
    draws (several decisions per table pass), the online loop (decide + update of the chosen arm, which refreshes
    one table row), a plain numpy ``Generator.beta`` draw + argmax, and MABWiser ``ThompsonSampling.predict()`` on
    the same posterior counts. Bars: ours (block=1) <= 100 us and faster than MABWiser. MABWiser is optional
    (``pip install mabwiser``, benchmark-only); its rows are skipped with a note.
(b) Replay of the Upworthy A/B tests (any Upworthy-format parquet: clickability_test_id, impressions, clicks,
    test_week). Tests with any package from test_week 201325-201402 are excluded (broken randomisation, see the data
    README).
    True rate per arm = observed CTR. Each policy allocates the test's total impressions in batches (``--batch``,
    default 100) with Bernoulli clicks at the true rates and updates after every batch. Regret is the expected
    (pseudo-)regret sum(n_arm * (p_best - p_arm)); the oracle gets total impressions * p_best clicks. Every policy is
    replayed on the same tests from the same seed.
    ``regret_pct_of_oracle`` = 100 * regret / oracle clicks of *ours* (bars < 15 %, <= epsilon-greedy's, <=
    MABWiser's). ``clicks_lost_vs_equal_split_pct`` = 100 * (regret / equal-split regret - 1): negative means fewer
    clicks lost than a fixed equal split (bar <= -30 %). Ours (``thompson_reshaped_eb_prior``) is
    ``optimizer_pipeline.lib.testloop.batch_thompson.BatchThompson``: Thompson sampling with an empirical-Bayes prior
    fitted (``fit_prior``) on the packages of the excluded weeks, which are never replayed (if the file has none, on
    all replayed packages, a small leak noted in the output), and posterior reshaping (Chapelle & Li 2011) whose
    sharpness is cross-fitted: tests alternate between two folds, and each fold uses the sharpness (grid
    ``SHARPNESS_GRID``) with the least regret on the *other* fold (from another seed). Also shown: the plain sampler
    (``ThompsonSampler``) with that prior and with Beta(1, 1), discounted Thompson sampling (gamma 0.99 per batch;
    on stationary tests it only adds exploration), epsilon-greedy (eps = 0.1, untried arms first; top-level
    ``epsilon_greedy_regret_pct_of_oracle``) and MABWiser ThompsonSampling (Beta(1, 1); top-level
    ``mabwiser_regret_pct_of_oracle``) on the first ``--mab-tests`` tests (default all; quick 20), with ours on the
    same subset.
(c) Off-policy estimate on the Open Bandit Dataset sample (``random`` logs, known propensities): per campaign the
    first half of the log (by timestamp) gives Thompson posteriors per item; on the second half the IPS and
    self-normalised IPS click rate of (i) the Thompson policy (pi(a) = P(a is best), 100,000 draws), (ii) the
    recommender (``recommend``'s budget split over its top 10 items) and (iii) the greedy policy (argmax posterior
    mean) are compared with the logged random policy's CTR. Slots are treated as
    independent impressions (propensity = per-slot probability of the item).
(d) Drifting CTRs (creative fatigue): 4 arms per run drawn like one Upworthy test (level from the prior, arms around
    it with the within-test Beta strength fitted on the replayed tests); every arm's CTR falls with its own
    cumulative exposure E, ``b (f + (1 - f) exp(-E / tau))``: down 50 % over the creative's life (f = 0.5), 32 %
    after tau = 25,000 of its impressions, so a winner served most of the 100,000 impressions (batches of 500)
    loses its lead part-way (wear-out with repetition: Braun & Moe 2013, "Online display advertising: modeling
    the effects of multiple creatives and individual impression histories", Marketing Science 32(5); Chen, Yang &
    Smith 2016, J. Academy of Marketing Science 44(3):334; as a bandit, the rested "rotting bandit" of Levine,
    Crammer & Mannor 2017, NeurIPS. The 50 % life fall and the scale are assumptions, not fitted). Regret is against
    the best allocation with the fatigue curves known (water-filling: serve the arms with the highest current CTR).
    The discount gamma is chosen from ``DRIFT_DISCOUNT_GRID`` on training runs (other draws and seeds), then
    stationary and discounted Thompson sampling are scored on the test runs with shared per-run seeds
    (``drift_regret_pct_stationary``, ``drift_regret_pct_discounted``), with the paired difference +- its
    Monte-Carlo SE. Bar ``drift_discounted_beats_stationary``: discounting loses fewer clicks, the paired gain's
    lower 95 % bound above 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer_pipeline.lib.testloop.batch_thompson import BatchThompson
from optimizer_pipeline.lib.testloop.prior import BetaPrior, fit_prior
from optimizer_pipeline.lib.testloop.thompson import ThompsonSampler, recommend

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the checkout
DEFAULT_UPWORTHY = SHARED_DATA / "upworthy_exploratory" / "upworthy_exploratory_packages.parquet"
DEFAULT_OBD = SHARED_DATA / "open_bandit_dataset_sample"
EXCLUDED_WEEKS = (201325, 201402)
DECISION_BAR_US = 100.0
REGRET_BAR_PCT = 15.0
LOST_VS_EQUAL_BAR_PCT = -30.0
RECOMMEND_TOP = 10
SHARPNESS_GRID = (1.0, 4.0, 8.0, 16.0)  # posterior reshaping kappa, cross-fitted across tests
STATIONARY_DISCOUNT = 0.99  # discounted TS on the (stationary) replay, for the record
DRIFT_ARMS = 4
DRIFT_HORIZON = 100_000
DRIFT_BATCH = 500
DRIFT_FLOOR = 0.5  # a creative's CTR falls by 1 - floor = 50 % over its life (exposure -> infinity)
DRIFT_TAU = 25_000  # fatigue scale in the arm's own impressions: -20 % after tau/2, -32 % after tau, -43 % after 2 tau
DRIFT_DISCOUNT_GRID = (0.995, 0.99, 0.98, 0.95)  # memory 1 / (1 - gamma) = 200, 100, 50, 20 batches
DRIFT_Z = 1.96  # the bar: the paired gain's lower 95 % bound (gain - 1.96 SE) is above 0


def _mabwiser():
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        return None
    return MAB, LearningPolicy


# -------------------------------------------------------------------------------------------------------- (a) timing


def _time_calls(fn, calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def decision_timing(quick: bool) -> dict:
    rng = np.random.default_rng(0)
    k = 1000
    n = rng.integers(50, 3000, k)
    s = rng.binomial(n, rng.beta(2, 80, k))
    alpha, beta = 1.0 + s, 1.0 + n - s
    calls, repeat = (2000, 3) if quick else (20000, 5)
    ours = ThompsonSampler(alpha, beta, seed=1)
    ours_one = ThompsonSampler(alpha, beta, seed=1, block=1)
    for sampler in (ours, ours_one):  # build the quantile table outside the timing (about 70 ms for 1,000 arms)
        sampler.decide()
    loop = ThompsonSampler(alpha, beta, seed=1, block=1)
    loop.decide()
    draw = np.random.default_rng(1)

    def decide_and_update() -> None:  # the online loop: every decision followed by its outcome
        loop.update(loop.decide(), 0.0, 1.0)

    out = {
        "arms": k,
        "ours_us_per_decision": _time_calls(ours_one.decide, calls, repeat),
        "ours_block_us_per_decision": _time_calls(ours.decide, calls, repeat),
        "ours_decide_update_us": _time_calls(decide_and_update, calls // 4, repeat),
        "numpy_beta_argmax_us": _time_calls(lambda: draw.beta(alpha, beta).argmax(), calls, repeat),
        "mabwiser_us_per_decision": None,
    }
    mw = _mabwiser()
    if mw is None:
        out["mabwiser_note"] = "mabwiser not installed: comparison skipped (pip install mabwiser)"
    else:
        mab_cls, lp = mw
        mab = mab_cls(list(range(k)), lp.ThompsonSampling(), seed=1)
        decisions = np.repeat(np.arange(k), n)
        rewards = np.concatenate([np.r_[np.ones(si), np.zeros(ni - si)] for si, ni in zip(s, n, strict=True)])
        mab.fit(decisions, rewards)
        out["mabwiser_us_per_decision"] = _time_calls(mab.predict, 100 if quick else 300, repeat)
    return out


# ------------------------------------------------------------------------------------------------------ (b) Upworthy


def load_upworthy(path: Path) -> tuple[list[tuple[np.ndarray, int]], pd.DataFrame, pd.DataFrame]:
    df = pd.read_parquet(path, columns=["clickability_test_id", "impressions", "clicks", "test_week"])
    df = df[df["impressions"] > 0]
    # a test is excluded when any of its packages was created in the window (randomisation broken by a cache bug)
    in_window = df["test_week"].astype(int).between(*EXCLUDED_WEEKS)
    bad = in_window.groupby(df["clickability_test_id"]).transform("any")
    kept = df[~bad]
    tests = []
    for _, g in kept.groupby("clickability_test_id", sort=True):
        if len(g) < 2:
            continue
        p = (g["clicks"] / g["impressions"]).to_numpy(dtype=float)
        tests.append((p, int(g["impressions"].sum())))
    return tests, kept, df[bad]


def _thompson_run(p, total, rng, a0, b0, batch):
    k = len(p)
    sampler = ThompsonSampler(np.full(k, a0), np.full(k, b0), seed=int(rng.integers(2**63)))
    regret, pmax, left = 0.0, p.max(), total
    while left > 0:
        m = min(batch, left)
        cnt = np.bincount(sampler.decide_many(m), minlength=k)
        clk = rng.binomial(cnt, p)
        sampler.update_many(clk, cnt - clk)
        regret += float(cnt @ (pmax - p))
        left -= m
    return regret


def _egreedy_run(p, total, rng, eps, batch):
    k = len(p)
    n, c = np.zeros(k), np.zeros(k)
    regret, pmax, left = 0.0, p.max(), total
    while left > 0:
        m = min(batch, left)
        with np.errstate(divide="ignore", invalid="ignore"):
            est = np.where(n > 0, c / n, np.inf)
        best = np.flatnonzero(est == est.max())
        probs = np.full(k, eps / k)
        probs[best] += (1 - eps) / len(best)
        cnt = rng.multinomial(m, probs)
        clk = rng.binomial(cnt, p)
        n += cnt
        c += clk
        regret += float(cnt @ (pmax - p))
        left -= m
    return regret


def _mabwiser_run(p, total, rng, batch, mw):
    mab_cls, lp = mw
    k = len(p)
    mab = mab_cls(list(range(k)), lp.ThompsonSampling(), seed=int(rng.integers(2**31)))
    regret, pmax, left = 0.0, p.max(), total
    first = True
    while left > 0:
        m = min(batch, left)
        if first:  # MABWiser cannot predict before fit: the first batch is split round-robin
            dec = np.arange(m) % k
            first = False
        else:
            dec = np.asarray(mab.predict(np.zeros((m, 1))) if m > 1 else [mab.predict()])
        rew = (rng.random(m) < p[dec]).astype(int)
        if left == total:
            mab.fit(dec, rew)
        else:
            mab.partial_fit(dec, rew)
        regret += float(np.sum(pmax - p[dec]))
        left -= m
    return regret


def _batch_thompson_run(p, total, rng, a0, b0, batch, sharpness=1.0, discount=1.0):
    sampler = BatchThompson(len(p), a0, b0, sharpness=sharpness, discount=discount, seed=rng)
    regret, pmax, left = 0.0, p.max(), total
    while left > 0:
        m = min(batch, left)
        cnt = sampler.allocate(m)
        clk = rng.binomial(cnt, p)
        sampler.update(clk, cnt - clk)
        regret += float(cnt @ (pmax - p))
        left -= m
    return regret


def _replay(tests, run, seed: int) -> float:
    """Total regret of one policy over ``tests``; every policy starts from the same seed (common random numbers)."""
    rng = np.random.default_rng(seed)
    return sum(run(p, t, rng) for p, t in tests)


def _cross_fitted_sharpness(tests, prior: BetaPrior, batch: int, seed: int) -> tuple[list[float], list[dict]]:
    """Per test, the sharpness picked on the *other* fold (tests alternately in folds 0/1; grid SHARPNESS_GRID)."""
    folds = [tests[0::2], tests[1::2]]
    picks, grids = [], []
    for f in (0, 1):
        other = folds[1 - f]
        o = sum(t * p.max() for p, t in other)
        grid = {
            kappa: 100
            * _replay(other, lambda p, t, r, k=kappa: _batch_thompson_run(p, t, r, prior.alpha, prior.beta, batch, k),
                      seed)
            / o
            for kappa in SHARPNESS_GRID
        }  # fmt: skip
        picks.append(min(grid, key=grid.get))
        grids.append({str(k): v for k, v in grid.items()})
    return [picks[i % 2] for i in range(len(tests))], grids


def upworthy_replay(path: Path, quick: bool, batch: int, mab_tests: int | None, seed: int = 0) -> dict:
    tests, kept, excluded = load_upworthy(path)
    n_all = len(tests)
    if quick:
        tests = tests[:100]
    if len(excluded) >= 50:
        prior = fit_prior(excluded["impressions"].to_numpy(), excluded["clicks"].to_numpy())
        prior_note = f"fitted on {len(excluded)} packages of the excluded weeks (not replayed)"
    else:
        prior = fit_prior(kept["impressions"].to_numpy(), kept["clicks"].to_numpy())
        prior_note = "no excluded-week packages: fitted on the replayed packages (small leak)"
    a0, b0 = prior.alpha, prior.beta
    res = {"tests": len(tests), "tests_available": n_all, "impressions": int(sum(t for _, t in tests))}
    res["prior"] = {"alpha": a0, "beta": b0, "method": prior.method, "note": prior_note}
    counts = [(g["impressions"].to_numpy(), g["clicks"].to_numpy()) for _, g in kept.groupby("clickability_test_id")]
    res["within_test_strength"] = within_test_strength([c for c in counts if len(c[0]) >= 2])
    t0 = time.perf_counter()
    kappas, grids = _cross_fitted_sharpness(tests, prior, batch, seed + 1)
    res["sharpness"] = {"grid": list(SHARPNESS_GRID), "picked_per_fold": [kappas[0], kappas[min(1, len(kappas) - 1)]],
                        "fit_regret_pct_per_fold": grids, "seconds": time.perf_counter() - t0}  # fmt: skip
    kappa_of = {id(p): k for (p, _), k in zip(tests, kappas, strict=True)}

    def reshaped(p, t, r):
        return _batch_thompson_run(p, t, r, a0, b0, batch, kappa_of[id(p)])

    runs = {
        "thompson_reshaped_eb_prior": reshaped,
        "thompson_ours_eb_prior": lambda p, t, r: _thompson_run(p, t, r, a0, b0, batch),
        "thompson_ours_uniform_prior": lambda p, t, r: _thompson_run(p, t, r, 1.0, 1.0, batch),
        f"thompson_discounted_{STATIONARY_DISCOUNT}_eb_prior": lambda p, t, r: _batch_thompson_run(
            p, t, r, a0, b0, batch, 1.0, STATIONARY_DISCOUNT
        ),
        "epsilon_greedy_0.1": lambda p, t, r: _egreedy_run(p, t, r, 0.1, batch),
    }
    oracle = sum(t * p.max() for p, t in tests)
    equal = sum(t * (p.max() - p.mean()) for p, t in tests)

    def row(regret, o=oracle, e=equal):
        return {
            "regret_pct_of_oracle": 100 * regret / o,
            "clicks_lost_vs_equal_split_pct": 100 * (regret / e - 1),
        }

    res["policies"] = {}
    for name, run in runs.items():
        t0 = time.perf_counter()
        res["policies"][name] = {**row(_replay(tests, run, seed)), "seconds": time.perf_counter() - t0}
    res["ours_seconds"] = res["policies"]["thompson_reshaped_eb_prior"]["seconds"]
    res["policies"]["equal_split"] = row(equal)
    mw = _mabwiser()
    if mw is None:
        res["mabwiser_note"] = "mabwiser not installed: comparison skipped (pip install mabwiser)"
    else:
        sub = tests if mab_tests is None else tests[: min(mab_tests, len(tests))]
        o_sub = sum(t * p.max() for p, t in sub)
        e_sub = sum(t * (p.max() - p.mean()) for p, t in sub)
        res["mabwiser_subset"] = {"tests": len(sub)}
        for name, run in (
            ("mabwiser_thompson", lambda p, t, r: _mabwiser_run(p, t, r, batch, mw)),
            ("thompson_reshaped_eb_prior", reshaped),
            ("thompson_ours_uniform_prior", runs["thompson_ours_uniform_prior"]),
        ):
            if len(sub) == len(tests) and name in res["policies"]:  # same tests, same seed: the same replay
                res["mabwiser_subset"][name] = res["policies"][name]
                continue
            t0 = time.perf_counter()
            res["mabwiser_subset"][name] = {**row(_replay(sub, run, seed), o_sub, e_sub),
                                            "seconds": time.perf_counter() - t0}  # fmt: skip
    return res


# ------------------------------------------------------------------------------------------------ (d) drifting CTRs


def fatigue_clicks(base: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """Expected clicks of each arm over its first ``exposure`` impressions under the fatigue model of part (d):
    ``integral_0^E b (f + (1 - f) exp(-e / tau)) de`` with floor f = DRIFT_FLOOR and scale tau = DRIFT_TAU."""
    e = np.asarray(exposure, dtype=float)
    return base * (DRIFT_FLOOR * e + (1 - DRIFT_FLOOR) * DRIFT_TAU * -np.expm1(-e / DRIFT_TAU))


def fatigue_oracle(base: np.ndarray, horizon: int = DRIFT_HORIZON) -> float:
    """Most expected clicks any allocation of ``horizon`` impressions can get when every arm fatigues with its own
    exposure. Each arm's cumulative clicks are concave in its exposure, so the optimum serves the arms whose current
    CTR is highest until their current CTRs are equal (water-filling; the greedy policy of rested rotting bandits):
    the common level lambda is found by bisection, arm i then has exposure ``-tau ln((lambda / b_i - f) / (1 - f))``.
    """

    def exposure(level: float) -> np.ndarray:
        r = (level / base - DRIFT_FLOOR) / (1 - DRIFT_FLOOR)
        with np.errstate(divide="ignore"):
            return np.where(r <= 0, np.inf, np.maximum(0.0, -DRIFT_TAU * np.log(np.minimum(np.maximum(r, 0), 1))))

    lo, hi = float(DRIFT_FLOOR * base.min()), float(base.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if exposure(mid).sum() > horizon else (lo, mid)
    e = exposure(hi)
    return float(fatigue_clicks(base, e).sum())


def _fatigue_run(base: np.ndarray, gamma: float, prior: tuple[float, float], seed: tuple[int, ...]) -> float:
    """Expected clicks of (discounted) batch Thompson sampling on one run; clicks drawn from the run's own seed, so
    two policies on the same run share their random numbers as far as their allocations agree."""
    rng = np.random.default_rng(seed)
    sampler = BatchThompson(len(base), *prior, discount=gamma, seed=rng)
    exposure, clicks = np.zeros(len(base)), 0.0
    for _ in range(DRIFT_HORIZON // DRIFT_BATCH):
        n = sampler.allocate(DRIFT_BATCH)
        mean = fatigue_clicks(base, exposure + n) - fatigue_clicks(base, exposure)
        c = rng.binomial(n, np.divide(mean, n, out=np.zeros(len(base)), where=n > 0))
        sampler.update(c, n - c)
        exposure += n
        clicks += float(mean.sum())
    return clicks


def drift_simulation(quick: bool, prior: tuple[float, float], within_strength: float, seed: int = 0) -> dict:
    """Creative fatigue: every arm's CTR falls with its own cumulative exposure, ``b_i (f + (1 - f) exp(-E_i /
    tau))``; stationary vs discounted Thompson sampling, the discount cross-fitted on separate runs.

    Per run: a test level m from the prior, DRIFT_ARMS fresh CTRs b_i from Beta(m s, (1 - m) s) (s the within-test
    strength fitted on the Upworthy tests: arms of one test differ by about 17 % of their level). Regret is against
    the water-filling oracle (:func:`fatigue_oracle`), the most clicks any allocation gets. The discount is chosen
    on *training* runs (other draws, other seeds) from DRIFT_DISCOUNT_GRID by least regret, then both policies are
    scored on the test runs with shared per-run seeds; the SE is of the paired per-run difference."""
    runs, train_runs = (60, 30) if quick else (400, 100)
    a0, b0 = prior

    def draws(n: int, gen: np.random.Generator) -> list[np.ndarray]:
        levels = gen.beta(a0, b0, n)
        return [gen.beta(m * within_strength, (1 - m) * within_strength, DRIFT_ARMS) for m in levels]

    def regrets(bases: list[np.ndarray], gamma: float, base_seed: int) -> np.ndarray:
        return np.array(
            [fatigue_oracle(b) - _fatigue_run(b, gamma, prior, (base_seed, i)) for i, b in enumerate(bases)]
        )

    train = draws(train_runs, np.random.default_rng((seed, 1)))
    train_oracle = sum(fatigue_oracle(b) for b in train)
    grid = {g: 100 * float(regrets(train, g, seed + 2).sum()) / train_oracle for g in DRIFT_DISCOUNT_GRID}
    gamma = min(grid, key=grid.get)
    test = draws(runs, np.random.default_rng((seed, 3)))
    oracle = sum(fatigue_oracle(b) for b in test)
    per_run = {"stationary": regrets(test, 1.0, seed + 4), "discounted": regrets(test, gamma, seed + 4)}
    equal = sum(fatigue_oracle(b) - float(fatigue_clicks(b, np.full(DRIFT_ARMS, DRIFT_HORIZON / DRIFT_ARMS)).sum())
                for b in test)  # fmt: skip
    diff = per_run["stationary"] - per_run["discounted"]  # > 0: discounting loses fewer clicks
    gain, se = 100 * float(diff.sum()) / oracle, 100 * float(diff.std(ddof=1)) * np.sqrt(runs) / oracle
    return {
        "runs": runs,
        "training_runs": train_runs,
        "arms": DRIFT_ARMS,
        "horizon": DRIFT_HORIZON,
        "batch": DRIFT_BATCH,
        "fatigue_floor": DRIFT_FLOOR,
        "fatigue_scale_impressions": DRIFT_TAU,
        "within_test_strength": within_strength,
        "discount_grid_training_regret_pct": {str(g): r for g, r in grid.items()},
        "discount": gamma,
        "regret_pct_equal_split": 100 * equal / oracle,
        "regret_pct_stationary": 100 * float(per_run["stationary"].sum()) / oracle,
        "regret_pct_discounted": 100 * float(per_run["discounted"].sum()) / oracle,
        "difference_pct": -gain,  # discounted - stationary regret, % of the oracle (negative: discounting wins)
        "difference_pct_se": se,
        "discounted_beats_stationary": bool(gain - DRIFT_Z * se > 0),
    }


def within_test_strength(tests_counts: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """MLE of s in p_arm ~ Beta(m s, (1 - m) s), m = the test's pooled CTR (Beta-Binomial, scipy.stats.betabinom)."""

    def nll(log_s: float) -> float:
        s = np.exp(log_s)
        tot = 0.0
        for n, c in tests_counts:
            m = float(np.clip(c.sum() / n.sum(), 1e-4, 0.5))
            tot -= float(stats.betabinom.logpmf(c, n, m * s, (1 - m) * s).sum())
        return tot

    return float(np.exp(optimize.minimize_scalar(nll, bounds=(np.log(10.0), np.log(1e6)), method="bounded").x))


# ---------------------------------------------------------------------------------------------------------- (c) OBD


def obd_ope(obd_dir: Path, seed: int = 0) -> dict:
    out = {}
    for campaign in ("all", "men", "women"):
        f = obd_dir / "random" / campaign / f"{campaign}.csv.gz"
        if not f.exists():
            continue
        df = pd.read_csv(f, usecols=["timestamp", "item_id", "click", "propensity_score"])
        df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
        half = len(df) // 2
        train, test = df.iloc[:half], df.iloc[half:]
        k = int(df["item_id"].max()) + 1
        n = np.bincount(train["item_id"], minlength=k).astype(float)
        c = np.bincount(train["item_id"], weights=train["click"], minlength=k)
        prior: BetaPrior = fit_prior(n, c)
        alpha, beta = prior.alpha + c, prior.beta + n - c
        pi_ts = ThompsonSampler(alpha, beta, seed=seed).win_shares(100_000)
        mean = alpha / (alpha + beta)
        pi_greedy = np.zeros(k)
        pi_greedy[int(mean.argmax())] = 1.0
        # the recommender itself: test_recommendations' budget split over its top 10 items
        post = pd.DataFrame({"pattern_hash": [str(i) for i in range(k)], "alpha": alpha, "beta": beta, "clicks": n})
        rec = recommend(post, n=RECOMMEND_TOP, seed=seed, min_clicks=0, min_days=0)
        pi_rec = np.zeros(k)
        pi_rec[rec["pattern_hash"].astype(int).to_numpy()] = rec["budget_share"].to_numpy()
        a = test["item_id"].to_numpy()
        r = test["click"].to_numpy(dtype=float)
        prop = test["propensity_score"].to_numpy(dtype=float)
        row = {"rows_eval": len(test), "logged_ctr": float(r.mean()), "prior": [prior.alpha, prior.beta]}
        for name, pi in (("thompson", pi_ts), ("recommender", pi_rec), ("greedy", pi_greedy)):
            w = pi[a] / prop
            row[f"{name}_ips"] = float(np.mean(w * r))
            row[f"{name}_ips_se"] = float(np.std(w * r, ddof=1) / np.sqrt(len(r)))
            row[f"{name}_snips"] = float(np.sum(w * r) / np.sum(w)) if w.sum() > 0 else float("nan")
        out[campaign] = row
    return out


# ----------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upworthy", type=Path, default=DEFAULT_UPWORTHY)
    ap.add_argument("--obd", type=Path, default=DEFAULT_OBD)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="first 100 tests, fewer timing calls (CI smoke run)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--mab-tests", type=int, default=None, help="tests replayed with MABWiser (default all, quick 20)")
    args = ap.parse_args(argv)
    mab_tests = args.mab_tests if args.mab_tests is not None else (20 if args.quick else None)

    timing = decision_timing(args.quick)
    replay = upworthy_replay(args.upworthy, args.quick, args.batch, mab_tests)
    ope = obd_ope(args.obd) if args.obd.exists() else {}
    drift = drift_simulation(
        args.quick, (replay["prior"]["alpha"], replay["prior"]["beta"]), replay["within_test_strength"]
    )

    ours_pol = replay["policies"]["thompson_reshaped_eb_prior"]
    eg_pct = replay["policies"]["epsilon_greedy_0.1"]["regret_pct_of_oracle"]
    sub = replay.get("mabwiser_subset")
    mab_pct = None if sub is None else sub["mabwiser_thompson"]["regret_pct_of_oracle"]
    mab_us = timing["mabwiser_us_per_decision"]
    checks = {
        "decision_us_le_100": bool(timing["ours_us_per_decision"] <= DECISION_BAR_US),
        "faster_than_mabwiser": None if mab_us is None else bool(timing["ours_us_per_decision"] < mab_us),
        "regret_lt_15pct": bool(ours_pol["regret_pct_of_oracle"] < REGRET_BAR_PCT),
        "lost_vs_equal_le_minus_30pct": bool(ours_pol["clicks_lost_vs_equal_split_pct"] <= LOST_VS_EQUAL_BAR_PCT),
        "regret_le_epsilon_greedy": bool(ours_pol["regret_pct_of_oracle"] <= eg_pct),
        "regret_le_mabwiser": None
        if sub is None
        else bool(sub["thompson_reshaped_eb_prior"]["regret_pct_of_oracle"] <= mab_pct),
        "drift_discounted_beats_stationary": drift["discounted_beats_stationary"],
    }
    result = {
        "regret_pct_of_oracle": ours_pol["regret_pct_of_oracle"],
        "clicks_lost_vs_equal_split_pct": ours_pol["clicks_lost_vs_equal_split_pct"],
        "ours_us_per_decision": timing["ours_us_per_decision"],
        "mabwiser_us_per_decision": mab_us,
        "epsilon_greedy_regret_pct_of_oracle": eg_pct,
        "mabwiser_regret_pct_of_oracle": mab_pct,
        "mabwiser_tests": None if sub is None else sub["tests"],
        "drift_regret_pct_discounted": drift["regret_pct_discounted"],
        "drift_regret_pct_stationary": drift["regret_pct_stationary"],
        "drift_discounted_beats_stationary": drift["discounted_beats_stationary"],
        "timing": timing,
        "upworthy": replay,
        "obd_ope": ope,
        "drift": drift,
        "checks": checks,
        "passed": all(v for v in checks.values() if v is not None),
    }
    if args.json:
        print(json.dumps(result, indent=2, default=float))
        return 0 if result["passed"] else 1

    def mark(v):
        return "skip" if v is None else ("PASS" if v else "FAIL")

    print(f"(a) decision over {timing['arms']} arms (best of runs, us per decision)")
    print(
        f"    ours (block=1)              {timing['ours_us_per_decision']:8.1f}   "
        f"bar <= 100: {mark(checks['decision_us_le_100'])}"
    )
    print(f"    ours (block draws)          {timing['ours_block_us_per_decision']:8.1f}")
    print(f"    ours decide + update        {timing['ours_decide_update_us']:8.1f}")
    print(f"    numpy beta draw + argmax    {timing['numpy_beta_argmax_us']:8.1f}")
    if mab_us is None:
        print(f"    MABWiser                    skipped: {timing['mabwiser_note']}")
    else:
        print(f"    MABWiser TS                 {mab_us:8.1f}   ours faster: {mark(checks['faster_than_mabwiser'])}")
    print(
        f"(b) Upworthy replay: {replay['tests']} tests ({replay['tests_available']} after excluding weeks "
        f"{EXCLUDED_WEEKS[0]}-{EXCLUDED_WEEKS[1]}), {replay['impressions']:,} impressions, batch {args.batch}"
    )
    print(f"    prior Beta({replay['prior']['alpha']:.2f}, {replay['prior']['beta']:.1f}) {replay['prior']['note']}")
    sh = replay["sharpness"]
    print(
        f"    ours = Thompson with the prior + posterior reshaping, sharpness cross-fitted on the other fold of tests: "
        f"{sh['picked_per_fold']} (grid {sh['grid']}); same seed for every policy"
    )
    print(f"    {'policy':32s} {'regret % oracle':>16s} {'lost vs equal %':>16s}")
    for name, r in replay["policies"].items():
        print(f"    {name:32s} {r['regret_pct_of_oracle']:16.2f} {r['clicks_lost_vs_equal_split_pct']:16.1f}")
    print(
        f"    bars (ours = thompson_reshaped_eb_prior): regret < 15 %: {mark(checks['regret_lt_15pct'])}; "
        f"lost vs equal <= -30 %: {mark(checks['lost_vs_equal_le_minus_30pct'])}; "
        f"regret <= epsilon-greedy: {mark(checks['regret_le_epsilon_greedy'])}; "
        f"regret <= MABWiser: {mark(checks['regret_le_mabwiser'])}"
    )
    if sub is not None:
        print(f"    MABWiser on the same seed ({sub['tests']} tests):")
        for name in ("mabwiser_thompson", "thompson_reshaped_eb_prior", "thompson_ours_uniform_prior"):
            r = sub[name]
            print(
                f"    {name:32s} {r['regret_pct_of_oracle']:16.2f} {r['clicks_lost_vs_equal_split_pct']:16.1f}"
                f"   {r['seconds']:.1f} s"
            )
    else:
        print(f"    MABWiser: {replay['mabwiser_note']}")
    if ope:
        print("(c) Open Bandit Dataset, random logs, second half (IPS +- 1 SE / SNIPS), CTR %")
        for campaign, r in ope.items():
            print(
                f"    {campaign:6s} logged {100 * r['logged_ctr']:.3f}"
                + "".join(
                    f"  {name} IPS {100 * r[name + '_ips']:.3f}+-{100 * r[name + '_ips_se']:.3f}"
                    f" SNIPS {100 * r[name + '_snips']:.3f}"
                    for name in ("thompson", "recommender", "greedy")
                )
            )
    else:
        print(f"(c) Open Bandit Dataset: {args.obd} not found, skipped")
    print(
        f"(d) creative fatigue: {drift['runs']} runs ({drift['training_runs']} other runs pick the discount), "
        f"{drift['arms']} arms, {drift['horizon']:,} impressions; each arm's CTR falls with its own exposure, "
        f"-{100 * (1 - drift['fatigue_floor']):.0f} % over its life, scale {drift['fatigue_scale_impressions']:,} "
        "impressions; regret % of the best allocation"
    )
    grid = ", ".join(f"{g}: {r:.2f}" for g, r in drift["discount_grid_training_regret_pct"].items())
    print(f"    discount picked on the training runs: {drift['discount']} (training regret % {grid})")
    print(
        f"    equal split {drift['regret_pct_equal_split']:.2f}   stationary Thompson "
        f"{drift['regret_pct_stationary']:.2f}   discounted {drift['regret_pct_discounted']:.2f}   difference "
        f"{drift['difference_pct']:+.2f} +- {drift['difference_pct_se']:.2f} (paired SE); discounted beats "
        f"stationary (gain - 1.96 SE > 0): {mark(checks['drift_discounted_beats_stationary'])}"
    )
    print("ALL PASS" if result["passed"] else "SOME FAIL")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
