"""Blended CTR -> ROAS scores and the pipeline value behind synthetic ROAS: the curves' anchors and shape, a worked
funnel example by hand, a simulated service business whose lagged, better ad must win at 72 h, and clear errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from optimizer_pipeline.lib.actions.blended_scores import (
    SCORE_COLUMNS,
    BlendedScoreError,
    blend_weight,
    blended_daily_scores,
    blended_scores,
    sigmoid_parameters,
)
from optimizer_pipeline.lib.actions.pipeline_value import PipelineValueError, pipeline_value, stage_counts
from optimizer_pipeline.lib.registry.decisions_settings import BlendCurve, DecisionSettings, parse_decisions

#: The seed client: 7,000 AED orders, a 5-7 day cycle (6 days from lead to sale on average).
FUNNEL = {
    "currency": "AED",
    "half_life_days": 7,
    "stages": [
        {"name": "lead", "probability": 0.10, "value": 7000, "days_to_close": 6},
        {"name": "call_booked", "probability": 0.35, "value": 7000, "days_to_close": 4},
        {"name": "proposal", "probability": 0.60, "value": 7000, "days_to_close": 1},
    ],
}
DAY0 = date(2026, 3, 1)


def settings(pipeline: dict | None = None, **blend: object) -> DecisionSettings:
    raw = dict(FUNNEL if pipeline is None else pipeline)
    if blend:
        raw["blend"] = blend
    return parse_decisions({"timezone": "Asia/Dubai", "pipeline": raw}, "clients.yaml: client 'Acme'")


# --- blend curves -------------------------------------------------------------------------------------------------


def test_sigmoid_hits_its_anchors_and_stated_parameters():
    curve = BlendCurve()
    midpoint, slope = sigmoid_parameters(curve)
    assert midpoint == pytest.approx(32.8444, abs=1e-4) and slope == pytest.approx(0.144977, abs=1e-6)
    assert blend_weight(6.0, curve) == pytest.approx(0.02, abs=1e-12)
    assert blend_weight(48.0, curve) == pytest.approx(0.90, abs=1e-12)
    assert blend_weight(0.0, curve) < 0.02 and blend_weight(72.0, curve) > 0.99  # ~all CTR early, ~all ROAS late
    assert blend_weight(24.0, curve) == pytest.approx(float(expit(slope * (24.0 - midpoint))))
    other = BlendCurve("sigmoid", 12.0, 96.0)  # anchors move with the settings
    assert [blend_weight(h, other) for h in (12.0, 96.0)] == pytest.approx([0.02, 0.90], abs=1e-12)


def test_linear_and_step_curves():
    linear, step = BlendCurve("linear"), BlendCurve("step")
    assert list(blend_weight(np.array([0.0, 6.0, 27.0, 48.0, 100.0]), linear)) == pytest.approx([0, 0, 0.5, 1, 1])
    assert list(blend_weight(np.array([0.0, 47.9, 48.0, 100.0]), step)) == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("kind", ["sigmoid", "linear", "step"])
def test_curves_are_monotone_within_0_and_1(kind):
    ages = np.linspace(0.0, 500.0, 5001)
    w = blend_weight(ages, BlendCurve(kind, 6.0, 48.0))
    assert np.all((w >= 0.0) & (w <= 1.0)) and np.all(np.diff(w) >= 0.0)


def test_bad_curve_and_age():
    with pytest.raises(BlendedScoreError, match="kind"):
        blend_weight(10.0, BlendCurve("cubic"))
    with pytest.raises(BlendedScoreError, match="start < full"):
        blend_weight(10.0, BlendCurve("linear", 48.0, 6.0))
    with pytest.raises(BlendedScoreError, match="NaN"):
        blend_weight(float("nan"))


# --- pipeline value -----------------------------------------------------------------------------------------------


def test_worked_example_three_stage_funnel_with_decay():
    """Hand computation, half-life 7 days: worth of a prospect at each stage e = p * 7000 * 2^(-days_to_close / 7):
    lead 700 * 2^(-6/7) = 700 * 0.5520447 = 386.4313; call 2450 * 2^(-4/7) = 2450 * 0.6729501 = 1648.7277;
    proposal 4200 * 2^(-1/7) = 4200 * 0.9057237 = 3804.0394. The ad: 5 leads (3 on day 1, 2 on day 2), 2 of them
    booked a call on day 2, 1 of those got a proposal on day 3. Prospects valued once, at the furthest stage:
    3 x 386.4313 + 1 x 1648.7277 + 1 x 3804.0394 = 6612.0611; by day: 3 x 386.4313 = 1159.2940, then
    2 x 386.4313 + 2 x (1648.7277 - 386.4313) = 3297.4555, then 3804.0394 - 1648.7277 = 2155.3117."""
    rows = pd.DataFrame(
        {"conversions": [3, 2, 0], "call_booked": [0, 2, 0], "proposal": [0, 0, 1], "currency": ["AED"] * 3}
    )
    value = pipeline_value(rows, settings().pipeline)
    assert list(value) == pytest.approx([1159.2940, 3297.4555, 2155.3117], abs=1e-3)
    assert value.sum() == pytest.approx(6612.0611, abs=1e-3)
    # a first-stage column named after the stage wins over conversions; absent stage columns count 0
    named = pipeline_value(pd.DataFrame({"lead": [5], "conversions": [99]}), settings().pipeline)
    assert list(named) == pytest.approx([5 * 386.4313], abs=1e-3)
    assert list(stage_counts(pd.DataFrame({"conversions": [4]}), settings().pipeline).iloc[0]) == [4.0, 0.0, 0.0]


def test_no_decay_gives_the_plain_weighted_pipeline():
    long_half_life = {**FUNNEL, "half_life_days": 1e12}
    rows = pd.DataFrame({"conversions": [10], "call_booked": [4], "proposal": [1]})
    # 6 leads x 700 + 3 calls x 2450 + 1 proposal x 4200 = 15,750 AED
    assert pipeline_value(rows, settings(long_half_life).pipeline).iloc[0] == pytest.approx(15750.0, rel=1e-9)


def test_pipeline_value_rejects_bad_rows():
    pipeline = settings().pipeline
    with pytest.raises(PipelineValueError, match=r"USD.*AED"):
        pipeline_value(pd.DataFrame({"conversions": [1], "currency": ["USD"]}), pipeline)
    with pytest.raises(PipelineValueError, match=r"call_booked.*negative"):
        pipeline_value(pd.DataFrame({"conversions": [1], "call_booked": [-1]}), pipeline)
    with pytest.raises(PipelineValueError, match=r"proposal.*non-numeric"):
        pipeline_value(pd.DataFrame({"conversions": [1], "proposal": ["two"]}), pipeline)


# --- blended scores -----------------------------------------------------------------------------------------------


def ad_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ad_id": ["a", "a", "b", "b", "c"],
            "date": [DAY0, DAY0 + timedelta(1), DAY0, DAY0 + timedelta(1), DAY0 + timedelta(1)],
            "impressions": [1000, 1000, 1000, 1000, 1000],
            "clicks": [10, 10, 20, 20, 15],
            "spend": [100.0, 100.0, 100.0, 100.0, 100.0],
            "conversions": [3, 2, 4, 4, 1],
            "call_booked": [0, 2, 0, 1, 0],
            "proposal": [0, 1, 0, 0, 0],
        }
    )


def test_blended_scores_columns_indices_and_meaning():
    as_of = datetime(2026, 3, 3, 0, 0)  # naive: Asia/Dubai midnight, 48 h after a and b started, 24 h after c
    out = blended_scores(ad_rows(), settings(), as_of).set_index("ad_id")
    assert list(out.reset_index().columns) == list(SCORE_COLUMNS)
    assert list(out["age_hours"].loc[["a", "b", "c"]]) == [48.0, 48.0, 24.0]
    assert list(out["weight_roas"].loc[["a", "c"]]) == pytest.approx([0.90, 0.217171], abs=1e-6)
    assert out.loc["a", "synthetic_revenue"] == pytest.approx(6612.0611, abs=1e-3)
    assert out.loc["a", "synthetic_roas"] == pytest.approx(6612.0611 / 200.0, abs=1e-5)
    assert out["ctr_index"].median() == pytest.approx(1.0) and out["roas_index"].median() == pytest.approx(1.0)
    manual = (1 - out["weight_roas"]) * out["ctr_index"] + out["weight_roas"] * out["roas_index"]
    assert np.allclose(out["score"], manual)
    assert "1 = client median" in out.loc["a", "explanation"] and "AED 6,612" in out.loc["a", "explanation"]
    # an aware as_of is converted to the client's timezone: 2026-03-02 20:00 UTC is midnight in Dubai (UTC+4)
    aware = blended_scores(ad_rows(), settings(), datetime(2026, 3, 2, 20, tzinfo=UTC)).set_index("ad_id")
    assert aware.loc["a", "age_hours"] == 48.0
    # against a control ad (an experiment): the control's indices are 1, the others are 1 + lift
    vs_b = blended_scores(ad_rows(), settings(), as_of, control_ad_id="b").set_index("ad_id")
    assert vs_b.loc["b", ["ctr_index", "roas_index"]].tolist() == [1.0, 1.0]
    assert vs_b.loc["a", "ctr_index"] == pytest.approx(0.5) and "the control ad" in vs_b.loc["a", "explanation"]


def test_without_pipeline_roas_is_observed_revenue_and_zero_median_falls_back():
    rows = ad_rows().assign(revenue=[0.0, 0.0, 0.0, 0.0, 300.0])  # only c has revenue: the median ROAS is 0
    out = blended_scores(rows, DecisionSettings(), datetime(2026, 3, 3)).set_index("ad_id")
    assert out.loc["c", "synthetic_roas"] == pytest.approx(3.0)
    assert out.loc["c", "roas_index"] == pytest.approx(3.0 / (300.0 / 500.0))  # vs pooled 300 / 500 spend
    assert "client pooled average" in out.loc["c", "explanation"]
    nothing = blended_scores(ad_rows(), DecisionSettings(), datetime(2026, 3, 3))
    assert (nothing["roas_index"] == 1.0).all()  # no revenue anywhere: ROAS separates nobody


def test_daily_scores_and_rows_after_as_of_are_ignored():
    daily = blended_daily_scores(ad_rows(), settings(), datetime(2026, 3, 2, 12))
    assert list(daily.columns) == ["date", *SCORE_COLUMNS]
    first = daily[daily["date"] == DAY0].set_index("ad_id")
    assert set(first.index) == {"a", "b"} and (first["age_hours"] == 24.0).all()
    second = daily[daily["date"] == DAY0 + timedelta(1)].set_index("ad_id")
    assert list(second["age_hours"].loc[["a", "c"]]) == [36.0, 12.0]  # as_of is noon of day 2
    vs_c = blended_daily_scores(ad_rows(), settings(), datetime(2026, 3, 2, 12), control_ad_id="c")
    assert "client median" in vs_c["explanation"].iloc[0]  # day 1: c has no row yet, the day's median is used
    assert vs_c.set_index(["date", "ad_id"]).loc[(DAY0 + timedelta(1), "c"), "ctr_index"] == 1.0
    early = blended_scores(ad_rows(), settings(), datetime(2026, 3, 1, 6)).set_index("ad_id")
    assert set(early.index) == {"a", "b"} and early.loc["a", "synthetic_revenue"] == pytest.approx(3 * 386.4313)


def test_scoring_errors_are_clear():
    with pytest.raises(BlendedScoreError, match=r"lack column\(s\) \['spend'\]"):
        blended_scores(ad_rows().drop(columns="spend"), settings(), datetime(2026, 3, 3))
    with pytest.raises(BlendedScoreError, match="no ad rows on or before"):
        blended_scores(ad_rows(), settings(), datetime(2026, 2, 1))
    with pytest.raises(BlendedScoreError, match="control ad 'zz'"):
        blended_scores(ad_rows(), settings(), datetime(2026, 3, 3), control_ad_id="zz")
    with pytest.raises(BlendedScoreError, match="more clicks than impressions"):
        blended_scores(ad_rows().assign(clicks=5000), settings(), datetime(2026, 3, 3))
    with pytest.raises(BlendedScoreError, match="'spend' has negative"):
        blended_scores(ad_rows().assign(spend=-1.0), settings(), datetime(2026, 3, 3))


# --- simulation: a service business whose better ad converts late -------------------------------------------------

#: Client funnel for the simulation (closed deals are a last stage, probability 1).
SIM_FUNNEL = {
    **FUNNEL,
    "stages": [*FUNNEL["stages"], {"name": "won", "probability": 1.0, "value": 7000, "days_to_close": 0}],
}
SPEND, DEAL, STARTER = 500.0, 7000.0, 1000.0
#: Per ad: impressions/day, CTR, lead rate per click, P(call | lead), P(proposal | call), P(won | proposal),
#: P(a lead buys the 1,000 AED starter package the same day and stops there), mean extra days of each step.
ADS = {
    "A": dict(imp=20000, ctr=0.01, lead=0.05, call=0.7, prop=0.7, won=0.6, starter=0.0, lag=(0.3, 0.5, 1.0)),
    "B": dict(imp=20000, ctr=0.02, lead=0.025, call=0.25, prop=0.5, won=0.6, starter=0.2, lag=(1.0, 1.0, 1.0)),
}


def true_roas(ad: dict) -> float:
    """Expected final revenue per AED spent: leads/day x (starter + deal value x P(won))."""
    leads = ad["imp"] * ad["ctr"] * ad["lead"]
    per_lead = ad["starter"] * STARTER + (1 - ad["starter"]) * ad["call"] * ad["prop"] * ad["won"] * DEAL
    return leads * per_lead / SPEND


def simulate(rng: np.random.Generator, ad_id: str, days: int) -> pd.DataFrame:
    """Daily rows observed after ``days`` full days: each lead walks the funnel; a step taken takes 1 + Poisson(lag)
    days (2 + Poisson for the close), so no deal closes before day 4; only events before day ``days`` are seen."""
    ad = ADS[ad_id]
    counts = {k: np.zeros(days, int) for k in ("conversions", "call_booked", "proposal", "won")}
    revenue, clicks = np.zeros(days), np.zeros(days, int)
    for d in range(days):
        clicks[d] = rng.binomial(ad["imp"], ad["ctr"])
        leads = rng.binomial(clicks[d], ad["lead"])
        counts["conversions"][d] += leads
        starters = rng.binomial(leads, ad["starter"])
        revenue[d] += starters * STARTER
        steps = zip(("call_booked", "proposal", "won"), ("call", "prop", "won"), ad["lag"], (1, 1, 2), strict=True)
        t = np.full(leads - starters, d)
        for stage, chance, lag, minimum in steps:
            t = t[rng.random(t.size) < ad[chance]]
            t = t + minimum + rng.poisson(lag, t.size)
            seen = np.bincount(t[t < days], minlength=days)
            counts[stage] += seen
    revenue += DEAL * counts["won"]
    return pd.DataFrame(
        {
            "ad_id": ad_id,
            "date": [DAY0 + timedelta(d) for d in range(days)],
            "impressions": ad["imp"],
            "clicks": clicks,
            "spend": SPEND,
            **counts,
            "revenue": revenue,
            "currency": "AED",
        }
    )


def test_simulation_lagged_better_ad_wins_the_blend_at_72h_while_raw_roas_at_24h_picks_the_other():
    """Seed client funnel (+ ``won``), two ads at 500 AED/day. A: CTR 1 %, 10 leads/day of high intent (70 % book a
    call, 70 % of those get a proposal, 60 % of those buy 7,000 AED), true ROAS 41.2. B: CTR 2 %, 10 leads/day, 20 %
    buy a 1,000 AED starter package the same day and stop, the rest rarely advance (25 % / 50 % / 60 %), true ROAS
    12.4. Deals close from day 4 on, so observed revenue at 24 h (and at 72 h) is B's starter packages only.
    Long-run rates on 2,000 runs (seed 7): the blend at 72 h puts A first in 97.95 %; raw observed ROAS at 24 h puts
    A strictly first in 0 % and B strictly first in 88.2 % (the rest ties at 0). Tolerance 3.5 Monte-Carlo SE."""
    assert true_roas(ADS["A"]) == pytest.approx(41.16) and true_roas(ADS["B"]) == pytest.approx(12.4)
    rng, n, pipeline = np.random.default_rng(20261205), 250, settings(SIM_FUNNEL)
    blend_72h_right = raw_24h_right = raw_24h_wrong = 0
    for _ in range(n):
        rows = pd.concat([simulate(rng, "A", 3), simulate(rng, "B", 3)], ignore_index=True)
        at_72h = blended_scores(rows, pipeline, datetime(2026, 3, 4, 0, 0))  # three full days after the start
        blend_72h_right += at_72h["ad_id"].iloc[0] == "A"
        raw_24h = rows[rows["date"] == DAY0].set_index("ad_id")["revenue"] / SPEND  # day 1's observed ROAS
        raw_24h_right += raw_24h["A"] > raw_24h["B"]
        raw_24h_wrong += raw_24h["B"] > raw_24h["A"]
    for measured, reference in ((blend_72h_right / n, 0.9795), (raw_24h_wrong / n, 0.882)):
        assert measured >= reference - 3.5 * np.sqrt(reference * (1 - reference) / n), (measured, reference)
    assert raw_24h_right == 0
