"""The "beats the baseline" test: corrected t statistic against scipy, Holm by hand, degenerate inputs, and the
level of the corrected test on correlated fold differences (where the naive t-test is anti-conservative)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from optimizer_pipeline.lib.patterns.model_comparison import (
    ALPHA,
    COMPARISON_COLUMNS,
    compare_to_baseline,
    corrected_t_test,
)


def test_corrected_t_matches_scipy_and_the_nadeau_bengio_formula() -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(0.05, 0.1, 25)
    # ratio 0: exactly the one-sample one-sided t-test.
    ref = stats.ttest_1samp(d, 0.0, alternative="greater")
    t, df, p = corrected_t_test(d, 0.0)
    assert (t, df, p) == pytest.approx((ref.statistic, 24, ref.pvalue), rel=1e-12)
    # ratio n_test/n_train = 1/4 (5-fold): the variance 1/J -> 1/J + 1/4, so t shrinks by sqrt((1/J)/(1/J + 1/4)).
    t, df, p = corrected_t_test(d, 0.25)
    expected_t = ref.statistic * np.sqrt((1 / 25) / (1 / 25 + 0.25))
    by_hand = d.mean() / np.sqrt((1 / 25 + 0.25) * d.var(ddof=1))
    assert t == pytest.approx(expected_t, rel=1e-12) and t == pytest.approx(by_hand, rel=1e-12)
    assert p == pytest.approx(stats.t.sf(expected_t, 24), rel=1e-12) and df == 24
    assert p > ref.pvalue  # the correction can only make the test more cautious


def test_no_evidence_is_p_one() -> None:
    assert corrected_t_test(np.array([0.3]), 0.25) == (0.0, 0, 1.0)
    assert corrected_t_test(np.array([]), 0.25) == (0.0, 0, 1.0)
    assert corrected_t_test(np.zeros(10), 0.25) == (0.0, 9, 1.0)  # model identical to the baseline
    with pytest.raises(ValueError, match="test_train_ratio"):
        corrected_t_test(np.ones(3), -1.0)


def test_compare_to_baseline_holm_by_hand() -> None:
    rng = np.random.default_rng(0)
    gains = {
        "random_forest": rng.normal(0.08, 0.1, 15),
        "decision_tree": rng.normal(-0.2, 0.2, 15),
        "linear": rng.normal(0.03, 0.1, 15),
    }
    frame = compare_to_baseline(gains, 0.5)
    assert list(frame.columns) == COMPARISON_COLUMNS
    assert frame["model"].tolist() == list(gains)
    p = frame["p_value"].to_numpy()
    for model, row in frame.set_index("model").iterrows():
        assert (row["t_corrected"], row["p_value"]) == pytest.approx(corrected_t_test(gains[model], 0.5)[::2])
        assert row["fold_mse_gain"] == pytest.approx(gains[model].mean()) and row["n_folds"] == 15
    # Holm step-down by hand: sorted p times (3, 2, 1), running maximum, capped at 1.
    order = np.argsort(p)
    adjusted = np.minimum(np.maximum.accumulate(p[order] * np.array([3, 2, 1])), 1.0)
    expected = np.empty(3)
    expected[order] = adjusted
    np.testing.assert_allclose(frame["p_holm"].to_numpy(), expected, rtol=1e-12)


def test_corrected_test_holds_its_level_on_correlated_folds_where_the_naive_one_does_not() -> None:
    """Truth in: fold differences with mean 0 sharing a common component (overlapping training sets), corr 0.2 =
    n_test/n for 5-fold, the Nadeau-Bengio model. The naive t-test over 5x5 folds rejects far too often; the
    corrected one is at its level. 4,000 replicates: Monte-Carlo sd of a 5 % rate is 0.0034, so 0.065 is > 4 sd."""
    rng = np.random.default_rng(11)
    reps, j, rho = 4000, 25, 0.2
    d = np.sqrt(rho) * rng.normal(size=(reps, 1)) + np.sqrt(1 - rho) * rng.normal(size=(reps, j))
    naive = np.mean([corrected_t_test(row, 0.0)[2] <= ALPHA for row in d])
    corrected = np.mean([corrected_t_test(row, 0.25)[2] <= ALPHA for row in d])
    assert naive > 0.2  # measured 0.26
    assert corrected <= 0.065  # measured 0.049
