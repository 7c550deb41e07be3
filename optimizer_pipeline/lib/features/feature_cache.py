"""The per-video feature cache: one JSON record per content hash and feature version, written atomically.

Layout ``cache_dir/<feature_version>/<sha[:2]>/<sha>.json`` holding ``{"sha256", "feature_version", "features"}``.
Keyed by content, not video id, so identical bytes under several ids are extracted once; a new feature version is a
new namespace. A record is only trusted when both its hash and its version match what the caller expects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optimizer_pipeline.lib.core.atomic_files import atomic_write_text


def feature_cache_path(cache_dir: Path, feature_version: str, sha256: str) -> Path:
    """Where one video's features are cached."""
    return Path(cache_dir) / feature_version / sha256[:2] / f"{sha256}.json"


def _json_default(value: Any) -> Any:
    """numpy scalars/arrays (what extractors tend to return) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def write_cached_features(path: Path, sha256: str, feature_version: str, features: dict[str, Any]) -> dict[str, Any]:
    """Checkpoint one video's features; returns them as read back from JSON (numpy values become plain ones), so a
    fresh extraction and a cache hit give identical rows. Raises ``TypeError``/``ValueError`` when not serializable."""
    record = {"sha256": sha256, "feature_version": feature_version, "features": features}
    text = json.dumps(record, default=_json_default, sort_keys=True)
    atomic_write_text(path, text)
    return json.loads(text)["features"]


def read_cached_features(path: Path, sha256: str, feature_version: str) -> dict[str, Any] | None:
    """The cached features, or ``None`` when the record is missing, unreadable or for other content or version."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = record.get("sha256") == sha256 and record.get("feature_version") == feature_version
    return record["features"] if ok and isinstance(record.get("features"), dict) else None
