"""One decision per running experiment and look: continue, promote, stop-no-difference, blocked-srm,
blocked-guardrail or insufficient-data, with its reason, explanation, confidence and the numbers behind it.

Why: the 6-hourly schedule looks at every test again and again; each look must be valid however often it happens
(group-sequential tests, Lan & DeMets 1983; Holm across variants, Ye et al. 2013; anytime-valid SRM, Lindon & Malek
2022) and a call once made must not flip with noise. Rules, in this order (first that applies):

1. Only ``status: running`` experiments are judged; the others get no row (their last row stays the record).
2. insufficient-data: look before the start, runtime (look time - start) below ``min_runtime_hours``, an arm below
   ``min_samples_per_variant`` (in ``SAMPLE_UNIT`` of the primary metric), or an arm without a positive metric yet.
   No alpha is spent; the reason says what is missing and, for samples, about how long at the current rate.
   A service business (``decisions.pipeline``): also a money metric (ROAS, revenue per impression) before its
   conversions are mature, i.e. while the CTR -> ROAS blend's weight of the youngest arm is below 0.90; revenue is
   then the rows' pipeline value throughout (:mod:`conversion_maturity`).
3. blocked-srm: anytime-valid SRM on impressions per variant against the planned split (``srm_check`` at 0.001 with
   the previous look's running-minimum p); sticky by construction (that p never recovers). Blocks everything.
4. blocked-guardrail: a guardrail's one-sided sequential interval (own design, alpha per side) lies entirely beyond
   its tolerated degradation for some variant (``variant_comparison.guardrail_look``).
5. Primary metric (``variant_comparison.compare_variants``, Holm): a variant whose repeated interval lies entirely
   beyond ``+min_relative_lift`` in the good direction -> promote (the best such); every variant worse (interval on
   the bad side of 0) or equivalent, at least one worse -> promote with winner ``control``; every interval inside
   ``(-min, +min)`` (``practical_significance.classify_lift``: equivalent or below the minimum) or the planned
   horizon reached (no alpha left) -> stop-no-difference; otherwise continue (also when a winner's guardrail cannot
   be computed yet, e.g. no conversions, or is already estimated beyond its tolerance while its repeated interval
   has not decided: a winner is never promoted unchecked, so money never follows a call a guardrail then reverses).

Stickiness: promote, stop-no-difference and blocked-guardrail are recorded in the state and repeated on later looks
("decided at look k on <time>") unless a later look contradicts them: an SRM or a guardrail breach appears, the
promoted variant's interval lies entirely on the bad side of 0, (control promoted) a variant's interval lies entirely
on the good side, or (stop-no-difference) some interval lies entirely beyond the minimum either way. Then the fresh
decision is shown with "reversed: ...", and recorded if final. Blocked-guardrail and blocked-srm are never reversed.
The rules themselves live in :mod:`decision_rules`; this module aggregates the data and runs the looks.

Confidence: 1 - alpha for calls backed by the repeated intervals (promote, stop-no-difference by equivalence,
blocked-guardrail): the family-wise guarantee, Holm keeping it across variants; 1 - sequential SRM p for blocked-srm;
NaN otherwise (continue, insufficient-data, a stop because the horizon was reached). The Bayesian chance to win and
expected loss (relative to the control) are shown beside it and never decide.

Columns: the decision row's lift, interval, z, boundary, chance to win and expected loss are those of its
``variant`` (the winner if a variant wins; else the guardrail-breaching variant, the worse variant when the control
wins, or the best-looking variant). ``alpha_spent`` is the family's: the variants' designs at the first Holm step.

Data: a look at ``look_at`` sees the ad rows with ``start date <= date < look_at's date`` in the client's timezone
(complete days only), so all looks of one day see the same data and only the first spends alpha. Spend time is the
calendar fraction ``(look_at - start) / max_duration_days``, capped at 1. Everything the next look needs (plans, z
histories, SRM running minimum, the recorded decision) is in the ``state`` JSON column, so replaying the same looks on
the same data gives identical rows, whether in one call (:func:`replay`) or one look at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.decisions.conversion_maturity import (
    PIPELINE_SOURCE,
    REVENUE_SOURCE_KEY,
    Maturity,
    arm_maturity,
    with_pipeline_revenue,
)
from optimizer_pipeline.lib.decisions.decision_rules import (
    COUNTS,
    DECISION_COLUMNS,
    DECISIONS,
    VARIANT_COLUMNS,
    DecisionInputError,
    judge,
)
from optimizer_pipeline.lib.decisions.experiment_registry import Experiment
from optimizer_pipeline.lib.decisions.overdispersion import VifEstimate
from optimizer_pipeline.lib.registry.decisions_settings import DecisionSettings, PipelineSettings

__all__ = [
    "DECISIONS", "DECISION_COLUMNS", "VARIANT_COLUMNS", "DecisionInputError", "LookResult", "decide_look",
    "looks_between", "replay",
]  # fmt: skip


@dataclass(frozen=True)
class LookResult:
    """``decisions``: one row per experiment and look; ``variants``: one row per experiment, look and variant."""

    decisions: pd.DataFrame
    variants: pd.DataFrame


def looks_between(start: datetime, end: datetime, every_hours: float = 6, tz: str = "UTC") -> list[datetime]:
    """Look times from ``start`` to ``end`` inclusive every ``every_hours``, as aware datetimes in ``tz``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise DecisionInputError("start and end must be timezone-aware datetimes")
    if not every_hours > 0:
        raise DecisionInputError(f"every_hours must be > 0, got {every_hours!r}")
    zone, step = ZoneInfo(tz), timedelta(hours=every_hours)
    out, t = [], start
    while t <= end:
        out.append(t.astimezone(zone))
        t += step
    return out


