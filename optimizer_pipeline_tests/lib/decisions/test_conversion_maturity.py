"""Experiment decisions for a service business: money metrics on pipeline value, held until conversions are mature.

Simulation: a clinic-like funnel (a lead books a call the next day with chance 0.5, gets a proposal two days after
the lead with chance 0.6, buys 5-7 days after the lead with chance 0.5; 7,000 AED a deal), and the registry funnel
that values it (each stage's probability is the true chance of closing from there). Truth in: a planted ROAS winner
(more leads per click, the same funnel) or an A/A test; decisions out, replayed every 6 h like the schedule."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.actions.blended_scores import blended_scores
from optimizer_pipeline.lib.decisions.conversion_maturity import (
    MATURE_WEIGHT,
    ConversionMaturityError,
    arm_maturity,
    with_pipeline_revenue,
)
from optimizer_pipeline.lib.decisions.experiment_decision import DecisionInputError, decide_look, looks_between, replay
from optimizer_pipeline.lib.decisions.experiment_registry import Experiment, parse_experiments
from optimizer_pipeline.lib.decisions.overdispersion import VifEstimate
from optimizer_pipeline.lib.registry.decisions_settings import DecisionSettings, parse_pipeline

VIF1 = VifEstimate(1.0, "between_day", 100, "binomial test data", 1.0)
DAY0 = date(2026, 11, 1)
START = datetime(2026, 11, 1, tzinfo=UTC)
DEAL = 7000.0
CALL, PROPOSAL, CLOSE = 0.5, 0.6, 0.5  # chance of each next step of a prospect
FUNNEL = {
    "currency": "AED",
    "half_life_days": 7,
    "stages": [
        {"name": "lead", "probability": CALL * PROPOSAL * CLOSE, "value": DEAL, "days_to_close": 6},
        {"name": "call_booked", "probability": PROPOSAL * CLOSE, "value": DEAL, "days_to_close": 5},
        {"name": "proposal", "probability": CLOSE, "value": DEAL, "days_to_close": 4},
        {"name": "sale", "probability": 1.0, "value": DEAL, "days_to_close": 0},
    ],
}
PIPELINE = parse_pipeline(FUNNEL, "test")
LOOKS = looks_between(START + timedelta(hours=6), START + timedelta(days=14), 6)  # the 6-hourly schedule, 14 days


def funnel_rows(ad: str, lead_rate: float, rng: np.random.Generator, days: int = 15) -> pd.DataFrame:
    """Daily rows of one ad: leads from clicks, then each lead's call, proposal and sale on later days. Observed
    ``revenue`` is the deals closed that day (5-7 days after their lead); stage columns count prospects reaching the
    stage that day."""
    stage = {k: np.zeros(days + 8) for k in ("call_booked", "proposal", "sale")}
    impressions = rng.poisson(20_000, days)
    clicks = rng.binomial(impressions, 0.015)
    leads = rng.binomial(clicks, lead_rate)
    for d, k in enumerate(leads):
        calls = rng.binomial(k, CALL)
        proposals = rng.binomial(calls, PROPOSAL)
        stage["call_booked"][d + 1] += calls
        stage["proposal"][d + 2] += proposals
        np.add.at(stage["sale"], d + rng.integers(5, 8, rng.binomial(proposals, CLOSE)), 1)
    return pd.DataFrame(
        {
            "ad_id": ad,
            "date": [DAY0 + timedelta(days=d) for d in range(days)],
            "impressions": impressions,
            "clicks": clicks,
            "spend": impressions * 0.01,
            "conversions": leads,
            "revenue": DEAL * stage["sale"][:days],
            **{k: v[:days] for k, v in stage.items()},
        }
    )


def service_tests(n: int, metric: str = "roas", **fields: object) -> list[Experiment]:
    raw = [
        {
            "id": f"svc-{i}",
            "hypothesis": "the new offer brings more leads per click",
            "primary_metric": metric,
            "variants": [
                {"name": "control", "ad_ids": [f"svc-{i}-a"], "control": True},
                {"name": "offer", "ad_ids": [f"svc-{i}-b"]},
            ],
            "start": "2026-11-01T00:00:00Z",
            "status": "running",
            "max_duration_days": 14,
            "min_samples_per_variant": 50,
            **fields,
        }
        for i in range(n)
    ]
    return parse_experiments({"experiments": raw}, "test")


def service_data(n: int, lift: float, seed: int) -> pd.DataFrame:
    """``n`` experiments' ads; the offer arm has ``lift`` x the control's leads per click (so x its true ROAS)."""
    rng = np.random.default_rng(seed)
    ads = [funnel_rows(f"svc-{i}-{arm}", 0.2 * (lift if arm == "b" else 1.0), rng) for i in range(n) for arm in "ab"]
    return pd.concat(ads, ignore_index=True)


def at_hours(decisions: pd.DataFrame, hours: float) -> pd.DataFrame:
    return decisions[decisions["look_at"] == START + timedelta(hours=hours)]


@pytest.fixture(scope="module")
def planted() -> dict[str, pd.DataFrame]:
    """20 tests whose offer has +50 % ROAS (true deal revenue per spend), replayed on observed and pipeline revenue."""
    data, exps = service_data(20, 1.5, seed=11), service_tests(20)
    return {
        "observed": replay(exps, data, LOOKS, VIF1).decisions,
        "pipeline": replay(exps, data, LOOKS, VIF1, pipeline=PIPELINE).decisions,
    }


def test_observed_revenue_cannot_decide_at_48h_nor_find_the_winner_in_14_days(planted) -> None:
    obs = planted["observed"]
    assert (at_hours(obs, 48)["decision"] == "insufficient-data").all()
    assert at_hours(obs, 48)["reason"].str.contains("has no revenue").all()  # the deals close 5-7 days later
    assert (at_hours(obs, 120)["decision"] == "insufficient-data").all()  # still no two days with revenue at 5 days
    # 14 days: too few lumpy deals to separate the arms (the pipeline finds the winner in >= 90 %, next test)
    assert (at_hours(obs, 14 * 24)["winner"] == "offer").mean() <= 0.2
    assert not (obs["winner"] == "control").any()


def test_pipeline_value_recovers_the_planted_roas_winner(planted) -> None:
    pipe = planted["pipeline"]
    judged = at_hours(pipe, 48)
    assert (judged["decision"] != "insufficient-data").all()  # mature at 48 h: ROAS is judged on pipeline value
    assert judged["reason"].str.endswith("(ROAS on pipeline value)").all()
    final = at_hours(pipe, 14 * 24)
    assert (final["winner"] == "offer").mean() >= 0.9 and not (pipe["winner"] == "control").any()
    promoted = final[final["winner"] == "offer"]
    assert promoted["explanation"].str.contains("ROAS here is on pipeline value, not observed revenue").all()
    assert promoted["explanation"].str.contains("'offer' 1.").all()  # its blended score, above the control's 1.00


def test_money_metric_is_held_until_mature_and_spends_no_alpha(planted) -> None:
    pipe = planted["pipeline"]
    early = pipe[pipe["look_at"] < START + timedelta(hours=48)]
    assert (early["decision"] == "insufficient-data").all()
    at_30h = at_hours(pipe, 30)["reason"]
    # 30 h after the first day's start: the sigmoid's ROAS weight is 0.40 (6 h -> 0.02, 48 h -> 0.90)
    assert at_30h.str.contains("conversions not mature: ROAS weight w = 0.40 at 30 h for 'control'").all()
    assert early["alpha_spent"].isna().all()
    assert (at_hours(pipe, 48)["alpha_spent"] > 0).all()


def test_aa_with_pipeline_value_keeps_false_promotes_below_alpha_under_repeated_looks() -> None:
    n = 100
    exps = service_tests(n)
    decisions = replay(exps, service_data(n, 1.0, seed=5), LOOKS, VIF1, pipeline=PIPELINE).decisions
    assert decisions.groupby("experiment_id").size().eq(len(LOOKS)).all()  # 56 looks each
    false_promotes = int(decisions.groupby("experiment_id")["decision"].agg(lambda d: (d == "promote").any()).sum())
    # the observed rate must not be significantly above alpha = 0.05 (one-sided exact binomial test, scipy)
    assert stats.binomtest(false_promotes, n, 0.05, alternative="greater").pvalue > 0.01
    judged = decisions[decisions["decision"] != "insufficient-data"]
    assert len(judged) > 0.9 * n * (len(LOOKS) - 7)  # looks were really taken after maturity


def test_arm_maturity_equals_blended_scores_of_the_arms_as_ads() -> None:
    """Reference: the ad-level ``blended_scores`` on the arms' rows (each arm as one ad, the control as reference)."""
    data = service_data(1, 1.3, seed=2)
    settings = DecisionSettings(pipeline=PIPELINE)
    for hours in (30, 48, 100):
        look = START + timedelta(hours=hours)
        arms = data.assign(ad_id=data["ad_id"].map({"svc-0-a": "control", "svc-0-b": "offer"}))
        seen = arms[pd.to_datetime(arms["date"]).dt.date < look.date()]
        ref = blended_scores(seen, settings, look, control_ad_id="control").set_index("ad_id")
        valued = with_pipeline_revenue(seen, PIPELINE)
        totals = {
            n: g[["impressions", "clicks", "spend", "revenue"]].sum().to_dict() for n, g in valued.groupby("ad_id")
        }
        m = arm_maturity(["control", "offer"], "control", totals, dict.fromkeys(totals, DAY0), look, settings)
        for arm in ("control", "offer"):
            assert m.ages[arm] == pytest.approx(ref.at[arm, "age_hours"])
            assert m.weights[arm] == pytest.approx(ref.at[arm, "weight_roas"])
            assert m.scores[arm] == pytest.approx(ref.at[arm, "score"])
        assert m.mature == (ref["weight_roas"].min() >= MATURE_WEIGHT - 1e-9)


