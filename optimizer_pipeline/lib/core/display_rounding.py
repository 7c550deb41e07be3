"""How numbers are rounded for a reader (metadata values, Markdown tables); full precision stays in the Parquet.

A user reads a posterior mean of 0.04123, not 0.041234567890123456: sixteen digits suggest a precision no estimate
here has. The rule, used everywhere a number is shown:

* integers (Python/NumPy ints, and bools) are shown as they are;
* other numbers keep :data:`DIGITS` significant digits, except that a number of ``10**DIGITS`` or more keeps its
  integer part (12 345.6 is shown as 12346, never as 1.235e+04);
* NaN (and None, NaT) is *missing*: tables show it as :data:`MISSING`; metadata keeps NaN as NaN;
* -0.0 is shown as 0, infinities as ``inf`` / ``-inf``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

#: Significant digits a shown number keeps.
DIGITS = 4
#: What a table cell shows for a missing value (NaN, None, NaT).
MISSING = "n/a"


def rounded(x: float, digits: int = DIGITS) -> float:
    """``x`` to ``digits`` significant digits (its integer part at least), as a float; NaN and infinities unchanged."""
    x = float(x)
    if not math.isfinite(x) or x == 0:
        return 0.0 if x == 0 else x
    if abs(x) >= 10**digits:
        return float(round(x))
    return float(f"{x:.{digits}g}")


def is_missing(value: object) -> bool:
    """True for None, NaN, NaT and pd.NA (a scalar that stands for "no value")."""
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict, set, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number_text(x: numbers.Number, digits: int = DIGITS) -> str:
    """The text of a shown number: integers as they are, others rounded (see the module docstring)."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, numbers.Integral):
        return str(int(x))
    value = rounded(float(x), digits)  # type: ignore[arg-type]
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) >= 10**digits:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"