def _daily(experiments: Sequence[Experiment], ad_rows: pd.DataFrame, look_at: datetime, zone: ZoneInfo) -> Any:
    """Per (experiment, variant) the per-day sums of the count columns, in complete days before the look."""
    missing = [c for c in ("ad_id", "date", *COUNTS) if c not in ad_rows.columns]
    if missing:
        raise DecisionInputError(f"ad_rows lacks columns {missing}")
    arms = [(e.id, v.name) for e in experiments for v in e.variants]
    owner = {a: i for i, (e, v) in enumerate((e, v) for e in experiments for v in e.variants) for a in v.ad_ids}
    first = np.array([np.datetime64(e.start.astimezone(zone).date()) for e in experiments for _ in e.variants])
    ids = ad_rows["ad_id"].astype(str)
    rows = ad_rows[ids.isin(owner).to_numpy()]
    arm = ids[ids.isin(owner)].map(owner).to_numpy(dtype=int)
    day = pd.to_datetime(rows["date"]).to_numpy().astype("datetime64[D]")
    keep = (day < np.datetime64(look_at.astimezone(zone).date())) & (day >= first[arm] if len(arm) else True)
    frame = pd.DataFrame({c: pd.to_numeric(rows[c]).fillna(0).to_numpy(dtype=float)[keep] for c in COUNTS})
    frame["arm"], frame["date"] = arm[keep], day[keep]
    daily = frame.groupby(["arm", "date"], sort=True)[list(COUNTS)].sum()
    values = daily.to_numpy()
    code = daily.index.get_level_values("arm").to_numpy()
    if not len(code):
        return {}
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], len(code)]
    return {arms[code[b]]: values[b:e] for b, e in zip(starts, ends, strict=True)}


