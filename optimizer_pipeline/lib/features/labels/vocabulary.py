"""The allowed values of every semantic label, in one place.

Rules, the Anthropic labeler (its tool/JSON schema enums) and the test loop's pattern hash
(:mod:`optimizer_pipeline.lib.testloop.pattern_hash`, which owns the hash's tags, order and syntax) all read these
tuples, so a value can only be added or renamed here. ``"none"`` means "nothing recognisable", never "missing".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

NONE = "none"

HOOK_TYPES: tuple[str, ...] = (
    "question",
    "bold_claim",
    "pov",
    "tutorial",
    "before_after",
    "story",
    "listicle",
    "trend_sound",
    NONE,
)
EMOTIONS: tuple[str, ...] = ("curiosity", "excitement", "humor", "inspiration", "trust", "urgency", "calm", NONE)
CTA_TYPES: tuple[str, ...] = ("follow", "link_in_bio", "comment", "buy_now", "save", "urgency", NONE)
PAIN_POINTS: tuple[str, ...] = (
    "no_time",
    "no_energy",
    "weight",
    "budget",
    "confusion",
    "motivation",
    "health_worry",
    NONE,
)
#: Pacing comes from the features package (cut rate thresholds live there); only its values are listed here.
PACING: tuple[str, ...] = ("fast", "medium", "slow")

#: The semantic labels a labeler produces (pacing is measured, not labeled), in a stable order.
LABEL_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"hook_type": HOOK_TYPES, "emotion": EMOTIONS, "cta_type": CTA_TYPES, "pain_point": PAIN_POINTS}
)


def label_problems(labels: object) -> list[str]:
    """Why ``labels`` is not a complete, valid label set (empty list when it is); extra keys are ignored."""
    if not isinstance(labels, Mapping):
        return [f"labels must be an object, got {type(labels).__name__}"]
    problems = []
    for field, allowed in LABEL_FIELDS.items():
        if field not in labels:
            problems.append(f"missing field {field!r}")
        elif labels[field] not in allowed:
            problems.append(f"{field}={labels[field]!r} is not one of {list(allowed)}")
    return problems