def test_ctr_tests_decide_as_without_a_pipeline_with_context_added() -> None:
    data, exps = service_data(3, 1.5, seed=4), service_tests(3, metric="ctr", min_samples_per_variant=1000)
    plain = replay(exps, data, LOOKS[:20], VIF1).decisions
    served = replay(exps, data, LOOKS[:20], VIF1, pipeline=PIPELINE).decisions
    same = ["experiment_id", "look_at", "decision", "winner", "lift", "lift_low", "lift_high", "z", "alpha_spent"]
    pd.testing.assert_frame_equal(plain[same], served[same])
    assert (served["reason"] == plain["reason"]).all()  # no money metric: nothing is "on pipeline value"
    assert served["explanation"].str.contains("Blended CTR/ROAS scores, 1 = the control").all()


def test_a_roas_guardrail_waits_for_maturity_and_holds_the_winner() -> None:
    data = service_data(1, 1.0, seed=8)
    data.loc[data["ad_id"] == "svc-0-b", "clicks"] *= 2  # a clear CTR winner
    (exp,) = service_tests(1, metric="ctr", min_samples_per_variant=1000, min_runtime_hours=0,
                           guardrails=[{"metric": "roas", "max_degradation": 0.5}])  # fmt: skip
    look = START + timedelta(hours=36)  # one complete day, w = 0.61
    row = decide_look([exp], data, look, VIF1, pipeline=PIPELINE).decisions.iloc[0]
    assert row["decision"] == "continue" and row["guardrail_status"].startswith("roas|offer: conversions not mature")
    assert "its ROAS guardrail waits: conversions not mature: ROAS weight w = 0.61 at 36 h" in row["reason"]
    assert row["reason"].endswith("(ROAS on pipeline value)")


