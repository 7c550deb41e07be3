"""Multiple-testing adjustment across the features tested in one bucket (Benjamini-Hochberg q-values)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def bh_qvalues(p: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), so a bucket's report can control the FDR across features.

    Step-up: ``q_(i) = min_{j >= i} min(1, p_(j) * m / j)``, hence monotone in p and capped at 1. NaN p-values
    (features that could not be tested) stay NaN and are not counted in ``m``. Keeps the input shape. Raises
    ``ValueError`` for p-values outside [0, 1], which are always a bug upstream.
    """
    arr = np.asarray(p, dtype=float)
    flat = arr.ravel()
    out = np.full(flat.shape, np.nan)
    mask = ~np.isnan(flat)
    pv = flat[mask]
    if np.any((pv < 0.0) | (pv > 1.0)):
        raise ValueError("p-values must lie in [0, 1] (NaN allowed)")
    m = pv.size
    if m:
        order = np.argsort(pv, kind="mergesort")
        scaled = pv[order] * m / np.arange(1, m + 1)
        q_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        q = np.empty(m)
        q[order] = q_sorted
        out[mask] = q
    return out.reshape(arr.shape)
