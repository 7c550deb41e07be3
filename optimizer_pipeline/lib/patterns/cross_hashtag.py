"""Cross-hashtag view of one client: which bucket patterns hold in (almost) every hashtag, which only in some, and
how differently the hashtags perform per duration bucket.

Inputs are keyed ``(hashtag, duration_bucket)``: the ``bucket_patterns`` rows (``PATTERN_COLUMNS``) and the
``bucket_videos`` rows (``engagement_rate`` per selected video). ``None`` (or a missing key) means "no data".

Rules
-----
- A *claim* is a pattern row with evidence STRONG or MODERATE on a pattern family's lead (``family_role`` "lead",
  not ``explained_by`` a stronger claim; see :mod:`optimizer_pipeline.lib.patterns.families`): a proxy or an
  explained row is never a claim here, whatever its own label; one output row per (bucket, feature, level,
  direction) claimed by at least one hashtag. ``level`` is the reported level of a categorical feature (two
  hashtags claiming different levels of it are different patterns), empty otherwise. Families are formed per
  hashtag, so two hashtags whose families of the same signal are led by different features show as two rows.
- ``hashtags_analysed``: hashtags whose patterns for that bucket are non-empty (the bucket was analysed).
- ``scope``: "single hashtag" when only one hashtag was analysed; "universal" when ``share`` (claimed / analysed)
  >= :data:`UNIVERSAL_SHARE`; else "hashtag-specific".
- Performance: median engagement rate per hashtag and bucket; spread = sample variance (ddof 1) of the natural log
  of those medians across hashtags (NaN with fewer than two hashtags); best / worst hashtag and their ratio.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS

CLAIM_LEVELS: tuple[str, ...] = ("STRONG", "MODERATE")
UNIVERSAL_SHARE = 0.8
SCOPE_UNIVERSAL = "universal"
SCOPE_SPECIFIC = "hashtag-specific"
SCOPE_SINGLE = "single hashtag"
_EVIDENCE_RANK = {"STRONG": 0, "MODERATE": 1, "EMERGING": 2, "none": 3}
_SCOPE_RANK = {SCOPE_UNIVERSAL: 0, SCOPE_SPECIFIC: 1, SCOPE_SINGLE: 2}

CROSS_COLUMNS: tuple[str, ...] = (
    "duration_bucket",
    "feature",
    "level",
    "direction",
    "hashtags_claimed",
    "hashtags_analysed",
    "share",
    "scope",
    "hashtags",
    "best_evidence",
    "median_lift",
    "sentence",
)
PERFORMANCE_COLUMNS: tuple[str, ...] = (
    "duration_bucket",
    "hashtags",
    "videos",
    "median_er_by_hashtag",
    "log_er_variance",
    "best_hashtag",
    "best_median_er",
    "worst_hashtag",
    "worst_median_er",
    "best_worst_ratio",
)

Keyed = Mapping[tuple[str, str], "pd.DataFrame | None"]


def _bucket_order(bucket: str) -> int:
    return DURATION_BUCKETS.index(bucket) if bucket in DURATION_BUCKETS else len(DURATION_BUCKETS)


def _hashtag_order(keys) -> list[str]:
    """Hashtags in first-seen order (the registry order when the caller builds the mapping from it)."""
    return list(dict.fromkeys(h for h, _ in keys))


def _numeric(df: pd.DataFrame, column: str) -> pd.Series:
    if column not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[column], errors="coerce").astype(float)


def _is_claim(rows: pd.DataFrame) -> pd.Series:
    """STRONG / MODERATE on a family lead that no stronger claim explains (tables without family columns: every
    labelled row is its own family)."""
    claimed = rows["evidence"].isin(CLAIM_LEVELS)
    if "family_role" in rows:
        claimed &= rows["family_role"].fillna("lead").astype(str) == "lead"
    if "explained_by" in rows:
        claimed &= rows["explained_by"].fillna("").astype(str) == ""
    return claimed


def cross_hashtag_patterns(patterns: Keyed) -> pd.DataFrame:
    """One row per (duration_bucket, feature, direction) claimed (STRONG / MODERATE) in at least one hashtag."""
    analysed: dict[str, list[str]] = {}
    claimed: list[pd.DataFrame] = []
    for (hashtag, bucket), rows in patterns.items():
        if rows is None or rows.empty:
            continue
        analysed.setdefault(bucket, []).append(hashtag)
        kept = rows[_is_claim(rows)]
        if len(kept):
            kept = kept.assign(_hashtag=hashtag, _bucket=bucket)
            claimed.append(kept)
    if not claimed:
        return pd.DataFrame(columns=list(CROSS_COLUMNS))
    all_claims = pd.concat(claimed, ignore_index=True)
    all_claims["direction"] = all_claims["direction"].fillna("").astype(str)
    categorical = all_claims.get("kind", pd.Series("", index=all_claims.index)).astype(str) == "categorical"
    threshold = all_claims.get("threshold", pd.Series("", index=all_claims.index)).fillna("").astype(str)
    all_claims["level"] = threshold.where(categorical, "")
    all_claims["_rank"] = all_claims["evidence"].map(_EVIDENCE_RANK).fillna(9)
    all_claims["_q"] = _numeric(all_claims, "q_value").fillna(np.inf)
    all_claims["_lift"] = _numeric(all_claims, "lift")
    order = _hashtag_order(patterns.keys())
    out = []
    keys = ["_bucket", "feature", "level", "direction"]
    for (bucket, feature, level, direction), group in all_claims.groupby(keys, sort=False):
        hashtags = sorted(set(group["_hashtag"]), key=order.index)
        n_analysed = len(analysed[bucket])
        share = len(hashtags) / n_analysed
        if n_analysed < 2:
            scope = SCOPE_SINGLE
        elif share >= UNIVERSAL_SHARE:
            scope = SCOPE_UNIVERSAL
        else:
            scope = SCOPE_SPECIFIC
        best = group.sort_values(["_rank", "_q", "_lift"], ascending=[True, True, False], kind="stable").iloc[0]
        lifts = group["_lift"].dropna()
        out.append(
            {
                "duration_bucket": bucket,
                "feature": feature,
                "level": level,
                "direction": direction,
                "hashtags_claimed": len(hashtags),
                "hashtags_analysed": n_analysed,
                "share": float(share),
                "scope": scope,
                "hashtags": ", ".join(hashtags),
                "best_evidence": str(best["evidence"]),
                "median_lift": float(lifts.median()) if len(lifts) else float("nan"),
                "sentence": str(best.get("sentence", "") or ""),
            }
        )
    table = pd.DataFrame(out, columns=list(CROSS_COLUMNS))
    table = table.assign(
        _b=table["duration_bucket"].map(_bucket_order), _s=table["scope"].map(_SCOPE_RANK)
    ).sort_values(["_b", "_s", "hashtags_claimed", "feature"], ascending=[True, True, False, True], kind="stable")
    return table.drop(columns=["_b", "_s"]).reset_index(drop=True)


def engagement_matrix(videos: Keyed) -> pd.DataFrame:
    """Median engagement rate: one row per hashtag, one column per duration bucket (NaN: no videos)."""
    hashtags = _hashtag_order(videos.keys())
    buckets = sorted({b for _, b in videos}, key=_bucket_order)
    matrix = pd.DataFrame(np.nan, index=pd.Index(hashtags, name="hashtag"), columns=buckets, dtype=float)
    for (hashtag, bucket), rows in videos.items():
        if rows is None or rows.empty or "engagement_rate" not in rows:
            continue
        er = pd.to_numeric(rows["engagement_rate"], errors="coerce").dropna()
        if len(er):
            matrix.loc[hashtag, bucket] = float(er.median())
    matrix.columns.name = "duration_bucket"
    return matrix


def performance_summary(videos: Keyed) -> pd.DataFrame:
    """Per bucket: how differently the client's hashtags perform (median engagement rate per hashtag)."""
    matrix = engagement_matrix(videos)
    counts: dict[str, int] = {}
    for (_, bucket), rows in videos.items():
        counts[bucket] = counts.get(bucket, 0) + (0 if rows is None else len(rows))
    out = []
    for bucket in matrix.columns:
        medians = matrix[bucket].dropna()
        if medians.empty:
            continue
        positive = medians[medians > 0]
        variance = float(np.var(np.log(positive.to_numpy()), ddof=1)) if len(positive) >= 2 else float("nan")
        best, worst = medians.idxmax(), medians.idxmin()
        ratio = float(medians[best] / medians[worst]) if medians[worst] > 0 else float("nan")
        out.append(
            {
                "duration_bucket": bucket,
                "hashtags": len(medians),
                "videos": counts.get(bucket, 0),
                "median_er_by_hashtag": ", ".join(f"{h}: {v:.4g}" for h, v in medians.items()),
                "log_er_variance": variance,
                "best_hashtag": str(best),
                "best_median_er": float(medians[best]),
                "worst_hashtag": str(worst),
                "worst_median_er": float(medians[worst]),
                "best_worst_ratio": ratio,
            }
        )
    return pd.DataFrame(out, columns=list(PERFORMANCE_COLUMNS))


def heatmap_png(matrix: pd.DataFrame, *, title: str = "median engagement rate") -> bytes:
    """Hashtag × bucket heatmap of :func:`engagement_matrix`, each cell annotated (``–``: no data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = matrix.to_numpy(dtype=float) if matrix.size else np.full((1, 1), np.nan)
    rows = [str(i) for i in matrix.index] or [""]
    cols = [str(c) for c in matrix.columns] or [""]
    fig, ax = plt.subplots(figsize=(1.3 * len(cols) + 2.0, 0.55 * len(rows) + 1.4))
    masked = np.ma.masked_invalid(values)
    image = ax.imshow(masked, cmap="viridis", aspect="auto")
    finite = values[np.isfinite(values)]
    middle = float((finite.min() + finite.max()) / 2) if finite.size else 0.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            text = "–" if not math.isfinite(v) else f"{v:.2%}"
            colour = "white" if math.isfinite(v) and v < middle else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(cols)), cols, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_title(title, fontsize=9)
    if finite.size:
        fig.colorbar(image, ax=ax, fraction=0.05)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
