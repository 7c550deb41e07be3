"""Brief validation: tests against scipy/statsmodels, simulated error rates, power and coverage, the seed's edges."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats import proportion as smp

from optimizer_pipeline.lib.core.multiple_testing import adjust_pvalues
from optimizer_pipeline.lib.decisions.two_sample_tests import compare_proportions
from optimizer_pipeline.lib.reports.brief_tests import (
    BriefPattern,
    BriefTest,
    BriefVideo,
    load_brief_tests,
    parse_brief_tests,
)
from optimizer_pipeline.lib.reports.brief_validation import (
    BRIEF_MAX_FACTOR,
    BRIEF_STEP,
    INCONCLUSIVE,
    REJECTED,
    RESULT_COLUMNS,
    VALIDATED,
    adjusted_evidence,
    affiliate_brief_strategies,
    brief_prior_factor,
    cluster_mean,
    estimate_effect,
    evaluate_brief_tests,
    evidence_adjustment,
    log_engagement_rate,
    verdict,
)

SAMPLE = Path(__file__).parents[3] / "optimizer_pipeline" / "sample" / "glowfuel_brief_tests.yaml"
PATTERN = BriefPattern("hook_type", "question", "hook:question")


def _test(with_brief, control, metric="engagement_rate", test_id="t", pattern=PATTERN) -> BriefTest:
    return BriefTest(test_id, pattern, "nutrition", None, metric, tuple(with_brief), tuple(control))


def _engagement_arm(rng, n, mult, *, per_author=1, sigma=0.8, creator_sd=0.5, prefix="v") -> list[BriefVideo]:
    """Log-normal per-video rates (median 5 % times ``mult``), creators sharing a random effect when per_author > 1."""
    creators = rng.normal(0.0, creator_sd if per_author > 1 else 0.0, -(-n // per_author))
    views = rng.lognormal(math.log(20_000), 1.0, n).astype(int) + 500
    rates = 0.05 * mult * np.exp(creators[np.arange(n) // per_author] + rng.normal(0.0, sigma, n))
    events = rng.binomial(views, np.minimum(rates, 0.99))
    author = (lambda i: f"{prefix}a{i // per_author}") if per_author > 1 else (lambda i: None)
    return [BriefVideo(f"{prefix}{i}", author(i), int(views[i]), int(events[i])) for i in range(n)]


def _conversion_arm(rng, n, mult, *, prefix="v") -> list[BriefVideo]:
    """Uneven clicks per video, conversion rate 3 % times ``mult`` with a between-video log-normal spread of 0.5."""
    clicks = rng.lognormal(math.log(150), 0.8, n).astype(int) + 10
    rates = 0.03 * mult * np.exp(rng.normal(0.0, 0.5, n))
    conv = rng.binomial(clicks, np.minimum(rates, 0.99))
    return [BriefVideo(f"{prefix}{i}", None, int(clicks[i]), int(conv[i])) for i in range(n)]


# ---------------------------------------------------------------------------------------------- reference checks


def test_engagement_test_is_welch_t_on_log_rates_as_scipy() -> None:
    rng = np.random.default_rng(3)
    b, c = _engagement_arm(rng, 12, 1.3, prefix="b"), _engagement_arm(rng, 9, 1.0, prefix="c")
    effect = estimate_effect(_test(b, c))
    log_b = [log_engagement_rate(v.events, v.exposure) for v in b]
    log_c = [log_engagement_rate(v.events, v.exposure) for v in c]
    ref = stats.ttest_ind(log_b, log_c, equal_var=False)
    low, high = ref.confidence_interval(0.95)
    assert effect.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert effect.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert effect.df == pytest.approx(ref.df, rel=1e-10)
    assert (effect.ci_low, effect.ci_high) == pytest.approx((math.expm1(low), math.expm1(high)), rel=1e-10)
    assert effect.lift == pytest.approx(math.exp(np.mean(log_b) - np.mean(log_c)) - 1, rel=1e-12)
    assert "Welch t on log rates, videos as clusters" in effect.method


@pytest.mark.parametrize(("power", "cov_type"), [(1, "HC2"), (2, "HC3")])
def test_cluster_variance_is_statsmodels_hc_of_the_weighted_mean(power: int, cov_type: str) -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(1, 40, 11).astype(float)
    y = rng.binomial(x.astype(int), 0.3).astype(float) + 0.5
    mean, var = cluster_mean(y, x, leverage_power=power)
    fit = sm.WLS(y / x, np.ones_like(x), weights=x).fit(cov_type=cov_type)
    assert mean == pytest.approx(fit.params[0], rel=1e-12)
    assert var == pytest.approx(fit.bse[0] ** 2, rel=1e-10)


def test_creator_clusters_match_statsmodels_cluster_robust_mean() -> None:
    """With equal cluster sizes, CR2 is statsmodels' cluster-robust variance of the mean of the videos' log rates."""
    rng = np.random.default_rng(8)
    videos = _engagement_arm(rng, 12, 1.0, per_author=3)
    logs = np.array([log_engagement_rate(v.events, v.exposure) for v in videos])
    groups = np.repeat(np.arange(4), 3)
    y = np.bincount(groups, weights=logs)
    mean, var = cluster_mean(y, np.full(4, 3.0), leverage_power=1)
    fit = sm.OLS(logs, np.ones_like(logs)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert mean == pytest.approx(fit.params[0], rel=1e-12)
    assert var == pytest.approx(fit.bse[0] ** 2, rel=1e-10)
    effect = estimate_effect(_test(videos, _engagement_arm(rng, 10, 1.0, per_author=2, prefix="c")))
    assert (effect.clusters_with_brief, effect.clusters_control) == (4, 5)
    assert "creators as clusters" in effect.method


def test_conversion_test_welch_df_matches_scipy_from_stats() -> None:
    rng = np.random.default_rng(9)
    b, c = _conversion_arm(rng, 15, 1.2, prefix="b"), _conversion_arm(rng, 11, 1.0, prefix="c")
    effect = estimate_effect(_test(b, c, "conversion_rate"))
    arms = []
    for arm in (b, c):
        y, x = np.array([v.events for v in arm], float), np.array([v.exposure for v in arm], float)
        r, var = cluster_mean(y, x, leverage_power=2)
        arms.append((math.log(r), math.sqrt(var / r**2 * len(arm)), len(arm)))
    ref = stats.ttest_ind_from_stats(*arms[0], *arms[1], equal_var=False)
    assert effect.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert effect.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert effect.lift == pytest.approx(math.exp(arms[0][0] - arms[1][0]) - 1, rel=1e-12)
    assert "CR3" in effect.method


def test_conversion_fallback_is_the_score_test_of_statsmodels() -> None:
    """One creator in the control arm: no between-cluster variance, so the pooled score test is used and said."""
    b = [BriefVideo("b1", None, 400, 30), BriefVideo("b2", None, 600, 33)]
    c = [BriefVideo("c1", "solo", 500, 20), BriefVideo("c2", "solo", 700, 22)]
    effect = estimate_effect(_test(b, c, "conversion_rate"))
    ref = smp.test_proportions_2indep(63, 1000, 42, 1200, method="score", compare="diff", correction=False)
    low, high = smp.confint_proportions_2indep(63, 1000, 42, 1200, method="score", compare="ratio", correction=False)
    assert effect.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert (effect.ci_low, effect.ci_high) == pytest.approx((low - 1, high - 1), rel=1e-8)
    assert effect.lift == pytest.approx(0.063 / 0.035 - 1, rel=1e-12)
    assert effect.method.startswith("pooled two-proportion score test") and "fewer than 2 creators" in effect.method
    assert effect.p_value == compare_proportions(42, 1200, 63, 1000).p_value


def test_engagement_without_two_clusters_is_not_evaluable() -> None:
    b = [BriefVideo("b1", "anna", 1000, 50), BriefVideo("b2", "anna", 2000, 80)]
    c = [BriefVideo("c1", None, 1000, 40), BriefVideo("c2", None, 1500, 45)]
    results = evaluate_brief_tests([_test(b, c)])
    row = results.iloc[0]
    assert row["verdict"] == INCONCLUSIVE and math.isnan(row["p_value"]) and math.isnan(row["p_adjusted"])
    assert "not evaluable" in row["reason"] and "fewer than 2 creators" in row["reason"]
    assert row["adjustment"] == "holm over 0 tests"


# ----------------------------------------------------------------------------------------------- simulations

REPS = 1500


def _simulate(arm, n, mult, reps=REPS, seed=0, **kw) -> tuple[float, float, float]:
    """(P(validated), P(two-sided p < 0.05), CI coverage of the true lift) over ``reps`` simulated tests."""
    rng = np.random.default_rng(seed)
    validated = significant = covered = 0
    metric = "engagement_rate" if arm is _engagement_arm else "conversion_rate"
    for _ in range(reps):
        e = estimate_effect(_test(arm(rng, n, mult, prefix="b", **kw), arm(rng, n, 1.0, prefix="c", **kw), metric))
        validated += verdict(e.lift, e.p_value)[0] == VALIDATED
        significant += e.p_value < 0.05
        covered += e.ci_low <= mult - 1 <= e.ci_high
    return validated / reps, significant / reps, covered / reps


@pytest.mark.parametrize(("n", "kw"), [(10, {}), (20, {}), (20, {"per_author": 2})])
def test_engagement_null_rarely_validates_and_ci_covers(n: int, kw: dict) -> None:
    validated, significant, coverage = _simulate(_engagement_arm, n, 1.0, seed=n, **kw)
    assert validated <= 0.05
    assert 0.03 <= significant <= 0.07  # two-sided size of the test
    assert coverage >= 0.93


@pytest.mark.parametrize("n", [10, 20])
def test_conversion_null_rarely_validates_and_ci_covers(n: int) -> None:
    validated, significant, coverage = _simulate(_conversion_arm, n, 1.0, seed=100 + n)
    assert validated <= 0.05
    assert significant <= 0.075
    assert coverage >= 0.93


def test_pooled_two_proportion_test_is_wrong_with_video_spread() -> None:
    """Why the pooled z-test is only a fallback: with between-video spread it finds null lifts far above 5 %."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(400):
        b, c = _conversion_arm(rng, 20, 1.0), _conversion_arm(rng, 20, 1.0)
        s = [(sum(v.events for v in a), sum(v.exposure for v in a)) for a in (c, b)]
        hits += compare_proportions(*s[0], *s[1]).p_value < 0.05
    assert hits / 400 > 0.15


