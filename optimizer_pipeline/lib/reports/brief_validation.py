"""Validation of brief tests (seed 001): did telling affiliates to use a pattern lift their videos, and what follows.

**Effect.** The relative lift of the with-brief arm over the control, ``rate_with_brief / rate_control - 1``, with a
two-sided 95 % CI and p-value (H0: lift = 0). The arms' rates depend on the metric
(:data:`~optimizer_pipeline.lib.reports.brief_tests.METRIC_FIELDS`):

* ``engagement_rate``: the **geometric mean of the per-video engagement rates** (engagements / views, with a 0.5
  continuity, :func:`log_engagement_rate`), each video weighing the same: a brief is judged on the typical video it
  produces, not on one viral video's views. Under a multiplicative effect (the brief lifts every video's rate by the
  same factor) it is also the ratio of the mean rates.
* ``conversion_rate``: the arm's **pooled** conversions / clicks.

**Tests** (:func:`estimate_effect`). Both work on the log ratio and take the noise from the spread between
**clusters** g (a creator's videos form one cluster when videos carry an ``author``; else each video is its own),
because engagement and conversion rates vary far more between videos and creators than binomial noise says. An arm's
estimate is ``M = sum(y_g) / sum(x_g)`` with the cluster-robust variance of :func:`cluster_mean`. The reference
distribution is Student's t with Welch-Satterthwaite degrees of freedom from the arms' cluster counts (``df = (a +
b)^2 / (a^2 / (G_b - 1) + b^2 / (G_c - 1))``, ``a``, ``b`` the arms' variances on the log scale), because with 10-30
videos per arm the normal quantile is too narrow.

* ``engagement_rate``: **Welch's t-test on the log engagement rates** (``y_g`` the sum of the cluster's log rates,
  ``x_g`` its number of videos, CR2 variance). Without authors this is exactly ``scipy.stats.ttest_ind(log rates,
  equal_var=False)``; the log makes the skewed rates near-normal. A delta-method test on the ratio of *arithmetic*
  mean rates was tried first: with 10 videos per arm (log-normal spread 0.8) its 95 % CI covered 91.9 %, two-sided
  size 8 %.
* ``conversion_rate``: **the delta method on the log ratio** of the pooled rates (``y_g`` conversions, ``x_g``
  clicks; Katz 1978, as :mod:`optimizer_pipeline.lib.decisions.relative_lift`) with the **CR3 (jackknife)**
  variance: with the clicks unevenly spread over 10-20 videos the ratio estimator's usual variance
  (``relative_lift.ratio_estimate``, CR1) gave a two-sided size of 7-8 %, CR3 5-6 %. The pooled two-proportion
  z-test (clicks as independent trials) is not used: with between-video spread 0.5 of the conversion rate it found a
  "lift" in 29-36 % of null tests. Fallback: when an arm has fewer than 2 clusters or no conversion (no log ratio or no
  variance), the pooled two-proportion score test with the score CI of the ratio
  (:func:`optimizer_pipeline.lib.decisions.two_sample_tests.compare_proportions`), stated with its reason in
  ``method``.

An engagement test that cannot be estimated (fewer than 2 clusters in an arm, no spread at all) is "not evaluable":
no p-value, verdict "inconclusive" and no feedback.

**Multiplicity.** A client runs several brief tests at once; reading each at 5 % validates a false strategy more
often the more tests there are. p-values are Holm-adjusted (:data:`ADJUSTMENT`, family-wise error rate: a validated
strategy goes into every affiliate brief, so one false validation costs more than a missed one) across the client's
evaluable tests of one evaluation (:func:`evaluate_brief_tests`); ``adjustment`` says so. The CI is the unadjusted 95 %.

**Verdict** (:func:`verdict`, the seed's thresholds, applied to the point lift and the adjusted p, in this order):

1. not evaluable (no p-value) -> "inconclusive";
2. ``p_adjusted >= 0.05`` (not significant) -> "rejected";
3. ``lift < 0.10`` -> "rejected" (this includes a significant harm);
4. ``lift > 0.25`` -> "validated";
5. otherwise (significant, 10 % <= lift <= 25 %) -> "inconclusive".

Edges: p exactly 0.05 is not significant (rejected); a lift of exactly 25 % is not validated and of exactly 10 % is
not rejected (both inconclusive when significant). Note the seed's rule rejects an underpowered test: with few videos a
real +40 % lift is often "rejected" (the test module's simulation measures how often).

**Feedback.** :func:`evidence_adjustment` gives one word per pattern (validated if a test validated it and none
rejected it, rejected if the reverse, otherwise inconclusive); :func:`adjusted_evidence` moves a report's evidence
label one step up (validated) or down (rejected) in ``EVIDENCE_LEVELS``. :func:`brief_prior_factor` turns the verdicts
into a bounded factor on a test-loop pattern's prior mean, like the market warm start
(:mod:`optimizer_pipeline.lib.testloop.market_prior`): each validated (rejected) test whose pattern attributes are all
in the pattern multiplies it by :data:`BRIEF_STEP` (divides), bounded to ``[1 / BRIEF_MAX_FACTOR, BRIEF_MAX_FACTOR]``.
Small and bounded because a brief test measures affiliate videos' engagement (or their clicks' conversion), not the
pattern's conversion rate in the test loop: its direction transfers more plausibly than its size, and with the market
warm start's capped strength the first clicks wash it out. :func:`affiliate_brief_strategies` lists only the
validated patterns. Pure logic (numpy/pandas/scipy), no randomness: a rerun gives the same table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from optimizer_pipeline.lib.core.multiple_testing import Method, adjust_pvalues
from optimizer_pipeline.lib.decisions.two_sample_tests import compare_proportions
from optimizer_pipeline.lib.patterns.evidence import EVIDENCE_LEVELS
from optimizer_pipeline.lib.reports.brief_tests import BriefTest, BriefVideo
from optimizer_pipeline.lib.testloop.pattern_hash import parse_pattern

#: The seed's thresholds: validated when lift > VALIDATED_LIFT and p < ALPHA; rejected when lift < REJECTED_LIFT
#: or p >= ALPHA; inconclusive otherwise.
VALIDATED_LIFT = 0.25
REJECTED_LIFT = 0.10
ALPHA = 0.05
CONFIDENCE = 0.95
#: Multiple-testing adjustment across a client's brief tests (see the module docstring).
ADJUSTMENT: Method = "holm"
VALIDATED, REJECTED, INCONCLUSIVE = "validated", "rejected", "inconclusive"
VERDICTS: tuple[str, ...] = (VALIDATED, REJECTED, INCONCLUSIVE)
#: Factor on a test-loop pattern's prior mean per validated brief test (its inverse per rejected one): the seed's
#: smallest validated lift.
BRIEF_STEP = 1.0 + VALIDATED_LIFT
#: Bound of the brief factor of one pattern, over all its tests: within [1 / BRIEF_MAX_FACTOR, BRIEF_MAX_FACTOR].
BRIEF_MAX_FACTOR = 1.5
METHOD_CLUSTER = {
    "engagement_rate": "ratio of geometric-mean per-video engagement rates; Welch t on log rates, {unit} as clusters",
    "conversion_rate": "ratio of conversion rates (conversions / clicks); delta method on the log scale with the "
    "CR3 (jackknife) variance, {unit} as clusters; Welch-Satterthwaite t",
}
METHOD_POOLED = "pooled two-proportion score test; score CI of the ratio (clicks treated as independent: {why})"
RESULT_COLUMNS: tuple[str, ...] = (
    "test_id",
    "pattern_key",
    "feature",
    "level",
    "pattern_hash",
    "hashtag",
    "bucket",
    "metric",
    "n_with_brief",
    "n_control",
    "clusters_with_brief",
    "clusters_control",
    "rate_with_brief",
    "rate_control",
    "lift",
    "ci_low",
    "ci_high",
    "statistic",
    "df",
    "p_value",
    "p_adjusted",
    "adjustment",
    "method",
    "verdict",
    "reason",
)
STRATEGY_COLUMNS: tuple[str, ...] = (
    "pattern_key",
    "feature",
    "level",
    "pattern_hash",
    "test_ids",
    "lift_min",
    "ci_low_min",
)


@dataclass(frozen=True)
class BriefEffect:
    """One test's effect: ``lift`` with its CI, the two-sided ``p_value`` of the test named by ``method``;
    NaN with ``note`` saying why when the test is not evaluable."""

    rate_with_brief: float
    rate_control: float
    lift: float
    ci_low: float
    ci_high: float
    statistic: float
    df: float
    p_value: float
    clusters_with_brief: int
    clusters_control: int
    method: str
    note: str = ""


def arm_clusters(videos: Sequence[BriefVideo], metric: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-cluster sums ``y_g`` and sizes ``x_g`` of an arm (module docstring) and what the clusters are: for
    ``engagement_rate`` the sum of the videos' log engagement rates and their number, for ``conversion_rate`` the
    conversions and the clicks."""
    keys = [f"author:{v.author}" if v.author is not None else f"video:{v.video_id}" for v in videos]
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    num, den = np.zeros(len(index)), np.zeros(len(index))
    for key, v in zip(keys, videos, strict=True):
        i = index[key]
        if metric == "engagement_rate":
            num[i] += log_engagement_rate(v.events, v.exposure)
            den[i] += 1.0
        else:
            num[i] += v.events
            den[i] += v.exposure
    unit = "creators" if any(v.author is not None for v in videos) else "videos"
    return num, den, unit


