"""Weighted scores of a regressor against the mean-predictor baseline: R², RMSE, Spearman ρ and the metrics table.

Every score takes the celebrity sample weights. ``r2_gain = r2 - baseline_r2`` (a difference);
``rmse_gain = 1 - rmse / baseline_rmse`` (the relative RMSE reduction; > 0 means better than the baseline).
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
]


def empty_metrics() -> pd.DataFrame:
    """A metrics frame with no rows but the right columns, so callers never special-case a missing model."""
    return pd.DataFrame({c: pd.Series(dtype="str" if c == "model" else "float64") for c in METRIC_COLUMNS})


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


def weighted_rmse(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    """Weighted root mean squared error."""
    return float(np.sqrt(mean_squared_error(y, pred, sample_weight=w)))


def weighted_scores(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(weighted R², weighted RMSE)."""
    return float(r2_score(y, pred, sample_weight=w)), weighted_rmse(y, pred, w)


def metrics_frame(rows: dict[str, dict[str, float]], n_test: int) -> pd.DataFrame:
    """One row per regressor with its baseline next to it, gains derived (see the module docstring)."""
    base = rows["baseline"]
    records = []
    for model in PREDICTIVE_MODELS:
        m = rows[model]
        rmse_gain = 1.0 - m["rmse"] / base["rmse"] if base["rmse"] > 0 else 0.0
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
            }
        )
    frame = pd.DataFrame.from_records(records, columns=METRIC_COLUMNS)
    frame["model"] = frame["model"].astype("str")
    frame["n_test"] = frame["n_test"].astype("int64")
    return frame
