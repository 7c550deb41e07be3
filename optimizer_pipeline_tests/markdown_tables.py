"""Read metadata Markdown tables as a user sees them (a CommonMark parser with GFM tables) and compare them, cell by
cell, with the table behind them. The oracle is independent of ``lib/core/markdown.py``: text must read back exactly
(line breaks as spaces), numbers to 4 significant digits, integers exactly, a missing value as ``n/a``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt

PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
MISSING = "n/a"
#: Relative error of a number rounded to 4 significant digits (half a unit of the 4th digit).
ROUNDING = 5e-4


def rendered_tables(text: str) -> list[list[list[str]]]:
    """Every table of ``text`` as rendered: rows (header first) of cell texts."""
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    for token in PARSER.parse(text):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            tables[-1].append(row)
            row = None
        elif token.type == "inline" and row is not None:
            row.append(_inline_text(token.children or []))
    return tables


def _inline_text(children: Iterable) -> str:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.children:
            parts.append(_inline_text(child.children))
    return "".join(parts)


def raw_cell_counts(text: str) -> list[int]:
    """Cell separators per table line of the raw Markdown (unescaped ``|``): a GFM renderer silently drops the
    cells of a row beyond the header's, so a shifted row is only visible here."""
    counts = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells, escaped = 0, False
        for ch in line.strip()[1:]:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == "|":
                cells += 1
        counts.append(cells)
    return counts


def assert_well_formed(text: str) -> None:
    """Every table line of ``text`` has as many raw cells as its header (one table block at a time)."""
    for block in text.split("\n\n"):
        counts = raw_cell_counts(block)
        assert len(set(counts)) <= 1, block


def assert_cell_shows(cell: str, value: object) -> None:
    """The shown cell against the stored value (see the module docstring)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        assert cell == ", ".join(str(v) for v in value), (cell, value)
    elif (
        value is None
        or value is pd.NaT
        or value is pd.NA
        or (isinstance(value, (float, np.floating)) and math.isnan(value))
    ):
        assert cell == MISSING, (cell, value)
    elif isinstance(value, (bool, np.bool_)):
        assert cell == str(bool(value)), (cell, value)
    elif isinstance(value, (int, np.integer)):
        assert cell == str(int(value)), (cell, value)
    elif isinstance(value, (float, np.floating)):
        shown = float(cell)
        tolerance = 0.5 if abs(value) >= 1e4 else ROUNDING * abs(value)
        assert abs(shown - value) <= tolerance + 1e-12, (cell, value)
        significant = cell.split("e")[0].replace("-", "").replace(".", "").lstrip("0")
        assert len(significant) <= max(4, len(str(int(abs(value))))), (cell, value)
    else:
        assert cell == str(value).replace("\r\n", " ").replace("\n", " ").replace("\r", " "), (cell, value)


def assert_frame_shown(text: str, frame: pd.DataFrame) -> None:
    """``text`` is one table with ``frame``'s header and every row of it, cell by cell, in order."""
    tables = rendered_tables(text)
    assert len(tables) == 1, text
    header, *rows = tables[0]
    assert header == [str(c) for c in frame.columns]
    assert len(rows) == len(frame)
    assert_well_formed(text)
    for row, values in zip(rows, frame.itertuples(index=False, name=None), strict=True):
        assert len(row) == len(values)
        for cell, value in zip(row, values, strict=True):
            assert_cell_shows(cell, value)


def assert_table_matches(text: str, stored: pd.DataFrame, *, key: str | None = None) -> int:
    """The first table of ``text`` against the stored table: its header names stored columns; each row is the
    stored row with the same ``key`` (or, without a key, the stored rows in order). Returns the rows compared."""
    tables = rendered_tables(text)
    assert tables, text
    assert_well_formed(text)
    header, *rows = tables[0]
    assert set(header) <= set(stored.columns), (header, list(stored.columns))
    if key is None:
        expected = stored[header].head(len(rows))
        assert len(expected) == len(rows)
    else:
        by_key = stored.set_index(key, drop=False)
        assert by_key.index.is_unique
        keys = [row[header.index(key)] for row in rows]
        assert set(keys) <= set(by_key.index), sorted(set(keys) - set(by_key.index))
        expected = by_key.loc[keys, header]
    for row, values in zip(rows, expected.itertuples(index=False, name=None), strict=True):
        assert len(row) == len(header)
        for cell, value in zip(row, values, strict=True):
            assert_cell_shows(cell, value)
    return len(rows)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first table of ``text``."""
    return rendered_tables(text)[0][1:]
