"""Metadata as a user reads it: floats rounded for display before they reach the Dagster UI.

Dagster prints a float metadata value with every digit it has (0.041234567890123456). :func:`display_metadata`
rounds the floats of a metadata dict (plain floats, NumPy floats and ``MetadataValue.float``) with the project's
display rule (:mod:`optimizer_pipeline.lib.core.display_rounding`: 4 significant digits, integer part kept),
including the floats inside JSON values (``MetadataValue.json``, plain dicts and lists). They stay numbers, so
sensors, checks and tests that read them as numbers still can; NaN stays NaN; NumPy ints become ints; every other
value (ints, bools, text, Markdown, paths) is passed through unchanged. Full precision stays in the asset's Parquet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import dagster as dg
import numpy as np

from optimizer_pipeline.lib.core.display_rounding import rounded


def display_metadata(metadata: Mapping[str, object], *, exact: Iterable[str] = ()) -> dict[str, object]:
    """A copy of ``metadata`` whose float values are rounded for display (see the module docstring); the keys in
    ``exact`` keep full precision (numbers other code reads back to recompute with, e.g. a prior's parameters)."""
    keep = set(exact)
    return {key: value if key in keep else display_value(value) for key, value in metadata.items()}


def display_value(value: object) -> object:
    """One metadata value rounded for display when it is a float; anything else unchanged."""
    if isinstance(value, dg.FloatMetadataValue):
        number = value.value
        return value if number is None or math.isnan(number) else dg.MetadataValue.float(rounded(number))
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        return float(value) if math.isnan(value) else rounded(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dg.JsonMetadataValue):
        return dg.MetadataValue.json(_json_rounded(value.value))
    if isinstance(value, (dict, list)):
        return _json_rounded(value)
    return value


def _json_rounded(value: object) -> object:
    """A JSON document whose floats are rounded for display (keys, ints, bools and text unchanged)."""
    if isinstance(value, dict):
        return {k: _json_rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_rounded(v) for v in value]
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return rounded(float(value))
    return value