@pytest.mark.parametrize(("arm", "n", "least"), [(_engagement_arm, 40, 0.30), (_conversion_arm, 40, 0.35)])
def test_planted_40_percent_lift_is_validated_often_and_covered(arm, n: int, least: float) -> None:
    validated, _, coverage = _simulate(arm, n, 1.4, seed=200 + n)
    assert validated >= least
    assert coverage >= 0.93


# --------------------------------------------------------------------------------------------- seed thresholds


@pytest.mark.parametrize(
    ("lift", "p", "expected"),
    [
        (0.25, 0.01, INCONCLUSIVE),  # exactly 25 %: not "> 25 %"
        (math.nextafter(0.25, 1.0), 0.01, VALIDATED),
        (math.nextafter(0.25, 0.0), 0.01, INCONCLUSIVE),
        (0.10, 0.01, INCONCLUSIVE),  # exactly 10 %: not "< 10 %"
        (math.nextafter(0.10, 0.0), 0.01, REJECTED),
        (0.40, 0.05, REJECTED),  # p exactly 0.05: not significant
        (0.40, math.nextafter(0.05, 0.0), VALIDATED),
        (0.40, 1.0, REJECTED),
        (-0.30, 0.001, REJECTED),  # a significant harm
        (0.05, 0.2, REJECTED),
        (math.inf, 0.001, VALIDATED),  # control without conversions
        (0.40, math.nan, INCONCLUSIVE),  # not evaluable
        (math.nan, 0.01, INCONCLUSIVE),
    ],
)
def test_verdict_at_the_seed_edges(lift: float, p: float, expected: str) -> None:
    assert verdict(lift, p)[0] == expected


