"""Fatigue discount in the Thompson sampler and recommend(): reference integral, equality at weight 1, simulation."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from optimizer_pipeline.lib.testloop.posterior_report import build_recommendations
from optimizer_pipeline.lib.testloop.posteriors import posterior_table
from optimizer_pipeline.lib.testloop.prior import BetaPrior
from optimizer_pipeline.lib.testloop.thompson import TABLE_MIN_ARMS, ThompsonSampler, recommend


def _posteriors() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "pattern_hash": ["hook:a", "hook:b", "hook:c", "hook:d", "hook:e"],
            "clicks": [300, 400, 300, 12, 250],
            "conversions": [30, 30, 18, 1, 5],
        }
    )
    return posterior_table(df, prior=BetaPrior(1.0, 30.0, "test"), p_best_draws=40_000, seed=0)


def test_weighted_win_share_matches_the_reference_integral():
    """P(w1 X1 > w2 X2) = integral f1(x) F2(w1 x / w2) dx (scipy quad) vs 200,000 weighted Thompson decisions."""
    a, b, w = np.array([30.0, 22.0]), np.array([270.0, 280.0]), np.array([0.6, 1.0])
    exact, _ = integrate.quad(
        lambda x: stats.beta.pdf(x, a[0], b[0]) * stats.beta.cdf(w[0] * x / w[1], a[1], b[1]), 0, 1, limit=200
    )
    share = ThompsonSampler(a, b, seed=3, weights=w).win_shares(200_000)
    assert abs(share[0] - exact) < 4 * np.sqrt(exact * (1 - exact) / 200_000)
    assert share[0] < ThompsonSampler(a, b, seed=3).win_shares(200_000)[0] - 0.2  # the discount bites


def test_table_path_with_weights_agrees_with_beta_draws():
    """>= TABLE_MIN_ARMS arms: inversion over the weighted quantile table gives the weighted win shares."""
    rng = np.random.default_rng(4)
    k = TABLE_MIN_ARMS + 6
    a = rng.uniform(5, 40, k)
    b = a * rng.uniform(8, 12, k)
    w = np.where(np.arange(k) < 5, 0.5, 1.0)
    w[np.argmax(a / (a + b))] = 0.7  # discount the favourite
    ref = ThompsonSampler(a, b, seed=1, weights=w).win_shares(100_000)
    sampler = ThompsonSampler(a, b, seed=2, weights=w)
    m = 30_000
    freq = np.bincount([sampler.decide() for _ in range(m)], minlength=k) / m
    assert sampler._table is not None  # the table path was used
    assert np.max(np.abs(freq - ref)) < 0.02


def test_weight_one_is_bit_identical_for_both_paths():
    rng = np.random.default_rng(0)
    for k in (5, TABLE_MIN_ARMS + 1):
        a, b = rng.uniform(1, 20, k), rng.uniform(50, 200, k)
        plain, ones = ThompsonSampler(a, b, seed=9), ThompsonSampler(a, b, seed=9, weights=np.ones(k))
        assert [plain.decide() for _ in range(2000)] == [ones.decide() for _ in range(2000)]
        np.testing.assert_array_equal(plain.decide_many(500), ones.decide_many(500))
    with pytest.raises(ValueError, match="arm 1"):
        ThompsonSampler(np.ones(2), np.ones(2), weights=[1.0, 0.0])


def test_recommend_with_weight_one_equals_todays_output():
    post = _posteriors()
    today = recommend(post, n=2, seed=7, min_clicks=50, min_days=0)
    for weights in ([1.0] * 5, {"hook:a": 1.0}, None):
        again = recommend(post.assign(decay_weight=1.0), n=2, seed=7, min_clicks=50, min_days=0, decay_weight=weights)
        pd.testing.assert_frame_equal(today, again)
    assert (today["decay_weight"] == 1.0).all()
    ones = build_recommendations(
        _report_like(post).assign(decay_weight=1.0, fatigue_reason=""), top_n=2, seed=7, min_clicks=50, min_days=0
    )
    pd.testing.assert_frame_equal(
        ones, build_recommendations(_report_like(post), top_n=2, seed=7, min_clicks=50, min_days=0)
    )


def _report_like(post: pd.DataFrame) -> pd.DataFrame:
    """The extra columns build_recommendations reads from a pattern_posteriors table."""
    return post.assign(
        clicks_observed=post["clicks"],
        conversions_observed=post["conversions"],
        clicks_immature=0.0,
        first_seen=pd.Timestamp("2026-01-01", tz="UTC"),
        as_of=pd.Timestamp("2026-02-01", tz="UTC"),
    )


def test_planted_fatigued_pattern_loses_share_but_stays():
    post = _posteriors()
    plain = recommend(post, n=1, seed=7, min_clicks=50, min_days=0)
    top = plain.iloc[0].pattern_hash
    assert top == "hook:a"
    post = post.assign(
        decay_weight=np.where(post.pattern_hash == top, 0.5, 1.0),
        fatigue_reason=np.where(post.pattern_hash == top, "fatigued ad 123: weight 0.50", ""),
    )
    rec = recommend(post, n=1, seed=7, min_clicks=50, min_days=0)
    a_plain, a_now = plain.set_index("pattern_hash").loc[top], rec.set_index("pattern_hash").loc[top]
    assert a_now.win_share < a_plain.win_share - 0.3 and a_now.budget_share < a_plain.budget_share
    assert a_now.budget_share > 0 and a_now.decay_weight == 0.5  # discounted, not removed
    assert "fatigue discount: fatigued ad 123: weight 0.50" in a_now.reason
    assert "undiscounted" in a_now.reason
    assert rec.iloc[0].pattern_hash != top  # someone else leads now
    assert abs(rec.budget_share.sum() - 1) < 1e-12
    other = rec[rec.pattern_hash != top]
    assert (other.decay_weight == 1.0).all() and not other.reason.str.contains("fatigue").any()


def test_simulation_discount_lowers_regret_when_fatigue_is_real():
    """Truth: each arm's current rate is w * its historical rate; posteriors come from its history. Regret of the
    allocation (win shares) against the best current rate, weighted vs unweighted sampler, over 300 worlds."""
    rng = np.random.default_rng(11)
    reg_plain, reg_weighted = [], []
    for r in range(300):
        k = 4
        p = rng.uniform(0.01, 0.04, k)
        w = np.where(rng.random(k) < 0.5, rng.uniform(0.2, 0.9, k), 1.0)
        n = rng.integers(300, 3000, k)
        conv = rng.binomial(n, p)
        a, b = 1 + conv, 30 + n - conv
        now = w * p
        for sampler, out in ((ThompsonSampler(a, b, seed=r), reg_plain),
                             (ThompsonSampler(a, b, seed=r, weights=w), reg_weighted)):  # fmt: skip
            out.append(now.max() - sampler.win_shares(4000) @ now)
    diff = np.array(reg_plain) - np.array(reg_weighted)
    assert diff.mean() > 3 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert np.mean(reg_weighted) < 0.7 * np.mean(reg_plain)


def test_bad_weight_names_the_pattern():
    post = _posteriors().assign(decay_weight=[1.0, 1.0, 1.5, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"decay_weight of pattern 'hook:c' is 1.5"):
        recommend(post, n=2, seed=0, min_clicks=0, min_days=0)
    with pytest.raises(ValueError):
        recommend(post.assign(decay_weight="low"), n=2, seed=0, min_clicks=0, min_days=0)
