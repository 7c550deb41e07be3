"""One score per ad that trusts CTR while an ad is young and (synthetic) ROAS once its conversions have had time.

Why: conversions lag clicks (Chapelle 2014, "Modeling delayed feedback in display advertising", KDD), and for a
service business the sale lags by days, so in an ad's first hours the only reliable signal is engagement (CTR),
while after a couple of days the money signal exists and is what matters. DESIGN.md: "denominators must be mature".
Ranking young ads on ROAS starves them; ranking old ads on CTR rewards clickbait.

* ROAS is ``synthetic_revenue / spend``: the pipeline value of the ad's leads
  (:func:`optimizer_pipeline.lib.actions.pipeline_value.pipeline_value`) when the client's ``decisions.pipeline``
  is set, the observed ``revenue`` column otherwise.
* Comparable scales: each metric becomes an *index*, the ad's value divided by a reference, so ``1`` = the
  reference and ``1.3`` = 30 % better. The reference is the median over the client's ads in ``ad_rows`` (robust to
  one huge ad); if that median is 0 (most ads have no value yet) the pooled ratio (sum / sum over all ads); if that
  is 0 too, nothing separates the ads and every index is 1. Within an experiment pass ``control_ad_id``: the
  reference is the control ad (index - 1 = lift vs control), falling back as above when the control's value is 0.
* ``score = (1 - w) * ctr_index + w * roas_index`` with ``w = blend_weight(age_hours)``, the ROAS weight. Units:
  an index, 1 = the reference ad (client median by default); it ranks ads, it is not a forecast.
* Age: hours from the start (client timezone midnight) of the ad's first day with impressions to ``as_of``.

Blend curves (``decisions.pipeline.blend``; defaults ``start_hours`` 6, ``full_hours`` 48):

* ``sigmoid`` (default): the logistic ``w(a) = 1 / (1 + exp(-k (a - m)))`` solved through two anchors,
  ``w(start) = 0.02`` and ``w(full) = 0.90``: ``k = (logit 0.90 - logit 0.02) / (full - start)`` and
  ``m = start - logit(0.02) / k``. Defaults: ``k = 0.14498`` per hour, ``m = 32.84`` h; ``w(0) = 0.0085``,
  ``w(24 h) = 0.217``, ``w(72 h) = 0.9966``.
* ``linear``: 0 up to ``start``, 1 from ``full``, a straight line between.
* ``step``: 0 before ``full``, 1 from ``full``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from optimizer_pipeline.lib.actions.pipeline_value import pipeline_value
from optimizer_pipeline.lib.registry.decisions_settings import BLEND_CURVES, BlendCurve, DecisionSettings

#: The sigmoid's anchors: ROAS weight at ``start_hours`` and at ``full_hours``.
SIGMOID_START_WEIGHT = 0.02
SIGMOID_FULL_WEIGHT = 0.90
REQUIRED_COLUMNS: tuple[str, ...] = ("ad_id", "date", "impressions", "clicks", "spend")
SCORE_COLUMNS: tuple[str, ...] = (
    "ad_id",
    "age_hours",
    "impressions",
    "clicks",
    "spend",
    "ctr",
    "synthetic_revenue",
    "synthetic_roas",
    "ctr_index",
    "roas_index",
    "weight_roas",
    "score",
    "explanation",
)


class BlendedScoreError(ValueError):
    """Ad rows, a curve or a reference that cannot be scored (missing columns, negative counts, unknown control)."""


def sigmoid_parameters(curve: BlendCurve) -> tuple[float, float]:
    """``(midpoint_hours, slope_per_hour)`` of the sigmoid through the two anchors (module docstring)."""
    slope = (logit(SIGMOID_FULL_WEIGHT) - logit(SIGMOID_START_WEIGHT)) / (curve.full_hours - curve.start_hours)
    return float(curve.start_hours - logit(SIGMOID_START_WEIGHT) / slope), float(slope)


def blend_weight(age_hours: float | np.ndarray, curve: BlendCurve = BlendCurve()) -> float | np.ndarray:  # noqa: B008
    """Weight of ROAS (vs CTR) at an ad's age in hours, in [0, 1] and non-decreasing; arrays in, arrays out."""
    if curve.kind not in BLEND_CURVES or not 0 <= curve.start_hours < curve.full_hours:
        raise BlendedScoreError(f"invalid blend curve {curve!r}: kind in {list(BLEND_CURVES)}, 0 <= start < full")
    age = np.asarray(age_hours, dtype=float)
    if np.isnan(age).any():
        raise BlendedScoreError("age_hours must not be NaN")
    if curve.kind == "sigmoid":
        midpoint, slope = sigmoid_parameters(curve)
        w = expit(slope * (age - midpoint))
    elif curve.kind == "linear":
        w = np.clip((age - curve.start_hours) / (curve.full_hours - curve.start_hours), 0.0, 1.0)
    else:
        w = (age >= curve.full_hours).astype(float)
    return float(w) if w.ndim == 0 else w