def test_reasons_name_the_rule() -> None:
    assert verdict(0.40, 0.05)[1] == "not significant (adjusted p = 0.05 >= 0.05)"
    assert verdict(0.05, 0.01)[1].startswith("lift +5.0% below 10%")
    assert verdict(0.30, 0.01)[1].startswith("lift +30.0% above 25%")
    assert verdict(0.20, 0.01)[1] == "significant but lift +20.0% between 10% and 25%"


# ------------------------------------------------------------------------------------ multiplicity and feedback


def _planted_tests() -> list[BriefTest]:
    rng = np.random.default_rng(42)
    big = lambda mult, tid, pattern: _test(  # noqa: E731
        _engagement_arm(rng, 40, mult, sigma=0.4, prefix="b"),
        _engagement_arm(rng, 40, 1.0, sigma=0.4, prefix="c"),
        test_id=tid,
        pattern=pattern,
    )
    return [
        big(1.8, "q-1", PATTERN),
        big(1.0, "fast-1", BriefPattern("pacing_label", "fast", "pace:fast")),
        big(1.7, "q-2", PATTERN),
        big(1.9, "save-1", BriefPattern("cta_type", "save", None)),
        big(0.8, "save-2", BriefPattern("cta_type", "save", None)),
    ]


def test_evaluation_holm_adjusts_and_judges_on_the_adjusted_p() -> None:
    tests = _planted_tests()
    results = evaluate_brief_tests(tests)
    assert list(results.columns) == list(RESULT_COLUMNS)
    np.testing.assert_allclose(results["p_adjusted"], adjust_pvalues(results["p_value"].to_numpy(), "holm"))
    assert set(results["adjustment"]) == {"holm over 5 tests"}
    for r in results.itertuples():
        assert r.verdict == verdict(r.lift, r.p_adjusted)[0]
    assert results.set_index("test_id")["verdict"].to_dict() == {
        "q-1": VALIDATED, "fast-1": REJECTED, "q-2": VALIDATED, "save-1": VALIDATED, "save-2": REJECTED,
    }  # fmt: skip
    bh = evaluate_brief_tests(tests, adjustment="bh")
    assert set(bh["adjustment"]) == {"bh over 5 tests"}
    assert (bh["p_adjusted"] <= results["p_adjusted"] + 1e-15).all()


