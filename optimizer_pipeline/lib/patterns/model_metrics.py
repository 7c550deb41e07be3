"""Weighted scores of a regressor against the mean-predictor baseline: R², RMSE, Spearman ρ and the metrics table.

Every score takes the celebrity sample weights. ``r2_gain = r2 - baseline_r2`` (a difference);
``rmse_gain = 1 - rmse / baseline_rmse`` (the relative RMSE reduction; > 0 means better than the baseline).
The table also carries the "beats the baseline" test of :mod:`.model_comparison`: ``fold_mse_gain`` (mean paired
per-fold MSE reduction), ``n_folds``, ``t_corrected``, ``df``, the one-sided ``p_value``, ``p_holm`` (adjusted over
the three regressors) and ``significant`` (``p_holm <= alpha``, the level in the ``alpha`` column).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import mean_squared_error, r2_score

from optimizer_pipeline.lib.patterns.model_estimators import PREDICTIVE_MODELS

METRIC_COLUMNS: list[str] = [
    "model",
    "r2",
    "rmse",
    "spearman",
    "baseline_r2",
    "baseline_rmse",
    "baseline_spearman",
    "r2_gain",
    "rmse_gain",
    "n_test",
    "fold_mse_gain",
    "n_folds",
    "t_corrected",
    "df",
    "p_value",
    "p_holm",
    "alpha",
    "significant",
]
_INT_COLUMNS = ("n_test", "n_folds", "df")


def empty_metrics() -> pd.DataFrame:
    """A metrics frame with no rows but the right columns, so callers never special-case a missing model."""
    kinds = {"model": "str", "significant": "bool"} | dict.fromkeys(_INT_COLUMNS, "int64")
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "float64")) for c in METRIC_COLUMNS})


def weighted_spearman(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Weighted Pearson correlation of average ranks; 0.0 when either side is constant (no ranking to agree with)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=float)
    if len(x) < 2 or w.sum() <= 0:
        return 0.0
    rx, ry = rankdata(x), rankdata(y)
    dx, dy = rx - np.average(rx, weights=w), ry - np.average(ry, weights=w)
    sxx, syy = float(np.sum(w * dx * dx)), float(np.sum(w * dy * dy))
    if sxx <= 1e-12 * max(1.0, float(np.sum(w))) or syy <= 1e-12 * max(1.0, float(np.sum(w))):
        return 0.0
    rho = float(np.sum(w * dx * dy) / np.sqrt(sxx * syy))
    return float(np.clip(rho, -1.0, 1.0)) if np.isfinite(rho) else 0.0


def weighted_mse(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean squared error: the held-out loss compared fold by fold in the baseline test."""
    return float(mean_squared_error(y, pred, sample_weight=w))


def weighted_rmse(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    """Weighted root mean squared error."""
    return float(np.sqrt(weighted_mse(y, pred, w)))


def weighted_scores(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(weighted R², weighted RMSE)."""
    return float(r2_score(y, pred, sample_weight=w)), weighted_rmse(y, pred, w)


def metrics_frame(
    rows: dict[str, dict[str, float]], n_test: int, comparison: pd.DataFrame, alpha: float
) -> pd.DataFrame:
    """One row per regressor with its baseline next to it, gains derived and the baseline test (``comparison``, one
    row per model as :func:`.model_comparison.compare_to_baseline` returns it) joined; see the module docstring."""
    base = rows["baseline"]
    tests = comparison.set_index("model")
    records = []
    for model in PREDICTIVE_MODELS:
        m = rows[model]
        rmse_gain = 1.0 - m["rmse"] / base["rmse"] if base["rmse"] > 0 else 0.0
        test = tests.loc[model]
        records.append(
            {
                "model": model,
                "r2": m["r2"],
                "rmse": m["rmse"],
                "spearman": m["spearman"],
                "baseline_r2": base["r2"],
                "baseline_rmse": base["rmse"],
                "baseline_spearman": base["spearman"],
                "r2_gain": m["r2"] - base["r2"],
                "rmse_gain": rmse_gain,
                "n_test": n_test,
                "fold_mse_gain": float(test["fold_mse_gain"]),
                "n_folds": int(test["n_folds"]),
                "t_corrected": float(test["t_corrected"]),
                "df": int(test["df"]),
                "p_value": float(test["p_value"]),
                "p_holm": float(test["p_holm"]),
                "alpha": float(alpha),
                "significant": bool(test["p_holm"] <= alpha),
            }
        )
    frame = pd.DataFrame.from_records(records, columns=METRIC_COLUMNS)
    frame["model"] = frame["model"].astype("str")
    frame[list(_INT_COLUMNS)] = frame[list(_INT_COLUMNS)].astype("int64")
    frame["significant"] = frame["significant"].astype("bool")
    return frame
