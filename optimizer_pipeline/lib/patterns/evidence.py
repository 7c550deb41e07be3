"""Which creative patterns separate top performers in one duration bucket: tier comparisons, FDR, evidence labels.

Tiers (sample-size adjusted). Videos are ranked by engagement rate. The reference tier is the middle 40 % (ranks
30-70 %), anti-patterns come from the bottom 30 %, and the top tier is the top 10 %, but with at least
:data:`MIN_TOP_TIER` videos (at most the top 25 %): below 100 videos the top 10 % is too small for any test to see
a difference, and a rule that depends only on ``n`` keeps the comparison pre-specified.

Per feature, one test of the whole tier comparison decides whether there is a claim: does the feature shift across
the ordered tiers bottom < middle < top? Binary: Cochran-Armitage chi-square test for trend; continuous:
Jonckheere-Terpstra (Kendall's tau-b between value and tier); categorical: chi-square on levels x tiers (Monte-Carlo
p-value when counts are small, with enough resamples that p can reach 1e-5, below the 0.01 / m STRONG needs for
m ~ 150 features; see :mod:`.categorical_tests`). One test that uses all three tiers has the power the two pairwise
tests lack at bucket sizes of 40-80 videos (top 10 vs middle 32 cannot separate 100 % from 55 % prevalence after
multiplicity), and one test per feature keeps the family small. Benjamini-Hochberg q-values run over every feature
tested in the bucket. Constant features are not tested. The pairwise comparisons are reported next to it with the
test their type calls for (binary: Fisher exact with a Newcombe CI of the risk difference; categorical: chi-square
(Fisher exact for two levels) with Cramér's V; continuous: Mann-Whitney with Cliff's delta and a Brunner-Munzel
CI): **top vs middle** (a pattern) and **bottom vs middle** (an anti-pattern); the effect size and CI shown are those
of the pair with the smaller p (``effect_from``).

Direction: "higher" when the pattern rises with the tier (more common at the top, rarer at the bottom). A continuous
feature's pattern is "value >= the bucket median" (pre-specified; the p-value does not depend on that cut): it gives
the prevalences in each tier and the lift = P(top | pattern) / P(top) of the sentence. A categorical feature's pattern
is one level (``threshold``), chosen by a fixed rule (:func:`~.trend_tests.level_trend`: among the levels with at
least :data:`MIN_PATTERN_VIDEOS` videos with and without it, the one whose share shifts most across the tiers), and
its direction is that level's own ("lower": the level is rarer at the top, an anti-pattern). Because the level is
picked after looking, its lift interval is simultaneous over the L candidate levels (Bonferroni, 1 - 0.05 / L).

Missing values: every test of a row (trend, pairwise, lift, prevalences) runs on the videos that have a value of that
feature (:func:`~.trend_tests.observed`); ``n_videos`` / ``n_top`` / ``n_middle`` / ``n_bottom`` count them.

Evidence uses five signals, each a yes/no:
1. ``significant``: q < 0.10;
2. ``effect_ci``: the effect size's 95 % CI of the comparison that carries the evidence excludes 0;
3. ``lift``: lift = P(top | pattern) / P(top) >= 1.5 for a helpful pattern, <= 1/1.5 for a harmful one; for a
   categorical row its simultaneous interval must also exclude 1 on that side (fires in ~2 % of null rows, was ~55 %);
4. ``coherent``: top vs middle and bottom vs middle point in opposite directions (a monotone pattern; categorical:
   the reported level's share in each pair);
5. ``consistent``: the same direction (categorical: and the same level) with q < 0.25 in another duration bucket of
   the same hashtag.

STRONG: q < 0.01 and >= 4 signals. MODERATE: q < 0.10 and >= 3 signals: these are the claims a report states.
EMERGING: q < 0.25 and >= 2 signals: a lead worth testing (the test loop's prior), not a claim. Anything else is
``evidence`` = "none". A claim is never made from a feature present in fewer
than :data:`MIN_PATTERN_VIDEOS` videos (``classification`` = "too rare").

Families (:mod:`optimizer_pipeline.lib.patterns.families`, applied by :func:`bucket_patterns` after the labels):
features correlated ``|rho| >= 0.5`` within the bucket form one family; only its lead (``family_role`` "lead")
carries a label, its proxies are listed on it, and a lead whose trend vanishes within strata of a stronger claim is
"explained by" it.
:func:`claims` returns only the leads' labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY
from optimizer_pipeline.lib.features.labels.vocabulary import LABEL_FIELDS
from optimizer_pipeline.lib.patterns import families as family_step
from optimizer_pipeline.lib.patterns.binary_tests import fisher_binary, lift
from optimizer_pipeline.lib.patterns.categorical_tests import chi2_categorical
from optimizer_pipeline.lib.patterns.continuous_tests import mann_whitney
from optimizer_pipeline.lib.patterns.families import (
    FAMILY_COLUMNS,
    ROLE_LEAD,
    assign_families,
    family_qvalues,
    find_families,
    with_family_defaults,
)
from optimizer_pipeline.lib.patterns.multiplicity import bh_qvalues
from optimizer_pipeline.lib.patterns.pattern_sentences import pattern_sentence, pattern_text
from optimizer_pipeline.lib.patterns.tier_comparison import effect_sign
from optimizer_pipeline.lib.patterns.trend_tests import candidate_levels, level_trend, observed, trend_test

TOP_SHARE, MIDDLE_FROM, MIDDLE_TO, BOTTOM_FROM = 0.10, 0.30, 0.70, 0.70
MIN_TOP_TIER = 10
MAX_TOP_SHARE = 0.25
MIN_PATTERN_VIDEOS = 3
MIN_BUCKET_VIDEOS = 20  # as the bucket model: fewer videos is "insufficient data"
LIFT_MIN = 1.5
#: Family-wise level of a categorical row's lift interval: Bonferroni over the levels it was chosen from.
LIFT_ALPHA = 0.05
Q_STRONG, Q_MODERATE, Q_EMERGING, Q_SIGNIFICANT = 0.01, 0.10, 0.25, 0.10
Q_CONSISTENT = 0.25
EVIDENCE_LEVELS = ("STRONG", "MODERATE", "EMERGING", "none")
SIGNALS = ("significant", "effect_ci", "lift", "coherent", "consistent")
CATEGORICAL_FEATURES: tuple[str, ...] = ("pacing_label", *LABEL_FIELDS)

PATTERN_COLUMNS: tuple[str, ...] = (
    "feature",
    "duration_bucket",
    "kind",
    "test",
    "pattern",
    "threshold",
    "direction",
    "classification",
    "evidence",
    "signals",
    "n_signals",
    "sentence",
    "n_videos",
    "n_top",
    "n_middle",
    "n_bottom",
    "value_top",
    "value_middle",
    "value_bottom",
    "median_top",
    "median_middle",
    "median_bottom",
    "differential",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "effect_name",
    "effect",
    "ci_low",
    "ci_high",
    "effect_from",
    "pair_test",
    "p_value",
    "q_value",
    "p_top_vs_middle",
    "p_bottom_vs_middle",
    "model_driver",
    *(f"signal_{name}" for name in SIGNALS),
    *FAMILY_COLUMNS,
)


@dataclass(frozen=True)
class Tiers:
    """Boolean masks over the bucket's rows (in input order) and the sizes behind them."""

    top: np.ndarray
    middle: np.ndarray
    bottom: np.ndarray

    @property
    def sizes(self) -> tuple[int, int, int]:
        return int(self.top.sum()), int(self.middle.sum()), int(self.bottom.sum())


