import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.testloop.backoff import leave_one_pattern_out, predict_rate
from optimizer_pipeline.lib.testloop.pattern_hash import pattern_hash
from optimizer_pipeline.lib.testloop.posteriors import POSTERIOR_COLUMNS, posterior_table
from optimizer_pipeline.lib.testloop.prior import BetaPrior, PriorBounds, fit_prior

FULL = "hook:question|emo:curiosity|pace:fast|pain:no_time|cta:urgency"


def test_posterior_mean_and_interval_match_closed_form():
    prior = BetaPrior(2.0, 50.0, "test")
    df = pd.DataFrame({"pattern_hash": ["hook:a", "hook:b"], "clicks": [100, 400], "conversions": [7, 10]})
    tab = posterior_table(df, prior=prior, p_best_draws=20_000, seed=1)
    assert list(tab.columns) == list(POSTERIOR_COLUMNS)
    for row, (n, k) in zip(tab.itertuples(), [(100, 7), (400, 10)], strict=True):
        a, b = 2 + k, 50 + n - k
        assert row.alpha == a and row.beta == b
        assert math.isclose(row.mean, stats.beta.mean(a, b))
        assert math.isclose(row.ci_low, stats.beta.ppf(0.025, a, b))
        assert math.isclose(row.ci_high, stats.beta.ppf(0.975, a, b))
    # exact P(best) for two arms: P(X_a > X_b) by numerical integration
    x = np.linspace(0, 1, 200_001)
    exact = np.trapezoid(stats.beta.pdf(x, 9, 143) * stats.beta.cdf(x, 12, 440), x)
    assert abs(tab.p_best.iloc[0] - exact) < 0.01
    assert math.isclose(tab.p_best.sum(), 1.0)


def test_empirical_bayes_recovers_known_prior():
    rng = np.random.default_rng(7)
    a0, b0 = 3.0, 97.0  # mean 0.03, strength 100
    p = rng.beta(a0, b0, 2000)
    n = rng.integers(300, 3000, 2000)
    k = rng.binomial(n, p)
    prior = fit_prior(n, k)
    assert prior.method == "empirical_bayes"
    assert abs(prior.mean - 0.03) < 0.002
    assert 70 < prior.strength < 140


@pytest.mark.parametrize(
    ("clicks", "conversions"),
    [([0, 0, 0], [0, 0, 0]), ([500], [10]), ([100, 200, 300], [0, 0, 0]), ([1000, 1000, 1000], [20, 20, 20])],
)
def test_prior_respects_bounds_on_degenerate_data(clicks, conversions):
    """A fitted prior stays inside the bounds; when nothing can be fitted the fallback is Jeffreys Beta(1/2, 1/2)."""
    bounds = PriorBounds(strength=(2, 200), mean=(0.001, 0.5))
    prior = fit_prior(clicks, conversions, bounds=bounds)
    if prior.method == "fallback":
        assert (prior.alpha, prior.beta) == (0.5, 0.5)
    else:
        assert 2 - 1e-9 <= prior.strength <= 200 + 1e-9
        assert 0.001 - 1e-12 <= prior.mean <= 0.5 + 1e-12
    assert prior.alpha > 0 and prior.beta > 0


def test_identical_rates_hit_strength_upper_bound():
    prior = fit_prior([1000, 1000, 1000], [20, 20, 20])
    assert prior.method == "empirical_bayes" and math.isclose(prior.strength, 200, rel_tol=1e-3)


def test_credible_interval_coverage():
    """Draw true rates from the prior, observe, check the 95 % interval covers: tolerance +-2 % (SE ~0.5 %)."""
    rng = np.random.default_rng(11)
    prior = BetaPrior(2.0, 60.0, "test")
    m = 4000
    p = rng.beta(prior.alpha, prior.beta, m)
    n = rng.integers(20, 2000, m)
    k = rng.binomial(n, p)
    df = pd.DataFrame({"pattern_hash": [f"hook:h{i}" for i in range(m)], "clicks": n, "conversions": k})
    tab = posterior_table(df, prior=prior, p_best_draws=10, seed=0)
    truth = pd.Series(p, index=df.pattern_hash).loc[tab.pattern_hash].to_numpy()
    coverage = np.mean((tab.ci_low <= truth) & (truth <= tab.ci_high))
    assert abs(coverage - 0.95) < 0.02