def log_engagement_rate(engagements: float, views: float) -> float:
    """``log((engagements + 0.5) / (views + 1))``: the log rate, defined for a video without engagement (the 0.5
    continuity moves a rate of 1 % on 1,000 views by 5 %, on 10,000 views by 0.5 %)."""
    return math.log((engagements + 0.5) / (views + 1.0))


def cluster_mean(y: np.ndarray, x: np.ndarray, *, leverage_power: int) -> tuple[float, float]:
    """(``M = sum y / sum x``, its cluster-robust variance ``sum((y_g - M x_g)^2 / (1 - h_g)^p) / (sum x)^2``),
    ``h_g = x_g / sum x`` the cluster's leverage: p = 1 is CR2 (equal to ``s^2 / n`` when every ``x_g`` = 1, so the
    engagement test is Welch's t on the log rates), p = 2 is CR3, the delete-one-cluster jackknife centred at M
    (MacKinnon & White 1985; Bell & McCaffrey 2002). Both are statsmodels' HC2 / HC3 of the weighted mean of
    ``y_g / x_g`` with weights ``x_g`` (checked in the tests)."""
    total = x.sum()
    mean = float(y.sum() / total)
    resid = y - mean * x
    return mean, float(np.sum(resid**2 / (1.0 - x / total) ** leverage_power) / total**2)