def tier_sizes(n: int) -> tuple[int, int, int, int]:
    """(top count, middle start rank, middle end rank, bottom start rank) for ``n`` ranked videos."""
    top = max(math.ceil(TOP_SHARE * n), min(MIN_TOP_TIER, math.floor(MAX_TOP_SHARE * n)))
    return top, math.ceil(MIDDLE_FROM * n), math.ceil(MIDDLE_TO * n), math.ceil(BOTTOM_FROM * n)


def analysis_tiers(engagement_rate: pd.Series, video_id: pd.Series | None = None) -> Tiers:
    """Sample-size-adjusted tiers by engagement rank (ties: smaller video id first)."""
    n = len(engagement_rate)
    order = pd.DataFrame(
        {"er": engagement_rate.to_numpy(dtype=float), "id": (video_id if video_id is not None else pd.Series(range(n)))}
    )
    order["pos"] = np.arange(n)
    ranked = order.sort_values(["er", "id"], ascending=[False, True], kind="mergesort")["pos"].to_numpy()
    rank = np.empty(n, dtype=int)
    rank[ranked] = np.arange(n)
    top_n, mid_lo, mid_hi, bot_lo = tier_sizes(n)
    return Tiers(top=rank < top_n, middle=(rank >= mid_lo) & (rank < mid_hi), bottom=rank >= bot_lo)


