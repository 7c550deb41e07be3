"""Tests of batched Thompson sampling with posterior reshaping and discounting."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from optimizer_pipeline.lib.testloop.batch_thompson import BatchThompson, BatchThompsonError


def _p_first_best(a: tuple[float, float], b: tuple[float, float]) -> float:
    """P(X > Y), X ~ Beta(*a), Y ~ Beta(*b), by numerical integration (scipy)."""
    return integrate.quad(lambda x: stats.beta.pdf(x, *a) * stats.beta.cdf(x, *b), 0, 1, limit=200)[0]


@pytest.mark.parametrize("sharpness", [1.0, 4.0])
def test_allocation_matches_probability_of_being_best(sharpness: float) -> None:
    # prior Beta(1, 1) plus 4/60 and 6/70 successes/failures; reshaping multiplies both posterior parameters
    bt = BatchThompson(2, 1.0, 1.0, sharpness=sharpness, seed=3)
    bt.update(np.array([4.0, 6.0]), np.array([60.0, 70.0]))
    a = (sharpness * 5.0, sharpness * 61.0)
    b = (sharpness * 7.0, sharpness * 71.0)
    expected = _p_first_best(a, b)
    m = 40_000
    share = bt.allocate(m)[0] / m
    se = np.sqrt(expected * (1 - expected) / m)
    assert abs(share - expected) < 4 * se, (share, expected, se)


def test_reshaping_commits_earlier() -> None:
    # same posterior means, a sharper posterior gives the leading arm a larger share (P(best) moves towards 1)
    shares = []
    for kappa in (1.0, 8.0):
        bt = BatchThompson(2, 1.0, 1.0, sharpness=kappa, seed=0)
        bt.update(np.array([4.0, 6.0]), np.array([60.0, 70.0]))
        shares.append(bt.allocate(20_000)[1] / 20_000)
    assert shares[1] > shares[0] + 0.05


def test_discount_matches_closed_form_and_prior_is_not_discounted() -> None:
    gamma, s, f, t = 0.9, np.array([2.0, 1.0, 0.0]), np.array([98.0, 99.0, 100.0]), 25
    bt = BatchThompson(3, 1.6, 100.0, discount=gamma, seed=0)
    for _ in range(t):
        bt.update(s, f)
    geometric = (1 - gamma**t) / (1 - gamma)
    np.testing.assert_allclose(bt.successes, s * geometric, rtol=1e-12)
    np.testing.assert_allclose(bt.alpha, 1.6 + s * geometric, rtol=1e-12)
    np.testing.assert_allclose(bt.beta, 100.0 + f * geometric, rtol=1e-12)


def test_undiscounted_counts_are_plain_sums_and_seed_reproduces() -> None:
    runs = []
    for _ in range(2):
        bt = BatchThompson(3, np.array([1.0, 2.0, 3.0]), 50.0, seed=11)
        allocs = []
        for _ in range(5):
            cnt = bt.allocate(100)
            allocs.append(cnt)
            bt.update(cnt // 10, cnt - cnt // 10)
        assert sum(a.sum() for a in allocs) == 500
        runs.append((np.array(allocs), bt.successes.copy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], (runs[0][0] // 10).sum(axis=0))  # gamma = 1: successes are plain sums


def _share_to_new_best(discount: float, seed: int, runs: int = 60) -> np.ndarray:
    """Two arms swap rates (5 % <-> 2 %) after 100 of 200 batches of 100; share of the last 50 batches to arm 1."""
    rng = np.random.default_rng(seed)
    before, after = np.array([0.05, 0.02]), np.array([0.02, 0.05])
    shares = np.empty(runs)
    for r in range(runs):
        bt = BatchThompson(2, 1.0, 1.0, discount=discount, seed=rng)
        late = 0
        for step in range(200):
            p = before if step < 100 else after
            cnt = bt.allocate(100)
            clk = rng.binomial(cnt, p)
            bt.update(clk, cnt - clk)
            if step >= 150:
                late += cnt[1]
        shares[r] = late / 5000
    return shares


def test_discounted_sampling_tracks_a_swap_that_stationary_sampling_misses() -> None:
    # known truth: after the swap arm 1 is best; discounting (memory ~10 batches) must find it, the stationary
    # sampler still carries 100 batches of evidence against it. Bars: 4 Monte-Carlo SEs of the run means.
    disc = _share_to_new_best(0.9, seed=1)
    stat = _share_to_new_best(1.0, seed=1)
    se = np.sqrt(disc.var(ddof=1) / len(disc) + stat.var(ddof=1) / len(stat))
    assert disc.mean() > 0.8
    assert disc.mean() - stat.mean() > 4 * se, (disc.mean(), stat.mean(), se)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"arms": 0}, "arms"),
        ({"arms": 2, "prior_alpha": 0.0}, "prior"),
        ({"arms": 2, "prior_beta": np.array([1.0, -1.0])}, "prior"),
        ({"arms": 2, "sharpness": 0.0}, "sharpness"),
        ({"arms": 2, "sharpness": float("inf")}, "sharpness"),
        ({"arms": 2, "discount": 0.0}, "discount"),
        ({"arms": 2, "discount": 1.5}, "discount"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(BatchThompsonError, match=match):
        BatchThompson(**kwargs)


def test_bad_update_and_batch_raise() -> None:
    bt = BatchThompson(2)
    with pytest.raises(BatchThompsonError, match="shape"):
        bt.update(np.array([1.0]), np.array([1.0]))
    with pytest.raises(BatchThompsonError, match=">= 0"):
        bt.update(np.array([-1.0, 0.0]), np.array([1.0, 1.0]))
    with pytest.raises(BatchThompsonError, match="m must"):
        bt.allocate(-1)
    assert isinstance(BatchThompsonError("x"), ValueError)
