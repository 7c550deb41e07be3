"""Outreach drafts: every hook type has words, the draft carries the hook, the link and the brand facts, and never
an e-mail address."""

from __future__ import annotations

import pytest

from optimizer_pipeline.lib.features.labels.vocabulary import HOOK_TYPES
from optimizer_pipeline.lib.testloop.outreach import HOOK_PHRASES, brand_facts, draft

BRAND = {
    "description": "Plant-based protein for busy people.",
    "audience": "22-40 year-olds",
    "products": ["Greens+", "Plant Protein"],
    "tone": "upbeat",
    "claims_to_avoid": ["cures"],
}
CREATIVE = {
    "creative_id": "gf-q-tired",
    "name": "Why am I always tired?",
    "hook_type": "question",
    "emotion": "curiosity",
    "pacing": "fast",
    "pain_point": "no_energy",
    "cta_type": "link_in_bio",
}
LINK = "https://glowfuel.example/shop?utm_id=abcdefghijklmnop"


def test_every_hook_type_has_a_phrase():
    assert set(HOOK_PHRASES) == set(HOOK_TYPES)


def test_draft_mentions_hook_link_and_brand_facts():
    mail = draft(
        brand_name="GlowFuel", brand=BRAND, handle="maya", niche="fitness", creative=CREATIVE, utm_link=LINK,
        to="gAAAA-ciphertext",
    )  # fmt: skip
    assert mail.to == "gAAAA-ciphertext"
    assert mail.subject == "GlowFuel × @maya: a paid TikTok collaboration"
    body = mail.body
    assert body.startswith("Hi @maya,\n")
    assert "It opens with a question to the viewer, keeps a fast pace" in body
    assert "speaks to the 'no energy' problem and ends with a 'link in bio' call to action" in body
    assert f"\n{LINK}\n" in body  # the link on a line of its own, so mail clients make it clickable
    assert "Plant-based protein for busy people." in body and "your fitness videos" in body
    assert "Products: Greens+, Plant Protein." in body and "Please do not claim: cures." in body
    assert "$" not in body and "@example" not in body


@pytest.mark.parametrize("hook", HOOK_TYPES)
def test_every_hook_renders(hook):
    mail = draft(
        brand_name="B", brand={}, handle="h", niche=None, creative={**CREATIVE, "hook_type": hook}, utm_link=LINK,
        to=None,
    )  # fmt: skip
    assert HOOK_PHRASES[hook] in mail.body and mail.to is None
    assert "Tone:" not in mail.body  # no brand facts in the registry: no empty lines about them


def test_brand_facts_only_those_given():
    assert brand_facts({}) == ""
    assert brand_facts({"tone": "calm"}) == "\nTone: calm.\n"