def testable_features(frame: pd.DataFrame) -> dict[str, str]:
    """Feature -> kind ("binary" | "categorical" | "continuous") for the columns present in ``frame``."""
    out: dict[str, str] = {}
    for name, spec in FEATURE_DICTIONARY.items():
        if spec.role == "meta" or name not in frame.columns:
            continue
        if name in CATEGORICAL_FEATURES:
            out[name] = "categorical"
        elif spec.role == "flag" or spec.unit == "0/1":
            out[name] = "binary"
        elif spec.role == "feature":
            out[name] = "continuous"
    for name in LABEL_FIELDS:
        if name in frame.columns:
            out[name] = "categorical"
    return out


def _tier_medians(x: pd.Series, kind: str, tiers: Tiers) -> dict[str, float]:
    """Median of a continuous feature in each tier (NaN for binary and categorical, whose ``value_*`` are
    prevalences)."""
    if kind != "continuous":
        return {"median_top": np.nan, "median_middle": np.nan, "median_bottom": np.nan}
    v = x.to_numpy(dtype=float)
    return {
        f"median_{name}": float(np.median(v[mask])) if mask.any() else np.nan
        for name, mask in (("top", tiers.top), ("middle", tiers.middle), ("bottom", tiers.bottom))
    }


def _pattern_mask(x: pd.Series, kind: str, threshold: float | str) -> np.ndarray:
    if kind == "categorical":
        return (x.astype(str) == str(threshold)).to_numpy()
    return (x.to_numpy(dtype=float) >= float(threshold)).astype(bool)


def _compare(x: pd.Series, kind: str, a: np.ndarray, b: np.ndarray):
    if kind == "binary":
        v = x.to_numpy(dtype=float) > 0.5
        return fisher_binary(int(v[a].sum()), int(a.sum()), int(v[b].sum()), int(b.sum()))
    if kind == "categorical":
        s = x.astype(str)
        return chi2_categorical(s[a].value_counts().to_dict(), s[b].value_counts().to_dict())
    v = x.to_numpy(dtype=float)
    return mann_whitney(v[a], v[b])


