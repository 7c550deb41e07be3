"""Outreach drafts for influencers: one e-mail (to, subject, body) per influencer × creative assignment.

The body names the creative, describes its hook in words, carries the influencer's personal UTM link and the
client's brand facts from the registry (``brand: description, audience, tone, products, claims_to_avoid``), so a
person only has to read it and press send. ``to`` is the encrypted address (None when no key is configured): the
draft never holds a clear e-mail address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from optimizer_pipeline.lib.features.labels.vocabulary import NONE

#: How a hook type reads in a sentence ("It opens with ..."); one entry per ``HOOK_TYPES`` value (a test checks it;
#: a value added to the vocabulary later reads as its words until it gets a phrase here).
HOOK_PHRASES: Mapping[str, str] = {
    "question": "a question to the viewer",
    "bold_claim": "a bold claim",
    "pov": "a point-of-view (POV) scene",
    "tutorial": "a quick how-to",
    "before_after": "a before/after reveal",
    "story": "a short personal story",
    "listicle": "a numbered list",
    "trend_sound": "a trending sound",
    NONE: "straight into the content",
}

SUBJECT = Template("$brand × @$handle: a paid TikTok collaboration")
#: One line per paragraph (mail clients wrap), blank lines between them; ``$facts`` is a block of its own.
BODY = Template(
    "\n".join(
        [
            "Hi @$handle,",
            "",
            "I'm writing on behalf of $brand.$about We like your $niche videos and would love to pay you to post one"
            " short TikTok for us.",
            "",
            'The video we have in mind: "$creative_name" ($creative_id). It opens with $hook_phrase, keeps a $pacing'
            " pace, speaks to $pain and ends with a $cta call to action.",
            "$facts",
            "Your personal link (please put it in your bio or caption while the video is live; it is how we measure"
            " results):",
            "$utm_link",
            "",
            "If you are interested, reply to this e-mail and we will send the brief, the fee and the timeline.",
            "",
            "Thank you,",
            "The $brand team",
            "",
        ]
    )
)


@dataclass(frozen=True)
class OutreachDraft:
    """An e-mail ready to send: ``to`` is ciphertext (decrypt with the PII vault) or None."""

    to: str | None
    subject: str
    body: str


def _words(value: str) -> str:
    return value.replace("_", " ")


def _list(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def brand_facts(brand: Mapping[str, Any]) -> str:
    """The brand facts a creator needs, one line each (only those the registry has)."""
    lines = []
    if brand.get("audience"):
        lines.append(f"Who it is for: {brand['audience']}.")
    if brand.get("products"):
        lines.append(f"Products: {_list(brand['products'])}.")
    if brand.get("tone"):
        lines.append(f"Tone: {brand['tone']}.")
    if brand.get("claims_to_avoid"):
        lines.append(f"Please do not claim: {_list(brand['claims_to_avoid'])}.")
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def draft(
    *,
    brand_name: str,
    brand: Mapping[str, Any],
    handle: str,
    niche: str | None,
    creative: Mapping[str, Any],
    utm_link: str,
    to: str | None,
) -> OutreachDraft:
    """The outreach e-mail for one influencer × creative; ``creative`` has the ``creatives`` asset's columns."""
    about = f" {str(brand['description']).strip()}" if brand.get("description") else ""
    pain = creative["pain_point"]
    cta = creative["cta_type"]
    values = {
        "brand": brand_name,
        "handle": handle,
        "about": about,
        "niche": niche or "recent",
        "creative_name": creative["name"],
        "creative_id": creative["creative_id"],
        "hook_phrase": HOOK_PHRASES.get(creative["hook_type"], _words(creative["hook_type"])),
        "pacing": _words(creative["pacing"]),
        "pain": "a common everyday problem" if pain == NONE else f"the '{_words(pain)}' problem",
        "cta": "soft" if cta == NONE else f"'{_words(cta)}'",
        "facts": brand_facts(brand),
        "utm_link": utm_link,
    }
    return OutreachDraft(to=to, subject=SUBJECT.substitute(values), body=BODY.substitute(values))