def welch_log_ratio(
    log_ratio: float, var_b: float, var_c: float, g_b: int, g_c: int, confidence: float
) -> tuple[float, float, float, float, float]:
    """(t, df, p, CI low, CI high) of a log ratio with arm variances ``var_b``, ``var_c`` from ``g_b``, ``g_c``
    clusters: Student t with Welch-Satterthwaite df; CI mapped to the lift ``exp(.) - 1``."""
    se = math.sqrt(var_b + var_c)
    df = (var_b + var_c) ** 2 / (var_b**2 / (g_b - 1) + var_c**2 / (g_c - 1))
    t = log_ratio / se
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return t, df, float(2.0 * stats.t.sf(abs(t), df)), math.expm1(log_ratio - half), math.expm1(log_ratio + half)


def estimate_effect(test: BriefTest, *, confidence: float = CONFIDENCE) -> BriefEffect:
    """Lift, CI and p-value of one brief test (module docstring: clustered Welch t, pooled fallback)."""
    num_b, den_b, unit_b = arm_clusters(test.with_brief, test.metric)
    num_c, den_c, unit_c = arm_clusters(test.control, test.metric)
    unit = "creators" if "creators" in (unit_b, unit_c) else "videos"
    g_b, g_c = num_b.size, num_c.size
    method = METHOD_CLUSTER[test.metric].format(unit=unit)
    nan = math.nan
    if test.metric == "engagement_rate":
        if min(g_b, g_c) < 2:
            why = f"an arm has fewer than 2 {unit} (with brief {g_b}, control {g_c})"
            return BriefEffect(nan, nan, nan, nan, nan, nan, nan, nan, g_b, g_c, "not evaluable", why)
        (m_b, v_b), (m_c, v_c) = (
            cluster_mean(num, den, leverage_power=1) for num, den in ((num_b, den_b), (num_c, den_c))
        )
        rate_b, rate_c, log_ratio = math.exp(m_b), math.exp(m_c), m_b - m_c
        if v_b + v_c == 0.0:
            why = f"no spread between {unit}: every cluster has the same rate"
            return BriefEffect(rate_b, rate_c, math.expm1(log_ratio), nan, nan, nan, nan, nan, g_b, g_c,
                               "not evaluable", why)  # fmt: skip
        t, df, p, low, high = welch_log_ratio(log_ratio, v_b, v_c, g_b, g_c, confidence)
        return BriefEffect(rate_b, rate_c, math.expm1(log_ratio), low, high, t, df, p, g_b, g_c, method)
    rate_b, rate_c = num_b.sum() / den_b.sum(), num_c.sum() / den_c.sum()
    why = _not_clustered(g_b, g_c, rate_b, rate_c, unit)
    if why is None:
        (r_b, v_b), (r_c, v_c) = (
            cluster_mean(num, den, leverage_power=2) for num, den in ((num_b, den_b), (num_c, den_c))
        )
        a, b = v_b / r_b**2, v_c / r_c**2  # delta method: var(log R) = var(R) / R^2
        if a + b > 0.0:
            log_ratio = math.log(r_b) - math.log(r_c)
            t, df, p, low, high = welch_log_ratio(log_ratio, a, b, g_b, g_c, confidence)
            return BriefEffect(rate_b, rate_c, math.expm1(log_ratio), low, high, t, df, p, g_b, g_c, method)
        why = f"no spread between {unit}: every cluster has the same rate"
    conv = [sum(v.events for v in arm) for arm in (test.control, test.with_brief)]
    clicks = [sum(v.exposure for v in arm) for arm in (test.control, test.with_brief)]
    res = compare_proportions(conv[0], clicks[0], conv[1], clicks[1], alpha=1.0 - confidence)
    return BriefEffect(rate_b, rate_c, res.lift, res.lift_ci_low, res.lift_ci_high, res.statistic, nan,
                       res.p_value, g_b, g_c, METHOD_POOLED.format(why=why))  # fmt: skip


