"""Ratios of ad performance (CTR, CPM, CPC, CPA, ROAS, CVR), null when the denominator is zero or unknown.

The usual definitions of ad platforms' reports (Meta Ads Manager, TikTok "Basic data metrics"): CTR = clicks /
impressions, CPM = 1000 * spend / impressions, CPC = spend / clicks, CPA = spend / conversions, ROAS = revenue /
spend, CVR = conversions / clicks. A ratio over 0 is undefined, not infinite: it is ``<NA>`` (pandas' nullable
``Float64``), and the division never sees a zero, so no ``inf``/``NaN`` or divide-by-zero warning can appear.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pandas as pd

#: metric -> (numerator column, denominator column, scale)
DERIVED_METRICS: Mapping[str, tuple[str, str, float]] = MappingProxyType(
    {
        "ctr": ("clicks", "impressions", 1.0),
        "cpm": ("spend", "impressions", 1000.0),
        "cpc": ("spend", "clicks", 1.0),
        "cpa": ("spend", "conversions", 1.0),
        "roas": ("revenue", "spend", 1.0),
        "cvr": ("conversions", "clicks", 1.0),
    }
)


class DerivedMetricsError(ValueError):
    """A frame missing a column a ratio needs."""


def safe_ratio(numerator: pd.Series, denominator: pd.Series, scale: float = 1.0) -> pd.Series:
    """``scale * numerator / denominator`` as nullable ``Float64``; ``<NA>`` where the denominator is 0 or null."""
    num = pd.to_numeric(numerator).astype("Float64")
    den = pd.to_numeric(denominator).astype("Float64")
    den = den.mask(den == 0)  # zero -> <NA> before dividing: nothing is ever divided by zero
    return (scale * num / den).astype("Float64")


def add_derived_metrics(rows: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``rows`` with ``ctr``, ``cpm``, ``cpc``, ``cpa``, ``roas``, ``cvr`` appended (see module doc)."""
    needed = sorted({c for num, den, _ in DERIVED_METRICS.values() for c in (num, den)} - set(rows.columns))
    if needed:
        raise DerivedMetricsError(f"derived metrics need column(s) {needed}; got {list(rows.columns)}")
    out = rows.copy()
    for name, (num, den, scale) in DERIVED_METRICS.items():
        out[name] = safe_ratio(rows[num], rows[den], scale)
    return out
