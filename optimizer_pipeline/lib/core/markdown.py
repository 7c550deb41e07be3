"""Small Markdown renderers for asset metadata (what a user reads in the Dagster UI)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


def table(df: pd.DataFrame, *, max_rows: int = 10, floatfmt: str = ".4g") -> str:
    """A Markdown table of the first ``max_rows`` rows (lists are joined, long text is cut)."""
    if df.empty:
        return "_(no rows)_"
    view = df.head(max_rows).copy()
    for col in view.columns:
        view[col] = view[col].map(_cell)
    text = view.to_markdown(index=False, floatfmt=floatfmt)
    more = len(df) - len(view)
    return text + (f"\n\n_… {more} more rows_" if more > 0 else "")


def counts(mapping: Mapping[str, int | float], *, key: str = "what", value: str = "count") -> str:
    """A two-column Markdown table of a mapping, in its order."""
    if not mapping:
        return "_(none)_"
    return pd.DataFrame({key: list(mapping), value: list(mapping.values())}).to_markdown(index=False)


def _cell(v: object) -> object:
    if isinstance(v, (list, tuple)) or (hasattr(v, "tolist") and getattr(v, "ndim", 0) == 1):
        v = ", ".join(str(x) for x in list(v))  # type: ignore[arg-type]
    if isinstance(v, str) and len(v) > 60:
        return v[:57] + "…"
    return v