def _not_clustered(g_b: int, g_c: int, rate_b: float, rate_c: float, unit: str) -> str | None:
    """Why the clustered log-ratio test cannot run (None when it can)."""
    if min(g_b, g_c) < 2:
        return f"an arm has fewer than 2 {unit} (with brief {g_b}, control {g_c})"
    if not (rate_b > 0 and rate_c > 0):
        return f"an arm's rate is 0 (with brief {rate_b:.4g}, control {rate_c:.4g}): no relative lift on the log scale"
    return None


def verdict(lift: float, p_value: float, *, alpha: float = ALPHA) -> tuple[str, str]:
    """(verdict, reason) by the seed's rules, in the order of the module docstring (p exactly ``alpha`` is not
    significant; a lift of exactly 25 % or 10 % is neither validated nor rejected)."""
    if not math.isfinite(p_value) or math.isnan(lift):
        return INCONCLUSIVE, "not evaluable"
    if p_value >= alpha:
        return REJECTED, f"not significant (adjusted p = {p_value:.3g} >= {alpha:g})"
    if lift < REJECTED_LIFT:
        return REJECTED, f"lift {lift:+.1%} below {REJECTED_LIFT:.0%} (adjusted p = {p_value:.3g})"
    if lift > VALIDATED_LIFT:
        return VALIDATED, f"lift {lift:+.1%} above {VALIDATED_LIFT:.0%} (adjusted p = {p_value:.3g} < {alpha:g})"
    return INCONCLUSIVE, f"significant but lift {lift:+.1%} between {REJECTED_LIFT:.0%} and {VALIDATED_LIFT:.0%}"


