"""The canonical pattern hash: one builder, one parser, one spelling per pattern."""

import re

import pytest

from optimizer_pipeline.lib.features.labels.vocabulary import EMOTIONS
from optimizer_pipeline.lib.testloop.pattern_hash import ATTRIBUTES, full_pattern_hash, parse_pattern, pattern_hash

FULL = "hook:question|emo:curiosity|pace:fast|pain:no_time|cta:urgency"
LABELS = {"hook_type": "question", "emotion": "curiosity", "cta_type": "urgency", "pain_point": "no_time"}


def test_pattern_hash_round_trip_and_canonical_order():
    attrs = {"cta": "urgency", "pain": "no_time", "pace": "fast", "emo": "curiosity", "hook": "question"}
    assert pattern_hash(attrs) == FULL
    assert parse_pattern(FULL) == {
        "hook": "question",
        "emo": "curiosity",
        "pace": "fast",
        "pain": "no_time",
        "cta": "urgency",
    }
    labels = {
        "hook_type": "question",
        "emotion": "curiosity",
        "pacing": "fast",
        "pain_point": "no_time",
        "cta_type": "urgency",
    }
    assert pattern_hash(labels) == full_pattern_hash(labels) == FULL
    assert pattern_hash({"pace": "fast", "hook": "pov"}) == "hook:pov|pace:fast"
    with pytest.raises(ValueError):
        parse_pattern("emo:curiosity|hook:question")  # not canonical
    with pytest.raises(ValueError):
        pattern_hash({"colour": "red"})


def test_full_hash_needs_every_dimension_from_the_vocabulary():
    assert full_pattern_hash({**LABELS, "pacing": "fast", "extra": "ignored"}) == FULL
    with pytest.raises(ValueError, match="pacing"):
        full_pattern_hash(LABELS)
    with pytest.raises(ValueError, match=re.escape(f"emotion='joy' is not one of {list(EMOTIONS)}")):
        full_pattern_hash({**LABELS, "pacing": "fast", "emotion": "joy"})


@pytest.mark.parametrize("keep", [(), ("hook",), ("emo", "cta"), ("hook", "pace", "pain"), ATTRIBUTES])
def test_parse_inverts_build_for_full_and_partial_hashes(keep: tuple[str, ...]):
    attrs = {tag: value for tag, value in parse_pattern(FULL).items() if tag in keep}
    assert parse_pattern(pattern_hash(attrs)) == attrs
    assert pattern_hash(parse_pattern(pattern_hash(attrs))) == pattern_hash(attrs)


@pytest.mark.parametrize("bad", ["hook", "hook:", "hook:a|hook:b", "color:red", "hook:a|", "emo:x|hook:y"])
def test_parse_rejects_malformed_or_non_canonical(bad: str):
    with pytest.raises(ValueError):
        parse_pattern(bad)
