"""Experiment decisions for a service business (a client with ``decisions.pipeline``): money metrics on pipeline
value, and no money call before the conversions are mature.

Why: a clinic or an agency closes its sales 5-7 days after the click, so an A/B test's observed revenue at 24-72 h
is mostly zero: ROAS cannot be compared ("no revenue yet") or, worse, compares the few fast closers. Two existing
pieces fix it, and this module plugs them into the decision engine:

* **Pipeline value** (:func:`optimizer_pipeline.lib.actions.pipeline_value.pipeline_value`): each lead is worth its
  furthest funnel stage's chance of closing x deal value, discounted for the days still to wait. For such a client
  the ``revenue`` of every ``ad_performance`` row is replaced by its pipeline value before the arms are summed, so
  ``roas`` and ``revenue_per_impression`` (the metrics whose numerator is revenue, :data:`MONEY_METRICS`) are "on
  pipeline value", and the decision text says so (``experiment_variants.revenue`` of such a test is its pipeline
  value too). The metric is the one declared in the experiments file before the test started: only how its
  numerator is measured changes, for every look of the test alike.
* **Maturity** (the CTR -> ROAS blend of :mod:`optimizer_pipeline.lib.actions.blended_scores`): the blend's ROAS
  weight ``w(age)`` says how far the money signal of an ad of that age can be trusted. A money-metric look is
  *insufficient-data* ("conversions not mature: ROAS weight w = 0.31 at 20 h") until the weight of the youngest arm
  reaches :data:`MATURE_WEIGHT` (0.90, the sigmoid's ``full_hours`` anchor; 48 h by default). Like the minimum
  runtime it spends no alpha, so the anytime-valid guarantee is untouched, and the first judged look spends the
  Lan-DeMets alpha of its calendar time at once (skipped immature looks waste none of it). A money guardrail is not
  computed while immature either, and its winner is held (continue) until it can be checked.
* Declared before looking: the revenue source is fixed at a test's first look and stored in its state; a test
  that started before the client's ``pipeline`` block was added stays on observed revenue to its end, and removing
  the block while a pipeline test runs is an error (restore it or end the test).
* Context, never deciding: each arm's blended score (the arm's CTR and pipeline ROAS indexed on the control's,
  weighted by the arm's age) with its ROAS weight, shown in the explanation of every look of such a client.

The hold depends only on the arms' ages (the calendar), never on the outcomes, so it cannot pick a favourable look.
Why not decide on the blended score itself: it mixes two metrics with a weight that moves with the calendar, so it
is not the metric declared before looking, and its variance has no sequential design; it ranks ads, it does not
test them. Why a hold rather than a smaller alpha: an immature ROAS is biased (towards the arm whose leads close
faster), not just noisy, and no boundary corrects a bias.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.actions.blended_scores import SIGMOID_FULL_WEIGHT, age_hours, blend, blend_weight
from optimizer_pipeline.lib.actions.pipeline_value import pipeline_value, stage_worth
from optimizer_pipeline.lib.registry.decisions_settings import DecisionSettings, PipelineSettings

#: Metrics whose numerator is revenue: on pipeline value, and held until mature, for a service business.
MONEY_METRICS: frozenset[str] = frozenset({"roas", "revenue_per_impression"})
#: ROAS weight of the blend from which a money metric is judged (the sigmoid's ``full_hours`` anchor).
MATURE_WEIGHT = SIGMOID_FULL_WEIGHT
#: The state key fixing a test's revenue source at its first look, and its value for pipeline value (absent =
#: observed revenue, so the states of clients without a pipeline are unchanged).
REVENUE_SOURCE_KEY = "revenue"
PIPELINE_SOURCE = "pipeline value"
#: An arm's totals over the days the decision sees: impressions, clicks, spend and (pipeline) revenue.
ArmCounts = Mapping[str, float]


class ConversionMaturityError(ValueError):
    """A pipeline that cannot value decision rows (a stage worth less than the one before it)."""


@dataclass(frozen=True)
class Maturity:
    """Per arm (variant name): its age in hours at the look, the blend's ROAS weight and blended score."""

    ages: dict[str, float]
    weights: dict[str, float]
    scores: dict[str, float]
    full_hours: float

    @property
    def youngest(self) -> str:
        """The arm with the lowest ROAS weight (the least mature)."""
        return min(self.weights, key=lambda n: (self.weights[n], n))

    @property
    def mature(self) -> bool:
        """Whether every arm's ROAS weight has reached :data:`MATURE_WEIGHT`."""
        return self.weights[self.youngest] >= MATURE_WEIGHT - 1e-9

    def hold_reason(self) -> str:
        """Why a money metric is not judged yet, with the youngest arm's weight and age."""
        arm = self.youngest
        return (
            f"conversions not mature: ROAS weight w = {self.weights[arm]:.2f} at {self.ages[arm]:.0f} h for "
            f"'{arm}' (money metrics are judged from w >= {MATURE_WEIGHT:.2f}, about {self.full_hours:g} h after "
            "an arm's first day)"
        )

    def context(self) -> str:
        """Each arm's blended score and weight, for the explanation (never deciding)."""
        parts = [
            f"'{n}' {self.scores[n]:.2f} (ROAS weight {self.weights[n]:.2f} at {self.ages[n]:.0f} h)"
            if math.isfinite(self.scores[n])
            else f"'{n}' no data yet"
            for n in self.ages
        ]
        return "Blended CTR/ROAS scores, 1 = the control, for context only: " + ", ".join(parts) + "."


