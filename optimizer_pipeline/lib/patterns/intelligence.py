"""Bucket intelligence for one client × hashtag: which duration buckets earn the most engagement, how sure we are,
and what content mix to post next. Pure pandas/numpy/scipy (no Dagster).

Definitions (the one place they live):

* **Engagement level** of a bucket is the *geometric mean* engagement rate, ``exp(mean(log ER))``, weighted by
  ``sample_weight`` (celebrity videos count half). ER is floored at :data:`ER_FLOOR` before the log. Its 95 % CI is a
  t-interval on log ER: weighted mean ``m``, reliability-weighted variance ``s²``, effective size
  ``n_eff = (Σw)² / Σw²``, ``m ± t(0.975, n_eff - 1) · s / √n_eff``, exponentiated. With unit weights this is
  exactly ``scipy.stats.t.interval`` on ``log ER``.
* The **hashtag reference** is the weighted geometric mean ER over every selected video of every bucket.
* **Consistency** has two numbers: ``q3_q1_ratio`` (the 75th percentile ER over the 25th: "the top quartile earns
  2.1x the bottom quartile"; near 1 = every video performs alike, large = hit-or-miss) and
  ``creators_above_median`` (share of the bucket's creators whose median ER beats the hashtag's median ER: high =
  the format works for many creators, not just a few).
* **Verdicts** (:func:`verdict`), in this order:

  - ``insufficient data``: fewer than :data:`MIN_BUCKET_VIDEOS` videos;
  - ``prioritise``: CI lower bound above the hashtag reference;
  - ``deprioritise``: CI upper bound below the hashtag reference;
  - ``test more``: the CI straddles the reference and the bucket has fewer than :data:`TEST_MORE_BELOW` videos
    (a wide interval: more data could still move it either way);
  - ``maintain``: otherwise (indistinguishable from the hashtag as a whole).

* **Rank** is by geometric mean (1 = best); insufficient buckets are ranked after every bucket with data.
* **Recommended content mix** (:func:`content_mix`): ``p_best`` is the probability that the bucket has the highest
  true geometric-mean ER, from :data:`MC_DRAWS` Monte-Carlo draws of each bucket's log-mean posterior
  (``m + se · T(df)``; seeded, so deterministic). Buckets with data share ``1 - insufficient share`` as
  ``(1 - EXPLORE) · p_best + EXPLORE / k``; insufficient buckets that have at least one video split
  :data:`INSUFFICIENT_SHARE` equally (room to learn about them); empty buckets get 0. Shares sum to 1 whenever
  any bucket has a video (all 0 otherwise).
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS

MIN_BUCKET_VIDEOS = 20  # as bucket_videos / bucket_model / bucket_patterns
TEST_MORE_BELOW = 30
ER_FLOOR = 1e-4
CONFIDENCE = 0.95
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

INTELLIGENCE_COLUMNS: tuple[str, ...] = (
    "rank",
    "duration_bucket",
    "verdict",
    "recommended_share",
    "p_best",
    "status",
    "videos",
    "creators",
    "median_engagement_rate",
    "geo_mean_engagement_rate",
    "ci_low",
    "ci_high",
    "hashtag_geo_mean_engagement_rate",
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


def log_er(videos: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``log(max(ER, ER_FLOOR))`` and the sample weights (1 where missing) of the rows with a finite ER."""
    if videos is None or videos.empty or "engagement_rate" not in videos:
        return np.empty(0), np.empty(0)
    er = pd.to_numeric(videos["engagement_rate"], errors="coerce").to_numpy(dtype=float)
    if "sample_weight" in videos:
        w = pd.to_numeric(videos["sample_weight"], errors="coerce").fillna(1.0).to_numpy(dtype=float)
    else:
        w = np.ones(len(er))
    keep = np.isfinite(er) & (w > 0)
    return np.log(np.maximum(er[keep], ER_FLOOR)), w[keep]


