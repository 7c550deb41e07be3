"""Multiple-testing adjustment across the features tested in one bucket (Benjamini-Hochberg q-values).

The adjustment itself lives in :mod:`optimizer_pipeline.lib.core.multiple_testing` (one home for Bonferroni, Holm and
BH); this name is kept for the pattern code that reads q-values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from optimizer_pipeline.lib.core.multiple_testing import adjust_pvalues


def bh_qvalues(p: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), so a bucket's report can control the FDR across features.

    Step-up: ``q_(i) = min_{j >= i} min(1, p_(j) * m / j)``, hence monotone in p and capped at 1. NaN p-values
    (features that could not be tested) stay NaN and are not counted in ``m``. Keeps the input shape. Raises
    ``ValueError`` for p-values outside [0, 1], which are always a bug upstream.
    """
    return adjust_pvalues(p, "bh")
