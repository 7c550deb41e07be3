"""Benjamini-Hochberg q-values against statsmodels and a known-truth FDR simulation.

statsmodels is a test-only reference here; the library itself uses numpy/scipy only. Every simulation uses a fixed
seed, so the coverage numbers are deterministic (the bands are wide enough to survive a seed change).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from optimizer_pipeline.lib.patterns.multiplicity import bh_qvalues


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 20, 50, 200])
def test_bh_matches_statsmodels(seed: int, size: int) -> None:
    rng = np.random.default_rng(seed * 1000 + size)
    p = np.concatenate([rng.uniform(size=size - size // 4), rng.beta(0.2, 5.0, size=size // 4)])
    rng.shuffle(p)
    for vec in (p, np.round(p, 2)):  # rounding creates ties
        expected = multipletests(vec, alpha=0.1, method="fdr_bh")[1]
        np.testing.assert_allclose(bh_qvalues(vec), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", [3, 4])
def test_bh_nan_stays_nan_and_is_not_counted(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=60) ** 2
    p[rng.choice(60, size=12, replace=False)] = np.nan
    q = bh_qvalues(p)
    nan = np.isnan(p)
    assert np.array_equal(np.isnan(q), nan)
    np.testing.assert_allclose(q[~nan], multipletests(p[~nan], method="fdr_bh")[1], rtol=1e-12)


def test_bh_edges() -> None:
    assert bh_qvalues([]).shape == (0,)
    assert np.isnan(bh_qvalues([np.nan, np.nan])).all()
    q = bh_qvalues(np.array([[0.01, 0.04], [0.03, 0.9]]))
    assert q.shape == (2, 2)
    np.testing.assert_allclose(q.ravel(), multipletests([0.01, 0.04, 0.03, 0.9], method="fdr_bh")[1])
    rng = np.random.default_rng(5)
    p = rng.uniform(size=100)
    q = bh_qvalues(p)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= 0) and q.max() <= 1.0 and np.all(q >= p)
    with pytest.raises(ValueError):
        bh_qvalues([0.2, 1.5])
    with pytest.raises(ValueError):
        bh_qvalues([-0.1])


def test_bh_controls_fdr_in_simulation() -> None:
    """m = 50 z-tests, 20 % true effects: mean FDP at q <= 0.1 stays <= 0.1 (theory: 0.1 * 0.8 = 0.08)."""
    rng = np.random.default_rng(11)
    reps, m, m1 = 1000, 50, 10
    z = rng.normal(size=(reps, m))
    z[:, :m1] += 3.0
    p = 2 * stats.norm.sf(np.abs(z))
    false_disc, power = [], []
    for row in p:
        reject = bh_qvalues(row) <= 0.1
        false_disc.append(reject[m1:].sum() / max(1, reject.sum()))
        power.append(reject[:m1].mean())
    assert np.mean(false_disc) <= 0.1 + 0.01
    assert np.mean(power) > 0.5  # not trivially controlled by rejecting nothing
