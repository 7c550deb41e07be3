"""Does a feature's trend across the tiers survive once a stronger claim of its bucket is accounted for?

The test is the claim's own trend test, stratified by the stronger claim's feature: the Mantel (1963) extension of
the Cochran-Mantel-Haenszel statistic to ordered scores (the "nonzero correlation" generalised CMH statistic,
Landis, Heyman & Koch 1978). Within each stratum ``h`` (videos with similar values of the stronger lead) the feature's
score ``x`` and the tier score ``y`` (0 bottom, 1 middle, 2 top) are compared under within-stratum permutation::

    T = sum_h sum_i (x_i - mean_h x)(y_i - mean_h y),   Var T = sum_h SSx_h SSy_h / (n_h - 1),   Q = T^2 / Var T

and ``Q`` is chi-square with 1 df. Why this test rather than a logistic/ordinal model with the lead as a covariate:

- it is the very test that made the claim, only stratified: with one stratum it *is* the linear-by-linear
  association test (binary features: Cochran-Armitage up to the N / (N - 1) factor), so "the p-value rose" compares
  like with like;
- stratifying by the lead's quantile bins adjusts for the lead non-parametrically (a threshold effect such as
  "tempo >= 120 BPM" is not forced into a straight line, as a covariate in a logit would be);
- it has no convergence or separation failures at 40-80 videos per bucket (an ordinal logit with a perfect proxy
  separates).

Scores: binary and categorical patterns enter as 0/1 (Cochran-Armitage's scores), continuous features as their
mid-ranks within the stratum (van Elteren's within-stratum ranking, so the stratified test stays a rank test like
Jonckheere-Terpstra). The strata are the lead's distinct values when it has at most :data:`LEAD_STRATA` of them,
else its :data:`LEAD_STRATA` quantile bins. With 2 x 2 tables in every stratum ``Q`` equals the CMH statistic without
continuity correction (statsmodels ``StratifiedTable.test_null_odds(correction=False)``); the tests check both
identities.

Whether a lead is worth stratifying by at all is :func:`strata_dependence`: scipy's Kruskal-Wallis test that the
feature has the same distribution in each of the lead's strata (the same strata the test above uses). It sees
dependence of any shape, which a rank correlation misses when the link is not monotone (a loudness summary that
rises and falls with the tempo, rho ~ 0). Pure numpy/scipy/pandas, no Dagster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Quantile bins of a continuous lead: 5 keeps >= 8 in-tier videos per stratum at 40-80 videos per bucket.
LEAD_STRATA = 5


def lead_strata(values: np.ndarray, kind: str, *, bins: int = LEAD_STRATA) -> np.ndarray:
    """Stratum code per video (-1: missing value) from the lead's values: its distinct values when there are at most
    ``bins`` of them (binary and categorical leads always), else its quantile bins (ties kept in one bin)."""
    v = pd.Series(values)
    codes = np.full(len(v), -1, dtype=np.int64)
    known = v.notna().to_numpy()
    if not known.any():
        return codes
    if kind == "continuous":
        numeric = v[known].astype(float)
        if numeric.nunique() > bins:
            codes[known] = pd.qcut(numeric, bins, labels=False, duplicates="drop").to_numpy(dtype=np.int64)
            return codes
        codes[known] = pd.factorize(numeric, sort=True)[0]
        return codes
    codes[known] = pd.factorize(v[known].astype(str), sort=True)[0]
    return codes


def stratified_trend_test(x: np.ndarray, score: np.ndarray, strata: np.ndarray, *, rank: bool) -> tuple[float, float]:
    """(z, two-sided p) of the generalised CMH correlation statistic between ``x`` and the tier ``score`` within
    ``strata`` (codes < 0 and NaN values are left out): ``z = T / sqrt(Var T)``, signed (> 0: ``x`` rises with the
    tier), ``z^2 = Q``. ``rank``: score ``x`` by its mid-ranks within each stratum (continuous features); else ``x``
    is used as given (0/1 patterns). (0, 1) when no stratum has variation in both variables."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(score, dtype=float)
    s = np.asarray(strata)
    keep = np.isfinite(x) & np.isfinite(y) & (s >= 0)
    x, y, s = x[keep], y[keep], s[keep]
    t = var = 0.0
    for h in np.unique(s):
        in_h = s == h
        n_h = int(in_h.sum())
        if n_h < 2:
            continue
        xh = stats.rankdata(x[in_h]) if rank else x[in_h]
        yh = y[in_h]
        dx, dy = xh - xh.mean(), yh - yh.mean()
        t += float(np.sum(dx * dy))
        var += float(np.sum(dx * dx) * np.sum(dy * dy)) / (n_h - 1)
    if var <= 0:
        return 0.0, 1.0
    z = t / np.sqrt(var)
    return float(z), float(2 * stats.norm.sf(abs(z)))


def strata_dependence(x: np.ndarray, strata: np.ndarray) -> float:
    """p-value of the Kruskal-Wallis test that ``x`` has the same distribution in every stratum (codes < 0 and NaN
    values left out; scipy's tie-corrected H): does the feature depend on the lead at all, monotone or not? 1.0 when
    fewer than two strata or no variation remain."""
    x = np.asarray(x, dtype=float)
    s = np.asarray(strata)
    keep = np.isfinite(x) & (s >= 0)
    x, s = x[keep], s[keep]
    groups = [x[s == h] for h in np.unique(s)]
    if len(groups) < 2 or x.size == 0 or np.ptp(x) == 0:
        return 1.0
    return float(stats.kruskal(*groups).pvalue)
