"""Winner insights: the number check (every number of a text is an evidence number within display rounding), the
deterministic text passes its own evidence, and Claude through the real ``anthropic`` client against the local fake
Messages API: a correct answer is accepted, one wrong number rejects it (the deterministic text stands, the reason is
recorded), an API error falls back, a rerun with unchanged evidence sends nothing, the key is never recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.actions.insight_check import check_numbers, number_tokens
from optimizer_pipeline.lib.actions.winner_insights import (
    CLAUDE,
    DETERMINISTIC,
    REJECTED,
    AnthropicInsightWriter,
    winner_evidence,
    winner_insights,
)
from optimizer_pipeline.lib.actions.winner_summary import winner_vs_loser
from optimizer_pipeline_tests.anthropic_server import (
    DEFAULT_API_KEY,
    AnthropicTestServer,
    error_reply,
    text_reply,
)
from optimizer_pipeline_tests.lib.actions.test_winner_summary import DECISIONS, DNA, VARIANTS

FEATURES = ["hook_cut_count", "face_share"]
MODEL = "claude-sonnet-4-6"


def test_numbers_match_within_display_rounding() -> None:
    ev = {"lift": 0.1234, "ctr": 0.0244, "impressions": 50871.0, "cpa_lift": -0.04}
    assert check_numbers("CTR rose 12.3 % (12 % rounded) to 2.44 % over 50,871 impressions.", ev).accepted
    assert check_numbers("About 51k impressions; CPA fell 4 %, i.e. -4 %.", ev).accepted
    wrong = check_numbers("CTR rose 12.5 % to 2.44 %.", ev)
    assert not wrong.accepted and "'12.5 %'" in wrong.reason and wrong.unmatched == ("12.5 %",)
    assert not check_numbers("CTR rose 13 %.", ev).accepted  # 12.34 % rounds to 12, never to 13
    assert not check_numbers("CPA rose +4 %.", ev).accepted  # an explicit sign must match
    assert not check_numbers("Lift 0.1234 %.", ev).accepted  # a fraction is not a percentage
    assert not check_numbers("", ev).accepted


def test_names_dates_and_glued_digits() -> None:
    ev = {"lift": 0.2}
    names = ["exp-2026-b7", "variant9"]
    assert check_numbers("In exp-2026-b7, variant9 won by 20 % on 2026-11-02.", ev, names=names,
                         dates=["2026-11-02 12:00"]).accepted  # fmt: skip
    assert not check_numbers("variant9 won by 20 % on 2026-11-03.", ev, names=names, dates=["2026-11-02"]).accepted
    assert not check_numbers("It won 3x more often, e7 style.", ev).accepted  # unlisted digits must match too
    assert [t.text for t in number_tokens("from 1,234.5 to .5 and -2 %")] == ["1,234.5", ".5", "-2 %"]


def test_the_check_on_random_texts() -> None:
    """Simulation: an evidence value written with 0-3 decimals (as percent or plain) is always accepted; a value
    perturbed by more than its rounding half-unit is always rejected."""
    rng = np.random.default_rng(11)
    for _ in range(400):
        v = float(rng.uniform(-2, 2)) * 10 ** int(rng.integers(-3, 4))
        d = int(rng.integers(0, 4))
        percent = bool(rng.integers(0, 2))
        shown = 100 * v if percent else v
        unit = " %" if percent else ""
        ok = f"value {abs(shown):.{d}f}{unit}"
        assert check_numbers(ok, [v]).accepted, (v, ok)
        off = abs(shown) + (0.5 + float(rng.uniform(0.05, 3))) * 10**-d
        bad = f"value {off:.{d + 1}f}{unit}"
        assert not check_numbers(bad, [v]).accepted, (v, bad)


def test_the_deterministic_text_passes_its_own_evidence() -> None:
    ev = winner_evidence("e1", DECISIONS, VARIANTS, DNA, FEATURES)
    text = winner_vs_loser("e1", DECISIONS, VARIANTS, DNA, FEATURES)
    verdict = check_numbers(text, ev.numbers, names=ev.names, dates=ev.dates)
    assert verdict.accepted, verdict.reason
    assert verdict.numbers >= 8
    assert ev.numbers["promotion.lift"] == pytest.approx(0.214)  # the deciding look, not the later 0.19


def _good_text() -> str:
    return (
        "Variant 'b' of e1 was promoted on 2026-11-02 12:00 UTC: CTR 2.44 % against 2.01 % for the control 'a', "
        "a lift of +21.4 % (repeated interval +13.3 % to +30.7 %, confidence 95 %). Its hook is a question instead "
        "of a statement, it has 3 cuts in the first 3 seconds instead of 1 and runs 16-30s."
    )


def test_claude_accepted_rejected_and_failed() -> None:
    wrong = _good_text().replace("+21.4 %", "+24.1 %")
    with AnthropicTestServer() as srv:
        writer = AnthropicInsightWriter(DEFAULT_API_KEY, MODEL, srv.url, max_retries=0)
        srv.queue(text_reply(_good_text(), input_tokens=900, output_tokens=120))
        good = winner_insights(DECISIONS, VARIANTS, dna=DNA, features=FEATURES, writer=writer, model=MODEL)
        srv.queue(text_reply(wrong))
        bad = winner_insights(DECISIONS, VARIANTS, dna=DNA, features=FEATURES, writer=writer, model=MODEL)
        srv.queue(error_reply(401, "authentication_error", f"invalid x-api-key {DEFAULT_API_KEY}"))
        failed = winner_insights(DECISIONS, VARIANTS, dna=DNA, features=FEATURES, writer=writer, model=MODEL)
        seen = list(srv.requests)
    assert len(seen) == 3 and '"promotion.lift": 0.214' in seen[0].text  # the evidence went out as JSON
    assert seen[0].body["model"] == MODEL and "winner's curse" in seen[0].body["system"]
    [g], [b], [f] = (t.to_dict("records") for t in (good, bad, failed))
    assert g["source"] == CLAUDE and g["insight"] == _good_text() and g["rejection_reason"] == ""
    assert g["cost_usd"] == pytest.approx((900 * 3 + 120 * 15) / 1e6)
    deterministic = winner_vs_loser("e1", DECISIONS, VARIANTS, DNA, FEATURES)
    assert b["source"] == REJECTED and b["insight"] == deterministic and b["llm_draft"] == wrong
    assert "'+24.1 %'" in b["rejection_reason"]
    assert f["source"] == REJECTED and f["insight"] == deterministic and "HTTP 401" in f["rejection_reason"]
    assert DEFAULT_API_KEY not in json.dumps([g, b, f], default=str)
    assert DEFAULT_API_KEY not in repr(writer)


def test_unchanged_evidence_is_not_asked_again() -> None:
    with AnthropicTestServer(default=text_reply(_good_text())) as srv:
        writer = AnthropicInsightWriter(DEFAULT_API_KEY, MODEL, srv.url, max_retries=0)
        first = winner_insights(DECISIONS, VARIANTS, dna=DNA, features=FEATURES, writer=writer, model=MODEL)
        again = winner_insights(
            DECISIONS, VARIANTS, dna=DNA, features=FEATURES, writer=writer, model=MODEL, previous=first
        )
        assert len(srv.requests) == 1
        changed = DECISIONS.assign(lift=DECISIONS["lift"] + 0.001)  # new evidence: asked again
        winner_insights(changed, VARIANTS, dna=DNA, features=FEATURES, writer=writer, model=MODEL, previous=first)
        assert len(srv.requests) == 2
    pd.testing.assert_frame_equal(first, again)


def test_without_a_writer_the_text_is_deterministic() -> None:
    out = winner_insights(DECISIONS, VARIANTS, dna=DNA, features=FEATURES)
    assert list(out["experiment_id"]) == ["e1"]  # e2's promotion was reversed
    assert set(out["source"]) == {DETERMINISTIC} and set(out["model"]) == {""}
    shrunk = pd.DataFrame({"experiment_id": ["e1"], "lift_shrunk": [0.15], "lift_shrunk_low": [0.05],
                           "lift_shrunk_high": [0.26], "shrinkage": [0.6]})  # fmt: skip
    ev = winner_evidence("e1", DECISIONS, VARIANTS, DNA, FEATURES, shrunk.iloc[0].drop("experiment_id").to_dict())
    assert check_numbers("Shrunk for the winner's curse the lift is +15 % (+5 % to +26 %).", ev.numbers).accepted
