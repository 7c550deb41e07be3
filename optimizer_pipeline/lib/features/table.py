"""Join a bucket's selected videos with their extracted features into the ``video_features`` table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.features import feature_columns
from optimizer_pipeline.lib.features.labels.vocabulary import LABEL_FIELDS
from optimizer_pipeline.lib.features.runner import VideoJob

#: Columns carried over from ``bucket_videos`` so models and reports need no second join.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "video_id",
    "author",
    "author_followers",
    "creator_tier",
    "views",
    "likes",
    "comments",
    "shares",
    "engagement_rate",
    "performance_tier",
    "er_rank",
    "sample_weight",
    "is_celebrity",
    "caption",
    "hashtags",
    "created_at",
    "music_original",
)
LABEL_COLUMNS: tuple[str, ...] = (
    *LABEL_FIELDS,
    "label_source",
    "label_model",
    "label_input_tokens",
    "label_output_tokens",
    "label_cost_usd",
    "label_error",
    "label_cached",
)
QUARANTINE_COLUMNS: tuple[str, ...] = ("video_id", "stage", "reason", "path")


def table_columns() -> list[str]:
    """Every column of ``video_features``, in order: context, features, labels."""
    return [*CONTEXT_COLUMNS, *feature_columns(), *LABEL_COLUMNS]


def jobs_for(selected: pd.DataFrame) -> list[VideoJob]:
    """One job per selected video whose file is available (download failures are quarantined separately)."""
    ok = selected[selected["download_status"].isin(["local", "cached", "downloaded"]) & selected["video_path"].notna()]
    return [
        VideoJob(
            video_id=str(r["video_id"]),
            path=r["video_path"],
            sha256=r.get("video_sha256") or None,
            caption=str(r.get("caption") or ""),
            hashtags=list(r.get("hashtags") if r.get("hashtags") is not None else []),
        )
        for r in ok.to_dict("records")
    ]


def build_feature_table(selected: pd.DataFrame, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Selected-video context joined with feature rows; videos without a feature row are left out."""
    columns = table_columns()
    features = pd.DataFrame(list(rows)) if rows else pd.DataFrame(columns=["video_id"])
    for col in LABEL_COLUMNS:
        if col not in features.columns:
            features[col] = None
    context = selected[list(CONTEXT_COLUMNS)].copy()
    context["video_id"] = context["video_id"].astype(str)
    features["video_id"] = features["video_id"].astype(str)
    merged = context.merge(
        features.drop(columns=[c for c in CONTEXT_COLUMNS if c != "video_id"], errors="ignore"),
        on="video_id",
        how="inner",
    )
    missing = [c for c in columns if c not in merged.columns]
    if missing:
        raise ValueError(f"feature rows lack columns {missing}")
    out = merged[columns].reset_index(drop=True)
    numeric = [c for c in feature_columns() if pd.api.types.is_numeric_dtype(out[c])]
    if numeric and not np.isfinite(out[numeric].to_numpy(dtype="float64")).all():
        raise ValueError("feature rows contain NaN or infinite values")
    return out


def quarantine_table(selected: pd.DataFrame, quarantined: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Videos without features: failed downloads and files the extractor could not use, with the reason."""
    failed_dl = selected[~selected["download_status"].isin(["local", "cached", "downloaded"])]
    records = [
        {
            "video_id": str(r["video_id"]),
            "stage": "download",
            "reason": str(r.get("download_error") or "no file"),
            "path": None,
        }
        for r in failed_dl.to_dict("records")
    ]
    records += [
        {"video_id": str(q["video_id"]), "stage": "extract", "reason": str(q.get("reason")), "path": q.get("path")}
        for q in quarantined
    ]
    return pd.DataFrame(records, columns=list(QUARANTINE_COLUMNS))
