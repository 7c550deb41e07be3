"""Bucket intelligence for one client × hashtag: which duration buckets earn the most engagement, how sure we are,
and what content mix to post next. Pure pandas/numpy/scipy (no Dagster); the statistics live in
:mod:`optimizer_pipeline.lib.patterns.bucket_comparison`.

Definitions (the one place they live):

* **Videos compared**: every in-bucket video that passed the quality filters, i.e. the selected (top-N) rows *plus*
  the "below top-N" and "engagement-rate outlier" rows of ``bucket_videos_excluded`` (why the outlier-fenced rows
  are in: ``bucket_comparison``). Ranking the top-N selection alone measured how many candidates a bucket had, not
  how its videos perform: of two identical buckets with 400 and 55 candidates the larger was prioritised in 100 %
  of simulated hashtags. ``videos`` / ``creators`` still count the selected rows (what the pattern analysis used);
  ``videos_compared`` / ``creators_compared`` count what the engagement figures use. Every engagement figure of a
  row (geometric mean, CI, median, quartile ratio, creators above median) is on the compared videos.
* **Engagement level** of a bucket is the *geometric mean* engagement rate, ``exp(mean(log ER))``, weighted by
  ``sample_weight`` (celebrity videos count half). ER is floored at ``ER_FLOOR`` before the log. Its 95 % CI is
  cluster-robust by creator (a creator's videos share an audience): CR2 variance of the weighted mean and a t
  interval with Bell-McCaffrey degrees of freedom, exponentiated. With one video per creator and unit weights this
  is exactly ``scipy.stats.t.interval`` on ``log ER``.
* The **hashtag reference** (``hashtag_geo_mean_engagement_rate``) is the weighted geometric mean ER over every
  compared video of every bucket. ``ratio_to_rest`` is the bucket's geometric mean over that of the *other*
  buckets pooled; ``p_value`` tests it against 1 in one joint model of the hashtag (clustered by creator across
  buckets) and ``p_adjusted`` is Holm's adjustment across the hashtag's tested buckets (every bucket that is not
  "insufficient data"), so the chance that a hashtag whose buckets are all alike gets *any* prioritise /
  deprioritise verdict is at most :data:`ALPHA`.
* **Consistency** has two numbers: ``q3_q1_ratio`` (the 75th percentile ER over the 25th: "the top quartile earns
  2.1x the bottom quartile"; near 1 = every video performs alike, large = hit-or-miss) and
  ``creators_above_median`` (share of the bucket's creators whose median ER beats the hashtag's median ER: high =
  the format works for many creators, not just a few).
* **Verdicts** (:func:`verdict`), in this order:

  - ``insufficient data``: fewer than :data:`MIN_BUCKET_VIDEOS` compared videos, or fewer than
    :data:`MIN_BUCKET_CREATORS` creators (no clustered variance; a single-creator source such as a competitor
    profile is compared video by video instead, see :func:`bucket_verdicts`);
  - ``prioritise``: ``p_adjusted < ALPHA`` and the bucket beats the rest of the hashtag;
  - ``deprioritise``: ``p_adjusted < ALPHA`` and the bucket trails the rest;
  - ``test more``: not significant and fewer than :data:`TEST_MORE_BELOW` compared videos (more data could still
    move it either way);
  - ``maintain``: otherwise (indistinguishable from the rest of the hashtag).

* **Rank** is by geometric mean (1 = best); insufficient buckets are ranked after every bucket with data.
* **Recommended content mix** (:func:`content_mix`): ``p_best`` is the probability that the bucket has the highest
  true geometric-mean ER among the tested buckets, from :data:`MC_DRAWS` Monte-Carlo draws of the same joint
  clustered model (multivariate t; seeded, so deterministic). Tested buckets share ``1 - insufficient share`` as
  ``(1 - EXPLORE) · p_best + EXPLORE / k``; insufficient buckets that have at least one video split
  :data:`INSUFFICIENT_SHARE` equally (room to learn about them); empty buckets get 0. Shares sum to 1 whenever
  any bucket has a video (all 0 otherwise).
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.patterns.bucket_comparison import (
    ALPHA,
    BucketEstimate,
    Comparison,
    cluster_codes,
    compare_buckets,
    comparison_videos,
    log_er,
    p_best,
)

MIN_BUCKET_VIDEOS = 20  # as bucket_videos / bucket_model / bucket_patterns
MIN_BUCKET_CREATORS = 2
TEST_MORE_BELOW = 30
MC_DRAWS = 20_000
EXPLORE = 0.10
INSUFFICIENT_SHARE = 0.05

INSUFFICIENT = "insufficient data"
PRIORITISE = "prioritise"
DEPRIORITISE = "deprioritise"
TEST_MORE = "test more"
MAINTAIN = "maintain"
VERDICTS = (PRIORITISE, MAINTAIN, TEST_MORE, DEPRIORITISE, INSUFFICIENT)
VERDICT_COLOURS = {
    PRIORITISE: "#2a9d8f",
    MAINTAIN: "#8d99ae",
    TEST_MORE: "#e9c46a",
    DEPRIORITISE: "#e76f51",
    INSUFFICIENT: "#cccccc",
}
EVIDENCE_ORDER = {"STRONG": 0, "MODERATE": 1, "EMERGING": 2}
NO_ESTIMATE = BucketEstimate(*(float("nan"),) * 5, creators=0)

INTELLIGENCE_COLUMNS: tuple[str, ...] = (
    "rank",
    "duration_bucket",
    "verdict",
    "recommended_share",
    "p_best",
    "status",
    "videos",
    "creators",
    "videos_compared",
    "creators_compared",
    "median_engagement_rate",
    "geo_mean_engagement_rate",
    "ci_low",
    "ci_high",
    "hashtag_geo_mean_engagement_rate",
    "ratio_to_rest",
    "p_value",
    "p_adjusted",
    "q3_q1_ratio",
    "creators_above_median",
    "consistency",
    "strong_claims",
    "moderate_claims",
    "emerging_claims",
    "top_pattern",
    "top_pattern_evidence",
    "model_status",
    "model_beats_baseline",
    "model_best_r2",
    "verdict_reason",
)


def verdict(n: int, creators: int, log_ratio: float, p_adjusted: float, alpha: float = ALPHA) -> tuple[str, str]:
    """The bucket's verdict and a one-line reason from its compared videos and creators, its log ratio to the rest
    of the hashtag and the Holm-adjusted p-value (rules in the module docstring)."""
    if n < MIN_BUCKET_VIDEOS:
        return INSUFFICIENT, f"{n} videos compared (< {MIN_BUCKET_VIDEOS})"
    if creators < MIN_BUCKET_CREATORS:
        return INSUFFICIENT, f"{creators} creator(s) (< {MIN_BUCKET_CREATORS}): no clustered interval"
    ratio = float(np.exp(log_ratio)) if np.isfinite(log_ratio) else float("nan")
    if not np.isfinite(p_adjusted):
        versus = "not tested (nothing to compare with, or no spread)"
    else:
        versus = f"{ratio:.2f}x the rest of the hashtag (Holm p {p_adjusted:.2g})"
        if p_adjusted < alpha:
            return (PRIORITISE if log_ratio > 0 else DEPRIORITISE), versus
    if n < TEST_MORE_BELOW:
        return TEST_MORE, f"{versus}; only {n} videos (< {TEST_MORE_BELOW})"
    return MAINTAIN, versus


def content_mix(
    estimates: np.ndarray,
    cov: np.ndarray,
    df: float,
    sufficient: np.ndarray,
    has_videos: np.ndarray,
    *,
    seed: int = 0,
    draws: int = MC_DRAWS,
    explore: float = EXPLORE,
    insufficient_share: float = INSUFFICIENT_SHARE,
) -> tuple[np.ndarray, np.ndarray]:
    """``(recommended_share, p_best)`` per bucket from the joint model's means ``estimates`` and covariance ``cov``
    (rule in the module docstring); deterministic given ``seed``."""
    k_all = len(estimates)
    share, best = np.zeros(k_all), np.zeros(k_all)
    idx = np.flatnonzero(sufficient)
    extra = np.flatnonzero(~sufficient & has_videos)
    if len(idx):
        best[idx] = p_best(estimates[idx], cov[np.ix_(idx, idx)], df, seed=seed, draws=draws)
        budget = 1.0 - (insufficient_share if len(extra) else 0.0)
        share[idx] = budget * ((1.0 - explore) * best[idx] + explore / len(idx))
        if len(extra):
            share[extra] = insufficient_share / len(extra)
    elif len(extra):
        share[extra] = 1.0 / len(extra)
    return share, best


def bucket_verdicts(
    logs: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[Comparison, dict[str, tuple[str, str]]]:
    """The hashtag's joint comparison and each bucket's ``(verdict, reason)`` from each bucket's log ER, weights and
    creators (:func:`~optimizer_pipeline.lib.patterns.bucket_comparison.log_er`); buckets with data are tested when
    they have :data:`MIN_BUCKET_VIDEOS` videos and :data:`MIN_BUCKET_CREATORS` creators. A source whose videos all
    come from one creator (a competitor profile) has nothing to cluster: that creator's effect is common to every
    bucket and cancels in the comparison, so its videos count as independent."""
    known = {c for _, _, creators in logs.values() for c in creators if c is not None}
    if len(known) <= 1:
        logs = {b: (y, w, np.full(len(y), None, dtype=object)) for b, (y, w, _) in logs.items()}
    counts = {b: (len(y), int(cluster_codes(c).max(initial=-1)) + 1) for b, (y, _, c) in logs.items()}
    tested = [b for b, (n, g) in counts.items() if n >= MIN_BUCKET_VIDEOS and g >= MIN_BUCKET_CREATORS]
    comparison = compare_buckets(
        np.concatenate([y for y, _, _ in logs.values()]) if logs else np.empty(0),
        np.concatenate([w for _, w, _ in logs.values()]) if logs else np.empty(0),
        np.concatenate([np.full(len(y), b, dtype=object) for b, (y, _, _) in logs.items()]) if logs else np.empty(0),
        np.concatenate([c for _, _, c in logs.values()]) if logs else np.empty(0, dtype=object),
        tested,
    )
    position = {b: i for i, b in enumerate(comparison.buckets)}
    verdicts = {}
    for b, (n, g) in counts.items():
        i = position.get(b)
        log_ratio = float(comparison.log_ratio[i]) if i is not None else float("nan")
        p_adjusted = float(comparison.p_adjusted[i]) if i is not None else float("nan")
        verdicts[b] = verdict(n, g, log_ratio, p_adjusted)
    return comparison, verdicts


def _bucket_order(keys: set[str]) -> list[str]:
    known = [b for b in DURATION_BUCKETS if b in keys]
    return known + sorted(keys - set(known))


def _claims(patterns: pd.DataFrame | None) -> dict:
    out = {
        "strong_claims": 0,
        "moderate_claims": 0,
        "emerging_claims": 0,
        "top_pattern": "",
        "top_pattern_evidence": "",
    }
    if patterns is None or patterns.empty or "evidence" not in patterns:
        return out
    ev = patterns["evidence"].astype(str)
    for level in EVIDENCE_ORDER:
        out[f"{level.lower()}_claims"] = int((ev == level).sum())
    claimed = patterns[ev.isin(list(EVIDENCE_ORDER))].copy()
    if len(claimed):
        claimed["_order"] = claimed["evidence"].map(EVIDENCE_ORDER)
        q = claimed["q_value"] if "q_value" in claimed else pd.Series(np.nan, index=claimed.index)
        claimed["_q"] = pd.to_numeric(q, errors="coerce").fillna(np.inf)
        best = claimed.sort_values(["_order", "_q"], kind="stable").iloc[0]
        out["top_pattern"] = str(best.get("sentence", "") or best.get("feature", ""))
        out["top_pattern_evidence"] = str(best["evidence"])
    return out


def _model(models: pd.DataFrame | None) -> dict:
    out: dict = {"model_status": "missing", "model_beats_baseline": None, "model_best_r2": float("nan")}
    if models is None or models.empty:
        return out
    status = str(models["status"].iloc[0]) if "status" in models else "ok"
    out["model_status"] = status
    if status == "ok":
        if "beats_baseline" in models:
            out["model_beats_baseline"] = bool(models["beats_baseline"].fillna(False).astype(bool).any())
        if "r2" in models:
            r2 = pd.to_numeric(models["r2"], errors="coerce")
            out["model_best_r2"] = float(r2.max()) if r2.notna().any() else float("nan")
    return out


def _creator_medians(videos: pd.DataFrame) -> pd.Series:
    """Median ER per creator (rows without an author left out)."""
    if videos.empty or "author" not in videos:
        return pd.Series(dtype=float)
    authors = videos["author"].to_numpy(dtype=object, na_value=None)
    known = np.array([isinstance(a, str) and a != "" for a in authors], dtype=bool)
    er = pd.to_numeric(videos["engagement_rate"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[known]
    return pd.Series(er).groupby(authors[known]).median().dropna()


def bucket_ranking(
    videos: Mapping[str, pd.DataFrame],
    patterns: Mapping[str, pd.DataFrame] | None = None,
    models: Mapping[str, pd.DataFrame] | None = None,
    *,
    excluded: Mapping[str, pd.DataFrame] | None = None,
    seed: int = 0,
    draws: int = MC_DRAWS,
) -> pd.DataFrame:
    """One row per bucket (:data:`INTELLIGENCE_COLUMNS`), sorted by rank. Keys are bucket labels (``"0-15s"``);
    ``videos`` holds each bucket's selected rows, ``excluded`` its ``bucket_videos_excluded`` rows (their "below
    top-N" rows join the comparison; without them only the selected rows are compared, which favours buckets with
    more candidates). A bucket present in any mapping gets a row. Empty inputs give an empty table with the
    columns."""
    patterns, models, excluded = patterns or {}, models or {}, excluded or {}
    buckets = _bucket_order(set(videos) | set(patterns) | set(models) | set(excluded))
    if not buckets:
        return _empty()
    frames = {b: videos.get(b) if videos.get(b) is not None else pd.DataFrame() for b in buckets}
    compared = {b: comparison_videos(frames[b], excluded.get(b)) for b in buckets}
    logs = {b: log_er(compared[b]) for b in buckets}
    comparison, verdicts = bucket_verdicts(logs)
    position = {b: i for i, b in enumerate(comparison.buckets)}
    counts = {b: (len(logs[b][0]), int(cluster_codes(logs[b][2]).max(initial=-1)) + 1) for b in buckets}
    all_y = np.concatenate([logs[b][0] for b in buckets])
    all_w = np.concatenate([logs[b][1] for b in buckets])
    reference = float(np.exp(np.dot(all_w, all_y) / all_w.sum())) if len(all_y) else float("nan")
    ers = [pd.to_numeric(f["engagement_rate"], errors="coerce") for f in compared.values() if len(f)]
    all_er = pd.concat(ers, ignore_index=True).dropna() if ers else pd.Series(dtype=float)
    hashtag_median = float(all_er.median()) if len(all_er) else float("nan")

    rows = []
    for b in buckets:
        df, sel = compared[b], frames[b]
        n, n_creators = counts[b]
        i = position.get(b)
        est = comparison.estimates[i] if i is not None else NO_ESTIMATE
        log_ratio = float(comparison.log_ratio[i]) if i is not None else float("nan")
        p_raw = float(comparison.p_value[i]) if i is not None else float("nan")
        p_adj = float(comparison.p_adjusted[i]) if i is not None else float("nan")
        er = pd.to_numeric(df["engagement_rate"], errors="coerce").dropna()
        q1, q3 = (float(np.quantile(er, 0.25)), float(np.quantile(er, 0.75))) if len(er) else (np.nan, np.nan)
        ratio = q3 / q1 if len(er) and q1 > 0 else float("nan")
        creators = _creator_medians(df)
        above = float((creators > hashtag_median).mean()) if len(creators) else float("nan")
        v, reason = verdicts[b]
        sufficient = v != INSUFFICIENT
        rows.append(
            {
                "duration_bucket": b,
                "verdict": v,
                "status": "ok" if sufficient else INSUFFICIENT,
                "videos": len(sel),
                "creators": int(sel["author"].nunique()) if "author" in sel else 0,
                "videos_compared": n,
                "creators_compared": n_creators,
                "median_engagement_rate": float(er.median()) if len(er) else float("nan"),
                "geo_mean_engagement_rate": float(np.exp(est.mean)),
                "ci_low": float(np.exp(est.low)),
                "ci_high": float(np.exp(est.high)),
                "hashtag_geo_mean_engagement_rate": reference,
                "ratio_to_rest": float(np.exp(log_ratio)),
                "p_value": p_raw,
                "p_adjusted": p_adj,
                "q3_q1_ratio": ratio,
                "creators_above_median": above,
                "consistency": _consistency(ratio, above, len(creators)),
                **_claims(patterns.get(b)),
                **_model(models.get(b)),
                "verdict_reason": reason,
                "_pos": -1 if i is None else i,
                "_ok": sufficient,
            }
        )
    table = pd.DataFrame(rows)
    pos = table["_pos"].to_numpy(int)
    k = len(comparison.buckets)
    means = np.array([comparison.mean[p] if p >= 0 else np.nan for p in pos])
    cov = np.full((len(pos), len(pos)), np.nan)
    if k:
        have = pos >= 0
        cov[np.ix_(have, have)] = comparison.cov[np.ix_(pos[have], pos[have])]
    share, best = content_mix(
        means,
        cov,
        comparison.df,
        table["_ok"].to_numpy(bool),
        (table["videos_compared"] > 0).to_numpy(bool),
        seed=seed,
        draws=draws,
    )
    table["recommended_share"], table["p_best"] = share, best
    table["_key2"] = -table["geo_mean_engagement_rate"].fillna(-np.inf)
    table = table.sort_values(["_ok", "_key2"], ascending=[False, True], kind="stable").reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    table["model_beats_baseline"] = table["model_beats_baseline"].astype("boolean")
    table.attrs["seed"] = seed
    table.attrs["hashtag_geo_mean_engagement_rate"] = reference
    table.attrs["videos_without_creator"] = int(sum(sum(c is None for c in logs[b][2]) for b in buckets))
    return table[list(INTELLIGENCE_COLUMNS)]


def _consistency(ratio: float, above: float, n_creators: int) -> str:
    parts = []
    if np.isfinite(ratio):
        parts.append(f"top quartile earns {ratio:.1f}x the bottom quartile")
    if np.isfinite(above):
        parts.append(f"{above:.0%} of {n_creators} creators beat the hashtag median")
    return "; ".join(parts)


def _empty() -> pd.DataFrame:
    table = pd.DataFrame({c: pd.Series(dtype="object") for c in INTELLIGENCE_COLUMNS})
    counts = ("rank", "videos", "creators", "videos_compared", "creators_compared")
    for c in (*counts, "strong_claims", "moderate_claims", "emerging_claims"):
        table[c] = table[c].astype("int64")
    for c in INTELLIGENCE_COLUMNS:
        floats = ("_rate", "_share", "ci_low", "ci_high", "_ratio", "_median", "_r2", "_rest")
        if c.endswith(floats) or c.startswith("p_"):
            table[c] = table[c].astype("float64")
    table["model_beats_baseline"] = table["model_beats_baseline"].astype("boolean")
    return table


def engagement_bars_png(table: pd.DataFrame) -> bytes:
    """Bar chart of the geometric-mean ER per bucket (duration order) with 95 % CI error bars, coloured by verdict,
    and the hashtag reference as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    if len(table):
        order = _bucket_order(set(table["duration_bucket"].astype(str)))
        t = table.set_index(table["duration_bucket"].astype(str)).loc[order]
        x = np.arange(len(t))
        gm = t["geo_mean_engagement_rate"].to_numpy(float)
        lo = np.clip(np.nan_to_num(gm - t["ci_low"].to_numpy(float)), 0, None)
        hi = np.clip(np.nan_to_num(t["ci_high"].to_numpy(float) - gm), 0, None)
        colours = [VERDICT_COLOURS.get(v, "#999999") for v in t["verdict"]]
        ax.bar(x, np.nan_to_num(gm), color=colours, yerr=[lo, hi], capsize=4)
        ax.set_xticks(x, [f"{b}\n(n={n})" for b, n in zip(order, t["videos_compared"], strict=True)], fontsize=8)
        ref = float(t["hashtag_geo_mean_engagement_rate"].iloc[0])
        if np.isfinite(ref):
            ax.axhline(ref, color="black", linestyle="--", linewidth=1)
        seen = [v for v in VERDICTS if v in set(t["verdict"])]
        handles = [Patch(color=VERDICT_COLOURS[v], label=v) for v in seen]
        handles.append(plt.Line2D([0], [0], color="black", linestyle="--", label="hashtag geo mean"))
        ax.legend(handles=handles, fontsize=7)
    else:
        ax.text(0.5, 0.5, "no buckets", ha="center", va="center")
    ax.set_ylabel("geometric mean ER (95% CI)", fontsize=8)
    ax.set_title("Engagement by duration bucket", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