def with_pipeline_revenue(ad_rows: pd.DataFrame, pipeline: PipelineSettings) -> pd.DataFrame:
    """``ad_rows`` with ``revenue`` replaced by each row's pipeline value (its stage counts valued by the funnel)."""
    worth = stage_worth(pipeline)
    if np.any(np.diff(worth) < 0):
        i = int(np.flatnonzero(np.diff(worth) < 0)[0]) + 1
        raise ConversionMaturityError(
            f"pipeline stage {pipeline.stages[i].name!r} is worth less than {pipeline.stages[i - 1].name!r} "
            f"({worth[i]:,.2f} < {worth[i - 1]:,.2f}): a day's pipeline revenue could be negative, which a ROAS "
            "test cannot use; raise its probability or value, or lower its days_to_close"
        )
    return ad_rows.assign(revenue=pipeline_value(ad_rows, pipeline).to_numpy())


def arm_maturity(
    names: Sequence[str],
    control: str,
    totals: Mapping[str, ArmCounts],
    first_days: Mapping[str, date],
    look_at: datetime,
    settings: DecisionSettings,
) -> Maturity:
    """Each arm (``names``, file order) scored as one ad would be by ``blended_scores``: its age from the start of
    its first day with impressions (``first_days``; an arm without one is 0 h old), the client's blend weight at that
    age, its CTR and ROAS (pipeline revenue / spend, from ``totals``) indexed on the control arm's (NaN while the
    control has none), blended. Arm totals come from the rows the decision sees, so no second pass over the data."""
    if settings.pipeline is None:
        raise ConversionMaturityError("arm maturity needs the client's decisions.pipeline")
    curve = settings.pipeline.blend
    seen = [n for n in names if n in first_days]
    ages = dict.fromkeys(names, 0.0)
    starts = age_hours(pd.Series([first_days[n] for n in seen], dtype=object), settings, look_at)
    ages.update(zip(seen, starts.tolist(), strict=True))
    weights = dict(zip(names, np.atleast_1d(blend_weight(np.array([ages[n] for n in names]), curve)), strict=True))

    def rate(num: str, den: str, n: str) -> float:
        c = totals.get(n)
        return c[num] / c[den] if c is not None and c[den] > 0 else math.nan

    def index(num: str, den: str, n: str) -> float:
        ref = rate(num, den, control)
        return rate(num, den, n) / ref if ref > 0 else math.nan

    w = np.array([weights[n] for n in names])
    ctr_i = np.array([index("clicks", "impressions", n) for n in names])
    roas_i = np.array([index("revenue", "spend", n) for n in names])
    scores = dict(zip(names, blend(ctr_i, roas_i, w).tolist(), strict=True))
    return Maturity(ages, {n: float(v) for n, v in weights.items()}, scores, curve.full_hours)
