"""The canonical pattern hash (``hook:question|emo:curiosity|pace:fast|pain:no_time|cta:urgency``), built and parsed.

The hash is the test loop's identifier of a creative pattern: creatives are tagged with it, traffic sources carry it,
posteriors and budget recommendations are keyed by it. A *partial* hash keeps only some attributes, still in canonical
order (``hook:question|pace:fast``), and names a coarser group of patterns (the back-off predictor's parents).

Why here and not in :mod:`optimizer_pipeline.lib.features.labels.vocabulary`: the vocabulary owns the allowed *values*
of each label and is read by the labelers, which never build a hash; the hash's tag names, order and syntax are the
test loop's format. Keeping them here lets the test loop depend on the vocabulary and never the reverse, and puts
every spelling rule (order, separators, tag aliases) next to the parser that enforces it: two spellings of one pattern
must never count as two patterns.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from optimizer_pipeline.lib.features.labels.vocabulary import LABEL_FIELDS, PACING

#: Label field and short tag of each dimension, in canonical hash order.
PATTERN_TAGS: tuple[tuple[str, str], ...] = (
    ("hook_type", "hook"),
    ("emotion", "emo"),
    ("pacing", "pace"),
    ("pain_point", "pain"),
    ("cta_type", "cta"),
)
#: Attribute tags of a pattern hash, in canonical order.
ATTRIBUTES: tuple[str, ...] = tuple(tag for _, tag in PATTERN_TAGS)
#: Allowed values of each label field in a full hash, in hash order (the vocabulary's tuples themselves).
PATTERN_VALUES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {field: PACING if field == "pacing" else LABEL_FIELDS[field] for field, _ in PATTERN_TAGS}
)
#: Long field names (as in the labels) accepted by :func:`pattern_hash` as aliases of the tags.
_FIELD_TO_TAG: Mapping[str, str] = MappingProxyType(dict(PATTERN_TAGS))


def pattern_hash(attrs: Mapping[str, str]) -> str:
    """Canonical hash of ``attrs`` (keys are tags ``hook/emo/pace/pain/cta`` or field names ``hook_type``...).

    Attributes keep canonical order (hook, emo, pace, pain, cta) whatever the dict order; missing attributes are left
    out, which gives the partial hash of a coarser pattern. Values must not contain ``|`` or ``:``.
    """
    values: dict[str, str] = {}
    for key, value in attrs.items():
        tag = _FIELD_TO_TAG.get(key, key)
        if tag not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {key!r}; expected one of {list(ATTRIBUTES)}")
        if tag in values:
            raise ValueError(f"attribute {tag!r} given twice")
        value = str(value)
        if not value or "|" in value or ":" in value:
            raise ValueError(f"bad value {value!r} for {tag!r}")
        values[tag] = value
    return "|".join(f"{tag}:{values[tag]}" for tag in ATTRIBUTES if tag in values)


def full_pattern_hash(labels: Mapping[str, str]) -> str:
    """The full hash of one creative from its label fields (``hook_type``, ``emotion``, ``pacing``...).

    Every dimension is required and checked against the vocabulary, so a typo can never create a pattern of its own;
    raises ``ValueError`` naming the field. Other keys of ``labels`` are ignored.
    """
    for field, allowed in PATTERN_VALUES.items():
        if labels.get(field) not in allowed:
            raise ValueError(f"{field}={labels.get(field)!r} is not one of {list(allowed)}")
    return pattern_hash({field: labels[field] for field in PATTERN_VALUES})


def parse_pattern(pattern: str) -> dict[str, str]:
    """``"hook:question|emo:curiosity"`` -> ``{"hook": "question", "emo": "curiosity"}`` (full or partial hash).

    The empty string is the root pattern (no attribute). Raises ``ValueError`` for unknown tags, duplicates, a part
    without ``:`` or tags out of canonical order (two spellings of one pattern must never count as two patterns).
    """
    if not pattern:
        return {}
    attrs: dict[str, str] = {}
    for part in pattern.split("|"):
        tag, sep, value = part.partition(":")
        if not sep or not value:
            raise ValueError(f"bad pattern part {part!r} in {pattern!r} (expected tag:value)")
        if tag not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {tag!r} in {pattern!r}; expected one of {list(ATTRIBUTES)}")
        if tag in attrs:
            raise ValueError(f"attribute {tag!r} repeated in {pattern!r}")
        attrs[tag] = value
    if pattern_hash(attrs) != pattern:
        raise ValueError(f"pattern {pattern!r} is not canonical; expected {pattern_hash(attrs)!r}")
    return attrs
