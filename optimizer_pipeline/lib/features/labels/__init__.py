"""Semantic labels of a video (hook, emotion, CTA, pain point): vocabulary, rules and the Anthropic labeler.

The Anthropic labeler lives in :mod:`optimizer_pipeline.lib.features.labels.anthropic_labels` (imported on demand, so
the rules and vocabulary stay usable without the SDK).
"""

from optimizer_pipeline.lib.features.labels.rules import rule_based_labels
from optimizer_pipeline.lib.features.labels.vocabulary import (
    CTA_TYPES,
    EMOTIONS,
    HOOK_TYPES,
    LABEL_FIELDS,
    PACING,
    PAIN_POINTS,
    label_problems,
)

__all__ = [
    "CTA_TYPES",
    "EMOTIONS",
    "HOOK_TYPES",
    "LABEL_FIELDS",
    "PACING",
    "PAIN_POINTS",
    "label_problems",
    "rule_based_labels",
]
