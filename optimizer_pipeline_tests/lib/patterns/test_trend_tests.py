"""Trend tests across the tiers: the categorical test against scipy, p-values that reach the BH thresholds, the
reported level against statsmodels' Cochran-Armitage, and missing values dropped the same way by every kind."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import Table

from optimizer_pipeline.lib.patterns import categorical_tests
from optimizer_pipeline.lib.patterns.categorical_tests import PERMUTATION_RESAMPLES, REFINED_RESAMPLES
from optimizer_pipeline.lib.patterns.trend_tests import candidate_levels, level_trend, observed, trend_test

#: BH over ~145 features: a lone discovery is STRONG (q < 0.01) only when p <= 0.01 / 145.
STRONG_P = 0.01 / 145


def _untabulate(table: np.ndarray, levels: tuple[str, ...]) -> tuple[pd.Series, np.ndarray]:
    """Video-level (level, tier score) pairs of a levels x tiers count table (columns: bottom, middle, top)."""
    values, scores = [], []
    for i, row in enumerate(table):
        for tier, count in enumerate(row):
            values += [levels[i]] * int(count)
            scores += [tier] * int(count)
    return pd.Series(values), np.array(scores)


def test_categorical_trend_is_scipys_chi_square_with_large_counts() -> None:
    table = np.array([[30, 40, 12], [25, 45, 8], [20, 30, 30]])
    x, score = _untabulate(table, ("a", "b", "c"))
    name, p, sign = trend_test(x, "categorical", score)
    assert name == "chi2" and sign == 0
    assert p == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue, rel=1e-12)


def test_categorical_trend_monte_carlo_agrees_with_scipy_when_counts_are_small() -> None:
    table = np.array([[3, 6, 4], [2, 9, 2], [5, 5, 1], [2, 4, 1]])
    x, score = _untabulate(table, ("a", "b", "c", "d"))
    name, p, _ = trend_test(x, "categorical", score)
    reference = stats.chi2_contingency(
        table, correction=False, method=stats.MonteCarloMethod(n_resamples=20_000, rng=np.random.default_rng(7))
    ).pvalue
    assert name == "chi2-permutation"
    # two Monte-Carlo estimates of the same p ~ 0.3: each has SE <= 0.0035, so 0.015 is > 3 SE of their difference
    assert p == pytest.approx(reference, abs=0.015)
    assert trend_test(x, "categorical", score) == (name, p, 0)  # fixed seed: reproducible


def test_a_strong_categorical_trend_can_reach_the_strong_threshold() -> None:
    """With small counts the p-value is Monte-Carlo; its floor must lie below 0.01 / m for m ~ 145 features (the old
    2,000 permutations stopped at 1 / 2001 = 5e-4, so q >= 0.07 and STRONG was unreachable)."""
    table = np.array([[9, 4, 0], [1, 10, 4], [0, 8, 10], [0, 2, 6]])  # levels shift from top to bottom
    x, score = _untabulate(table, ("a", "b", "c", "d"))
    name, p, _ = trend_test(x, "categorical", score)
    assert name == "chi2-permutation"
    assert p < STRONG_P
    assert p >= 1 / (REFINED_RESAMPLES + 1)
    res = categorical_tests.contingency_p(table)
    assert res.n_resamples == REFINED_RESAMPLES and res.p_value == p  # refined: the first pass alone floors at 5e-5
    assert stats.chi2_contingency(table, correction=False).pvalue < 1e-5  # the asymptotic p agrees it is tiny


def test_categorical_trend_holds_its_level_under_the_null(monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent levels and tiers (60 videos, 3 levels): rejections at 0.05 stay near 5 %. 400 simulations:
    binomial SE 0.011, so [0.025, 0.08] allows > 2 SE each side; resamples cut to 999 (SE of each p <= 0.016)."""
    monkeypatch.setattr(categorical_tests, "PERMUTATION_RESAMPLES", 999)
    rng = np.random.default_rng(17)
    score = np.repeat([0, 1, 2], [18, 24, 10])
    levels = np.array(["a", "b", "c"])
    rejections = np.mean(
        [
            trend_test(pd.Series(rng.choice(levels, score.size, p=[0.5, 0.3, 0.2])), "categorical", score)[1] < 0.05
            for _ in range(400)
        ]
    )
    print(f"categorical trend test, null rejection rate at 0.05: {rejections:.3f}")
    assert 0.025 <= rejections <= 0.08, rejections
    assert PERMUTATION_RESAMPLES == 19_999  # the real first pass is untouched outside this test


def test_reported_level_is_the_largest_cochran_armitage_trend_per_statsmodels() -> None:
    """The reported level's z is the Cochran-Armitage z of its indicator: statsmodels' linear-by-linear z rescaled by
    sqrt(N / (N - 1)); the level with the largest |z| is chosen, with its own sign."""
    rng = np.random.default_rng(23)
    for _ in range(10):
        score = np.repeat([0, 1, 2], [20, 26, 10])
        x = pd.Series(rng.choice(["a", "b", "c", "d"], score.size))
        ours = level_trend(x, score, ("a", "b", "c", "d"))
        zs = {}
        for level in "abcd":
            v = (x == level).to_numpy()
            table = np.array([[np.sum((score == t) & ~v), np.sum((score == t) & v)] for t in range(3)])
            ll = Table(table, shift_zeros=False).test_ordinal_association(
                row_scores=np.arange(3.0), col_scores=np.array([0.0, 1.0])
            )
            zs[level] = ll.zscore * math.sqrt(score.size / (score.size - 1))
        best = max(zs, key=lambda lv: abs(zs[lv]))
        assert ours.level == best and ours.n_candidates == 4
        assert ours.z == pytest.approx(zs[best], rel=1e-9)
        assert ours.sign == np.sign(zs[best])


def test_candidate_levels_leave_out_rare_levels_by_counts_only() -> None:
    x = pd.Series(["a"] * 10 + ["b"] * 5 + ["c"] * 2 + [None] * 3)
    assert candidate_levels(x, 3) == ("a", "b")
    assert candidate_levels(pd.Series(["a"] * 2 + ["b"]), 3) == ("a", "b")  # nothing qualifies: all levels


def _strong_trend(seed: int, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = np.repeat([0, 1, 2], [n // 2, n // 3, n - n // 2 - n // 3])
    return score, score + rng.normal(0, 0.5, n)


@pytest.mark.parametrize("kind", ["binary", "continuous", "categorical"])
def test_one_missing_value_is_dropped_not_counted(kind: str) -> None:
    """One NaN: the test runs on the other videos (same p as with that video removed), it neither voids the test
    (continuous used to give p = 1 instead of ~1e-15) nor counts as "absent" (binary) or as a level "nan"."""
    score, raw = _strong_trend(5)
    if kind == "binary":
        values = pd.Series((raw > 1.0).astype(float))
    elif kind == "continuous":
        values = pd.Series(raw)
    else:
        values = pd.Series(np.where(raw > 1.5, "fast", np.where(raw > 0.5, "medium", "slow")), dtype=object)
    top_with_pattern = int(np.flatnonzero((score == 2) & (raw > 1.5))[0])
    with_nan = values.copy()
    with_nan[top_with_pattern] = np.nan if kind != "categorical" else None
    keep = np.arange(score.size) != top_with_pattern
    dropped = trend_test(values[keep].reset_index(drop=True), kind, score[keep])
    assert observed(with_nan, kind).sum() == score.size - 1
    assert trend_test(with_nan, kind, score) == dropped
    assert dropped[1] < (1e-10 if kind != "categorical" else STRONG_P)  # categorical: Monte-Carlo, floor 1e-5
