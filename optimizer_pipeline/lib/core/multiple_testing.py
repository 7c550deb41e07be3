"""Multiple-testing adjustment of p-values: one home for Bonferroni, Holm and Benjamini-Hochberg.

Why: a report that tests many arms, metrics or patterns and reads each p-value at α finds false winners at a rate
that grows with the number of tests. Adjusted p-values are compared with α directly:

* "bonferroni": ``min(1, m p)``; controls the family-wise error rate (FWER) under any dependence.
* "holm": Holm's step-down (Holm 1979, Scand J Stat 6:65); controls the FWER under any dependence and is uniformly
  more powerful than Bonferroni.
* "bh": Benjamini & Hochberg's step-up (1995, JRSS B 57:289), the q-value; controls the false discovery rate (FDR)
  for independent or positively dependent p-values.

Bonferroni and BH are ``statsmodels.stats.multitest.multipletests``. Holm is its two-line formula in numpy
(``max_{j<=i} min(1, (m - j + 1) p_(j))``), tested equal to ``multipletests(method="holm")``: statsmodels 0.14/0.15
runs a full ``gc.collect()`` on every Holm call (about 50 ms in a process with pandas and statsmodels loaded), which a
6-hourly decision loop or a simulation cannot afford. NaN p-values (tests that could not be run) stay NaN and are not
counted in ``m``; the input's shape is kept.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

Method = Literal["bonferroni", "holm", "bh"]
#: Our method names to statsmodels' names.
METHODS: dict[str, str] = {"bonferroni": "bonferroni", "holm": "holm", "bh": "fdr_bh"}


class PValueError(ValueError):
    """p-values outside [0, 1] (always a bug upstream) or an unknown adjustment method."""


def adjust_pvalues(p: ArrayLike, method: Method) -> np.ndarray:
    """Adjusted p-values (same shape as ``p``, float) for ``method`` in "bonferroni", "holm", "bh"; NaN kept."""
    if method not in METHODS:
        raise PValueError(f"unknown adjustment method {method!r}; use one of {sorted(METHODS)}")
    arr = np.asarray(p, dtype=float)
    flat = arr.ravel()
    tested = ~np.isnan(flat)
    if np.any((flat[tested] < 0.0) | (flat[tested] > 1.0)):
        raise PValueError("p-values must lie in [0, 1] (NaN allowed)")
    out = np.full(flat.shape, np.nan)
    if tested.any():
        out[tested] = (
            _holm(flat[tested]) if method == "holm" else multipletests(flat[tested], method=METHODS[method])[1]
        )
    return out.reshape(arr.shape)


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values, as ``multipletests(method="holm")`` without its per-call gc.collect()."""
    order = np.argsort(p, kind="mergesort")
    steps = p[order] * np.arange(p.size, 0, -1)
    out = np.empty_like(p)
    out[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return out