def test_decay_reduces_old_data_weight():
    prior = BetaPrior(1.0, 50.0, "test")
    df = pd.DataFrame(
        {
            "pattern_hash": ["hook:a", "hook:a"],
            "clicks": [1000, 100],
            "conversions": [100, 1],
            "age_days": [60, 0],
        }
    )
    plain = posterior_table(df, prior=prior, p_best_draws=10)
    decayed = posterior_table(df, prior=prior, decay=0.95, p_best_draws=10)
    assert plain.clicks.iloc[0] == 1100
    assert math.isclose(decayed.clicks.iloc[0], 1000 * 0.95**60 + 100)
    assert decayed["mean"].iloc[0] < plain["mean"].iloc[0]  # the old, high-rate data count less
    with pytest.raises(ValueError):
        posterior_table(df.drop(columns="age_days"), prior=prior, decay=0.9)


def _observed() -> pd.DataFrame:
    rows = [
        ("hook:question|emo:curiosity|pace:fast|pain:no_time|cta:follow", 1000, 50),
        ("hook:question|emo:curiosity|pace:fast|pain:budget|cta:follow", 800, 40),
        ("hook:pov|emo:humor|pace:slow|pain:weight|cta:save", 600, 6),
    ]
    return pd.DataFrame(rows, columns=["pattern_hash", "clicks", "conversions"])


def test_backoff_exact_partial_prior():
    obs = _observed()
    prior = BetaPrior(2.0, 98.0, "test")
    exact = predict_rate(obs.pattern_hash.iloc[0], obs, prior)
    assert exact.method == "exact" and exact.n == 1000
    assert math.isclose(exact.mean, 52 / 1100)

    untested = "hook:question|emo:curiosity|pace:fast|pain:no_time|cta:urgency"
    part = predict_rate(untested, obs, prior, pseudo_count=50)
    assert part.method == "partial:hook:question|emo:curiosity|pace:fast|pain:no_time"
    assert part.n == 1000
    assert 0.02 < part.mean < 0.05  # pulled toward the parent's ~5 %, away from the 2 % prior
    assert part.ci_low < part.mean < part.ci_high
    assert part.ci_high - part.ci_low > exact.ci_high - exact.ci_low  # 50 pseudo-counts, wider than 1000 clicks

    nothing = predict_rate("hook:tutorial|emo:calm|pace:medium|pain:health_worry|cta:comment", obs, prior)
    assert nothing.method == "prior" and nothing.n == 0
    assert math.isclose(nothing.mean, prior.mean)


def test_leave_one_pattern_out_is_finite():
    rng = np.random.default_rng(3)
    hooks, emos = ["question", "pov", "story"], ["humor", "trust"]
    rows = []
    for h in hooks:
        for e in emos:
            for c in ["follow", "save"]:
                n = int(rng.integers(200, 2000))
                rate = 0.02 + 0.02 * (h == "question") + 0.01 * (e == "trust")
                rows.append((pattern_hash({"hook": h, "emo": e, "cta": c}), n, int(rng.binomial(n, rate))))
    obs = pd.DataFrame(rows, columns=["pattern_hash", "clicks", "conversions"])
    prior = fit_prior(obs.clicks, obs.conversions)
    mae, hit = leave_one_pattern_out(obs, prior)
    assert np.isfinite(mae) and mae >= 0
    assert 0 <= hit <= 1
    assert mae < 0.02


