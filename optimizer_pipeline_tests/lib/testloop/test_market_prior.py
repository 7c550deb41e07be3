"""Market warm start of never-tested patterns: scores, bounds, table update, and a simulation against planted truth."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.core.invariants import posterior_sanity
from optimizer_pipeline.lib.testloop.market_prior import (
    ATTRIBUTE_FACTOR,
    MAX_FACTOR,
    WARM_STRENGTH,
    MarketScores,
    market_scores,
    warm_prior,
    warm_start,
)
from optimizer_pipeline.lib.testloop.posteriors import posterior_table
from optimizer_pipeline.lib.testloop.prior import BetaPrior
from optimizer_pipeline.lib.testloop.thompson import ThompsonSampler

Q = "hook:question|emo:curiosity|pace:fast|pain:no_time|cta:urgency"
POV = "hook:pov|emo:humor|pace:slow|pain:budget|cta:follow"
STORY = "hook:story|emo:trust|pace:medium|pain:weight|cta:save"
PRIOR = BetaPrior(2.0, 98.0, "empirical_bayes")


def _rows(*rows: tuple) -> pd.DataFrame:
    cols = ["feature", "kind", "threshold", "direction", "evidence", "family_role"]
    return pd.DataFrame([dict(zip(cols, r, strict=True)) for r in rows], columns=cols)


def _tables() -> dict[str, pd.DataFrame | None]:
    return {
        "gf__fitness|short": _rows(
            ("hook_type", "categorical", "question", "higher", "STRONG", "lead"),
            ("pacing_label", "categorical", "fast", "higher", "MODERATE", "lead"),
            ("emotion", "categorical", "humor", "lower", "STRONG", "member"),  # a proxy: ignored
            ("cta_type", "categorical", "urgency", "higher", "none", "lead"),  # no claim: ignored
            ("duration_s", "continuous", "12.5", "higher", "STRONG", "lead"),  # not a pattern attribute
        ),
        "gf__fitness|medium": _rows(
            ("hook_type", "categorical", "question", "higher", "STRONG", "lead"),
            ("hook_type", "categorical", "pov", "lower", "EMERGING", None),
        ),
        "gf__fitness|long": None,  # not materialised: not counted
        "gf__yoga|short": _rows(),  # empty (too few videos): not counted
    }


def test_scores_follow_the_documented_mapping():
    m = market_scores(_tables())
    s = {(r.tag, r.level): r.score for r in m.scores.itertuples()}
    assert m.tables == 2
    assert s == {("hook", "question"): 1.0, ("pace", "fast"): 0.25, ("hook", "pov"): -0.125}
    f, why = m.factor(Q)
    assert f == pytest.approx(ATTRIBUTE_FACTOR ** (1 + 0.25))
    assert "hook:question score +1.00 (STRONG higher in gf__fitness|medium" in why
    assert m.factor(POV)[0] == pytest.approx(ATTRIBUTE_FACTOR**-0.125)
    assert m.factor(STORY) == (1.0, "")
    assert m.factor("hook:question")[0] == pytest.approx(ATTRIBUTE_FACTOR)  # partial hashes work too


def test_factor_is_bounded():
    scores = pd.DataFrame(
        {"tag": ["hook", "emo", "pace"], "level": ["question", "curiosity", "fast"], "score": [1.0, 1.0, 1.0]}
    ).assign(tables=1, claims="x")
    assert MarketScores(scores, 1).factor(Q)[0] == pytest.approx(MAX_FACTOR)
    assert MarketScores(scores.assign(score=-1.0), 1).factor(Q)[0] == pytest.approx(1 / MAX_FACTOR)


def test_bad_market_table_names_the_partition():
    with pytest.raises(ValueError, match=r"bucket_patterns k\|short: missing column"):
        market_scores({"k|short": pd.DataFrame({"feature": ["hook_type"]})})


def _table() -> pd.DataFrame:
    df = pd.DataFrame({"pattern_hash": [Q, POV, STORY], "clicks": [0, 0, 500], "conversions": [0, 0, 12]})
    return posterior_table(df, prior=PRIOR, p_best_draws=20_000, seed=3)


def test_warm_start_touches_only_never_tested_patterns_with_evidence():
    before = _table()
    scores = pd.DataFrame(
        {"tag": ["hook", "hook"], "level": ["question", "story"], "score": [1.0, 1.0], "tables": 1, "claims": "c"}
    )
    after = warm_start(before, PRIOR, MarketScores(scores, 1), seed=3, p_best_draws=20_000)
    q, pov, story = (after.set_index("pattern_hash").loc[h] for h in (Q, POV, STORY))
    assert q.market_factor == pytest.approx(1.5) and q.prior_mean == pytest.approx(PRIOR.mean * 1.5)
    assert q.alpha + q.beta == pytest.approx(min(PRIOR.strength, WARM_STRENGTH))
    assert q.market_evidence.startswith("warm start x1.50")
    assert pov.market_factor == 1.0 and pov.alpha == PRIOR.alpha and pov.beta == PRIOR.beta  # no evidence
    old = before.set_index("pattern_hash").loc[STORY]
    assert story.market_factor == 1.0 and story.alpha == old.alpha and story.beta == old.beta  # has clicks
    lo, hi = stats.beta.ppf([0.025, 0.975], q.alpha, q.beta)  # reference: scipy
    assert q.ci_low == pytest.approx(lo) and q.ci_high == pytest.approx(hi)
    assert after.p_best.sum() == pytest.approx(1.0) and posterior_sanity(after).passed


def test_no_evidence_or_fallback_prior_leaves_the_table_unchanged():
    before = _table()
    same = warm_start(before, PRIOR, market_scores({}), seed=3, p_best_draws=20_000)
    pd.testing.assert_frame_equal(same[before.columns], before)
    assert (same.market_factor == 1.0).all() and (same.prior_mean == PRIOR.mean).all()
    jeffreys = BetaPrior(0.5, 0.5, "fallback")
    table = posterior_table(before[["pattern_hash", "clicks", "conversions"]], prior=jeffreys, p_best_draws=20_000)
    out = warm_start(table, jeffreys, market_scores(_tables()), seed=0, p_best_draws=20_000)
    pd.testing.assert_frame_equal(out[table.columns], table)
    assert out.set_index("pattern_hash").loc[Q, "market_evidence"].startswith("not applied (the client prior is a")


def test_warm_prior_respects_bounds_and_strength():
    strong = BetaPrior(0.4 * 150, 0.6 * 150, "empirical_bayes")
    w = warm_prior(strong, 2.0)
    assert w.mean == pytest.approx(0.5) and w.strength == pytest.approx(WARM_STRENGTH)  # mean bound 0.5
    weak = BetaPrior(0.1, 4.9, "empirical_bayes")
    assert warm_prior(weak, 1.5).strength == pytest.approx(5.0)  # never stronger than the client's prior
    assert warm_prior(weak, 1.0) is weak


def _simulate(*, wrong: bool, reps: int, s0: float, m0: float = 0.02, k: int = 8, clicks: int = 300, seed: int = 0):
    """Worlds of k never-tested patterns; the market gives each a STRONG-everywhere score in {-1, 0, +1} on one
    attribute, and the true mean rate is m0 * 1.5 ** (+/-score) (right / wrong market), spread Beta(strength s0)
    around it. Returns mean |prior mean - p| and Thompson regret of the first look (uninformed, warm), and the
    95 % interval coverage after ``clicks`` clicks with the warm prior kept (worst case: it is only used at 0)."""
    rng = np.random.default_rng(seed)
    prior = BetaPrior(m0 * s0, (1 - m0) * s0, "empirical_bayes")
    err, reg, cover = np.zeros((reps, 2)), np.zeros((reps, 2)), []
    for r in range(reps):
        score = rng.choice([-1.0, 0.0, 1.0], size=k)
        mean = m0 * ATTRIBUTE_FACTOR ** (-score if wrong else score)
        p = rng.beta(mean * s0, (1 - mean) * s0)
        warm = [warm_prior(prior, ATTRIBUTE_FACTOR**s) for s in score]
        a, b = np.array([w.alpha for w in warm]), np.array([w.beta for w in warm])
        a0, b0 = np.full(k, prior.alpha), np.full(k, prior.beta)
        err[r] = np.mean(np.abs(a0 / (a0 + b0) - p)), np.mean(np.abs(a / (a + b) - p))
        reg[r] = [p.max() - ThompsonSampler(x, y, seed=r).win_shares(4000) @ p for x, y in ((a0, b0), (a, b))]
        conv = rng.binomial(clicks, p)
        lo, hi = stats.beta.ppf([[0.025], [0.975]], a + conv, b + clicks - conv)
        cover.extend((lo <= p) & (p <= hi))
    return err, reg, float(np.mean(cover))


def test_simulation_right_market_improves_the_first_look():
    err, reg, _ = _simulate(wrong=False, reps=300, s0=100.0)
    gain_err, gain_reg = err[:, 0] - err[:, 1], reg[:, 0] - reg[:, 1]
    assert err[:, 1].mean() < 0.95 * err[:, 0].mean()  # measured: 0.90 of the uninformed error, regret 0.89
    assert gain_err.mean() > 3 * gain_err.std(ddof=1) / math.sqrt(len(gain_err))
    assert gain_reg.mean() > 3 * gain_reg.std(ddof=1) / math.sqrt(len(gain_reg))


@pytest.mark.parametrize("s0", [10.0, 100.0])
def test_simulation_wrong_market_keeps_coverage_after_clicks(s0):
    _, _, coverage = _simulate(wrong=True, reps=150, s0=s0, clicks=300, seed=1)
    assert coverage >= 0.9


def test_simulation_detects_a_prior_too_strong_to_wash_out(monkeypatch):
    """The coverage test can fail: without the strength cap a strong client prior (s0 = 400) shifted the wrong way
    still dominates 300 clicks (measured coverage 0.69)."""
    import optimizer_pipeline.lib.testloop.market_prior as market_prior

    monkeypatch.setattr(market_prior, "WARM_STRENGTH", 1e9)
    assert _simulate(wrong=True, reps=150, s0=400.0, clicks=300, seed=1)[2] < 0.9
    monkeypatch.undo()
    assert _simulate(wrong=True, reps=150, s0=400.0, clicks=300, seed=1)[2] >= 0.9
