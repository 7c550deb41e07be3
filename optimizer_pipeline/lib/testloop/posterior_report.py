"""A client's pattern posteriors and test recommendations, assembled from per-pattern daily counts.

Pure logic gluing :mod:`optimizer_pipeline.lib.testloop.posteriors` and :mod:`optimizer_pipeline.lib.testloop.thompson`
together the same way every time, so the assets stay thin and the tables are reproducible:

* traffic sources (``utm_id``, one per influencer) are clusters of clicks: the intra-class correlation ``rho`` of
  conversions within a source is estimated once per client from the undiscounted per-source totals, pooled over its
  patterns (:mod:`optimizer_pipeline.lib.testloop.source_clustering`), and every pattern's counts are divided by its
  design effect, so intervals and P(best) are about the pattern's rate across influencers;
* the empirical-Bayes prior is fitted to the undiscounted per-pattern *effective* totals (the client's own history,
  bounded), so between-influencer noise is not mistaken for between-pattern differences;
* the posterior uses the (optionally ``decay``-discounted, per row) counts, totalled per source, then divided by the
  design effect; P(best) and Thompson draws use the recorded seed;
* "as of" is the newest event timestamp in the inbox, never the wall clock, so replaying the same inbox gives
  the same tables; days of testing and the age of old data are counted up to it;
* every pattern also gets the back-off predictor's estimate (``exact`` when it has clicks, ``partial:<parent>``
  or ``prior`` when it was never tested) from the effective totals, whose quality is measured by leave-one-pattern-out
  over the patterns with at least ``loo_min_clicks`` observed clicks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.testloop.backoff import LooResult, leave_one_pattern_out, predict_rates
from optimizer_pipeline.lib.testloop.posteriors import POSTERIOR_COLUMNS, posterior_table
from optimizer_pipeline.lib.testloop.prior import BetaPrior, fit_prior
from optimizer_pipeline.lib.testloop.source_clustering import (
    SOURCE_COLUMN,
    SourceDispersion,
    design_effects,
    estimate_dispersion,
    source_totals,
)
from optimizer_pipeline.lib.testloop.thompson import DEFAULT_SHARPNESS, recommend

PREDICTION_COLUMNS = ["predicted_mean", "predicted_ci_low", "predicted_ci_high", "prediction_method"]
RECOMMENDATION_COLUMNS = [
    "pattern_hash",
    "rank",
    "win_share",
    "budget_share",
    "reason",
    "in_ignorance_zone",
    "days_tested",
    "clicks",
    "conversions",
    "mean",
    "ci_low",
    "ci_high",
    "p_best",
    "seed",
    "decay_weight",
    "sharpness",
]


@dataclass
class PosteriorReport:
    """The ``pattern_posteriors`` table plus what the metadata reports about it."""

    table: pd.DataFrame
    prior: BetaPrior
    loo: LooResult
    loo_patterns: int  # patterns held out by leave-one-pattern-out (those with >= loo_min_clicks clicks)
    dispersion: SourceDispersion  # between-source intra-class correlation rho and how it was obtained


def build_posteriors(
    rows: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    decay: float | None,
    seed: int,
    as_of: Any,
    loo_min_clicks: float,
    p_best_draws: int = 40_000,
) -> PosteriorReport:
    """``rows``: ``pattern_hash, clicks, conversions, age_days`` and optionally ``utm_id`` (one row per pattern,
    traffic source and day, see :func:`optimizer_pipeline.lib.testloop.source_counts.pattern_rows`; other columns
    such as ``day`` or ``immature_clicks`` are ignored; without ``utm_id`` each pattern is one source); ``summary``:
    per-pattern extras (:func:`optimizer_pipeline.lib.testloop.source_counts.pattern_summary`). Output columns:
    :data:`POSTERIOR_COLUMNS` (``clicks``/``conversions`` are the decayed counts when ``decay`` is set,
    ``effective_*`` those divided by the design effect), the summary's columns, :data:`PREDICTION_COLUMNS` and
    ``as_of``; one row per pattern, sorted by pattern_hash."""
    sources = source_totals(rows)
    dispersion = estimate_dispersion(sources)
    effective = design_effects(sources, dispersion.rho)
    prior = fit_prior(effective["effective_clicks"], effective["effective_conversions"])
    keep = [c for c in ("pattern_hash", SOURCE_COLUMN, "clicks", "conversions", "age_days") if c in rows.columns]
    post = posterior_table(
        rows[keep], prior=prior, decay=decay, rho=dispersion.rho, seed=seed, p_best_draws=p_best_draws
    )
    totals = effective[["pattern_hash", "effective_clicks", "effective_conversions"]].rename(
        columns={"effective_clicks": "clicks", "effective_conversions": "conversions"}
    )
    preds = predict_rates(post["pattern_hash"], totals, prior)
    post["predicted_mean"] = [p.mean for p in preds]
    post["predicted_ci_low"] = [p.ci_low for p in preds]
    post["predicted_ci_high"] = [p.ci_high for p in preds]
    post["prediction_method"] = [p.method for p in preds]
    table = post.merge(summary, on="pattern_hash", how="left", validate="one_to_one")
    table["as_of"] = pd.Series(pd.Timestamp(as_of) if as_of is not None else pd.NaT, index=table.index)
    table["as_of"] = pd.to_datetime(table["as_of"], utc=True)
    extra = [c for c in summary.columns if c != "pattern_hash"]
    table = table[[*POSTERIOR_COLUMNS, *extra, *PREDICTION_COLUMNS, "as_of"]]
    held_out = effective.loc[effective["clicks"] >= max(loo_min_clicks, 1e-12), "pattern_hash"]
    loo = (
        leave_one_pattern_out(totals, prior, held_out=set(held_out))
        if len(totals) > 1
        else LooResult(float("nan"), float("nan"))
    )
    return PosteriorReport(table.reset_index(drop=True), prior, loo, len(held_out), dispersion)


def build_recommendations(
    posteriors: pd.DataFrame,
    *,
    top_n: int,
    seed: int,
    min_clicks: float,
    min_days: float,
    draws: int = 10_000,
    sharpness: float = DEFAULT_SHARPNESS,
) -> pd.DataFrame:
    """Thompson-sampling picks from a ``pattern_posteriors`` table (columns :data:`RECOMMENDATION_COLUMNS`).

    The ignorance zone counts *mature* observed clicks (``clicks_observed - clicks_immature``: not the decayed or
    cluster-deflated effective count, and not clicks whose attribution window is still open, which are no evidence
    yet) and days since the pattern's first click up to the table's ``as_of``; a never-clicked pattern has tested 0
    days. ``clicks`` and ``conversions`` in the output are the observed counts.

    ``sharpness`` (``test_loop.sharpness``, kappa >= 1) reshapes the Thompson draws behind ``win_share`` and
    ``budget_share`` (:func:`optimizer_pipeline.lib.testloop.thompson.recommend`); ``p_best`` stays the posterior's
    own probability of being best. The ``sharpness`` column records kappa.
    """
    post = posteriors.reset_index(drop=True).copy()
    as_of = post["as_of"].dropna().iloc[0] if "as_of" in post and post["as_of"].notna().any() else None
    immature = post.get("clicks_immature", 0)
    frame = post.assign(clicks=post["clicks_observed"] - immature)
    rec = recommend(
        frame,
        n=top_n,
        seed=seed,
        min_clicks=min_clicks,
        min_days=min_days,
        first_seen="first_seen",
        draws=draws,
        as_of=as_of,
        sharpness=sharpness,
    )
    if rec.empty:
        return pd.DataFrame({c: [] for c in RECOMMENDATION_COLUMNS})
    extra = post.set_index("pattern_hash")
    rec = rec.join(
        extra[["clicks_observed", "conversions_observed", "mean", "ci_low", "ci_high", "p_best"]], on="pattern_hash"
    )
    rec = rec.rename(columns={"clicks_observed": "clicks", "conversions_observed": "conversions"})
    first = pd.to_datetime(extra["first_seen"], utc=True).reindex(rec["pattern_hash"]).to_numpy()
    if as_of is None:
        rec["days_tested"] = 0.0
    else:
        days = (pd.Timestamp(as_of) - pd.DatetimeIndex(first)) / pd.Timedelta(days=1)
        rec["days_tested"] = np.where(np.isnan(days.to_numpy(dtype=float)), 0.0, days.to_numpy(dtype=float))
    rec["rank"] = rec["rank"].astype("int64")
    rec["in_ignorance_zone"] = rec["in_ignorance_zone"].astype(bool)
    rec["seed"] = rec["seed"].astype("int64")
    rec["sharpness"] = rec["sharpness"].astype("float64")
    return rec[RECOMMENDATION_COLUMNS].reset_index(drop=True)
