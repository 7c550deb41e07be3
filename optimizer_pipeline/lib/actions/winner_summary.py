"""Plain-English texts from the decision tables: a winner-vs-loser comparison of one experiment and the daily or
weekly summary of promotions, reversals and blocked tests.

Why: DESIGN ("Speaking") asks that reports be built only from evidence and that any number in prose be checked
against it. These texts are deterministic templates: every number is a cell of ``experiment_decisions``,
``experiment_variants``, the creative DNA or the promotion history (:mod:`promotion_history`), or a ratio of two such
cells, printed with a fixed format, so a test can find each one in the text and an optional LLM rewrite can be
checked against them. Where there is nothing to say (no promotion, no DNA) the text says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from optimizer_pipeline.lib.actions.promotion_history import promotion_history
from optimizer_pipeline.lib.decisions.alerts import _slack_escape
from optimizer_pipeline.lib.decisions.experiment_registry import SAMPLE_UNIT
from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY
from optimizer_pipeline.lib.testloop.pattern_hash import ATTRIBUTES, PATTERN_TAGS

__all__ = [
    "WinnerSummaryError", "daily_summary", "period_summary", "summary_payload", "weekly_summary", "winner_vs_loser",
]  # fmt: skip

_RATES = frozenset({"ctr", "cvr"})
_NAMES = {"ctr": "CTR", "cvr": "CVR", "cpa": "CPA", "roas": "ROAS", "revenue_per_impression": "revenue/impression"}
_TAG_WORDS = {"hook": "hook", "emo": "emotion", "pace": "pacing", "pain": "pain point", "cta": "call to action"}
_ALIASES = dict(PATTERN_TAGS)
BLOCKED = ("blocked-srm", "blocked-guardrail")


class WinnerSummaryError(ValueError):
    """An experiment, a period or tables a summary cannot be written from."""


def pct(x: float, digits: int = 1) -> str:
    """``+12.3 %`` (signed); ``n/a`` when not finite."""
    return f"{x * 100:+.{digits}f} %" if math.isfinite(x) else "n/a"


def _metric(metric: str, value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value * 100:.2f} %" if metric in _RATES else f"{value:.4g}"


def _when(ts: Any) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def _yes(flag: Any) -> bool:
    return bool(pd.notna(flag) and flag)


def _conf(c: float) -> str:
    return f"{c * 100:.0f} %" if math.isfinite(c) else "n/a"


def winner_vs_loser(
    experiment_id: str,
    decisions: pd.DataFrame,
    variants: pd.DataFrame,
    dna: pd.DataFrame | None = None,
    features: Sequence[str] = (),
) -> str:
    """What the latest promotion of ``experiment_id`` chose and against what: the metric of each arm at the deciding
    look, the lift with its repeated interval and confidence, and where the DNA (``dna``: one row per
    experiment_id, variant with tags, ``duration_bucket`` and the numeric ``features``) differs."""
    exp = decisions[decisions["experiment_id"] == experiment_id] if "experiment_id" in decisions.columns else None
    if exp is None or not len(exp):
        raise WinnerSummaryError(f"no decision rows for experiment '{experiment_id}'")
    history = promotion_history(exp, variants)
    if not len(history):
        last = exp.assign(_t=pd.to_datetime(exp["look_at"], utc=True, format="ISO8601")).sort_values("_t").iloc[-1]
        return (
            f"Experiment '{experiment_id}' has no promotion yet: its latest decision is '{last['decision']}' "
            f"at {_when(last['_t'])}. Not enough evidence to compare a winner with a loser."
        )
    p = history.iloc[-1]
    metric, winner = str(p["primary_metric"]), str(p["winner"])
    vt = variants[variants["experiment_id"] == experiment_id]
    arms = vt[pd.to_datetime(vt["look_at"], utc=True, format="ISO8601") == p["decided_at"]].set_index("variant")
    if winner not in arms.index:
        raise WinnerSummaryError(f"experiment '{experiment_id}': no variant row of '{winner}' at the deciding look")
    name = _NAMES.get(metric, metric)
    w = arms.loc[winner]
    lines = [
        f"Experiment '{experiment_id}': '{winner}' was promoted on {_when(p['decided_at'])} on {name} "
        f"({'the control was kept' if _yes(p['winner_is_control']) else 'a variant beat the control'}).",
        f"At that check '{winner}' had {name} {_metric(metric, float(w['metric_value']))} "
        f"over {float(w['units']):,.0f} {SAMPLE_UNIT.get(metric, 'units')}."
        if "units" in arms.columns
        else "",
        f"Lift of '{_focus(exp, p)}' against the control: {pct(float(p['lift']))}, repeated confidence interval "
        f"{pct(float(p['lift_low']))} to {pct(float(p['lift_high']))}; confidence {_conf(float(p['confidence']))}.",
    ]
    if not bool(p["standing"]):
        lines.append(f"This promotion was reversed on {_when(p['reversed_at'])} ({p['reversed_by']}).")
    for loser, row in arms.drop(index=winner).iterrows():
        mv, wv = float(row["metric_value"]), float(w["metric_value"])
        ratio = wv / mv - 1 if mv > 0 else math.nan
        lines.append(
            f"Against '{loser}' ({name} {_metric(metric, mv)}): '{winner}' differs by {pct(ratio)} on {name}."
            + _dna_text(dna, experiment_id, winner, str(loser), features)
        )
    return " ".join(s for s in lines if s)


def _focus(exp: pd.DataFrame, p: pd.Series) -> str:
    """The variant whose lift the deciding row shows (the winner, or the worse variant when the control wins)."""
    if "variant" not in exp.columns:
        return str(p["winner"])
    t = pd.to_datetime(exp["look_at"], utc=True, format="ISO8601")
    row = exp[t == p["decided_at"]]
    return str(row.iloc[0]["variant"]) if len(row) else str(p["winner"])


def _dna_text(dna: pd.DataFrame | None, exp_id: str, winner: str, loser: str, features: Sequence[str]) -> str:
    if dna is None:
        return " No creative DNA was given, so what differs is unknown."
    frame = dna.rename(columns={f: t for f, t in _ALIASES.items() if f in dna.columns})
    mine = frame[frame["experiment_id"] == exp_id].set_index("variant")
    if winner not in mine.index or loser not in mine.index:
        return " The creative DNA of these two is missing."
    a, b = mine.loc[winner], mine.loc[loser]
    diffs = [f"{_TAG_WORDS[t]} {a[t]} vs {b[t]}" for t in ATTRIBUTES if t in mine.columns and str(a[t]) != str(b[t])]
    if "duration_bucket" in mine.columns and str(a["duration_bucket"]) != str(b["duration_bucket"]):
        diffs.append(f"length {a['duration_bucket']} vs {b['duration_bucket']}")
    for f in features:
        x, y = float(a[f]), float(b[f])
        if math.isfinite(x) and math.isfinite(y) and x != y:
            spec = FEATURE_DICTIONARY.get(f)
            diffs.append(f"{spec.phrase if spec else f} {x:.3g} vs {y:.3g}")
    return f" What differs: {'; '.join(diffs)}." if diffs else " Their recorded creative DNA is the same."


def period_summary(
    decisions: pd.DataFrame, variants: pd.DataFrame | None = None, *, start: datetime, end: datetime, title: str
) -> str:
    """Promotions and reversals dated in ``[start, end)`` and the tests blocked at ``end`` (their latest look
    before ``end``), one sentence each, every number from the tables."""
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise WinnerSummaryError("start and end must be timezone-aware with start < end")
    head = f"{title} ({_when(start)} to {_when(end)})"
    if not len(decisions):
        return f"{head}: no decisions recorded."
    t0, t1 = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    trail = decisions.assign(look_at=pd.to_datetime(decisions["look_at"], utc=True, format="ISO8601"))
    seen = trail[(trail["look_at"] >= t0) & (trail["look_at"] < t1)]
    h = promotion_history(trail, variants)
    promos = h[(h["decided_at"] >= t0) & (h["decided_at"] < t1)]
    revs = h[h["reversed_at"].notna() & (h["reversed_at"] >= t0) & (h["reversed_at"] < t1)]
    latest = (
        trail[trail["look_at"] < t1].sort_values("look_at", kind="stable").drop_duplicates("experiment_id", keep="last")
    )
    blocked = latest[latest["decision"].isin(BLOCKED)]
    lines = [
        f"{head}: {len(seen)} checks of {seen['experiment_id'].nunique()} experiments; {len(promos)} promotion(s), "
        f"{len(revs)} reversal(s), {len(blocked)} blocked test(s)."
    ]
    for _, p in promos.iterrows():
        name = _NAMES.get(str(p["primary_metric"]), str(p["primary_metric"]))
        who = "the control" if _yes(p["winner_is_control"]) else "variant"
        lines.append(
            f"Promoted: {who} '{p['winner']}' in '{p['experiment_id']}' on {_when(p['decided_at'])}, {name} lift "
            f"{pct(float(p['lift']))} (interval {pct(float(p['lift_low']))} to {pct(float(p['lift_high']))}, "
            f"confidence {_conf(float(p['confidence']))})."
        )
    for _, r in revs.iterrows():
        lines.append(
            f"Reversed: the promotion of '{r['winner']}' in '{r['experiment_id']}' of {_when(r['decided_at'])} "
            f"on {_when(r['reversed_at'])}, now '{r['reversed_by']}': {r['reversal_reason']}"
        )
    for _, b in blocked.iterrows():
        since = f" since {_when(b['decided_at'])}" if isinstance(b["decided_at"], str) and b["decided_at"] else ""
        lines.append(f"Blocked: '{b['experiment_id']}' is {b['decision']}{since}: {b.get('reason', '')}")
    if len(lines) == 1:
        lines.append("No promotions, reversals or blocked tests.")
    return "\n".join(lines)


def _day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz))


def daily_summary(decisions: pd.DataFrame, variants: pd.DataFrame | None = None, *, day: date, tz: str = "UTC") -> str:
    """:func:`period_summary` of one calendar day in ``tz``."""
    return period_summary(
        decisions,
        variants,
        start=_day_start(day, tz),
        end=_day_start(day + timedelta(days=1), tz),
        title="Daily summary",
    )


def weekly_summary(
    decisions: pd.DataFrame, variants: pd.DataFrame | None = None, *, week_ending: date, tz: str = "UTC"
) -> str:
    """:func:`period_summary` of the seven days ending with ``week_ending`` (inclusive) in ``tz``."""
    end = _day_start(week_ending + timedelta(days=1), tz)
    return period_summary(decisions, variants, start=end - timedelta(days=7), end=end, title="Weekly summary")


def summary_payload(text: str) -> dict[str, str]:
    """A Slack incoming-webhook message of a summary: its text, with Slack's control characters escaped (the first
    line is the notification's preview)."""
    return {"text": _slack_escape(text)}
