"""The bucket model's inputs, validated and aligned: the numeric matrix, log target, creator codes and weights.

One home for "which rows and columns a model may use" so cross-validation, importance and the final refit all see
the same rows: rows without a positive rate, a creator id or a positive weight are dropped and counted, constant
columns are dropped and listed, infinite values become missing (imputed inside each training fold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class PreparedData:
    """Validated model inputs: rows and columns every fold, the refit and the votes share."""

    X: np.ndarray  # float, NaN = missing (imputed inside the folds)
    y: np.ndarray  # log(engagement rate)
    groups: np.ndarray  # int codes 0..g-1
    w: np.ndarray
    features: list[str]
    dropped: list[str]
    notes: list[str]


def numeric_column(col: pd.Series, name: str) -> np.ndarray:
    """A numeric or boolean column as float64 with NaN for missing; anything else is a caller bug."""
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise TypeError(f"feature {name!r} has dtype {col.dtype}: pass numeric feature columns only")
    return col.to_numpy(dtype="float64", na_value=np.nan)


def _group_codes(groups: pd.Series) -> np.ndarray:
    """Creator ids as codes in sorted-label order (-1 = missing): the codes then split exactly as the raw labels do
    under sklearn's ``GroupKFold``, so a fold can be reproduced outside this module."""
    try:
        codes, _ = pd.factorize(groups, sort=True, use_na_sentinel=True)
    except TypeError:  # labels of mixed, unorderable types
        codes, _ = pd.factorize(groups, use_na_sentinel=True)
    return np.asarray(codes)


def prepare_inputs(
    X: pd.DataFrame, y_er: pd.Series, groups: pd.Series, sample_weight: pd.Series | None
) -> PreparedData:
    """Validate and align the inputs positionally; drop unusable rows and constant columns, saying so."""
    n = len(X)
    for name, other in (("y_er", y_er), ("groups", groups), ("sample_weight", sample_weight)):
        if other is not None and len(other) != n:
            raise ValueError(f"{name} has {len(other)} rows, X has {n}")
        if isinstance(other, pd.Series) and not other.index.equals(X.index):
            raise ValueError(f"{name} and X have different indexes: rows are matched by position, align them first")
    notes: list[str] = []
    names = [str(c) for c in X.columns]
    if len(set(names)) != len(names):
        raise ValueError("X has duplicate column names")
    columns = [numeric_column(X.iloc[:, i], names[i]) for i in range(len(names))]
    values = np.column_stack(columns) if names else np.empty((n, 0))
    infinite = ~np.isfinite(values) & ~np.isnan(values)
    if infinite.any():
        cols = sorted({names[j] for j in np.flatnonzero(infinite.any(axis=0))})
        notes.append(f"{int(infinite.sum())} infinite feature values treated as missing ({', '.join(cols)})")
        values[infinite] = np.nan
    y = pd.Series(y_er).to_numpy(dtype="float64", na_value=np.nan)
    w = np.ones(n) if sample_weight is None else pd.Series(sample_weight).to_numpy(dtype="float64", na_value=np.nan)
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    codes = _group_codes(pd.Series(groups).reset_index(drop=True))
    bad_y = ~(np.isfinite(y) & (y > 0))
    keep = ~bad_y & (codes >= 0) & (w > 0)
    for count, what in (
        (int(bad_y.sum()), "engagement rate missing or <= 0 (no log)"),
        (int((~bad_y & (codes < 0)).sum()), "creator id missing"),
        (int((~bad_y & (codes >= 0) & (w <= 0)).sum()), "sample weight 0"),
    ):
        if count:
            notes.append(f"{count} rows dropped: {what}")
    values, y, w = values[keep], np.log(y[keep]), w[keep]
    codes = pd.factorize(codes[keep], sort=True)[0]
    varies = [np.unique(values[~np.isnan(values[:, j]), j]).size > 1 for j in range(values.shape[1])]
    dropped = [f for f, v in zip(names, varies, strict=True) if not v]
    if dropped:
        notes.append(f"constant or all-missing features dropped: {', '.join(dropped)}")
    kept_idx = [j for j, v in enumerate(varies) if v]
    return PreparedData(values[:, kept_idx], y, codes, w, [names[j] for j in kept_idx], dropped, notes)
