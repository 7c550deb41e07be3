"""p-value adjustment: statsmodels directly, the published Benjamini-Hochberg (1995) example, NaN/shape handling,
and a known-truth simulation of family-wise error (Bonferroni, Holm) and false discovery rate (BH)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from optimizer_pipeline.lib.core.multiple_testing import METHODS, PValueError, adjust_pvalues

# Benjamini & Hochberg (1995), section 4: the 15 p-values of the myocardial-infarction example.
BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528,
           0.7590, 1.000]  # fmt: skip


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("size", [1, 2, 5, 40, 300])
def test_matches_statsmodels(method: str, size: int) -> None:
    rng = np.random.default_rng(size)
    p = np.concatenate([rng.uniform(size=size - size // 3), rng.beta(0.3, 8.0, size=size // 3)])
    for vec in (p, np.round(p, 2)):  # rounding makes ties
        expected = multipletests(vec, method=METHODS[method])[1]
        np.testing.assert_allclose(adjust_pvalues(vec, method), expected, rtol=1e-12, atol=1e-15)


def test_bh_1995_published_example() -> None:
    # At 0.05 the paper's BH procedure rejects 4 hypotheses, Bonferroni 3 (0.05 / 15 = 0.0033); Holm also 3.
    p = np.array(BH_1995)
    assert (adjust_pvalues(p, "bh") <= 0.05).sum() == 4
    assert (adjust_pvalues(p, "bonferroni") <= 0.05).sum() == 3
    assert (adjust_pvalues(p, "holm") <= 0.05).sum() == 3
    np.testing.assert_allclose(adjust_pvalues(p[:3], "bonferroni"), [0.0003, 0.0012, 0.0057])
    assert adjust_pvalues(p, "bh")[3] == pytest.approx(0.0095 * 15 / 4)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_nan_kept_not_counted_and_shape_kept(method: str) -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(size=(6, 5)) ** 2
    p[rng.random(p.shape) < 0.3] = np.nan
    q = adjust_pvalues(p, method)
    assert q.shape == p.shape and np.array_equal(np.isnan(q), np.isnan(p))
    ok = ~np.isnan(p)
    np.testing.assert_allclose(q[ok], multipletests(p[ok], method=METHODS[method])[1], rtol=1e-12)
    assert np.all(q[ok] >= p[ok]) and np.all(q[ok] <= 1.0)
    assert adjust_pvalues([], method).shape == (0,)
    assert np.isnan(adjust_pvalues([np.nan, np.nan], method)).all()
    assert adjust_pvalues(0.03, method).shape == ()


def test_holm_between_raw_and_bonferroni() -> None:
    p = np.random.default_rng(4).uniform(size=50) ** 3
    holm, bonf, bh = (adjust_pvalues(p, m) for m in ("holm", "bonferroni", "bh"))
    assert np.all(p <= bh) and np.all(bh <= holm + 1e-15) and np.all(holm <= bonf + 1e-15)


@pytest.mark.parametrize(("p", "method", "match"), [([0.2, 1.5], "bh", r"\[0, 1\]"), ([-0.1], "holm", r"\[0, 1\]"),
                                                     ([0.2], "fdr", "unknown"), ([0.2], "BH", "unknown")])  # fmt: skip
def test_bad_input_is_named(p: list[float], method: str, match: str) -> None:
    with pytest.raises(PValueError, match=match):
        adjust_pvalues(p, method)  # type: ignore[arg-type]


def test_fwer_and_fdr_in_simulation() -> None:
    """m = 20 independent z-tests, 5 true effects (shift 3), 4,000 families at alpha = 0.05.

    Bonferroni / Holm: P(any false rejection) <= 0.05 (theory: <= 0.05 * 15/20 = 0.0375 for Bonferroni);
    BH: mean false-discovery proportion <= 0.05 (theory: 0.05 * 15/20 = 0.0375). Tolerance: 3 Monte-Carlo SE.
    """
    rng = np.random.default_rng(31)
    reps, m, m1, alpha = 4000, 20, 5, 0.05
    z = rng.normal(size=(reps, m))
    z[:, :m1] += 3.0
    p = 2 * stats.norm.sf(np.abs(z))
    se = math.sqrt(alpha * (1 - alpha) / reps)
    power = {}
    for method in ("bonferroni", "holm", "bh"):
        reject = np.array([adjust_pvalues(row, method) <= alpha for row in p])
        false = reject[:, m1:].sum(1)
        if method == "bh":
            fdp = false / np.maximum(1, reject.sum(1))
            assert fdp.mean() <= alpha + 3 * fdp.std(ddof=1) / math.sqrt(reps)
        else:
            assert np.mean(false > 0) <= alpha + 3 * se
        power[method] = reject[:, :m1].mean()
    assert power["bonferroni"] <= power["holm"] <= power["bh"] and power["bonferroni"] > 0.3  # not vacuous
