"""The words of a pattern: its short description and the actionable sentence a report prints, with its numbers.

Descriptions come from the feature dictionary (phrase and unit), so no raw column name reaches a reader. A family's
lead names its proxies ("also measured as ..."), a proxy names its lead, and a row explained by a stronger claim says
so (see :mod:`optimizer_pipeline.lib.patterns.families`); rows without family columns read as their own family.
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


#: Proxies named in a lead's sentence; the rest are counted ("and 3 more").
SHOWN_PROXIES = 3


def feature_phrase(feature: str) -> str:
    """How a report names a feature (its dictionary phrase; a label's name in words)."""
    spec = FEATURE_DICTIONARY.get(feature)
    return spec.phrase if spec else feature.replace("_", " ")


def _proxies(members: str) -> str:
    names = [m for m in (members or "").split(", ") if m]
    if not names:
        return ""
    shown = ", ".join(feature_phrase(m) for m in names[:SHOWN_PROXIES])
    more = f" and {len(names) - SHOWN_PROXIES} more" if len(names) > SHOWN_PROXIES else ""
    return f"; also measured as {shown}{more}"


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
    named = lead = text[0].upper() + text[1:]
    if r.direction == "lower":
        lead = f"Avoid {text}"
    q = f"q = {r.q_value:.2g}" if r.q_value >= 0.001 else "q < 0.001"
    if getattr(r, "family_role", "lead") == "member":
        return (
            f"{named}: a proxy of {feature_phrase(r.family)} (rho = {r.family_rho:.2f}), counted in that family's "
            f"claim ({q} on its own; no separate claim)"
        )
    if getattr(r, "explained_by", ""):
        return (
            f"{named}: explained by {feature_phrase(r.explained_by)} (p = {r.p_conditional:.2g} once it is accounted "
            f"for; {q} on its own; no separate claim)"
        )
    return (
        f"{lead}: {r.value_top:.0%} of top videos vs {r.value_middle:.0%} of average ones and "
        f"{r.value_bottom:.0%} of the bottom 30% ({r.lift:.1f}x lift, {q}; {r.evidence.lower()} evidence"
        f"{_proxies(getattr(r, 'family_members', ''))})"
        if r.evidence != "none"
        else f"{lead}: {r.value_top:.0%} of top videos vs {r.value_middle:.0%} of average ones "
        f"({r.lift:.1f}x lift, {q}; no claim)"
    )
