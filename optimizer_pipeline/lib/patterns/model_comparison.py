"""Does a regressor beat the mean predictor on held-out creators? A corrected repeated-CV t-test, Holm-adjusted.

Why a test: one grouped CV of a 40-80-video bucket is noisy. Under pure-noise features the old rule "some regressor
has ``r2_gain > 0`` and ``rmse_gain > 0``" held in ~30 % of simulated buckets and then named ~10 spurious drivers
each (``benchmarks/calibration_sims/beats_baseline.py``).

**The statistic** (Nadeau & Bengio 2003, "Inference for the generalization error"; in its repeated k-fold form,
Bouckaert & Frank 2004). For each of the ``J`` folds (grouped k-fold repeated ``r`` times with different creator
shuffles, so ``J = k·r``; or ``J`` bootstrap rounds) take the paired difference of held-out losses in that fold::

    d_j = weighted MSE(baseline) - weighted MSE(model)      (> 0: the model is better on that fold's creators)

Folds share most of their training rows, so the ``d_j`` are positively correlated and the naive variance
``s²/J`` is far too small (the naive t-test is anti-conservative). The correction replaces ``1/J`` by
``1/J + n_test/n_train``::

    t = mean(d) / sqrt((1/J + n_test/n_train) · s²(d)),   df = J - 1,   p = P(T_df >= t)   (one-sided)

H0: the model's expected held-out MSE is not smaller than the baseline's. :data:`ALPHA` = 0.05, one-sided.
**Multiplicity**: three regressors are tested, so the p-values are Holm-adjusted (family-wise error of "some regressor
beats the baseline" <= α); a regressor is ``significant`` when its Holm p <= α.

Assumptions and limits: the correction is a heuristic for the covariance between overlapping training sets (exact
for neither k-fold nor the bootstrap; for the bootstrap ``n_train`` is the number of distinct in-bag rows). It is
conservative when the model is worse than the baseline, which is the usual null case (noise features overfit). The
simulation in ``benchmarks/calibration_sims/beats_baseline.py`` measures its level and power under bucket-like
conditions. With ``J < 2`` or no spread between folds there is no evidence: ``t = 0``, ``p = 1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

#: One-sided level of the "beats the baseline" test, family-wise over the three regressors (Holm).
ALPHA = 0.05
TEST_NAME = (
    "one-sided corrected repeated-CV t-test (Nadeau-Bengio) on per-fold paired held-out MSE differences "
    "vs the mean baseline, Holm-adjusted over the regressors"
)

COMPARISON_COLUMNS: list[str] = ["model", "fold_mse_gain", "n_folds", "t_corrected", "df", "p_value", "p_holm"]


def corrected_t_test(diffs: np.ndarray, test_train_ratio: float) -> tuple[float, int, float]:
    """(t, df, one-sided p) of H0 ``E[d] <= 0`` with the Nadeau-Bengio variance ``(1/J + n_test/n_train)·s²``.

    ``test_train_ratio = 0`` gives the ordinary one-sample t-test. No evidence (``J < 2`` or zero spread) is
    ``(0.0, max(J - 1, 0), 1.0)`` rather than an infinite statistic.
    """
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    if test_train_ratio < 0 or not np.isfinite(test_train_ratio):
        raise ValueError(f"test_train_ratio must be finite and >= 0, got {test_train_ratio}")
    if n < 2:
        return 0.0, max(n - 1, 0), 1.0
    var = float(np.var(d, ddof=1))
    if not np.isfinite(var) or var <= 1e-12 * max(float(np.mean(d * d)), np.finfo(float).tiny):
        return 0.0, n - 1, 1.0
    t = float(np.mean(d) / np.sqrt((1.0 / n + test_train_ratio) * var))
    return t, n - 1, float(stats.t.sf(t, n - 1))


def compare_to_baseline(
    fold_gains: dict[str, np.ndarray], test_train_ratio: float, *, alpha: float = ALPHA
) -> pd.DataFrame:
    """One row per model (``COMPARISON_COLUMNS``): mean per-fold MSE gain, corrected t, df, raw and Holm p."""
    models = list(fold_gains)
    rows = []
    for model in models:
        d = np.asarray(fold_gains[model], dtype=float)
        t, df, p = corrected_t_test(d, test_train_ratio)
        gain = float(d.mean()) if len(d) else 0.0
        rows.append(
            {"model": model, "fold_mse_gain": gain, "n_folds": len(d), "t_corrected": t, "df": df, "p_value": p}
        )
    frame = pd.DataFrame.from_records(rows, columns=COMPARISON_COLUMNS[:-1])
    frame["p_holm"] = multipletests(frame["p_value"].to_numpy(), alpha=alpha, method="holm")[1] if rows else []
    frame["model"] = frame["model"].astype("str")
    frame[["n_folds", "df"]] = frame[["n_folds", "df"]].astype("int64")
    return frame[COMPARISON_COLUMNS]