def compare_bucket(frame: pd.DataFrame, bucket: str, *, drivers: Mapping[str, bool] | None = None) -> pd.DataFrame:
    """One row per tested feature of one bucket (PATTERN_COLUMNS), without the cross-bucket ``consistent`` signal,
    the evidence label and the sentence (see :func:`label_evidence`)."""
    if frame.empty:
        return pd.DataFrame(columns=list(PATTERN_COLUMNS))
    frame = frame.reset_index(drop=True)
    all_tiers = analysis_tiers(frame["engagement_rate"], frame.get("video_id"))
    rows: list[dict] = []
    for feature, kind in testable_features(frame).items():
        # every test, the lift and the prevalences of this row use the same videos: those with a value
        kept = observed(frame[feature], kind)
        x = frame[feature][kept].reset_index(drop=True)
        if x.astype(str).nunique() < 2:
            continue
        tiers = Tiers(top=all_tiers.top[kept], middle=all_tiers.middle[kept], bottom=all_tiers.bottom[kept])
        n = len(x)
        in_tier = tiers.top | tiers.middle | tiers.bottom
        score = np.where(tiers.top, 2, np.where(tiers.middle, 1, 0))[in_tier]
        top_cmp = _compare(x, kind, tiers.top, tiers.middle)
        bot_cmp = _compare(x, kind, tiers.bottom, tiers.middle)
        trend = trend_test(x[in_tier], kind, score)
        n_levels = 1
        if kind == "categorical":
            chosen = level_trend(x[in_tier], score, candidate_levels(x, MIN_PATTERN_VIDEOS))
            threshold: float | str = chosen.level
            n_levels = chosen.n_candidates
            trend = (trend[0], trend[1], chosen.sign)
        elif kind == "binary":
            threshold = 1.0
        else:
            threshold = float(np.median(x.to_numpy(dtype=float)))
        has = _pattern_mask(x, kind, threshold)
        if kind == "continuous" and has.all():  # median equals the minimum: "above it" is the informative cut
            threshold = float(np.min(x.to_numpy(dtype=float)[x.to_numpy(dtype=float) > threshold]))
            has = _pattern_mask(x, kind, threshold)
        # a level picked after looking gets a simultaneous interval over the levels it was picked from
        lift_est = lift(
            int((has & tiers.top).sum()), int(has.sum()), int(tiers.top.sum()), n, alpha=LIFT_ALPHA / n_levels
        )
        rows.append(
            {
                "feature": feature,
                "duration_bucket": bucket,
                "kind": kind,
                "test": top_cmp.test,
                "threshold": str(threshold) if kind == "categorical" else f"{float(threshold):.6g}",
                "n_videos": n,
                "n_pattern": int(has.sum()),
                "n_top": int(tiers.top.sum()),
                "n_middle": int(tiers.middle.sum()),
                "n_bottom": int(tiers.bottom.sum()),
                "value_top": _share(has, tiers.top),
                "value_middle": _share(has, tiers.middle),
                "value_bottom": _share(has, tiers.bottom),
                **_tier_medians(x, kind, tiers),
                "lift": float(lift_est.lift),
                "lift_ci_low": float(lift_est.ci_low),
                "lift_ci_high": float(lift_est.ci_high),
                "_top": top_cmp,
                "_bot": bot_cmp,
                "_trend": trend,
                "_level": str(threshold) if kind == "categorical" else None,
                "model_driver": bool((drivers or {}).get(feature, False)),
            }
        )
    if not rows:
        return pd.DataFrame(columns=list(PATTERN_COLUMNS))
    q = bh_qvalues(np.array([r["_trend"][1] for r in rows], dtype=float))
    out = []
    for i, r in enumerate(rows):
        top_cmp, bot_cmp = r.pop("_top"), r.pop("_bot")
        test, p_trend, trend_sign = r.pop("_trend")
        level = r.pop("_level")
        best = top_cmp if top_cmp.p_value <= bot_cmp.p_value else bot_cmp
        s_top, s_bot = _categorical_sign(top_cmp, level), _categorical_sign(bot_cmp, level)
        # helpful = rises with the tier (over-represented at the top and/or under-represented at the bottom)
        sign = trend_sign or s_top or -s_bot
        r.update(
            test=test,
            pair_test=top_cmp.test,
            direction="higher" if sign >= 0 else "lower",
            effect_name=best.effect_name,
            effect=float(best.effect),
            ci_low=float(best.ci_low),
            ci_high=float(best.ci_high),
            effect_from="top vs middle" if best is top_cmp else "bottom vs middle",
            p_value=float(p_trend),
            q_value=float(q[i]),
            p_top_vs_middle=float(top_cmp.p_value),
            p_bottom_vs_middle=float(bot_cmp.p_value),
            differential=float(r["value_top"] - r["value_middle"]),
            coherent=bool(s_top != 0 and s_bot != 0 and s_top == -s_bot),
            pattern="",
            classification="",
            evidence="",
            signals="",
            n_signals=0,
            sentence="",
        )
        out.append(r)
    return pd.DataFrame(out)


def _categorical_sign(cmp, level: str | None = None) -> int:
    """Direction of one comparison: the effect's sign; Cramér's V has none, so a categorical comparison is signed by
    the share gap (this tier minus the middle) of the row's reported ``level``, the same level in both pairs."""
    if cmp.effect_name == "cramer's v":
        lv = cmp.top_level if level is None else level
        return effect_sign(cmp.shares_top.get(lv, 0.0) - cmp.shares_ref.get(lv, 0.0))
    return effect_sign(cmp.effect)


def _share(has: np.ndarray, tier: np.ndarray) -> float:
    """Share of a tier's videos with the pattern (NaN for a tier left empty by missing values)."""
    return float(has[tier].mean()) if tier.any() else np.nan


