import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.testloop.posterior_report import PREDICTION_COLUMNS, build_posteriors, build_recommendations
from optimizer_pipeline.lib.testloop.posteriors import POSTERIOR_COLUMNS, posterior_table
from optimizer_pipeline.lib.testloop.prior import fit_prior
from optimizer_pipeline.lib.testloop.thompson import WINNER_SHARE, recommend

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


def _influencer_client(rng: np.random.Generator, sd: float, identical: bool) -> tuple[pd.DataFrame, pd.Series]:
    """12 patterns x 3 influencers (150-400 clicks each); influencer rate mu_j * exp(sd z - sd^2 / 2), so mu_j (uniform
    3-5 %, or 4 % for all when ``identical``) is the pattern's mean rate over influencers. Rows in the
    ``pattern_rows`` interface (one per pattern, utm_id and day)."""
    mu = np.full(12, 0.04) if identical else rng.uniform(0.03, 0.05, 12)
    rate = mu[:, None] * np.exp(sd * rng.standard_normal((12, 3)) - sd**2 / 2)
    clicks = rng.integers(150, 401, (12, 3))
    hashes = [f"hook:h{j:02d}|{REST}" for j in range(12)]
    rows = pd.DataFrame(
        {
            "pattern_hash": np.repeat(hashes, 3),
            "utm_id": [f"u{j}-{s}" for j in range(12) for s in range(3)],
            "day": AS_OF,
            "age_days": 0.0,
            "clicks": clicks.ravel(),
            "conversions": rng.binomial(clicks, np.minimum(rate, 1)).ravel(),
            "immature_clicks": 0,
            "immature_conversions": 0,
        }
    )
    return rows, pd.Series(mu, index=hashes)


def _report(rows: pd.DataFrame):
    summary = pd.DataFrame({"pattern_hash": sorted(rows["pattern_hash"].unique())})
    return build_posteriors(rows, summary, decay=None, seed=0, as_of=AS_OF, loo_min_clicks=100, p_best_draws=10)


def test_influencer_heterogeneity_intervals_cover_the_pattern_mean():
    """Issue 12, item 4: log-rate sd 0.5 between influencers. Independent clicks covered ~69 % here (audit: 75 %);
    the cluster model (pooled rho, Kish design effect) measured 0.94-0.96 in benchmarks/calibration_sims/influencers.py.
    30 clients = 360 patterns: binomial SE ~1.1 % (more with the per-client rho), so >= 0.93 is ~2 SE under the
    measured value and ~20 SE above the old one."""
    rng = np.random.default_rng(5)
    hits = []
    for _ in range(30):
        rows, mu = _influencer_client(rng, 0.5, identical=False)
        t = _report(rows).table
        truth = mu.loc[t["pattern_hash"]].to_numpy()
        hits.append((t["ci_low"].to_numpy() <= truth) & (truth <= t["ci_high"].to_numpy()))
    assert np.concatenate(hits).mean() >= 0.93


def test_identical_patterns_are_rarely_called_high_confidence_winners():
    """Identical patterns (4 %), log-rate sd 0.5 between influencers: at a single look, Thompson's win share >= 0.9
    ("high-confidence winner") in at most 5 % of clients (old: 14 % over 150 clients; here at most 1 of 30)."""
    rng = np.random.default_rng(6)
    called = 0
    for c in range(30):
        rows, _ = _influencer_client(rng, 0.5, identical=True)
        rec = recommend(_report(rows).table, n=12, seed=c, min_clicks=0, min_days=0, draws=10_000)
        called += bool((rec["win_share"] >= WINNER_SHARE).any())
    assert called / 30 <= 0.05


def test_without_heterogeneity_intervals_stay_narrow():
    """sd 0: the estimated rho is about 0 (truncated at 0, so slightly positive on average): coverage stays >= 0.93
    and the mean width within 10 % of the independent-clicks width (measured +4-6 %)."""
    rng = np.random.default_rng(7)
    hits, width, width_old = [], [], []
    for _ in range(15):
        rows, mu = _influencer_client(rng, 0.0, identical=False)
        t = _report(rows).table
        truth = mu.loc[t["pattern_hash"]].to_numpy()
        hits.append((t["ci_low"].to_numpy() <= truth) & (truth <= t["ci_high"].to_numpy()))
        width.append((t["ci_high"] - t["ci_low"]).to_numpy())
        totals = rows.groupby("pattern_hash", as_index=False)[["clicks", "conversions"]].sum()
        old = posterior_table(totals, prior=fit_prior(totals["clicks"], totals["conversions"]), p_best_draws=10)
        width_old.append((old["ci_high"] - old["ci_low"]).to_numpy())
    assert np.concatenate(hits).mean() >= 0.93
    assert np.concatenate(width).mean() <= 1.10 * np.concatenate(width_old).mean()


def test_source_rows_give_design_effects_and_the_prior_is_fitted_to_effective_counts():
    """The pattern_rows interface (utm_id, immature columns, a None-utm zero row for a pattern without data)."""
    rng = np.random.default_rng(8)
    rows, _ = _influencer_client(rng, 0.5, identical=False)
    empty = {c: 0 for c in ("clicks", "conversions", "immature_clicks", "immature_conversions")}
    rows = pd.concat(
        [rows, pd.DataFrame([{"pattern_hash": NEW, "utm_id": None, "day": pd.NaT, "age_days": 0.0, **empty}])],
        ignore_index=True,
    )
    rep = _report(rows)
    d = rep.dispersion
    assert d.method == "anova_moment" and d.patterns == 12 and d.sources == 36
    assert 0.002 < d.rho < 0.05  # true ICC at 4 %: (exp(0.25) - 1) * 0.04 / 0.96 = 0.012; 12 patterns are noisy
    t = rep.table.set_index("pattern_hash")
    assert t.loc[NEW, "design_effect"] == 1.0 and t.loc[NEW, "alpha"] == pytest.approx(rep.prior.alpha)
    sizes = rows[rows["clicks"] > 0].groupby("pattern_hash")["clicks"]
    deff = 1 + (sizes.apply(lambda n: (n**2).sum() / n.sum()) - 1) * d.rho
    pd.testing.assert_series_equal(t.loc[deff.index, "design_effect"], deff, check_names=False)
    totals = rows.groupby("pattern_hash")[["clicks", "conversions"]].sum()
    expected = fit_prior(totals["clicks"] / t["design_effect"], totals["conversions"] / t["design_effect"])
    assert (rep.prior.alpha, rep.prior.beta) == pytest.approx((expected.alpha, expected.beta))
    a = rep.prior.alpha + t["effective_conversions"]
    assert np.allclose(t["alpha"], a) and np.allclose(t["effective_clicks"], totals["clicks"] / t["design_effect"])
    assert t.loc[t.index[0], "prediction_method"] == "exact"
