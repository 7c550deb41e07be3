import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.testloop.posterior_report import PREDICTION_COLUMNS, build_posteriors, build_recommendations
from optimizer_pipeline.lib.testloop.posteriors import POSTERIOR_COLUMNS

REST = "emo:trust|pace:fast|pain:no_time|cta:buy_now"
A, B, C, NEW = (f"hook:{h}|{REST}" for h in ("question", "pov", "tutorial", "story"))
AS_OF = pd.Timestamp("2026-03-20", tz="UTC")


def rows_and_summary(days: dict[str, list[tuple[int, int, int]]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """days: pattern -> [(age_days, clicks, conversions)]; a pattern with [] was never clicked."""
    rows, summary = [], []
    for p, entries in days.items():
        for age, n, k in entries or [(0, 0, 0)]:
            rows.append(
                {
                    "pattern_hash": p,
                    "day": AS_OF - pd.Timedelta(days=age),
                    "age_days": float(age),
                    "clicks": n,
                    "conversions": k,
                }
            )
        clicked = [e for e in entries if e[1] > 0]
        first = AS_OF - pd.Timedelta(days=max(e[0] for e in clicked)) if clicked else pd.NaT
        summary.append(
            {
                "pattern_hash": p,
                "traffic_sources": 1,
                "clicks_observed": sum(e[1] for e in entries),
                "conversions_observed": sum(e[2] for e in entries),
                "orders": sum(e[2] for e in entries),
                "first_seen": first,
                "last_seen": first,
            }
        )
    s = pd.DataFrame(summary)
    s["first_seen"] = pd.to_datetime(s["first_seen"], utc=True)
    s["last_seen"] = pd.to_datetime(s["last_seen"], utc=True)
    return pd.DataFrame(rows), s


DATA = {
    A: [(10, 150, 12), (2, 150, 9)],
    B: [(10, 200, 6), (1, 100, 4)],
    C: [(3, 60, 2)],  # 60 clicks, 3 days: inside the ignorance zone (100 clicks, 7 days)
    NEW: [],
}


def test_posteriors_match_the_closed_form_under_the_fitted_prior():
    rows, summary = rows_and_summary(DATA)
    rep = build_posteriors(rows, summary, decay=None, seed=3, as_of=AS_OF, loo_min_clicks=50)
    t = rep.table.set_index("pattern_hash")
    assert list(rep.table.columns[: len(POSTERIOR_COLUMNS)]) == list(POSTERIOR_COLUMNS)
    assert set(PREDICTION_COLUMNS) <= set(rep.table.columns) and (rep.table["as_of"] == AS_OF).all()
    a0, b0 = rep.prior.alpha, rep.prior.beta
    assert rep.prior.method == "empirical_bayes"
    for p, (n, k) in {A: (300, 21), B: (300, 10), C: (60, 2), NEW: (0, 0)}.items():
        a, b = a0 + k, b0 + n - k
        assert (t.loc[p, "alpha"], t.loc[p, "beta"]) == pytest.approx((a, b))
        assert t.loc[p, "mean"] == pytest.approx(a / (a + b))
        assert t.loc[p, "ci_low"] == pytest.approx(stats.beta.ppf(0.025, a, b))
        assert t.loc[p, "ci_high"] == pytest.approx(stats.beta.ppf(0.975, a, b))
        assert (t.loc[p, "clicks_observed"], t.loc[p, "conversions_observed"]) == (n, k)
    assert t["p_best"].sum() == pytest.approx(1.0)
    assert t.loc[A, "p_best"] > 0.5  # 7 % vs 3-4 %: A is best with high probability
    # the predictor: exact for tested patterns, a coarser parent for the never-clicked one
    assert t.loc[A, "prediction_method"] == "exact" and t.loc[A, "predicted_mean"] == pytest.approx(t.loc[A, "mean"])
    assert t.loc[NEW, "prediction_method"] == f"partial:{REST}"  # drop hook: the other three share the rest
    assert t.loc[NEW, "predicted_mean"] == pytest.approx((a0 + 33) / (a0 + b0 + 660), rel=0.2)
    assert rep.loo_patterns == 3 and 0 <= rep.loo.hit_rate <= 1 and rep.loo.mae > 0


def test_decay_discounts_old_days():
    rows, summary = rows_and_summary(DATA)
    rep = build_posteriors(rows, summary, decay=0.9, seed=3, as_of=AS_OF, loo_min_clicks=50)
    t = rep.table.set_index("pattern_hash")
    assert t.loc[A, "clicks"] == pytest.approx(150 * 0.9**10 + 150 * 0.9**2)
    assert t.loc[A, "conversions"] == pytest.approx(12 * 0.9**10 + 9 * 0.9**2)
    assert t.loc[A, "alpha"] == pytest.approx(rep.prior.alpha + t.loc[A, "conversions"])
    assert t.loc[A, "clicks_observed"] == 300  # the undiscounted count stays next to it
    # the prior is fitted to undiscounted history: the same with and without decay
    plain = build_posteriors(rows, summary, decay=None, seed=3, as_of=AS_OF, loo_min_clicks=50)
    assert (rep.prior.alpha, rep.prior.beta) == (plain.prior.alpha, plain.prior.beta)


def test_recommendations_zone_reasons_and_reproducibility():
    rows, summary = rows_and_summary(DATA)
    post = build_posteriors(rows, summary, decay=None, seed=3, as_of=AS_OF, loo_min_clicks=50).table
    rec = build_recommendations(post, top_n=1, seed=42, min_clicks=100, min_days=7)
    again = build_recommendations(post, top_n=1, seed=42, min_clicks=100, min_days=7)
    pd.testing.assert_frame_equal(rec, again)
    by = rec.set_index("pattern_hash")
    assert rec.iloc[0]["pattern_hash"] == A and rec.iloc[0]["rank"] == 1 and not rec.iloc[0]["in_ignorance_zone"]
    assert set(by.index) == {A, C, NEW}  # top 1 + both ignorance-zone patterns; B is dropped
    assert by.loc[C, "in_ignorance_zone"] and by.loc[C, "days_tested"] == 3.0
    assert by.loc[C, "reason"].startswith("under-explored (n = 60; < 100 clicks, 3 of 7 days)")
    assert by.loc[NEW, "days_tested"] == 0.0 and by.loc[NEW, "clicks"] == 0
    assert (rec["seed"] == 42).all() and math.isclose(rec["budget_share"].sum(), 1.0)
    assert (rec.loc[rec["in_ignorance_zone"], "budget_share"] >= 0.05 - 1e-12).all()


def test_no_patterns_at_all():
    empty_rows = pd.DataFrame({"pattern_hash": [], "day": [], "age_days": [], "clicks": [], "conversions": []})
    _, summary = rows_and_summary({A: []})
    rep = build_posteriors(empty_rows, summary.iloc[:0], decay=None, seed=0, as_of=None, loo_min_clicks=100)
    assert rep.table.empty and rep.prior.method == "fallback" and np.isnan(rep.loo.mae)
    rec = build_recommendations(rep.table, top_n=5, seed=0, min_clicks=100, min_days=7)
    assert rec.empty and "budget_share" in rec.columns
