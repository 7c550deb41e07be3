"""The shared tier-comparison contract: degenerate inputs never raise and never give NaN, in any family."""

from __future__ import annotations

import numpy as np

from optimizer_pipeline.lib.patterns.binary_tests import fisher_binary
from optimizer_pipeline.lib.patterns.categorical_tests import chi2_categorical
from optimizer_pipeline.lib.patterns.continuous_tests import mann_whitney, welch
from optimizer_pipeline_tests.lib.patterns.comparison_contract import assert_all_finite


def test_random_small_inputs_are_always_finite() -> None:
    """Fuzz: tiers of 1-12 values, often tied or constant, never raise and never produce NaN."""
    rng = np.random.default_rng(2024)
    for _ in range(100):
        n_top, n_ref = rng.integers(1, 13, size=2)
        top = np.round(rng.normal(rng.uniform(-1, 1), rng.uniform(0, 2), n_top), int(rng.integers(0, 2)))
        ref = np.round(rng.normal(0, rng.uniform(0, 2), n_ref), int(rng.integers(0, 2)))
        for res in (mann_whitney(top, ref), welch(top, ref)):
            assert_all_finite(res)
            assert 0.0 <= res.p_value <= 1.0 and res.ci_low <= res.ci_high
        tk, rk = int(rng.integers(0, n_top + 1)), int(rng.integers(0, n_ref + 1))
        assert_all_finite(fisher_binary(tk, int(n_top), rk, int(n_ref)))
        top_counts = dict(zip("abc", rng.integers(0, 5, size=3).tolist(), strict=True))
        ref_counts = dict(zip("abc", rng.integers(0, 9, size=3).tolist(), strict=True))
        cat = chi2_categorical(top_counts, ref_counts, n_resamples=499)
        assert_all_finite(cat)
        assert 0.0 <= cat.p_value <= 1.0