def evaluate_brief_tests(tests: Iterable[BriefTest], *, adjustment: Method = ADJUSTMENT) -> pd.DataFrame:
    """One row per test (:data:`RESULT_COLUMNS`), in input order: effect, p adjusted across the evaluable tests
    (``adjustment``), verdict and why."""
    tests = list(tests)
    effects = [estimate_effect(t) for t in tests]
    p = np.array([e.p_value for e in effects], dtype=float)
    p_adj = adjust_pvalues(p, adjustment) if len(p) else p
    m = int(np.isfinite(p).sum())
    rows = []
    for t, e, q in zip(tests, effects, p_adj, strict=True):
        word, why = verdict(e.lift, float(q))
        if e.note:
            why = f"{why}: {e.note}"
        rows.append(
            {
                "test_id": t.id,
                "pattern_key": t.pattern.key,
                "feature": t.pattern.feature,
                "level": t.pattern.level,
                "pattern_hash": t.pattern.pattern_hash,
                "hashtag": t.hashtag,
                "bucket": t.bucket,
                "metric": t.metric,
                "n_with_brief": len(t.with_brief),
                "n_control": len(t.control),
                "clusters_with_brief": e.clusters_with_brief,
                "clusters_control": e.clusters_control,
                "rate_with_brief": e.rate_with_brief,
                "rate_control": e.rate_control,
                "lift": e.lift,
                "ci_low": e.ci_low,
                "ci_high": e.ci_high,
                "statistic": e.statistic,
                "df": e.df,
                "p_value": e.p_value,
                "p_adjusted": float(q),
                "adjustment": f"{adjustment} over {m} test{'s' if m != 1 else ''}",
                "method": e.method,
                "verdict": word,
                "reason": why,
            }
        )
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def evidence_adjustment(results: pd.DataFrame) -> dict[str, str]:
    """Pattern key -> "validated" (some test validated it, none rejected it) | "rejected" (the reverse) |
    "inconclusive" (only inconclusive tests, or tests that disagree)."""
    out: dict[str, str] = {}
    for key, verdicts in results.groupby("pattern_key", sort=True)["verdict"]:
        said = set(verdicts)
        if VALIDATED in said and REJECTED not in said:
            out[str(key)] = VALIDATED
        elif REJECTED in said and VALIDATED not in said:
            out[str(key)] = REJECTED
        else:
            out[str(key)] = INCONCLUSIVE
    return out


def adjusted_evidence(label: str, feedback: str | None) -> str:
    """A report's evidence label moved one step by a brief test: up when validated ("none" -> "EMERGING" ...
    "MODERATE" -> "STRONG", STRONG stays), down when rejected ("EMERGING" -> "none"); unchanged otherwise."""
    if label not in EVIDENCE_LEVELS:
        raise ValueError(f"unknown evidence label {label!r}; expected one of {list(EVIDENCE_LEVELS)}")
    i = EVIDENCE_LEVELS.index(label)  # 0 = STRONG ... 3 = none
    if feedback == VALIDATED:
        return EVIDENCE_LEVELS[max(i - 1, 0)]
    if feedback == REJECTED:
        return EVIDENCE_LEVELS[min(i + 1, len(EVIDENCE_LEVELS) - 1)]
    return label


def brief_prior_factor(pattern_hash: str, tests: Sequence[BriefTest], results: pd.DataFrame) -> tuple[float, str]:
    """(bounded factor on the prior mean, why) of one full or partial test-loop pattern hash: each validated
    (rejected) test whose pattern attributes are all in the hash multiplies (divides) by :data:`BRIEF_STEP`; the
    product is bounded to ``[1 / BRIEF_MAX_FACTOR, BRIEF_MAX_FACTOR]``; (1, "") without such a test."""
    attrs = parse_pattern(pattern_hash)
    by_id = {t.id: t for t in tests}
    log_f, why = 0.0, []
    for r in results.itertuples(index=False):
        sign = {VALIDATED: 1, REJECTED: -1}.get(r.verdict, 0)
        test = by_id.get(r.test_id)
        if sign == 0 or test is None:
            continue
        needed = test.pattern.attributes
        if not needed or any(attrs.get(tag) != level for tag, level in needed.items()):
            continue
        log_f += sign * math.log(BRIEF_STEP)
        why.append(f"brief test {r.test_id} {r.verdict} ({test.pattern.key}, lift {r.lift:+.0%})")
    bound = math.log(BRIEF_MAX_FACTOR)
    return math.exp(min(max(log_f, -bound), bound)), "; ".join(why)


def affiliate_brief_strategies(results: pd.DataFrame) -> pd.DataFrame:
    """The patterns an affiliate brief may list (:data:`STRATEGY_COLUMNS`): only those whose feedback is
    "validated"; ``lift_min`` / ``ci_low_min`` are the smallest over their validated tests (the cautious claim)."""
    feedback = evidence_adjustment(results)
    rows = []
    for key in sorted(k for k, v in feedback.items() if v == VALIDATED):
        hits = results[(results["pattern_key"] == key) & (results["verdict"] == VALIDATED)]
        first = hits.iloc[0]
        rows.append(
            (
                key,
                first["feature"],
                first["level"],
                first["pattern_hash"],
                ", ".join(hits["test_id"]),
                float(hits["lift"].min()),
                float(hits["ci_low"].min()),
            )
        )
    return pd.DataFrame(rows, columns=list(STRATEGY_COLUMNS))
