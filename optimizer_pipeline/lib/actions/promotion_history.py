"""Promotion history: one row per promotion event in the ``experiment_decisions`` trail, and when it was reversed.

Why: the trail repeats a recorded decision at every later look ("decided at look k on ..."), so counting promote
rows counts looks, not promotions. A promotion *event* is a run of ``promote`` rows of one experiment with the same
``decided_at`` and ``winner`` (the stickiness of :mod:`optimizer_pipeline.lib.decisions.decision_rules`); its numbers
are those of the look that made the call (``look_at == decided_at``), i.e. the estimate the money followed. A later
look of the same experiment that is neither that promotion repeated nor ``insufficient-data`` (which never touches
the recorded decision) reverses it: ``reversed_at`` is that look, ``reversed_by`` its decision and
``reversal_reason`` its reason ("reversed: ..."). A promotion with no such later look stands.

Columns (:data:`HISTORY_COLUMNS`): experiment_id, primary_metric, winner, decided_at (UTC timestamp), look_index,
lift, lift_low, lift_high (repeated confidence interval at the deciding look), z, boundary, confidence,
chance_to_win, winner_is_control (from the variants trail's ``is_control``), reversed_at (UTC timestamp or NaT),
reversed_by, reversal_reason, standing.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["HISTORY_COLUMNS", "PromotionHistoryError", "promotion_history"]

#: Columns of :func:`promotion_history`.
# fmt: off
HISTORY_COLUMNS: list[str] = [
    "experiment_id", "primary_metric", "winner", "decided_at", "look_index", "lift", "lift_low", "lift_high", "z",
    "boundary", "confidence", "chance_to_win", "winner_is_control", "reversed_at", "reversed_by", "reversal_reason",
    "standing",
]
# fmt: on
_NEEDED = ("experiment_id", "look_at", "decision", "winner", "decided_at")
_NUMBERS = ("look_index", "lift", "lift_low", "lift_high", "z", "boundary", "confidence", "chance_to_win")


class PromotionHistoryError(ValueError):
    """A decisions trail that lacks the columns a promotion history needs."""


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _control_names(variants: pd.DataFrame | None) -> dict[str, str]:
    if variants is None:
        return {}
    missing = [c for c in ("experiment_id", "variant", "is_control") if c not in variants.columns]
    if missing:
        raise PromotionHistoryError(f"the variants trail lacks columns {missing}")
    ctl = variants[variants["is_control"].fillna(False).astype(bool)]
    return dict(zip(ctl["experiment_id"].astype(str), ctl["variant"].astype(str), strict=True))


def _is_control(controls: dict[str, str], exp_id: str, winner: str, row: pd.Series) -> object:
    """From the variants trail; else from the deciding row: a variant winner is the row's ``variant`` (its focus),
    a control winner is not (the row then shows the worse variant)."""
    if exp_id in controls:
        return controls[exp_id] == winner
    variant = row.get("variant")
    return winner != variant if isinstance(variant, str) and variant else pd.NA


def promotion_history(decisions: pd.DataFrame, variants: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per promotion event of the ``experiment_decisions`` trail (columns :data:`HISTORY_COLUMNS`), ordered
    by ``decided_at`` then ``experiment_id``. ``variants`` (the ``experiment_variants`` trail) tells which winner
    is the control (``winner_is_control``); without it the deciding row's ``variant`` does (``<NA>`` if absent)."""
    missing = [c for c in _NEEDED if c not in decisions.columns]
    if missing:
        raise PromotionHistoryError(f"the decisions trail lacks columns {missing}")
    if len(decisions) == 0:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    controls = _control_names(variants)
    trail = decisions.copy()
    trail["look_at"] = _utc(trail["look_at"])
    trail["decided_ts"] = _utc(trail["decided_at"].where(trail["decided_at"].notna() & (trail["decided_at"] != "")))
    for c in _NUMBERS:
        trail[c] = pd.to_numeric(trail[c], errors="coerce") if c in trail.columns else float("nan")
    for c in ("primary_metric", "reason"):
        trail[c] = trail[c].astype(str) if c in trail.columns else ""
    trail["winner"] = trail["winner"].fillna("").astype(str)
    trail = trail.sort_values(["experiment_id", "look_at"], kind="stable").reset_index(drop=True)
    rows = []
    for exp_id, exp in trail.groupby("experiment_id", sort=True):
        promote = exp[(exp["decision"] == "promote") & exp["decided_ts"].notna()]
        for (decided, winner), run in promote.groupby(["decided_ts", "winner"], sort=True):
            first = run[run["look_at"] == decided]
            row = (first if len(first) else run).iloc[0]
            later = exp[(exp["look_at"] > row["look_at"]) & (exp["decision"] != "insufficient-data")]
            same = (later["decision"] == "promote") & (later["decided_ts"] == decided) & (later["winner"] == winner)
            breaking = later[~same]
            rev = breaking.iloc[0] if len(breaking) else None
            rows.append(
                {
                    "experiment_id": exp_id,
                    "primary_metric": row["primary_metric"],
                    "winner": winner,
                    "decided_at": decided,
                    **{c: float(row[c]) for c in _NUMBERS},
                    "winner_is_control": _is_control(controls, str(exp_id), winner, row),
                    "reversed_at": rev["look_at"] if rev is not None else pd.NaT,
                    "reversed_by": str(rev["decision"]) if rev is not None else "",
                    "reversal_reason": str(rev["reason"]) if rev is not None else "",
                    "standing": rev is None,
                }
            )
    out = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    out["look_index"] = out["look_index"].astype("Int64")
    out["winner_is_control"] = out["winner_is_control"].astype("boolean")
    out["reversed_at"] = pd.to_datetime(out["reversed_at"], utc=True)
    out["decided_at"] = pd.to_datetime(out["decided_at"], utc=True)
    return out.sort_values(["decided_at", "experiment_id"], kind="stable").reset_index(drop=True)