def test_backoff_intervals_are_calibrated_on_held_out_patterns():
    # 12 patterns (the sample client's), rates drawn from one Beta: a held-out pattern's rate must fall inside its
    # predicted 95 % interval about 95 % of the time. Intervals as wide as the prior alone (ignoring that a parent's
    # centre is known from one or two sibling patterns) covered 75-81 % here.
    from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
    from optimizer_pipeline.lib.testloop.creatives import active_creatives, load_creatives

    creatives = load_creatives(SAMPLE_CLIENTS_FILE.parent / "glowfuel_creatives.yaml").accepted
    patterns = sorted(active_creatives(creatives)["pattern_hash"])  # the patterns influencers are assigned
    patterns = sorted(set(patterns))
    assert len(patterns) == 12
    rng = np.random.default_rng(11)
    hits, maes = [], []
    for _ in range(120):
        clicks = rng.integers(150, 3000, len(patterns))
        conv = rng.binomial(clicks, rng.beta(3, 50, len(patterns)))
        obs = pd.DataFrame({"pattern_hash": patterns, "clicks": clicks, "conversions": conv})
        mae, hit = leave_one_pattern_out(obs, fit_prior(obs.clicks, obs.conversions))
        hits.append(hit)
        maes.append(mae)
    assert 0.89 <= np.mean(hits) <= 0.99, np.mean(hits)
    assert np.mean(maes) < 0.045  # about the prior's own spread: these rates carry no attribute signal


def test_zero_conversion_fallback_intervals_cover_low_rates():
    """Issue 12, item 3. Clients of 12 patterns with low true rates (log-uniform 0.05-1 %) and 20-400 clicks each,
    kept only when no pattern converted (the case in which nothing can be fitted): the fallback prior's 95 %
    intervals must contain >= 93 % of the true rates. Measured 99.7 % (600 patterns, binomial SE ~0.3 %, so the bar
    is far from the Monte-Carlo noise); the old fallback Beta(0.002, 1.998) covered none ([0, ~1e-8])."""
    rng = np.random.default_rng(12)
    hits: list[np.ndarray] = []
    while len(hits) < 50:
        rate = np.exp(rng.uniform(np.log(0.0005), np.log(0.01), (5000, 12)))
        clicks = rng.integers(20, 401, (5000, 12))
        for c in np.flatnonzero(rng.binomial(clicks, rate).sum(axis=1) == 0)[: 50 - len(hits)]:
            hashes = [f"hook:h{j:02d}" for j in range(12)]
            df = pd.DataFrame({"pattern_hash": hashes, "clicks": clicks[c], "conversions": 0})
            prior = fit_prior(df["clicks"], df["conversions"])
            assert prior.method == "fallback"
            tab = posterior_table(df, prior=prior, p_best_draws=10).set_index("pattern_hash").loc[hashes]
            hits.append((tab["ci_low"].to_numpy() <= rate[c]) & (rate[c] <= tab["ci_high"].to_numpy()))
    assert np.concatenate(hits).mean() >= 0.93


def test_few_conversions_in_a_client_do_not_give_an_over_confident_prior():
    """With 1-3 conversions in a whole client the Beta-Binomial MLE sat at a bound with alpha0 ~0.2 and its intervals
    covered 87.5 % / 91.6 % of true rates (rates 0.05-1 %, 12 patterns of 20-400 clicks); below MIN_CONVERSIONS the
    prior is Jeffreys instead: >= 93 % (measured ~99 %; 480 patterns, SE ~0.5 %)."""
    rng = np.random.default_rng(13)
    hits: list[np.ndarray] = []
    methods = set()
    while len(hits) < 40:
        rate = np.exp(rng.uniform(np.log(0.0005), np.log(0.01), (5000, 12)))
        clicks = rng.integers(20, 401, (5000, 12))
        conv = rng.binomial(clicks, rate)
        for c in np.flatnonzero((conv.sum(axis=1) >= 1) & (conv.sum(axis=1) <= 3))[: 40 - len(hits)]:
            df = pd.DataFrame({"pattern_hash": [f"hook:h{j:02d}" for j in range(12)], "clicks": clicks[c]})
            df["conversions"] = conv[c]
            prior = fit_prior(df["clicks"], df["conversions"])
            methods.add(prior.method)
            tab = posterior_table(df, prior=prior, p_best_draws=10)  # sorted by hash = pattern order
            hits.append((tab["ci_low"].to_numpy() <= rate[c]) & (rate[c] <= tab["ci_high"].to_numpy()))
    assert np.concatenate(hits).mean() >= 0.93
    assert methods == {"fallback"}
    assert fit_prior([300] * 12, [5] + [0] * 11).method == "empirical_bayes"  # from MIN_CONVERSIONS on: fitted


