"""The rules of one experiment at one look, in order, with the stickiness of recorded decisions.

Why: kept apart from the data handling of :mod:`experiment_decision` so the rules read in one sitting; the rules,
their order, the stickiness and the meaning of the confidence are documented there (module docstring). Statistics
come from :mod:`variant_comparison` (the same core the A/A benchmark runs), words from :mod:`decision_text`.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import numpy as np

from optimizer_pipeline.lib.decisions import decision_text as words
from optimizer_pipeline.lib.decisions.conversion_maturity import (
    MONEY_METRICS,
    PIPELINE_SOURCE,
    REVENUE_SOURCE_KEY,
    Maturity,
)
from optimizer_pipeline.lib.decisions.experiment_registry import (
    HIGHER_IS_BETTER,
    METRIC_RATIOS,
    SAMPLE_UNIT,
    Experiment,
)
from optimizer_pipeline.lib.decisions.group_sequential import SequentialPlan
from optimizer_pipeline.lib.decisions.overdispersion import VifEstimate
from optimizer_pipeline.lib.decisions.practical_significance import Significance, classify_lift
from optimizer_pipeline.lib.decisions.srm import DEFAULT_ALPHA as SRM_ALPHA
from optimizer_pipeline.lib.decisions.srm import srm_check
from optimizer_pipeline.lib.decisions.variant_comparison import (
    RATE_METRICS,
    ArmTotals,
    ComparisonLook,
    GuardrailResult,
    SequentialState,
    bayes_readout,
    comparable,
    compare_variants,
    guardrail_look,
)


class DecisionInputError(ValueError):
    """Ad rows, looks or previous decisions that cannot be judged."""


DECISIONS: tuple[str, ...] = (
    "continue",
    "promote",
    "stop-no-difference",
    "blocked-srm",
    "blocked-guardrail",
    "insufficient-data",
)
FINAL: frozenset[str] = frozenset({"promote", "stop-no-difference", "blocked-guardrail", "blocked-srm"})
COUNTS: tuple[str, ...] = ("impressions", "clicks", "spend", "conversions", "revenue")


# fmt: off
DECISION_COLUMNS = [
    "experiment_id", "look_at", "look_index", "decision", "winner", "reason", "explanation", "confidence",
    "primary_metric", "variant", "lift", "lift_low", "lift_high", "z", "boundary", "alpha_spent", "srm_p_sequential",
    "srm_p_chi2", "vif", "vif_method", "guardrail_status", "chance_to_win", "expected_loss", "decided_at", "state",
]
# fmt: on
# fmt: off
VARIANT_COLUMNS = [
    "experiment_id", "look_at", "look_index", "variant", "is_control", "planned_share", "observed_share",
    "impressions", "clicks", "conversions", "spend", "revenue", "units", "metric_value", "lift", "lift_low",
    "lift_high", "z", "boundary", "level", "rejected", "alpha_spent", "chance_to_win", "expected_loss", "guardrails",
]
# fmt: on


def _arm(days: np.ndarray | None, name: str, metric: str) -> ArmTotals:
    if days is None or len(days) == 0:
        return ArmTotals(name, 0.0, 0.0, 0.0, np.zeros(0), np.zeros(0))
    num, den = (days[:, COUNTS.index(c)] for c in METRIC_RATIOS[metric])
    units = float(days[:, COUNTS.index(SAMPLE_UNIT[metric])].sum())
    return ArmTotals(name, float(num.sum()), float(den.sum()), units, num, den)


def _missing(exp: Experiment, arms: dict[str, ArmTotals], hours: float, data_hours: float) -> list[str]:
    """What keeps the test from being judged: time before start or below the minimum runtime, samples per arm."""
    if hours < 0:
        return [f"the test starts on {exp.start:%Y-%m-%d %H:%M} UTC"]
    out = []
    if hours < exp.min_runtime_hours:
        out.append(f"it has run {hours:.0f} h of the minimum {exp.min_runtime_hours} h")
    unit, need, metric = exp.sample_unit, exp.min_samples_per_variant, exp.primary_metric
    for name, arm in arms.items():
        if arm.units < need:
            rate = arm.units / data_hours if data_hours > 0 else 0.0
            eta = f", about {(need - arm.units) / rate:.0f} h more at the current rate" if rate > 0 else ""
            out.append(f"'{name}' has {arm.units:,.0f} of the {need:,} {unit} needed{eta}")
        elif not comparable(arm, metric):
            num = METRIC_RATIOS[metric][0]
            days = "" if metric in RATE_METRICS else " over at least 2 days"
            out.append(f"'{name}' has no {num}{days} yet, so its {words.short(metric)} cannot be compared")
    return out


def _guardrails(
    exp: Experiment,
    daily: dict[Any, np.ndarray],
    vif: float,
    t: float,
    stored: dict[str, Any],
    immature: str | None = None,
) -> tuple[list[Any], list[str], dict[str, Any]]:
    """Every guardrail x treatment: results, status strings and the updated plans. ``immature``: why money
    guardrails are not computed at this look (a service business's conversions not mature yet)."""
    results, status, plans = [], [], dict(stored)
    control = exp.control.name
    for g in exp.guardrails:
        if immature is not None and g.metric in MONEY_METRICS:
            status.extend(f"{g.metric}|{v.name}: {immature}" for v in exp.treatments)
            continue
        c_arm = _arm(daily.get((exp.id, control)), control, g.metric)
        for v in exp.treatments:
            v_arm = _arm(daily.get((exp.id, v.name)), v.name, g.metric)
            key = f"{g.metric}|{v.name}"
            if not (comparable(c_arm, g.metric) and comparable(v_arm, g.metric)):
                status.append(f"{key}: not enough data")
                continue
            plan = SequentialPlan.from_dict(plans[key]) if key in plans else None
            res = guardrail_look(
                c_arm, v_arm, g.metric, g.max_degradation, vif=vif, alpha=exp.alpha, spend_time=t, plan=plan
            )
            plans[key] = res.plan.to_dict()
            results.append(res)
            limit = words.pct(-g.max_degradation if g.higher_is_better else g.max_degradation)
            verdict = "breached" if res.breached else "ok"
            status.append(
                f"{key}: {verdict} ({words.pct(res.change)}, interval "
                f"{words.interval(res.low, res.high)}, limit {limit})"
            )
    return results, status, plans


def _held(exp: Experiment, guards: list[GuardrailResult], immature: str | None = None) -> dict[str, str]:
    """Variants that may not be promoted at this look, with why: a guardrail that cannot be computed yet (too few
    conversions or days), or one whose point estimate is already worse than its tolerance while its repeated interval
    has not decided. A winner is held (continue) rather than promoted and later reversed: money follows a promotion,
    so it waits until the guardrail is either shown breached (blocked-guardrail) or no longer estimated beyond it."""
    held: dict[str, str] = {}
    for v in exp.treatments:
        mine = [g for g in guards if g.variant == v.name]
        if len(mine) < len(exp.guardrails):
            money = [g.metric for g in exp.guardrails if g.metric in MONEY_METRICS]
            held[v.name] = (
                f"its {words.short(money[0])} guardrail waits: {immature}"
                if immature is not None and money
                else "its guardrail cannot be checked yet (too few conversions or days)"
            )
            continue
        for g in mine:
            beyond = g.change < -g.tolerance if HIGHER_IS_BETTER[g.metric] else g.change > g.tolerance
            if beyond:
                held[v.name] = (
                    f"its {words.short(g.metric)} is estimated {words.pct(g.change)} against the control, beyond the "
                    f"tolerated {words.pct(g.tolerance)}; it is held until the guardrail's interval decides"
                )
                break
    return held


def _primary_rules(
    exp: Experiment, comp: ComparisonLook, arms: dict[str, ArmTotals], t: float, unchecked: dict[str, str]
) -> tuple[str, str, str, str, float, Any]:
    """Fresh call on the primary metric: (decision, winner, reason, explanation, confidence, focus variant).
    ``unchecked``: variant -> why it may not be promoted yet (a guardrail not computable yet, or estimated worse
    than its tolerance without the interval deciding)."""
    metric, m, hib = exp.primary_metric, exp.min_relative_lift, HIGHER_IS_BETTER[exp.primary_metric]
    sign = 1.0 if hib else -1.0
    res = comp.variants
    cls = [classify_lift(r.lift_low, r.lift_high, m, higher_is_better=hib).outcome for r in res]
    best = max(res, key=lambda r: sign * r.log_ratio)
    spans = "; ".join(
        f"'{r.name}' {words.pct(r.lift)}, interval {words.interval(r.lift_low, r.lift_high)}" for r in res
    )
    control = exp.control.name
    wins = [r for r, c in zip(res, cls, strict=True) if c == Significance.PRACTICALLY_SIGNIFICANT and r.rejected]
    small = (Significance.EQUIVALENT, Significance.BELOW_MINIMUM)
    if wins and all(w.name in unchecked for w in wins):
        w = max(wins, key=lambda r: sign * r.log_ratio)
        why = f"'{w.name}' wins but {unchecked[w.name]}"
        return "continue", "", *words.undecided(metric, spans, why), math.nan, w
    wins = [w for w in wins if w.name not in unchecked]
    if wins:
        w = max(wins, key=lambda r: sign * r.log_ratio)
        v_val, c_val = (arms[n].numerator / arms[n].denominator for n in (w.name, control))
        text = words.promote(
            w.name, control, metric, w.lift, w.lift_low, w.lift_high, m, v_val, c_val, exp.alpha, len(res)
        )
        return "promote", w.name, *text, 1 - exp.alpha, w
    worse = [r for r, c in zip(res, cls, strict=True) if c == Significance.WORSE]
    if worse and all(c == Significance.WORSE or c in small for c in cls):
        r = max(worse, key=lambda r: sign * r.log_ratio)
        return (
            "promote",
            control,
            *words.control_wins(r.name, control, metric, r.lift, r.lift_low, r.lift_high, exp.alpha),
            1 - exp.alpha,
            r,
        )
    if all(c in small for c in cls):
        return (
            "stop-no-difference",
            "",
            *words.no_difference(metric, m, spans, False, exp.max_duration_days),
            1 - exp.alpha,
            best,
        )
    if t >= 1.0:
        return (
            "stop-no-difference",
            "",
            *words.no_difference(metric, m, spans, True, exp.max_duration_days),
            math.nan,
            best,
        )
    gain = any(
        c == Significance.INCONCLUSIVE and r.rejected and sign * r.log_ratio > 0 for r, c in zip(res, cls, strict=True)
    )
    why = (
        f"a real gain, but the interval still includes lifts below the minimum {m:.1%}"
        if gain
        else "the intervals still include both no difference and a difference that matters"
    )
    return "continue", "", *words.undecided(metric, spans, why), math.nan, best


def _contradiction(recorded: dict[str, Any], decision: str, comp: ComparisonLook, exp: Experiment) -> str | None:
    """Why a later look contradicts a recorded decision (None if it does not)."""
    if recorded["decision"] in ("blocked-guardrail", "blocked-srm"):
        return None
    if decision == "blocked-guardrail":
        return "a guardrail is now shown to be degraded beyond its limit"
    hib, m = HIGHER_IS_BETTER[exp.primary_metric], exp.min_relative_lift
    for r in comp.variants:
        lo, hi = (r.lift_low, r.lift_high) if hib else (-r.lift_high, -r.lift_low)  # good-direction lift interval
        span = f"'{r.name}' {words.pct(r.lift)}, interval {words.interval(r.lift_low, r.lift_high)}"
        if recorded["decision"] == "promote" and recorded["winner"] == r.name and hi < 0:
            return f"the promoted '{r.name}' now looks worse than the control ({span})"
        if recorded["decision"] == "promote" and recorded["winner"] == exp.control.name and lo > 0:
            return f"'{r.name}' now looks better than the control ({span})"
        if recorded["decision"] == "stop-no-difference" and ((lo > 0 and lo >= m) or (hi < 0 and hi <= -m)):
            return f"a difference beyond the minimum {m:.1%} has appeared ({span})"
    return None


def judge(
    exp: Experiment,
    daily: dict[Any, np.ndarray],
    look_at: datetime,
    vif: VifEstimate,
    state: dict[str, Any] | None,
    maturity: Maturity | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One experiment at one look: the decision row, the variant rows (rules in the module docstring).

    ``maturity`` (service businesses only, :mod:`conversion_maturity`): revenue in ``daily`` is pipeline value; a
    money metric waits (insufficient-data) and a money guardrail is not computed until every arm is mature, and the
    text says the metric is on pipeline value and shows the arms' blended scores."""
    assert exp.start is not None
    old = state or {}
    new: dict[str, Any] = {**old, "look_index": int(old.get("look_index", 0)) + 1, "look_at": look_at.isoformat()}
    if maturity is not None:
        new[REVENUE_SOURCE_KEY] = PIPELINE_SOURCE  # later looks stay on pipeline value (experiment_decision)
    metric, names, control = exp.primary_metric, [v.name for v in exp.variants], exp.control.name
    arms = {n: _arm(daily.get((exp.id, n)), n, metric) for n in names}
    counts = {n: daily.get((exp.id, n), np.zeros((0, len(COUNTS)))).sum(axis=0) for n in names}
    counts = {n: c if np.ndim(c) and len(c) else np.zeros(len(COUNTS)) for n, c in counts.items()}
    impressions = [counts[n][0] for n in names]
    total_imp = sum(impressions)
    row: dict[str, Any] = dict.fromkeys(DECISION_COLUMNS, math.nan)
    row.update(
        experiment_id=exp.id,
        look_at=look_at,
        look_index=new["look_index"],
        primary_metric=metric,
        winner="",
        variant="",
        vif=vif.value,
        vif_method=vif.method,
        decided_at=None,
        guardrail_status="none" if not exp.guardrails else "not checked",
    )
    vrows = [
        {
            **dict.fromkeys(VARIANT_COLUMNS, math.nan),
            "experiment_id": exp.id,
            "look_at": look_at,
            "look_index": new["look_index"],
            "variant": v.name,
            "is_control": v.control,
            "planned_share": v.share,
            "observed_share": counts[v.name][0] / total_imp if total_imp else math.nan,
            **{c: float(counts[v.name][i]) for i, c in enumerate(COUNTS)},
            "units": arms[v.name].units,
            "metric_value": arms[v.name].numerator / arms[v.name].denominator if arms[v.name].denominator else math.nan,
            "guardrails": "{}",
        }
        for v in exp.variants
    ]
    hours = (look_at - exp.start).total_seconds() / 3600
    data_hours = 24.0 * max(len(daily.get((exp.id, n), ())) for n in names)
    recorded = old.get("recorded")

    def finish(decision: str, winner: str, text: tuple[str, str], confidence: float) -> tuple[dict, list]:
        if maturity is not None:
            money = [m for m in (metric, *(g.metric for g in exp.guardrails)) if m in MONEY_METRICS]
            text = words.on_pipeline_value(*text, money, maturity.context())
        row.update(decision=decision, winner=winner, reason=text[0], explanation=text[1], confidence=confidence)
        if decision in FINAL and row["decided_at"] is None:
            row["decided_at"] = look_at.isoformat()
        row["state"] = json.dumps(new, sort_keys=True)
        return row, vrows

    missing = _missing(exp, arms, hours, data_hours)
    immature = maturity.hold_reason() if maturity is not None and not maturity.mature else None
    if immature is not None and metric in MONEY_METRICS and hours >= 0:
        missing.append(immature)
    if missing:
        return finish("insufficient-data", "", words.insufficient(exp.id, "; ".join(missing)), math.nan)
    srm = srm_check(
        impressions, [v.share for v in exp.variants], SRM_ALPHA, labels=names, previous_p_sequential=old.get("srm_p")
    )
    new["srm_p"] = srm.p_sequential
    row.update(srm_p_sequential=srm.p_sequential, srm_p_chi2=srm.chi2_p)
    if srm.mismatch:
        text = words.srm(srm.message, srm.p_sequential)
        if recorded and recorded["decision"] == "blocked-srm":
            row["decided_at"] = recorded["decided_at"]
            text = words.kept(
                recorded["look_index"], recorded["decided_at"], recorded["reason"], recorded["explanation"]
            )
        else:
            if recorded:
                text = words.reversed_(
                    recorded["decision"], recorded["decided_at"], "the traffic split no longer matches the plan", *text
                )
            new["recorded"] = {
                "decision": "blocked-srm",
                "winner": "",
                "look_index": new["look_index"],
                "decided_at": look_at.isoformat(),
                "reason": text[0],
                "explanation": text[1],
                "confidence": 1.0 - srm.p_sequential,
            }
        return finish("blocked-srm", "", text, 1.0 - srm.p_sequential)
    t = min(hours / (24.0 * exp.max_duration_days), 1.0)
    prior = SequentialState.from_dict(old["primary"]) if old.get("primary") else None
    comp = compare_variants(
        arms[control],
        [arms[v.name] for v in exp.treatments],
        metric,
        vif=vif.value,
        alpha=exp.alpha,
        spend_time=max(t, 1e-9),
        state=prior,
    )
    new["primary"] = comp.state.to_dict()
    guards, status, new["guardrails"] = _guardrails(
        exp, daily, vif.value, max(t, 1e-9), old.get("guardrails", {}), immature
    )
    if exp.guardrails:
        row["guardrail_status"] = "; ".join(status)
    by_name = {r.name: r for r in comp.variants}
    for vr in vrows:
        r = by_name.get(vr["variant"])
        if r is None:
            continue
        ctw, loss = bayes_readout(arms[control], arms[r.name], metric, vif.value)
        vr.update(
            lift=r.lift,
            lift_low=r.lift_low,
            lift_high=r.lift_high,
            z=r.z,
            boundary=r.boundary,
            level=r.level,
            rejected=r.rejected,
            alpha_spent=r.alpha_spent,
            chance_to_win=ctw,
            expected_loss=loss,
            guardrails=json.dumps(
                {
                    g.metric: {"change": g.change, "low": g.low, "high": g.high, "breached": g.breached}
                    for g in guards
                    if g.variant == r.name
                }
            ),
        )
    breached = [g for g in guards if g.breached]
    if breached:
        g = breached[0]
        hib_g = HIGHER_IS_BETTER[g.metric]
        text_g = words.guardrail(g.variant, g.metric, g.change, g.low, g.high, g.tolerance, hib_g, exp.alpha)
        fresh = ("blocked-guardrail", "", *text_g, 1 - exp.alpha, by_name[g.variant])
    else:
        fresh = _primary_rules(exp, comp, arms, t, _held(exp, guards, immature))
    decision, winner, reason, explanation, confidence, focus = fresh
    recorded = old.get("recorded")
    why = _contradiction(recorded, decision, comp, exp) if recorded else None
    if recorded and why is None and recorded["winner"] in by_name:
        focus = by_name[recorded["winner"]]
    vr_focus = next(vr for vr in vrows if vr["variant"] == focus.name)
    row.update(
        variant=focus.name,
        lift=focus.lift,
        lift_low=focus.lift_low,
        lift_high=focus.lift_high,
        z=focus.z,
        boundary=focus.boundary,
        alpha_spent=comp.alpha_spent,
        chance_to_win=vr_focus["chance_to_win"],
        expected_loss=vr_focus["expected_loss"],
    )
    text = (reason, explanation)
    if recorded and why is None:
        row["decided_at"] = recorded["decided_at"]
        text = words.kept(recorded["look_index"], recorded["decided_at"], recorded["reason"], recorded["explanation"])
        return finish(recorded["decision"], recorded["winner"], text, recorded["confidence"])
    if recorded:
        text = words.reversed_(recorded["decision"], recorded["decided_at"], why, *text)
    new["recorded"] = (
        {
            "decision": decision,
            "winner": winner,
            "look_index": new["look_index"],
            "decided_at": look_at.isoformat(),
            "reason": text[0],
            "explanation": text[1],
            "confidence": confidence,
        }
        if decision in FINAL
        else None
    )
    return finish(decision, winner, text, confidence)
