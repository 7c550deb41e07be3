"""Persist fitted estimators with provenance, and refuse to load anything that is not provably what was saved.

Layout: ``<store_root>/<key>.joblib`` (the pickled estimator dict) next to ``<store_root>/<key>.json`` (the sidecar:
sha256 of the joblib file, library versions, code version, feature names, creation time, caller extras). Keys may
hold ``/`` for sub-folders (``"glowfuel__nutrition/0-15s"``); the resolved path must stay inside ``store_root``.

Why so strict on load: unpickling executes code, so a file is only unpickled after its sha256 matches the sidecar.
That guards against corruption, half-written or swapped files and casual tampering; it is integrity, not
authenticity (whoever can rewrite both files can forge the pair: the store directory must stay writable only by the
pipeline). Pickled scikit-learn estimators are not portable across scikit-learn versions, so a version mismatch is
refused instead of risking silently different predictions; the fix is to refit.

Writes are atomic (temporary file in the target folder, fsync, ``os.replace``): the joblib file first, then the
sidecar, so a crash in between leaves a hash mismatch that load refuses, never a torn file that loads.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import scipy
import sklearn

from optimizer_pipeline.lib.core.atomic_files import atomic_output, atomic_write_text
from optimizer_pipeline.lib.core.hashing import file_sha256

FORMAT_VERSION = 1
MODEL_SUFFIX = ".joblib"
SIDECAR_SUFFIX = ".json"


class ModelStoreError(RuntimeError):
    """A model cannot be saved or loaded safely; the message says which check failed."""


def library_versions() -> dict[str, str]:
    """Versions recorded in every sidecar; scikit-learn's must match on load."""
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def _check_key(key: str) -> list[str]:
    """The key's path segments; refuses empty, absolute, ``.``/``..`` segments and characters unsafe in paths."""
    if not isinstance(key, str) or not key:
        raise ModelStoreError(f"model key must be a non-empty string, got {key!r}")
    if key.startswith("/") or "\\" in key or "\x00" in key or (len(key) > 1 and key[1] == ":"):
        raise ModelStoreError(f"model key {key!r} must be a relative path with '/' separators")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ModelStoreError(f"model key {key!r} has an empty, '.' or '..' segment: it must stay inside the store")
    return parts


def model_paths(store_root: Path, key: str) -> tuple[Path, Path]:
    """(joblib path, sidecar path) of a key, both resolved (symlinks followed) and proven to be inside the root."""
    parts = _check_key(key)
    root = Path(store_root).resolve()
    base = root.joinpath(*parts[:-1])
    paths = (base / (parts[-1] + MODEL_SUFFIX), base / (parts[-1] + SIDECAR_SUFFIX))
    resolved = tuple(p.resolve() for p in paths)
    for original, final in zip(paths, resolved, strict=True):
        if not final.is_relative_to(root):
            raise ModelStoreError(f"model key {key!r} resolves to {final}, outside the store {root} (via {original})")
    return resolved[0], resolved[1]


def _write_model(target: Path, estimators: dict[str, Any]) -> str:
    """Dump ``estimators`` atomically; returns the sha256 of the bytes as written, hashed before the rename so the
    digest is of our own file (not of whatever a concurrent writer may have renamed into place since)."""
    with atomic_output(target) as pending:
        with pending.path.open("wb") as handle:
            joblib.dump(estimators, handle, compress=3)
        digest = file_sha256(pending.path)
    return digest


def save_model(
    store_root: Path,
    key: str,
    estimators: dict[str, Any],
    *,
    feature_names: list[str],
    code_version: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``<root>/<key>.joblib`` and its sidecar atomically; returns the joblib path.

    ``extra`` (e.g. metrics, cv scheme, bucket) must be JSON-serialisable: the sidecar is read before anything is
    unpickled, so it must never need unpickling itself.
    """
    if not isinstance(estimators, dict):
        raise ModelStoreError(f"estimators must be a dict, got {type(estimators).__name__}")
    if not isinstance(code_version, str) or not code_version:
        raise ModelStoreError("code_version must be a non-empty string")
    model_path, sidecar_path = model_paths(store_root, key)
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "key": key,
        "file": model_path.name,
        "code_version": code_version,
        "feature_names": [str(f) for f in feature_names],
        "estimators": {name: type(est).__name__ for name, est in estimators.items()},
        "versions": library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extra": extra or {},
    }
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelStoreError(f"sidecar metadata for {key!r} is not plain JSON ({exc}); convert extra first") from exc
    model_path.parent.mkdir(parents=True, exist_ok=True)
    if model_paths(store_root, key)[0] != model_path:  # a folder swapped for a symlink meanwhile
        raise ModelStoreError(f"model key {key!r} changed location while saving: refusing to write")
    meta["sha256"] = _write_model(model_path, estimators)
    meta["size_bytes"] = model_path.stat().st_size
    sidecar = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False)
    atomic_write_text(sidecar_path, sidecar)
    return model_path


def read_metadata(store_root: Path, key: str) -> dict[str, Any]:
    """The sidecar of a key (no unpickling); raises ``ModelStoreError`` when it is missing or not valid JSON."""
    _, sidecar_path = model_paths(store_root, key)
    if not sidecar_path.is_file():
        raise ModelStoreError(f"model {key!r} has no sidecar {sidecar_path.name}: refusing to load an unverified file")
    try:
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelStoreError(f"sidecar of model {key!r} is unreadable ({exc})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
        raise ModelStoreError(f"sidecar of model {key!r} has no sha256: refusing to load an unverified file")
    return meta


def load_model(store_root: Path, key: str, *, code_version: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(estimators, metadata) after every check passes; each refusal is a ``ModelStoreError`` naming the check.

    Checks, before anything is unpickled: path inside the root, sidecar present and for this key, file present,
    sha256 equal, scikit-learn version equal, and ``code_version`` equal when the caller gives one.
    """
    model_path, _ = model_paths(store_root, key)
    meta = read_metadata(store_root, key)
    if meta.get("key") != key:
        raise ModelStoreError(f"sidecar of model {key!r} belongs to key {meta.get('key')!r}: files were moved or mixed")
    if not model_path.is_file():
        raise ModelStoreError(f"model {key!r} has a sidecar but no {model_path.name}")
    actual = file_sha256(model_path)
    if actual != meta["sha256"]:
        raise ModelStoreError(
            f"model {key!r} failed its integrity check: sha256 {actual} != {meta['sha256']} recorded at save; "
            "the file was modified or is incomplete, and it is not unpickled (unpickling runs code)"
        )
    saved_sklearn = str(meta.get("versions", {}).get("sklearn"))
    if saved_sklearn != sklearn.__version__:
        raise ModelStoreError(
            f"model {key!r} was saved with scikit-learn {saved_sklearn}, this process runs scikit-learn "
            f"{sklearn.__version__}: pickled estimators are not portable across versions, refit the model"
        )
    if code_version is not None and meta.get("code_version") != code_version:
        raise ModelStoreError(
            f"model {key!r} was fitted by code version {meta.get('code_version')!r}, "
            f"expected {code_version!r}: refit it"
        )
    estimators = joblib.load(model_path)
    if not isinstance(estimators, dict):
        raise ModelStoreError(f"model {key!r} holds a {type(estimators).__name__}, not an estimator dict")
    return estimators, meta