def trend_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """(feature, kind, p_value, direction, level, q_value) from the trend tests alone: what the ``consistent`` signal
    needs from the other buckets, at a fraction of :func:`compare_bucket`'s cost (no pairwise tests, CIs or lifts).
    Same rows and rules as :func:`compare_bucket`: missing values dropped per feature, a categorical row's ``level``
    chosen by :func:`~.trend_tests.level_trend` and its direction that level's ("" for other kinds)."""
    frame = frame.reset_index(drop=True)
    all_tiers = analysis_tiers(frame["engagement_rate"], frame.get("video_id"))
    out = []
    for feature, kind in testable_features(frame).items():
        kept = observed(frame[feature], kind)
        x = frame[feature][kept].reset_index(drop=True)
        if x.astype(str).nunique() < 2:
            continue
        top, middle, bottom = all_tiers.top[kept], all_tiers.middle[kept], all_tiers.bottom[kept]
        in_tier = top | middle | bottom
        score = np.where(top, 2, np.where(middle, 1, 0))[in_tier]
        _, p, sign = trend_test(x[in_tier], kind, score)
        level = ""
        if kind == "categorical":
            chosen = level_trend(x[in_tier], score, candidate_levels(x, MIN_PATTERN_VIDEOS))
            level, sign = chosen.level, chosen.sign
        direction = "higher" if sign >= 0 else "lower"
        out.append({"feature": feature, "kind": kind, "p_value": p, "direction": direction, "level": level})
    table = pd.DataFrame(out, columns=["feature", "kind", "p_value", "direction", "level"])
    table["q_value"] = bh_qvalues(table["p_value"].to_numpy(dtype=float)) if len(table) else []
    return table


def label_evidence(
    per_bucket: Mapping[str, pd.DataFrame], others: Mapping[str, pd.DataFrame] | None = None
) -> dict[str, pd.DataFrame]:
    """Add the ``consistent`` signal (same direction, q < 0.25, in another bucket: ``per_bucket`` or the trend
    summaries in ``others``; a categorical row also needs the same level), the five signals, the evidence label, the
    classification and the sentence to every bucket of ``per_bucket``.

    A categorical row's ``lift`` signal also needs its interval (simultaneous over its candidate levels, see
    :func:`compare_bucket`) to exclude 1 on the side of its direction: its level was chosen after looking."""
    strong_dirs: dict[str, dict[str, tuple[str, str]]] = {}
    for bucket, rows in {**(others or {}), **per_bucket}.items():
        for r in _keys(rows).itertuples():
            if r.q_value < Q_CONSISTENT:
                strong_dirs.setdefault(r.feature, {})[bucket] = (r.direction, _reported_level(r))
    out: dict[str, pd.DataFrame] = {}
    for bucket, rows in per_bucket.items():
        if rows.empty:
            out[bucket] = pd.DataFrame(columns=list(PATTERN_COLUMNS))
            continue
        rows = rows.copy()
        helpful = rows["direction"] == "higher"
        categorical = rows["kind"] == "categorical"
        lift_ci_clear = np.where(helpful, rows["lift_ci_low"] > 1.0, rows["lift_ci_high"] < 1.0)
        flags = pd.DataFrame(
            {
                "significant": rows["q_value"] < Q_SIGNIFICANT,
                "effect_ci": (rows["ci_low"] > 0) | (rows["ci_high"] < 0),
                "lift": np.where(helpful, rows["lift"] >= LIFT_MIN, rows["lift"] <= 1 / LIFT_MIN)
                & (~categorical | lift_ci_clear),
                "coherent": rows["coherent"].astype(bool),
                "consistent": [
                    any(
                        b != bucket and key == (r.direction, _reported_level(r))
                        for b, key in strong_dirs.get(r.feature, {}).items()
                    )
                    for r in _keys(rows).itertuples()
                ],
            },
            index=rows.index,
        )
        for name in SIGNALS:
            rows[f"signal_{name}"] = flags[name].astype(bool)
        rows["n_signals"] = flags.sum(axis=1).astype(int)
        rows["signals"] = [
            ", ".join(name for name, on in zip(SIGNALS, row, strict=True) if on) for row in flags.to_numpy(dtype=bool)
        ]
        rows["evidence"] = [
            _evidence(q, p, k) for q, p, k in zip(rows["q_value"], rows["p_value"], rows["n_signals"], strict=True)
        ]
        rare = (rows["n_pattern"] < MIN_PATTERN_VIDEOS) | (rows["n_videos"] - rows["n_pattern"] < MIN_PATTERN_VIDEOS)
        rows.loc[rare, "evidence"] = "none"
        rows["classification"] = np.select(
            [rare, rows["evidence"] == "none", helpful], ["too rare", "neutral", "pattern"], "anti-pattern"
        )
        rows["pattern"] = [pattern_text(r) for r in rows.itertuples()]
        rows["sentence"] = [pattern_sentence(r) for r in rows.itertuples()]
        rows["_order"] = rows["evidence"].map({e: i for i, e in enumerate(EVIDENCE_LEVELS)})
        rows = rows.sort_values(["_order", "q_value", "feature"], kind="mergesort").drop(columns="_order")
        out[bucket] = rows[[*PATTERN_COLUMNS, "n_pattern"]].reset_index(drop=True)
    return out


