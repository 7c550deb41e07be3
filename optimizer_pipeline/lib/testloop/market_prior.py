"""Warm-start priors for never-tested patterns from the market loop's evidence on the client's own hashtags.

Mapping. A pattern hash has five attributes (:mod:`optimizer_pipeline.lib.testloop.pattern_hash`); four are label
fields the labeler also writes on every market video (``hook_type``, ``emotion``, ``pain_point``, ``cta_type``, values
from :mod:`optimizer_pipeline.lib.features.labels.vocabulary`), and ``pace`` is the market's measured
``pacing_label`` (same values). ``bucket_patterns`` (:mod:`optimizer_pipeline.lib.patterns.evidence`) tests each of
these as a categorical feature per client × hashtag × duration bucket and reports one level (``threshold``) with a
``direction`` ("higher": that level is more common among the top-engagement videos; "lower": rarer) and an
``evidence`` label. So ``hook:question`` is matched by rows ``feature = hook_type, threshold = question``.

Score of one attribute level: over the client's analysed hashtag × bucket tables (non-empty ones),
``score = sum(sign * weight) / tables`` with sign +1 for "higher", -1 for "lower", weight 1 for STRONG, 1/2 for
MODERATE, 1/4 for EMERGING (a lead, "the test loop's prior" in the evidence module's words), 0 otherwise; only family
leads count (a proxy restates its lead). So the score is in [-1, 1]: +1 only when every analysed table says STRONG
"higher". The pattern's factor is ``exp(sum over its attributes of score * log(ATTRIBUTE_FACTOR))``, bounded to
``[1 / MAX_FACTOR, MAX_FACTOR]``; ``ATTRIBUTE_FACTOR`` = 1.5 and ``MAX_FACTOR`` = 2. Why small and bounded: the market
measures engagement tiers of other accounts' videos, not this client's conversion rate; the direction transfers more
plausibly than the size, so the size is a fixed, modest step rather than the market's lift.

Warm start (:func:`warm_start`): only for patterns with no clicks in the posterior (a pattern with clicks is
untouched) and only when the client's prior was fitted (empirical Bayes: a Jeffreys fallback has no client rate to
scale). Prior mean ``m0 * factor`` (clipped to the fitted prior's mean bounds), strength ``min(s0, WARM_STRENGTH)``
with ``WARM_STRENGTH`` = 20 pseudo-clicks: worth at most 20 clicks, so it washes out with the first few hundred clicks
even if the market is wrong (the simulation test keeps the warm prior through the clicks on purpose and measures
coverage), and a pattern without market evidence keeps the client's prior exactly. Pure logic (numpy/pandas/scipy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.patterns.families import ROLE_LEAD
from optimizer_pipeline.lib.testloop.pattern_hash import PATTERN_TAGS, parse_pattern
from optimizer_pipeline.lib.testloop.posteriors import DEFAULT_P_BEST_DRAWS, credible_interval, p_best_monte_carlo
from optimizer_pipeline.lib.testloop.prior import BetaPrior, PriorBounds

#: Pattern-hash tag -> the market's feature column for it.
MARKET_FEATURE: Mapping[str, str] = {tag: "pacing_label" if field == "pacing" else field for field, tag in PATTERN_TAGS}
#: Evidence label -> weight in an attribute level's score.
EVIDENCE_WEIGHT: Mapping[str, float] = {"STRONG": 1.0, "MODERATE": 0.5, "EMERGING": 0.25}
DIRECTION_SIGN: Mapping[str, int] = {"higher": 1, "lower": -1}
#: Factor of one attribute whose score is +1 (every analysed table STRONG "higher").
ATTRIBUTE_FACTOR = 1.5
#: Bound of a pattern's factor (product over its attributes): within [1 / MAX_FACTOR, MAX_FACTOR].
MAX_FACTOR = 2.0
#: Largest strength (alpha + beta) of a warm-start prior, in pseudo-clicks.
WARM_STRENGTH = 20.0
SCORE_COLUMNS: tuple[str, ...] = ("tag", "level", "score", "tables", "claims")
WARM_COLUMNS: tuple[str, ...] = ("prior_mean", "market_factor", "market_evidence")


@dataclass(frozen=True)
class MarketScores:
    """Per attribute level (:data:`SCORE_COLUMNS`), from ``tables`` analysed hashtag × bucket tables."""

    scores: pd.DataFrame
    tables: int

    def factor(self, pattern: str) -> tuple[float, str]:
        """(bounded factor, why) of one full or partial pattern hash; (1, "") without market evidence."""
        by = {(r.tag, r.level): r for r in self.scores.itertuples(index=False)}
        log_f, why = 0.0, []
        for tag, level in parse_pattern(pattern).items():
            r = by.get((tag, level))
            if r is None or r.score == 0:
                continue
            log_f += r.score * math.log(ATTRIBUTE_FACTOR)
            why.append(f"{tag}:{level} score {r.score:+.2f} ({r.claims})")
        bound = math.log(MAX_FACTOR)
        factor = math.exp(min(max(log_f, -bound), bound))
        return factor, "; ".join(why)


def market_scores(tables: Mapping[str, pd.DataFrame | None]) -> MarketScores:
    """Scores of every attribute level the market has evidence on (module docstring), from ``bucket_patterns``
    tables keyed by a label such as ``"<client_hashtag>|<bucket>"`` (``None`` or empty: not analysed, not counted)."""
    used = {k: t for k, t in tables.items() if t is not None and len(t)}
    total: dict[tuple[str, str], float] = {}
    said: dict[tuple[str, str], list[str]] = {}
    tag_of = {feature: tag for tag, feature in MARKET_FEATURE.items()}
    for key, t in sorted(used.items()):
        missing = {"feature", "threshold", "direction", "evidence"} - set(t.columns)
        if missing:
            raise ValueError(f"bucket_patterns {key}: missing column(s) {sorted(missing)}")
        rows = t[t["feature"].isin(list(tag_of)) & t["evidence"].isin(list(EVIDENCE_WEIGHT))]
        if "kind" in rows.columns:
            rows = rows[rows["kind"] == "categorical"]
        if "family_role" in rows.columns:
            rows = rows[rows["family_role"].fillna(ROLE_LEAD) == ROLE_LEAD]
        for r in rows.itertuples(index=False):
            sign = DIRECTION_SIGN.get(str(r.direction))
            if sign is None:
                continue
            k = (tag_of[r.feature], str(r.threshold))
            total[k] = total.get(k, 0.0) + sign * EVIDENCE_WEIGHT[r.evidence]
            said.setdefault(k, []).append(f"{r.evidence} {r.direction} in {key}")
    n = len(used)
    scores = pd.DataFrame(
        [(tag, level, v / n, n, ", ".join(said[(tag, level)])) for (tag, level), v in sorted(total.items())],
        columns=list(SCORE_COLUMNS),
    )
    return MarketScores(scores, n)


def warm_prior(prior: BetaPrior, factor: float, *, bounds: PriorBounds | None = None) -> BetaPrior:
    """The warm-start prior: mean ``prior.mean * factor`` within ``bounds.mean``, strength ``min(s0, WARM_STRENGTH)``;
    ``prior`` itself when the factor is 1 or the prior is a fallback (no client rate to scale)."""
    if factor == 1.0 or prior.method != "empirical_bayes":
        return prior
    lo, hi = (bounds or PriorBounds()).mean
    mean = min(max(prior.mean * factor, lo), hi)
    strength = min(prior.strength, WARM_STRENGTH)
    return BetaPrior(mean * strength, (1 - mean) * strength, "market_warm_start", f"market factor {factor:.3g}")


def warm_start(
    table: pd.DataFrame,
    prior: BetaPrior,
    market: MarketScores,
    *,
    seed: int | None,
    p_best_draws: int = DEFAULT_P_BEST_DRAWS,
) -> pd.DataFrame:
    """``table`` (a ``pattern_posteriors`` table: ``pattern_hash, alpha, beta, mean, ci_low, ci_high, clicks,
    p_best``) with the warm start applied to its never-tested rows (``clicks == 0``) and :data:`WARM_COLUMNS` added:
    ``prior_mean`` (of the prior each row used), ``market_factor`` (1 when untouched) and ``market_evidence`` (why).
    ``p_best`` is recomputed over all rows with ``seed`` / ``p_best_draws`` (as the posterior table does) only when a
    row changed, so without market evidence the table is unchanged but for the added columns."""
    out = table.copy()
    n = len(out)
    out["prior_mean"] = np.full(n, prior.mean)
    out["market_factor"] = np.ones(n)
    out["market_evidence"] = [""] * n
    if n == 0:
        return out
    untested = out["clicks"].to_numpy(dtype=float) == 0
    changed = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(untested):
        factor, why = market.factor(str(out["pattern_hash"].iloc[i]))
        if factor == 1.0:
            continue
        if prior.method != "empirical_bayes":
            out.iloc[i, out.columns.get_loc("market_evidence")] = (
                f"not applied (the client prior is a {prior.method}, no client rate to scale): {why}"
            )
            continue
        warm = warm_prior(prior, factor)
        col = out.columns.get_loc
        out.iloc[i, col("alpha")], out.iloc[i, col("beta")] = warm.alpha, warm.beta
        out.iloc[i, col("prior_mean")], out.iloc[i, col("market_factor")] = warm.mean, factor
        out.iloc[i, col("market_evidence")] = f"warm start x{factor:.2f}, strength {warm.strength:g}: {why}"
        changed[i] = True
    if changed.any():
        a, b = out["alpha"].to_numpy(dtype=float), out["beta"].to_numpy(dtype=float)
        out["mean"] = a / (a + b)
        low, high = credible_interval(a, b)
        out["ci_low"], out["ci_high"] = low, high
        out["p_best"] = p_best_monte_carlo(a, b, draws=p_best_draws, seed=seed)
    return out