def test_bad_pipeline_and_no_pipeline_is_unchanged() -> None:
    shrinking = {**FUNNEL, "stages": [{**FUNNEL["stages"][0], "value": 90_000}, *FUNNEL["stages"][1:]]}
    data, (exp,) = service_data(1, 1.0, seed=1), service_tests(1)
    with pytest.raises(ConversionMaturityError, match="'call_booked' is worth less than 'lead'"):
        decide_look([exp], data, START + timedelta(days=3), VIF1, pipeline=parse_pipeline(shrinking, "t"))
    with pytest.raises(ConversionMaturityError, match=r"needs the client's decisions\.pipeline"):
        arm_maturity(["control"], "control", {}, {}, START, DecisionSettings())
    nothing = arm_maturity(["control", "offer"], "control", {}, {}, START, DecisionSettings(pipeline=PIPELINE))
    assert not nothing.mature and nothing.ages == {"control": 0.0, "offer": 0.0}
    assert all(math.isnan(s) for s in nothing.scores.values()) and "'offer' no data yet" in nothing.context()


def test_the_revenue_source_is_fixed_at_a_tests_first_look() -> None:
    data, exps = service_data(1, 1.5, seed=3), service_tests(1)
    first, later = LOOKS[:20], LOOKS[20:24]
    # started before the client's pipeline was configured: stays on observed revenue after it is added
    before = replay(exps, data, first, VIF1).decisions
    kept = decide_look(exps, data, later[0], VIF1, before, pipeline=PIPELINE).decisions.iloc[0]
    assert kept["decision"] == "insufficient-data" and "has no revenue" in kept["reason"]
    assert "pipeline value" not in kept["reason"] and '"revenue"' not in kept["state"]
    # started on pipeline value: the state says so, and dropping the pipeline mid-test is refused
    on_pipeline = replay(exps, data, first, VIF1, pipeline=PIPELINE).decisions
    assert on_pipeline["state"].str.contains('"revenue": "pipeline value"').all()
    with pytest.raises(DecisionInputError, match=r"started on pipeline value but the client.s decisions\.pipeline"):
        decide_look(exps, data, later[0], VIF1, on_pipeline)