def test_holm_turns_a_lone_borderline_validation_into_a_rejection() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        t = _test(_engagement_arm(rng, 15, 1.5, prefix="b"), _engagement_arm(rng, 15, 1.0, prefix="c"))
        e = estimate_effect(t)
        if 0.02 < e.p_value < 0.05 and e.lift > 0.25:
            break
    else:
        pytest.fail("no borderline test drawn")
    alone = evaluate_brief_tests([t]).iloc[0]
    noise = [
        _test(_engagement_arm(rng, 15, 1.0, prefix="b"), _engagement_arm(rng, 15, 1.0, prefix="c"), test_id=f"n{i}")
        for i in range(4)
    ]
    with_others = evaluate_brief_tests([t, *noise]).iloc[0]
    assert alone["verdict"] == VALIDATED and alone["p_adjusted"] == alone["p_value"]
    assert with_others["p_value"] == alone["p_value"] and with_others["p_adjusted"] >= 0.05
    assert with_others["verdict"] == REJECTED


def test_feedback_evidence_prior_and_brief_list() -> None:
    tests = _planted_tests()
    results = evaluate_brief_tests(tests)
    feedback = evidence_adjustment(results)
    assert feedback == {
        "hook_type=question": VALIDATED, "pacing_label=fast": REJECTED, "cta_type=save": INCONCLUSIVE,
    }  # fmt: skip
    assert adjusted_evidence("EMERGING", feedback["hook_type=question"]) == "MODERATE"
    assert adjusted_evidence("STRONG", VALIDATED) == "STRONG"
    assert adjusted_evidence("none", VALIDATED) == "EMERGING"
    assert adjusted_evidence("EMERGING", REJECTED) == "none" and adjusted_evidence("none", REJECTED) == "none"
    assert adjusted_evidence("MODERATE", INCONCLUSIVE) == "MODERATE"
    with pytest.raises(ValueError, match="unknown evidence label"):
        adjusted_evidence("WEAK", VALIDATED)
    full = "hook:question|emo:curiosity|pace:fast|pain:no_time|cta:save"
    factor, why = brief_prior_factor(full, tests, results)
    # q-1, q-2 validated (x 1.25^2), fast-1 rejected (/ 1.25), save-1 validated, save-2 rejected (x 1.25 / 1.25).
    assert factor == pytest.approx(BRIEF_STEP)
    assert "q-1 validated" in why and "fast-1 rejected" in why
    assert brief_prior_factor("hook:pov|emo:humor|pace:slow|pain:budget|cta:follow", tests, results) == (1.0, "")
    strategies = affiliate_brief_strategies(results)
    assert strategies["pattern_key"].tolist() == ["hook_type=question"]
    assert strategies["test_ids"].iloc[0] == "q-1, q-2"
    assert strategies["lift_min"].iloc[0] == results.set_index("test_id").loc[["q-1", "q-2"], "lift"].min()


def test_prior_factor_is_bounded() -> None:
    tests = [_test([], [], test_id=f"t{i}") for i in range(5)]
    results = pd.DataFrame({"test_id": [t.id for t in tests], "verdict": VALIDATED, "lift": 0.5})
    up, _ = brief_prior_factor("hook:question|pace:fast", tests, results)
    down, _ = brief_prior_factor("hook:question", tests, results.assign(verdict=REJECTED))
    assert up == pytest.approx(BRIEF_MAX_FACTOR) and down == pytest.approx(1 / BRIEF_MAX_FACTOR)


def test_sample_file_and_rerun_identical() -> None:
    tests = load_brief_tests(SAMPLE).accepted
    first, second = evaluate_brief_tests(tests), evaluate_brief_tests(tests)
    pd.testing.assert_frame_equal(first, second)
    assert first["verdict"].tolist() == [VALIDATED, REJECTED, REJECTED]
    assert parse_brief_tests([]).accepted == ()
    assert evaluate_brief_tests([]).empty
