"""Deterministic keyword/regex labels: the free baseline, and the fallback when the Anthropic labeler fails.

Each dimension has an ordered table of rules. A rule fires when one of its regexes matches the text (caption plus
on-screen text, lower-cased, curly quotes straightened) or one of its hashtags is present (given hashtags plus any
``#tag`` in the caption, without ``#``, lower-cased). The **first** rule that fires wins, so more specific rules
come first (``how to`` is a tutorial before it is a question; "last chance, buy now" is urgency before buy_now).
Nothing firing gives ``"none"``. Same input, same output: no randomness, no model, no network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from optimizer_pipeline.lib.features.labels.vocabulary import LABEL_FIELDS, NONE


@dataclass(frozen=True)
class Rule:
    """``value`` when any regex matches the text or any hashtag is present."""

    value: str
    patterns: tuple[str, ...]
    hashtags: frozenset[str] = frozenset()

    def fires(self, text: str, tags: set[str]) -> bool:
        """True when this rule applies to the normalised text/hashtags."""
        return bool(self.hashtags & tags) or any(re.search(p, text) for p in self.patterns)


def _r(value: str, patterns: Iterable[str], hashtags: Iterable[str] = ()) -> Rule:
    return Rule(value, tuple(patterns), frozenset(hashtags))


# Patterns are matched against lower-case text; \b keeps "pov" from matching "povidone".
HOOK_RULES: tuple[Rule, ...] = (
    _r("pov", [r"\bpov\b"], ["pov"]),
    _r(
        "before_after",
        [r"\bbefore\s*(?:&|and|/|\+|vs\.?|->|→)?\s*after\b", r"\btransformation\b", r"\bglow[ -]?up\b"],
        ["beforeandafter", "beforeafter", "transformation", "glowup"],
    ),
    _r(
        "tutorial",
        [
            r"\bhow to\b",
            r"\btutorial\b",
            r"\bstep[ -]by[ -]step\b",
            r"\bhere'?s how\b",
            r"\b(?:life)?hacks?\b",
            r"\bdiy\b",
        ],
        ["tutorial", "howto", "lifehack", "diy", "learnontiktok"],
    ),
    _r(
        "listicle",
        [
            r"\b(?:top )?\d+ (?:\w+ )?(?:ways|things|tips|reasons|mistakes|steps|foods|exercises|habits|signs|rules)\b",
            r"\btop \d+\b",
        ],
    ),
    _r(
        "story",
        [r"\bstory ?time\b", r"\blet me tell you\b", r"\bthe day (?:i|my)\b", r"\bso this happened\b"],
        ["storytime"],
    ),
    _r(
        "question",
        [r"^\s*(?:why|what|how|who|when|did you|do you|are you|have you|is it|can you|would you|ever wonder)\b", r"\?"],
    ),
    _r(
        "bold_claim",
        [
            r"\bnobody (?:tells|talks about)\b",
            r"\bthe truth about\b",
            r"\bstop doing\b",
            r"\byou'?re doing it wrong\b",
            r"\bbiggest mistake\b",
            r"\bthe (?:only|best|worst) \w+ (?:you|ever)\b",
            r"\b(?:unpopular|hot) (?:opinion|take)\b",
            r"\bchanged my life\b",
        ],
    ),
    _r("trend_sound", [r"\btrending sound\b", r"\boriginal sound\b"], ["trend", "trending", "trendingsound", "sound"]),
)

EMOTION_RULES: tuple[Rule, ...] = (
    _r(
        "urgency",
        [
            r"\blast chance\b",
            r"\bhurry\b",
            r"\bends (?:tonight|today|soon)\b",
            r"\bonly \d+ left\b",
            r"\bdon'?t miss\b",
        ],
    ),
    _r(
        "humor",
        [r"\blol\b", r"\blmao\b", r"😂", r"🤣", r"\bfunny\b", r"\bhilarious\b", r"\bjoke\b"],
        ["comedy", "funny", "humor", "meme"],
    ),
    _r(
        "calm",
        [r"\brelax", r"\bcalm\b", r"\basmr\b", r"\bpeaceful\b", r"\bcozy\b", r"\bslow (?:morning|living)\b"],
        ["asmr", "relaxing", "slowliving"],
    ),
    _r(
        "inspiration",
        [
            r"\bmotivat",
            r"\binspir",
            r"\byou can do (?:it|this)\b",
            r"\bnever give up\b",
            r"\bproud of\b",
            r"\bjourney\b",
        ],
        ["motivation", "inspiration", "mindset", "selfimprovement"],
    ),
    _r(
        "trust",
        [
            r"\bscience\b",
            r"\bstud(?:y|ies)\b",
            r"\bresearch\b",
            r"\bdoctor\b",
            r"\bdietitian\b",
            r"\bproven\b",
            r"\bevidence\b",
            r"\bcertified\b",
            r"\bexpert\b",
        ],
    ),
    _r(
        "curiosity",
        [
            r"\bsecret\b",
            r"\byou won'?t believe\b",
            r"\bwait (?:for it|till the end)\b",
            r"\bdid you know\b",
            r"\bguess\b",
            r"\?",
        ],
    ),
    _r("excitement", [r"!!", r"\bomg\b", r"\binsane\b", r"\bamazing\b", r"\bgame ?changer\b", r"🔥", r"🤯"]),
)

CTA_RULES: tuple[Rule, ...] = (
    _r(
        "urgency",
        [
            r"\blast chance\b",
            r"\bends (?:tonight|today|soon)\b",
            r"\blimited time\b",
            r"\bonly \d+ left\b",
            r"\btoday only\b",
            r"\bhurry\b",
            r"\bbefore it'?s gone\b",
        ],
    ),
    _r(
        "buy_now",
        [
            r"\b(?:buy|shop|order) (?:it )?now\b",
            r"\badd to (?:cart|basket)\b",
            r"\bget yours\b",
            r"\buse (?:my )?code\b",
            r"\b\d+ ?% off\b",
        ],
        ["tiktokshop", "tiktokmademebuyit"],
    ),
    _r("link_in_bio", [r"\blink (?:is )?in (?:my )?bio\b", r"\bcheck (?:out )?my bio\b", r"\blink below\b"]),
    _r("save", [r"\bsave (?:this|it|for later)\b", r"\bbookmark\b"]),
    _r(
        "comment",
        [
            r"\bcomment\b",
            r"\blet me know\b",
            r"\bdrop an?\b",
            r"\btell me (?:in|below)\b",
            r"\btag (?:a|your) \w+\b",
            r"\bwhich (?:one|would you)\b",
        ],
    ),
    _r(
        "follow", [r"\bfollow (?:me|for|along)\b", r"\bpart 2\b", r"\bsubscribe\b"], ["followme", "followforfollowback"]
    ),
)

PAIN_RULES: tuple[Rule, ...] = (
    _r(
        "weight",
        [r"\bweight\b", r"\bbelly\b", r"\bfat\b", r"\bslim", r"\bcalorie", r"\b\d+ ?(?:lbs?|pounds|kg)\b"],
        ["weightloss", "fatloss", "caloriedeficit"],
    ),
    _r(
        "budget",
        [
            r"\bcheap\b",
            r"\bbudget\b",
            r"\bafford",
            r"\bsave money\b",
            r"\bbroke\b",
            r"\bexpensive\b",
            r"\bunder \$",
            r"\$\d",
        ],
        ["budget", "budgetfriendly", "frugal"],
    ),
    _r(
        "no_energy",
        [
            r"\btired\b",
            r"\bexhausted\b",
            r"\bno energy\b",
            r"\blow energy\b",
            r"\bfatigue",
            r"\bdrained\b",
            r"\bburn ?out\b",
        ],
    ),
    _r(
        "no_time",
        [
            r"\bno time\b",
            r"\bbusy\b",
            r"\bshort on time\b",
            r"\bon the go\b",
            r"\b\d+[- ]?min(?:ute)?s?\b",
            r"\bquick\b",
        ],
        ["busymom", "quickrecipes", "timesaver"],
    ),
    _r(
        "motivation",
        [
            r"\bunmotivated\b",
            r"\bno motivation\b",
            r"\blazy\b",
            r"\bprocrastinat",
            r"\bcan'?t stick\b",
            r"\bconsisten(?:t|cy)\b",
            r"\bdiscipline\b",
        ],
    ),
    _r(
        "health_worry",
        [
            r"\bblood (?:pressure|sugar)\b",
            r"\bcholesterol\b",
            r"\bdiabet",
            r"\banxiety\b",
            r"\bsymptoms?\b",
            r"\binflammation\b",
            r"\bgut health\b",
            r"\bbloat",
        ],
        ["guthealth", "health", "wellness"],
    ),
    _r(
        "confusion",
        [
            r"\bconfus",
            r"\bdon'?t know where to start\b",
            r"\boverwhelm",
            r"\bexplained\b",
            r"\bbeginners?\b",
            r"\bmyths?\b",
        ],
    ),
)

RULE_TABLES: dict[str, tuple[Rule, ...]] = {
    "hook_type": HOOK_RULES,
    "emotion": EMOTION_RULES,
    "cta_type": CTA_RULES,
    "pain_point": PAIN_RULES,
}


def _check_tables() -> None:
    """A typo in a table must fail at import, never invent a label value."""
    for field, rules in RULE_TABLES.items():
        bad = [rule.value for rule in rules if rule.value not in LABEL_FIELDS[field] or rule.value == NONE]
        if bad:
            raise ValueError(f"rule table {field!r} has values outside the vocabulary: {bad}")


_check_tables()

_HASHTAG_RE = re.compile(r"#(\w+)")


def _normalise(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def rule_based_labels(caption: str, hashtags: Iterable[str] | None, detected_text: str = "") -> dict[str, str]:
    """Label one video from its caption, hashtags and on-screen text with the rule tables above."""
    text = _normalise(" \n".join(part for part in (caption or "", detected_text or "") if part))
    tags = {_normalise(str(tag)).lstrip("#").strip() for tag in (hashtags or [])}
    tags |= set(_HASHTAG_RE.findall(text))
    labels = {
        field: next((r.value for r in rules if r.fires(text, tags)), NONE) for field, rules in RULE_TABLES.items()
    }
    return {**labels, "label_source": "rules"}


def rule_labeler(job: Any, features: Mapping[str, Any]) -> dict[str, Any]:
    """Labeler for ``run_feature_batch`` with the same ``label_*`` columns as the Anthropic labeler's rows."""
    labels = rule_based_labels(getattr(job, "caption", "") or "", list(getattr(job, "hashtags", ()) or ()))
    return {
        **labels,
        "label_model": "",
        "label_input_tokens": 0,
        "label_output_tokens": 0,
        "label_cost_usd": 0.0,
        "label_error": None,
        "label_cached": False,
    }
