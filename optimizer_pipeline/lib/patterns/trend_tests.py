"""One test per feature of its shift across the ordered tiers bottom < middle < top (the test that makes a claim).

A test that uses all three tiers has the power the two pairwise comparisons lack at bucket sizes of 40-80 videos, and
one test per feature keeps the multiplicity family small (see :mod:`optimizer_pipeline.lib.patterns.evidence`).
Pure numpy/scipy, no Dagster.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from optimizer_pipeline.lib.patterns.tier_comparison import effect_sign


def trend_test(x: pd.Series, kind: str, score: np.ndarray, *, seed: int = 0) -> tuple[str, float, int]:
    """(test name, two-sided p, trend sign: +1 rising towards the top tier, 0 none or categorical) of the feature's
    shift across the ordered tiers (``score`` 0 bottom, 1 middle, 2 top,
    only for videos in a tier): one test per feature that uses all three tiers.

    binary: Cochran-Armitage chi-square test for trend (1 df); continuous: Jonckheere-Terpstra, computed as Kendall's
    tau-b between value and tier (the same test, ties handled); categorical: chi-square test of independence on the
    levels x tiers table, with a permutation p-value (2,000 shuffles) when expected counts are small."""
    if kind == "binary":
        v = (x.to_numpy(dtype=float) > 0.5).astype(float)
        n_i = np.array([(score == k).sum() for k in range(3)], dtype=float)
        x_i = np.array([v[score == k].sum() for k in range(3)], dtype=float)
        t, big_n, pbar = np.arange(3.0), n_i.sum(), v.mean()
        var = pbar * (1 - pbar) * (np.sum(t * t * n_i) - np.sum(t * n_i) ** 2 / big_n)
        if var <= 0:
            return "cochran-armitage", 1.0, 0
        z = np.sum(t * (x_i - n_i * pbar)) / math.sqrt(var)
        return "cochran-armitage", float(2 * stats.norm.sf(abs(z))), effect_sign(z)
    if kind == "continuous":
        res = stats.kendalltau(score, x.to_numpy(dtype=float), variant="b")
        if not np.isfinite(res.pvalue):
            return "jonckheere-terpstra", 1.0, 0
        return "jonckheere-terpstra", float(res.pvalue), effect_sign(float(res.statistic))
    codes = pd.Categorical(x.astype(str)).codes.astype(np.int64)
    n_levels = int(codes.max()) + 1
    score = np.asarray(score, dtype=np.int64)

    def table_of(tiers: np.ndarray) -> np.ndarray:
        return np.bincount(codes * 3 + tiers, minlength=n_levels * 3).reshape(n_levels, 3)

    table = table_of(score)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return "chi2", 1.0, 0
    chi2, p, _, expected = stats.chi2_contingency(table, correction=False)
    if (expected < 5).mean() <= 0.2:
        return "chi2", float(p), 0
    rng = np.random.default_rng(seed)
    full = table_of(score)
    expected_full = full.sum(axis=1, keepdims=True) * full.sum(axis=0, keepdims=True) / full.sum()
    keep = expected_full > 0
    hits = 0
    for _ in range(2000):
        t = table_of(rng.permutation(score))
        hits += np.sum((t[keep] - expected_full[keep]) ** 2 / expected_full[keep]) >= chi2 - 1e-9
    return "chi2-permutation", (hits + 1) / 2001, 0