def _keys(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns the ``consistent`` signal reads (a narrow frame: itertuples over every column is slow)."""
    return rows[[c for c in ("feature", "kind", "q_value", "direction", "level", "threshold") if c in rows.columns]]


def _reported_level(r: object) -> str:
    """The level a categorical row reports ("" for other kinds): ``level`` of a trend summary, else ``threshold``."""
    if getattr(r, "kind", "") != "categorical":
        return ""
    return str(getattr(r, "level", None) or getattr(r, "threshold", ""))


def _evidence(q: float, p: float, k: int) -> str:
    if q < Q_STRONG and k >= 4:
        return "STRONG"
    if q < Q_MODERATE and k >= 3:
        return "MODERATE"
    if q < Q_EMERGING and k >= 2:
        return "EMERGING"
    return "none"


def bucket_patterns(
    frames: Mapping[str, pd.DataFrame | None],
    *,
    drivers: Mapping[str, Mapping[str, bool]] | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Patterns of the buckets of one client x hashtag (``frames``: bucket -> video_features rows of that bucket,
    None for a bucket with too few videos). All buckets are used for the ``consistent`` signal; full tables are
    computed for the buckets in ``only`` (default: all).

    Families (:mod:`.families`): the rows are labelled feature by feature first (``evidence_alone``), which orders
    the clumping into families; the rows are labelled again with the q-values of :func:`.families.family_qvalues`
    (unchanged unless family-level FDR is on) and the family step marks proxies and explained rows."""
    wanted = set(frames) if only is None else set(only)
    usable = {b: f for b, f in frames.items() if f is not None}
    per_bucket = {
        b: with_family_defaults(compare_bucket(f, b, drivers=(drivers or {}).get(b)))
        for b, f in usable.items()
        if b in wanted
    }
    others = {b: trend_summary(f) for b, f in usable.items() if b not in wanted}
    alone = label_evidence(per_bucket, others)
    found = {b: find_families(rows, usable[b]) for b, rows in alone.items() if len(rows)}
    labelled = alone
    if family_step.FAMILY_LEVEL_FDR:
        adjusted = {b: family_qvalues(rows, found[b]) if b in found else rows for b, rows in per_bucket.items()}
        labelled = label_evidence(adjusted, others)
    out = {}
    for bucket, rows in labelled.items():
        if bucket not in found:
            out[bucket] = rows
            continue
        frame = usable[bucket].reset_index(drop=True)
        tiers = analysis_tiers(frame["engagement_rate"], frame.get("video_id"))
        score = np.where(tiers.top, 2.0, np.where(tiers.middle, 1.0, np.where(tiers.bottom, 0.0, np.nan)))
        own = dict(zip(alone[bucket]["feature"], alone[bucket]["evidence"], strict=True))
        out[bucket] = assign_families(rows, found[bucket], frame, score, alone=own)
    return out


def claims(rows: pd.DataFrame) -> dict[str, str]:
    """feature -> evidence label of a bucket's claims (evidence other than "none"; family leads only: a proxy or an
    explained row is never a claim of its own)."""
    if rows.empty:
        return {}
    kept = rows[rows["evidence"] != "none"]
    if "family_role" in kept:
        kept = kept[kept["family_role"].fillna(ROLE_LEAD) == ROLE_LEAD]
    return {str(f): str(e) for f, e in zip(kept["feature"], kept["evidence"], strict=True)}


def evidence_changes(previous: Mapping[str, str], current: Mapping[str, str]) -> dict[str, list[str]]:
    """What changed between two materialisations' claims: appeared, disappeared and relabelled patterns."""
    return {
        "appeared": sorted(f"{f} ({current[f]})" for f in current.keys() - previous.keys()),
        "disappeared": sorted(f"{f} (was {previous[f]})" for f in previous.keys() - current.keys()),
        "changed": sorted(
            f"{f}: {previous[f]} -> {current[f]}" for f in current.keys() & previous.keys() if current[f] != previous[f]
        ),
    }