def test_fallback_is_jeffreys_and_gives_the_jeffreys_interval():
    """No conversion anywhere, or a single pattern with clicks: Beta(1/2, 1/2); 0 / 100 then has the Jeffreys
    interval, whose upper end (~2.5 %) a 1 % rate is inside of (under the old fallback it ended at 1.8e-8)."""
    for clicks, conversions in [([100, 300], [0, 0]), ([500], [10]), ([], [])]:
        prior = fit_prior(clicks, conversions)
        assert prior.method == "fallback" and (prior.alpha, prior.beta) == (0.5, 0.5)
    df = pd.DataFrame({"pattern_hash": ["hook:a"], "clicks": [100], "conversions": [0]})
    row = posterior_table(df, prior=fit_prior([100, 300], [0, 0]), p_best_draws=10).iloc[0]
    assert row.ci_high == pytest.approx(stats.beta.ppf(0.975, 0.5, 100.5)) and 0.02 < row.ci_high < 0.03
    assert row.ci_low <= row["mean"] <= row.ci_high


def test_traffic_sources_deflate_counts_by_the_design_effect():
    """With rho > 0 a pattern's counts are divided by its Kish design effect over its sources (same mean, wider
    interval); rho = 0 or no utm_id column gives the independent-clicks posterior."""
    prior = BetaPrior(2.0, 50.0, "test")
    df = pd.DataFrame(
        {
            "pattern_hash": ["hook:a", "hook:a", "hook:a", "hook:b"],
            "utm_id": ["x", "y", "z", "w"],
            "clicks": [100, 200, 300, 400],
            "conversions": [5, 8, 9, 12],
        }
    )
    plain = posterior_table(df.drop(columns="utm_id"), prior=prior, p_best_draws=10)
    assert (plain["design_effect"] == 1.0).all()
    pd.testing.assert_frame_equal(posterior_table(df, prior=prior, rho=0.0, p_best_draws=10), plain)
    tab = posterior_table(df, prior=prior, rho=0.01, p_best_draws=10).set_index("pattern_hash")
    deff = {"hook:a": 1 + ((100**2 + 200**2 + 300**2) / 600 - 1) * 0.01, "hook:b": 1 + 399 * 0.01}
    for p, (n, k) in {"hook:a": (600, 22), "hook:b": (400, 12)}.items():
        assert tab.loc[p, "design_effect"] == pytest.approx(deff[p])
        assert (tab.loc[p, "clicks"], tab.loc[p, "conversions"]) == (n, k)  # the counts themselves stay
        assert tab.loc[p, "effective_clicks"] == pytest.approx(n / deff[p])
        assert tab.loc[p, "alpha"] == pytest.approx(2 + k / deff[p])
        assert tab.loc[p, "beta"] == pytest.approx(50 + (n - k) / deff[p])
        assert tab.loc[p, "ci_low"] == pytest.approx(stats.beta.ppf(0.025, tab.loc[p, "alpha"], tab.loc[p, "beta"]))
    wide = tab["ci_high"] - tab["ci_low"]
    narrow = plain.set_index("pattern_hash")["ci_high"] - plain.set_index("pattern_hash")["ci_low"]
    assert (wide > narrow).all()


def test_decay_applies_per_row_before_the_design_effect():
    """Each row is discounted by decay ** age_days first; the design effect uses the discounted source totals."""
    prior = BetaPrior(1.0, 50.0, "test")
    df = pd.DataFrame(
        {
            "pattern_hash": ["hook:a"] * 4,
            "utm_id": ["x", "x", "y", "y"],
            "age_days": [10, 0, 5, 0],
            "clicks": [200, 100, 300, 50],
            "conversions": [10, 3, 12, 2],
        }
    )
    row = posterior_table(df, prior=prior, decay=0.9, rho=0.02, p_best_draws=10).iloc[0]
    nx, ny = 200 * 0.9**10 + 100, 300 * 0.9**5 + 50
    kx, ky = 10 * 0.9**10 + 3, 12 * 0.9**5 + 2
    deff = 1 + ((nx**2 + ny**2) / (nx + ny) - 1) * 0.02
    assert row.clicks == pytest.approx(nx + ny) and row.conversions == pytest.approx(kx + ky)
    assert row.design_effect == pytest.approx(deff)
    assert row.alpha == pytest.approx(1 + (kx + ky) / deff)