def weighted_log_mean(y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Weighted mean of ``y``, its standard error and the degrees of freedom (``n_eff - 1``); NaN when undefined."""
    if len(y) == 0:
        return float("nan"), float("nan"), float("nan")
    sw = float(w.sum())
    m = float(np.dot(w, y) / sw)
    n_eff = sw**2 / float(np.dot(w, w))
    denom = sw - float(np.dot(w, w)) / sw
    if len(y) < 2 or denom <= 0:
        return m, float("nan"), float("nan")
    var = float(np.dot(w, (y - m) ** 2)) / denom
    return m, float(np.sqrt(var / n_eff)), n_eff - 1.0


def log_mean_interval(y: np.ndarray, w: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the weighted t-interval on ``y`` (log ER); bounds NaN with < 2 rows."""
    m, se, df = weighted_log_mean(y, w)
    if not np.isfinite(se):
        return m, float("nan"), float("nan")
    if se == 0:
        return m, m, m
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return m, m - half, m + half


def verdict(n: int, ci_low: float, ci_high: float, reference: float) -> tuple[str, str]:
    """The bucket's verdict and a one-line reason (rules in the module docstring)."""
    if n < MIN_BUCKET_VIDEOS:
        return INSUFFICIENT, f"{n} videos (< {MIN_BUCKET_VIDEOS})"
    if np.isfinite(ci_low) and ci_low > reference:
        return PRIORITISE, f"95% CI low {ci_low:.4g} > hashtag {reference:.4g}"
    if np.isfinite(ci_high) and ci_high < reference:
        return DEPRIORITISE, f"95% CI high {ci_high:.4g} < hashtag {reference:.4g}"
    if n < TEST_MORE_BELOW:
        return TEST_MORE, f"CI straddles hashtag {reference:.4g} with only {n} videos (< {TEST_MORE_BELOW})"
    return MAINTAIN, f"CI [{ci_low:.4g}, {ci_high:.4g}] includes hashtag {reference:.4g}"


def content_mix(
    log_means: np.ndarray,
    ses: np.ndarray,
    dfs: np.ndarray,
    sufficient: np.ndarray,
    has_videos: np.ndarray,
    *,
    seed: int = 0,
    draws: int = MC_DRAWS,
    explore: float = EXPLORE,
    insufficient_share: float = INSUFFICIENT_SHARE,
) -> tuple[np.ndarray, np.ndarray]:
    """``(recommended_share, p_best)`` per bucket (rule in the module docstring); deterministic given ``seed``."""
    k_all = len(log_means)
    share, p_best = np.zeros(k_all), np.zeros(k_all)
    idx = np.flatnonzero(sufficient)
    extra = np.flatnonzero(~sufficient & has_videos)
    if len(idx):
        rng = np.random.default_rng(seed)
        se = np.nan_to_num(ses[idx], nan=0.0)
        df = np.where(np.isfinite(dfs[idx]) & (dfs[idx] > 0), dfs[idx], 1.0)
        sample = log_means[idx] + se * rng.standard_t(df, size=(draws, len(idx)))
        wins = np.bincount(np.argmax(sample, axis=1), minlength=len(idx))
        p_best[idx] = wins / draws
        budget = 1.0 - (insufficient_share if len(extra) else 0.0)
        share[idx] = budget * ((1.0 - explore) * p_best[idx] + explore / len(idx))
        if len(extra):
            share[extra] = insufficient_share / len(extra)
    elif len(extra):
        share[extra] = 1.0 / len(extra)
    return share, p_best


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
    if videos.empty or "author" not in videos:
        return pd.Series(dtype=float)
    er = pd.to_numeric(videos["engagement_rate"], errors="coerce")
    return er.groupby(videos["author"].astype(str)).median().dropna()


def bucket_ranking(
    videos: Mapping[str, pd.DataFrame],
    patterns: Mapping[str, pd.DataFrame] | None = None,
    models: Mapping[str, pd.DataFrame] | None = None,
    *,
    seed: int = 0,
    draws: int = MC_DRAWS,
) -> pd.DataFrame:
    """One row per bucket (:data:`INTELLIGENCE_COLUMNS`), sorted by rank. Keys are bucket labels (``"0-15s"``);
    a bucket present in any mapping gets a row. Empty inputs give an empty table with the columns."""
    patterns, models = patterns or {}, models or {}
    buckets = _bucket_order(set(videos) | set(patterns) | set(models))
    if not buckets:
        return _empty()
    frames = {b: videos.get(b) if videos.get(b) is not None else pd.DataFrame() for b in buckets}
    logs = {b: log_er(frames[b]) for b in buckets}
    all_y = np.concatenate([logs[b][0] for b in buckets])
    all_w = np.concatenate([logs[b][1] for b in buckets])
    reference = float(np.exp(np.dot(all_w, all_y) / all_w.sum())) if len(all_y) else float("nan")
    ers = [pd.to_numeric(f["engagement_rate"], errors="coerce") for f in frames.values() if "engagement_rate" in f]
    all_er = pd.concat(ers, ignore_index=True).dropna() if ers else pd.Series(dtype=float)
    hashtag_median = float(all_er.median()) if len(all_er) else float("nan")

    rows = []
    for b in buckets:
        df = frames[b]
        y, w = logs[b]
        n = len(df)
        m, se, dof = weighted_log_mean(y, w)
        _, lo, hi = log_mean_interval(y, w)
        er = pd.to_numeric(df["engagement_rate"], errors="coerce").dropna() if "engagement_rate" in df else []
        q1, q3 = (float(np.quantile(er, 0.25)), float(np.quantile(er, 0.75))) if len(er) else (np.nan, np.nan)
        ratio = q3 / q1 if len(er) and q1 > 0 else float("nan")
        creators = _creator_medians(df)
        above = float((creators > hashtag_median).mean()) if len(creators) else float("nan")
        sufficient = n >= MIN_BUCKET_VIDEOS and len(y) > 0
        if sufficient:
            v, reason = verdict(n, float(np.exp(lo)), float(np.exp(hi)), reference)
        else:
            v, reason = INSUFFICIENT, f"{len(y)} videos with an engagement rate (< {MIN_BUCKET_VIDEOS})"
        rows.append(
            {
                "duration_bucket": b,
                "verdict": v,
                "status": "ok" if sufficient else INSUFFICIENT,
                "videos": n,
                "creators": int(df["author"].nunique()) if "author" in df else 0,
                "median_engagement_rate": float(er.median()) if len(er) else float("nan"),
                "geo_mean_engagement_rate": float(np.exp(m)),
                "ci_low": float(np.exp(lo)),
                "ci_high": float(np.exp(hi)),
                "hashtag_geo_mean_engagement_rate": reference,
                "q3_q1_ratio": ratio,
                "creators_above_median": above,
                "consistency": _consistency(ratio, above, len(creators)),
                **_claims(patterns.get(b)),
                **_model(models.get(b)),
                "verdict_reason": reason,
                "_m": m,
                "_se": se,
                "_df": dof,
                "_ok": sufficient,
            }
        )
    table = pd.DataFrame(rows)
    share, p_best = content_mix(
        table["_m"].to_numpy(float),
        table["_se"].to_numpy(float),
        table["_df"].to_numpy(float),
        table["_ok"].to_numpy(bool),
        (table["videos"] > 0).to_numpy(bool),
        seed=seed,
        draws=draws,
    )
    table["recommended_share"], table["p_best"] = share, p_best
    table["_key2"] = -table["geo_mean_engagement_rate"].fillna(-np.inf)
    table = table.sort_values(["_ok", "_key2"], ascending=[False, True], kind="stable").reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    table["model_beats_baseline"] = table["model_beats_baseline"].astype("boolean")
    table.attrs["seed"] = seed
    table.attrs["hashtag_geo_mean_engagement_rate"] = reference
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
    for c in ("rank", "videos", "creators", "strong_claims", "moderate_claims", "emerging_claims"):
        table[c] = table[c].astype("int64")
    for c in INTELLIGENCE_COLUMNS:
        if c.endswith(("_rate", "_share", "ci_low", "ci_high", "_ratio", "_median", "_r2")) or c == "p_best":
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
        ax.set_xticks(x, [f"{b}\n(n={n})" for b, n in zip(order, t["videos"], strict=True)], fontsize=8)
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
