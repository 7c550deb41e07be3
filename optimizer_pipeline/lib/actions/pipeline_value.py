"""Synthetic revenue of a service business's ad-days: what the leads an ad brought are worth before any deal closes.

Why: a clinic, an agency or a contractor sells after days or weeks (the seed client: 7,000 AED orders, a 5-7 day
cycle), so an ad's observed revenue at 24-72 h is mostly zero and ROAS ranks ads on noise. The pipeline the leads
have reached is known much earlier, and each stage has a historical chance of closing.

Method: the *weighted pipeline* of sales forecasting (expected revenue = deal amount x probability of closing at the
opportunity's stage, e.g. Salesforce's Opportunity "Expected Revenue"), discounted for the time still to wait with
an exponential half-life, as the time-decay attribution model discounts touchpoints (Google Analytics' time-decay
model, default half-life 7 days). For stage ``s`` with probability ``p_s``, value ``v_s`` and ``days_to_close``
``t_s``, a prospect standing there is worth

    e_s = p_s * v_s * 0.5 ** (t_s / half_life_days)

Counting (the registry's ``decisions.pipeline.stages``, first touch to sale):

* An ``ad_performance`` row may carry one count column per stage, named after it (``lead``, ``call_booked``, …):
  the prospects that *reached* that stage on that day through that ad. Missing columns or empty cells count 0.
* The first stage's column may be absent: the row's ``conversions`` (what the ad platform counts, a lead form or a
  pixel event) are then the first stage. Observed ``revenue`` is not added (a closed deal is a last stage with
  probability 1, else it would be counted twice).
* A prospect moves through several stages on different days, so a stage event credits only the *increase* of its
  worth: ``synthetic revenue(row) = sum_s n_s * (e_s - e_{s-1})`` with ``e_0 = 0``. Summed over an ad's days this is
  ``sum_s (N_s - N_{s+1}) * e_s``: every prospect valued once, at the furthest stage it reached. One day can be
  negative (a stage whose value is revised down); an ad's total is >= 0 whenever its funnel counts narrow. A
  prospect who skips a stage (buys at the first call) must be counted as reaching the skipped stages too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.registry.decisions_settings import PipelineSettings


class PipelineValueError(ValueError):
    """Rows that cannot be valued: negative or non-numeric stage counts, or a currency other than the pipeline's."""


def stage_worth(settings: PipelineSettings) -> np.ndarray:
    """``e_s = p_s * v_s * 0.5 ** (days_to_close_s / half_life_days)`` per stage, in funnel order."""
    return np.array(
        [s.probability * s.value * 0.5 ** (s.days_to_close / settings.half_life_days) for s in settings.stages]
    )


def stage_counts(rows: pd.DataFrame, settings: PipelineSettings) -> pd.DataFrame:
    """Prospects reaching each stage per row (columns = stage names, float, same index as ``rows``)."""
    counts = {}
    for i, stage in enumerate(settings.stages):
        column = stage.name if stage.name in rows.columns or i > 0 else "conversions"
        raw = rows[column] if column in rows.columns else pd.Series(0.0, index=rows.index)
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():
            raise PipelineValueError(f"stage {stage.name!r}: column {column!r} has non-numeric counts")
        values = values.fillna(0.0).astype(float)
        if (values < 0).any() or not np.isfinite(values).all():
            raise PipelineValueError(f"stage {stage.name!r}: column {column!r} has negative or infinite counts")
        counts[stage.name] = values
    return pd.DataFrame(counts, index=rows.index)


def pipeline_value(rows: pd.DataFrame, settings: PipelineSettings) -> pd.Series:
    """Synthetic revenue of each ``ad_performance`` row, in the pipeline's currency (see the module docstring)."""
    if settings.currency is not None and "currency" in rows.columns:
        others = sorted({str(c) for c in rows["currency"].dropna().unique()} - {settings.currency})
        if others:
            raise PipelineValueError(
                f"rows are in {others} but the pipeline's stage values are in {settings.currency}: ROAS would mix "
                "currencies"
            )
    worth = stage_worth(settings)
    increments = np.diff(worth, prepend=0.0)
    counts = stage_counts(rows, settings)
    return pd.Series(counts.to_numpy() @ increments, index=rows.index, name="synthetic_revenue")
