"""The words of a pattern: its short description and the actionable sentence a report prints, with its numbers.

Descriptions come from the feature dictionary (phrase and unit), so no raw column name reaches a reader.
"""

from __future__ import annotations

from typing import Any

from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY


def _fmt_value(value: float, unit: str) -> str:
    """A threshold in its unit's natural precision (shares as percentages, counts as integers)."""
    if unit == "share":
        return f"{value:.0%}"
    if unit in {"cuts", "fades", "words", "faces"} or float(value).is_integer():
        return f"{value:g}"
    return f"{value:.3g}"


def pattern_text(r: Any) -> str:
    """What the pattern is, e.g. ``hook cut count >= 2 cuts`` or ``pacing label = fast``."""
    spec = FEATURE_DICTIONARY.get(r.feature)
    if r.kind == "categorical":
        return f"{r.feature.replace('_', ' ')} = {r.threshold}"
    if r.kind == "binary":
        return spec.phrase if spec else r.feature
    unit = spec.unit if spec else ""
    shown_unit = "" if unit in {"share", "0-1", "ratio", "w/h"} else f" {unit}"
    return f"{spec.phrase if spec else r.feature} >= {_fmt_value(float(r.threshold), unit)}{shown_unit}"


def pattern_sentence(r: Any) -> str:
    """The actionable line a report prints, with its numbers; no raw column names."""
    text = pattern_text(r)
    lead = text[0].upper() + text[1:]
    if r.direction == "lower":
        lead = f"Avoid {text}"
    q = f"q = {r.q_value:.2g}" if r.q_value >= 0.001 else "q < 0.001"
    return (
        f"{lead}: {r.value_top:.0%} of top videos vs {r.value_middle:.0%} of average ones and "
        f"{r.value_bottom:.0%} of the bottom 30% ({r.lift:.1f}x lift, {q}; {r.evidence.lower()} evidence)"
        if r.evidence != "none"
        else f"{lead}: {r.value_top:.0%} of top videos vs {r.value_middle:.0%} of average ones "
        f"({r.lift:.1f}x lift, {q}; no claim)"
    )