def aa_daily_pairs(experiments: Sequence[Experiment], ad_rows: pd.DataFrame, before: Any = None) -> pd.DataFrame:
    """One pair per A/A experiment (``aa: true``), treatment arm and day since its start (``date < before`` when
    given): clicks and impressions of the control and of the arm, the input of ``overdispersion.aa_vif``. Each day's
    pair is the same creative served twice, so its z^2 measures the noise beyond binomial directly."""
    cols = ["successes_a", "trials_a", "successes_b", "trials_b"]
    rows = ad_rows if before is None else ad_rows[pd.to_datetime(ad_rows["date"]).dt.date < before]
    if not len(rows):
        return pd.DataFrame(columns=cols)
    per_day = rows.assign(day=pd.to_datetime(rows["date"]).dt.date).groupby(["ad_id", "day"])[["clicks", "impressions"]]
    totals = per_day.sum()
    out = []
    for exp in experiments:
        if not exp.aa or exp.start is None:
            continue

        def arm(ads: tuple[str, ...]) -> pd.DataFrame:
            mine = totals[totals.index.get_level_values("ad_id").isin(ads)]
            return mine.groupby(level="day").sum()

        control = arm(exp.control.ad_ids)
        for variant in exp.treatments:
            both = control.join(arm(variant.ad_ids), lsuffix="_a", rsuffix="_b", how="inner")
            both = both[both.index >= exp.start.date()]
            out.append(
                pd.DataFrame(
                    {
                        "successes_a": both["clicks_a"].to_numpy(dtype=float),
                        "trials_a": both["impressions_a"].to_numpy(dtype=float),
                        "successes_b": both["clicks_b"].to_numpy(dtype=float),
                        "trials_b": both["impressions_b"].to_numpy(dtype=float),
                    }
                )
            )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


