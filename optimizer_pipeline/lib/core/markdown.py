"""Markdown tables for asset metadata (what a user reads in the Dagster UI): the project's only table writer.

Every cell renders as its own text, whatever it holds. A pattern id such as ``hook:pov|emo:trust`` is data, not
a column separator, so a table never shifts its cells. The rules, applied to the header and to every cell:

* ``|`` and backslash are backslash-escaped; so are the characters that start inline Markdown (`` ` * [ ] < & ~``,
  and ``_`` unless it sits between two letters or digits, where CommonMark never reads it as emphasis);
* a line break becomes a space (a table row is one line);
* leading and trailing whitespace is kept as character references (a cell would otherwise be trimmed);
* text longer than ``max_chars`` (default 300: whole pattern ids, UTM links and sentences) is cut and ends with
  "…", so a stray blob (a raw rejected line) cannot flood the page.

Values: numbers are rounded for display by :mod:`optimizer_pipeline.lib.core.display_rounding` (4 significant
digits, integers as they are); a missing value (NaN, None, NaT) is shown as ``n/a``; lists and arrays are joined
with ", " (each item rounded the same way); anything else is shown as ``str(value)``. Numeric columns are
right-aligned. The layout is tabulate's pipe format (numbers are never re-parsed from the escaped text).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from tabulate import tabulate

from optimizer_pipeline.lib.core.display_rounding import DIGITS, MISSING, is_missing, number_text

#: Longest text a cell shows before it is cut: above any id, link or sentence (pattern ids <= 79, UTM links ~160).
MAX_CHARS = 300
#: Characters that are always backslash-escaped: the column separator, the escape itself and the inline openers.
_ALWAYS_ESCAPED = frozenset("\\|`*[]<&~")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def table(
    df: pd.DataFrame,
    *,
    max_rows: int | None = 10,
    digits: int = DIGITS,
    missing: str = MISSING,
    max_chars: int | None = MAX_CHARS,
) -> str:
    """A Markdown table of the first ``max_rows`` rows (all when None), every cell escaped and numbers rounded;
    cells longer than ``max_chars`` (None: never) are cut."""
    if df.empty:
        return "_(no rows)_"
    view = df if max_rows is None else df.head(max_rows)
    headers = [escape(str(c)) for c in view.columns]
    rows = [
        [escape(cell_text(v, digits=digits, missing=missing, max_chars=max_chars)) for v in row]
        for row in view.itertuples(index=False, name=None)
    ]
    align = ["right" if _is_numeric(view[c]) else "left" for c in view.columns] if len(view.columns) else None
    text = tabulate(rows, headers=headers, tablefmt="pipe", disable_numparse=True, colalign=align)
    more = len(df) - len(view)
    return text + (f"\n\n_… {more} more rows_" if more > 0 else "")


def counts(mapping: Mapping[str, int | float], *, key: str = "what", value: str = "count") -> str:
    """A two-column Markdown table of a mapping, in its order (every entry)."""
    if not mapping:
        return "_(none)_"
    return table(pd.DataFrame({key: list(mapping), value: list(mapping.values())}), max_rows=None)


def cell_text(value: object, *, digits: int = DIGITS, missing: str = MISSING, max_chars: int | None = MAX_CHARS) -> str:
    """What a cell shows for ``value`` before escaping: rounded numbers, ``missing``, joined lists, cut long text."""
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        text = ", ".join(_scalar_text(v, digits, missing) for v in _items(value))
    else:
        text = _scalar_text(value, digits, missing)
    return text if max_chars is None or len(text) <= max_chars else text[: max_chars - 1] + "…"


def escape(text: str) -> str:
    """``text`` as Markdown inline content of a table cell that renders as ``text`` itself (line breaks as spaces)."""
    text = _LINE_BREAK.sub(" ", text)
    body = text.strip()
    if not body:
        return "".join(f"&#{ord(c)};" for c in text)
    start = len(text) - len(text.lstrip())
    lead, trail = text[:start], text[start + len(body) :]
    out = []
    for i, ch in enumerate(body):
        if ch in _ALWAYS_ESCAPED or (ch == "_" and not _intraword(body, i)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(f"&#{ord(c)};" for c in lead) + "".join(out) + "".join(f"&#{ord(c)};" for c in trail)


def _intraword(text: str, i: int) -> bool:
    """True when ``text[i]`` has a letter or digit on both sides (an underscore there is never emphasis)."""
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def _items(value: Iterable[object]) -> list[object]:
    return list(value.tolist() if hasattr(value, "tolist") else value)


def _scalar_text(value: object, digits: int, missing: str) -> str:
    if is_missing(value):
        return missing
    if isinstance(value, (numbers.Number, np.number, np.bool_)):
        text = number_text(value, digits)  # type: ignore[arg-type]
        return missing if text == MISSING else text
    return str(value)


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