def blend(ctr_index: np.ndarray, roas_index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``(1 - w) * ctr_index + w * roas_index``; a term whose weight is 0 is dropped, so a NaN index (no ROAS yet
    on a brand-new ad) does not turn the score into NaN."""
    w = np.asarray(weight, dtype=float)
    ctr_part = np.where(w < 1.0, (1.0 - w) * np.asarray(ctr_index, dtype=float), 0.0)
    return ctr_part + np.where(w > 0.0, w * np.asarray(roas_index, dtype=float), 0.0)


def age_hours(first_days: pd.Series, settings: DecisionSettings, as_of: datetime) -> pd.Series:
    """Hours from the start (client-timezone midnight) of each first day to ``as_of`` (naive: client timezone),
    floored at 0: the age the blend weight is read at."""
    as_of_utc = (as_of.replace(tzinfo=settings.zone) if as_of.tzinfo is None else as_of).astimezone(UTC)
    return _age_hours(first_days, settings, as_of_utc)


def blended_scores(
    ad_rows: pd.DataFrame, settings: DecisionSettings, as_of: datetime, control_ad_id: str | None = None
) -> pd.DataFrame:
    """One row per ad (``SCORE_COLUMNS``) from its ``ad_performance`` rows up to ``as_of``'s day, best score first.

    ``as_of`` without a timezone is read in the client's timezone. Rows dated after ``as_of``'s day are ignored.
    """
    rows, as_of_utc = _prepare(ad_rows, settings, as_of)
    per_ad = rows.groupby("ad_id", sort=True)[["impressions", "clicks", "spend", "synthetic_revenue"]].sum()
    per_ad["age_hours"] = _age_hours(_starts(rows), settings, as_of_utc)
    return _score(per_ad.reset_index(), settings, control_ad_id)


def blended_daily_scores(
    ad_rows: pd.DataFrame, settings: DecisionSettings, as_of: datetime, control_ad_id: str | None = None
) -> pd.DataFrame:
    """One row per ad and day (``date`` + ``SCORE_COLUMNS``): the day's own CTR and ROAS, indexed against the
    other ads that day, blended at the ad's age at the end of that day (or at ``as_of`` for its own day). On a day
    without a row of ``control_ad_id`` the day's median is the reference."""
    rows, as_of_utc = _prepare(ad_rows, settings, as_of)
    starts = _starts(rows)
    per_day = rows.groupby(["ad_id", "date"], sort=True)[["impressions", "clicks", "spend", "synthetic_revenue"]]
    per_day = per_day.sum().reset_index()
    ends = [
        min(_utc(d + timedelta(days=1), settings), as_of_utc) - _utc(starts[ad], settings)
        for ad, d in zip(per_day["ad_id"], per_day["date"], strict=True)
    ]
    per_day["age_hours"] = [max(e.total_seconds() / 3600.0, 0.0) for e in ends]
    if control_ad_id is not None and control_ad_id not in set(per_day["ad_id"]):
        raise BlendedScoreError(f"control ad {control_ad_id!r} has no rows to score")
    frames = [
        _score(group, settings, control_ad_id if control_ad_id in set(group["ad_id"]) else None)
        for _, group in per_day.groupby("date", sort=True)
    ]
    out = pd.concat([f.assign(date=d) for f, d in zip(frames, sorted(per_day["date"].unique()), strict=True)])
    return out[["date", *SCORE_COLUMNS]].sort_values(["date", "score"], ascending=[True, False], ignore_index=True)


def _prepare(ad_rows: pd.DataFrame, settings: DecisionSettings, as_of: datetime) -> tuple[pd.DataFrame, datetime]:
    missing = [c for c in REQUIRED_COLUMNS if c not in ad_rows.columns]
    if missing:
        raise BlendedScoreError(f"ad rows lack column(s) {missing}; need {list(REQUIRED_COLUMNS)}")
    if not isinstance(as_of, datetime):
        raise BlendedScoreError(f"as_of must be a datetime, got {as_of!r}")
    as_of_utc = (as_of.replace(tzinfo=settings.zone) if as_of.tzinfo is None else as_of).astimezone(UTC)
    rows = ad_rows.copy()
    try:
        rows["date"] = pd.to_datetime(rows["date"]).dt.date
    except (ValueError, TypeError) as err:
        raise BlendedScoreError(f"column 'date' has values that are not dates: {err}") from err
    rows = rows[rows["date"] <= as_of_utc.astimezone(settings.zone).date()].copy()
    if rows.empty:
        raise BlendedScoreError(f"no ad rows on or before {as_of.isoformat()}")
    rows["ad_id"] = rows["ad_id"].astype(str)
    for column in ("impressions", "clicks", "spend"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce").fillna(0.0).astype(float)
        if (rows[column] < 0).any():
            raise BlendedScoreError(f"column {column!r} has negative values")
    if (rows["clicks"] > rows["impressions"]).any():
        raise BlendedScoreError("some rows have more clicks than impressions")
    if settings.pipeline is not None:
        rows["synthetic_revenue"] = pipeline_value(rows, settings.pipeline)
    else:
        revenue = rows["revenue"] if "revenue" in rows.columns else pd.Series(0.0, index=rows.index)
        rows["synthetic_revenue"] = pd.to_numeric(revenue, errors="coerce").fillna(0.0).astype(float)
    return rows, as_of_utc


def _starts(rows: pd.DataFrame) -> pd.Series:
    """First day with impressions per ad (its first row if it never had any)."""
    live = rows[rows["impressions"] > 0].groupby("ad_id")["date"].min()
    return live.combine_first(rows.groupby("ad_id")["date"].min())


def _utc(day: date, settings: DecisionSettings) -> datetime:
    return datetime.combine(day, time(), tzinfo=settings.zone).astimezone(UTC)


def _age_hours(starts: pd.Series, settings: DecisionSettings, as_of_utc: datetime) -> pd.Series:
    return starts.map(lambda d: max((as_of_utc - _utc(d, settings)).total_seconds() / 3600.0, 0.0)).astype(float)


def _index(values: pd.Series, num: pd.Series, den: pd.Series, control: pd.Series) -> tuple[pd.Series, str]:
    """``values / reference`` and a label of the reference (control, client median, pooled, or none)."""
    finite = values[np.isfinite(values)]
    candidates = [
        (float(values[control].iloc[0]) if control.any() else np.nan, "the control ad"),
        (float(finite.median()) if finite.size else np.nan, "client median"),
        (float(num.sum() / den.sum()) if den.sum() > 0 else np.nan, "client pooled average"),
    ]
    for reference, label in candidates:
        if np.isfinite(reference) and reference > 0:
            return values / reference, label
    return values.where(~np.isfinite(values), 1.0), "none (no ad has any yet)"


def _score(units: pd.DataFrame, settings: DecisionSettings, control_ad_id: str | None) -> pd.DataFrame:
    units = units.reset_index(drop=True)
    control = units["ad_id"] == control_ad_id
    if control_ad_id is not None and not control.any():
        raise BlendedScoreError(f"control ad {control_ad_id!r} has no rows to score")
    with np.errstate(divide="ignore", invalid="ignore"):
        units["ctr"] = (units["clicks"] / units["impressions"]).where(units["impressions"] > 0)
        units["synthetic_roas"] = (units["synthetic_revenue"] / units["spend"]).where(units["spend"] > 0)
    units["ctr_index"], ctr_ref = _index(units["ctr"], units["clicks"], units["impressions"], control)
    units["roas_index"], roas_ref = _index(units["synthetic_roas"], units["synthetic_revenue"], units["spend"], control)
    curve = settings.pipeline.blend if settings.pipeline is not None else BlendCurve()
    w = np.asarray(blend_weight(units["age_hours"].to_numpy(), curve), dtype=float)
    units["weight_roas"] = w
    units["score"] = blend(units["ctr_index"].to_numpy(), units["roas_index"].to_numpy(), w)
    currency = settings.pipeline.currency if settings.pipeline is not None and settings.pipeline.currency else ""
    source = "pipeline value" if settings.pipeline is not None else "revenue"
    ref = ctr_ref if ctr_ref == roas_ref else "the references above"
    units["explanation"] = [
        f"{r.age_hours:.0f} h old, so {r.weight_roas:.0%} ROAS / {1 - r.weight_roas:.0%} CTR: "
        f"CTR {r.ctr:.2%} (index {r.ctr_index:.2f} vs {ctr_ref}), ROAS {r.synthetic_roas:.2f} "
        f"({currency + ' ' if currency else ''}{r.synthetic_revenue:,.0f} {source} on {r.spend:,.0f} spend; "
        f"index {r.roas_index:.2f} vs {roas_ref}); score {r.score:.2f} (1 = {ref})"
        for r in units.itertuples()
    ]
    units = units.sort_values(["score", "ad_id"], ascending=[False, True], na_position="last", ignore_index=True)
    return units[list(SCORE_COLUMNS)]