def _previous_states(previous: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    if previous is None or len(previous) == 0:
        return {}
    for col in ("experiment_id", "look_index", "state"):
        if col not in previous.columns:
            raise DecisionInputError(f"previous decisions lack column {col!r}")
    last = previous.sort_values(["experiment_id", "look_index"]).drop_duplicates("experiment_id", keep="last")
    return {e: json.loads(s) for e, s in zip(last["experiment_id"], last["state"], strict=True)}


def decide_look(
    experiments: Sequence[Experiment],
    ad_rows: pd.DataFrame,
    look_at: datetime,
    vif: VifEstimate,
    previous: pd.DataFrame | None = None,
    *,
    timezone: str = "UTC",
    pipeline: PipelineSettings | None = None,
) -> LookResult:
    """Decide every running experiment at ``look_at`` from the complete days before it and the previous rows.

    ``pipeline`` (the client's ``decisions.pipeline``, a service business): revenue is the rows' pipeline value and
    money metrics wait for mature conversions (:mod:`conversion_maturity`); ``None`` leaves every decision as is."""
    if look_at.tzinfo is None:
        raise DecisionInputError("look_at must be a timezone-aware datetime")
    zone = ZoneInfo(timezone)
    running = [e for e in experiments if e.status == "running" and e.start is not None]
    states = _previous_states(previous)
    on_pipeline = [e for e in running if _revenue_source(e, states.get(e.id), pipeline) == PIPELINE_SOURCE]
    daily = _daily([e for e in running if e not in on_pipeline], ad_rows, look_at, zone)
    if on_pipeline and pipeline is not None:
        valued = _daily(on_pipeline, with_pipeline_revenue(ad_rows, pipeline), look_at, zone)
        daily.update(valued)
        settings = DecisionSettings(timezone=timezone, pipeline=pipeline)
        maturity = _maturities(on_pipeline, ad_rows, valued, look_at, settings)
    else:
        maturity = {}
    rows, var_rows = [], []
    for exp in running:
        state = states.get(exp.id)
        if state is not None and datetime.fromisoformat(state["look_at"]) >= look_at:
            raise DecisionInputError(f"experiment '{exp.id}': look {look_at} is not after its previous look")
        row, vrows = judge(exp, daily, look_at, vif, state, maturity.get(exp.id))
        rows.append(row)
        var_rows.extend(vrows)
    return LookResult(
        _text_as_str(pd.DataFrame(rows, columns=DECISION_COLUMNS)),
        _text_as_str(pd.DataFrame(var_rows, columns=VARIANT_COLUMNS)),
    )


def _revenue_source(exp: Experiment, state: dict[str, Any] | None, pipeline: PipelineSettings | None) -> str:
    """Where the test's revenue comes from, fixed at its first look (stored in its state by ``judge``): a test
    that started before the client's pipeline was configured stays on observed revenue, so its metric never changes
    meaning half-way; one that started on pipeline value needs the pipeline until it ends."""
    if state is None:
        return PIPELINE_SOURCE if pipeline is not None else "observed"
    source = state.get(REVENUE_SOURCE_KEY, "observed")
    if source == PIPELINE_SOURCE and pipeline is None:
        raise DecisionInputError(
            f"experiment '{exp.id}' started on pipeline value but the client's decisions.pipeline is gone: restore "
            "the pipeline block in clients.yaml (its money metric cannot switch to observed revenue mid-test), or "
            "end the test (status: completed)"
        )
    return source


def _maturities(
    running: Sequence[Experiment], ad_rows: pd.DataFrame, daily: Any, look_at: datetime, settings: DecisionSettings
) -> dict[str, Maturity]:
    """Each running experiment's arm maturity at the look (service businesses only; empty without a pipeline):
    arm totals from ``daily``, each arm's first day with impressions (start day <= day < look day) from the rows."""
    if settings.pipeline is None or not running:
        return {}
    zone = settings.zone
    owner = {a: (e.id, v.name) for e in running for v in e.variants for a in v.ad_ids}
    first = {arm: e.start.astimezone(zone).date() for e in running for v in e.variants for arm in [(e.id, v.name)]}
    ids = ad_rows["ad_id"].astype(str)
    days = pd.to_datetime(ad_rows["date"]).dt.date
    arm = ids.map(owner)
    impressions = pd.to_numeric(ad_rows["impressions"]).fillna(0).to_numpy()
    live = arm.notna().to_numpy() & (impressions > 0) & (days < look_at.astimezone(zone).date()).to_numpy()
    starts = pd.DataFrame({"arm": arm[live].to_numpy(), "day": days[live].to_numpy()})
    starts = starts[np.array([d >= first[a] for a, d in zip(starts["arm"], starts["day"], strict=True)], dtype=bool)]
    first_days = starts.groupby("arm", sort=False)["day"].min().to_dict()
    cols = [COUNTS.index(c) for c in ("impressions", "clicks", "spend", "revenue")]
    out = {}
    for e in running:
        names = [v.name for v in e.variants]
        totals = {
            n: dict(
                zip(("impressions", "clicks", "spend", "revenue"), daily[(e.id, n)][:, cols].sum(axis=0), strict=True)
            )
            for n in names
            if (e.id, n) in daily
        }
        mine = {n: first_days[(e.id, n)] for n in names if (e.id, n) in first_days}
        out[e.id] = arm_maturity(names, e.control.name, totals, mine, look_at, settings)
    return out


def _text_as_str(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as one dtype whatever the look (text -> string, flags -> nullable boolean, numbers with gaps
    -> float): a trail concatenated from stored and fresh looks then has one schema, and a rerun writes the same
    bytes."""
    for c in frame.columns:
        col = frame[c]
        if col.dtype != object:
            continue
        values = col.dropna().tolist()
        if all(isinstance(v, str) for v in values):
            frame[c] = col.astype("str")
        elif all(isinstance(v, bool | np.bool_) for v in values):
            frame[c] = col.astype("boolean")
        elif all(isinstance(v, int | float | np.integer | np.floating) for v in values):
            frame[c] = col.astype(float)
    return frame


def replay(
    experiments: Sequence[Experiment],
    ad_rows: pd.DataFrame,
    looks: Sequence[datetime],
    vif: VifEstimate,
    *,
    timezone: str = "UTC",
    pipeline: PipelineSettings | None = None,
) -> LookResult:
    """Every look in order, each fed the previous results: the same rows the schedule appends one look at a time."""
    decisions, variants = [], []
    latest: pd.DataFrame | None = None
    for t in looks:
        res = decide_look(experiments, ad_rows, t, vif, latest, timezone=timezone, pipeline=pipeline)
        decisions.append(res.decisions)
        variants.append(res.variants)
        latest = res.decisions if latest is None else pd.concat([latest, res.decisions], ignore_index=True)
        latest = latest.drop_duplicates("experiment_id", keep="last")
    if not decisions:
        return LookResult(pd.DataFrame(columns=DECISION_COLUMNS), pd.DataFrame(columns=VARIANT_COLUMNS))
    return LookResult(pd.concat(decisions, ignore_index=True), pd.concat(variants, ignore_index=True))
