"""Model store: round trip with provenance, and every refusal (tamper, escape, version, code version) before any
unpickling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import Ridge
from sklearn.preprocessing import RobustScaler

from optimizer_pipeline.lib.core.hashing import file_sha256
from optimizer_pipeline.lib.patterns import model_store
from optimizer_pipeline.lib.patterns.bucket_model import fit_bucket_model, predict_log_er
from optimizer_pipeline.lib.patterns.model_store import ModelStoreError, load_model, read_metadata, save_model

KEY = "glowfuel__nutrition/0-15s"
FEATURES = ["duration_s", "log1p_followers", "hashtag_count"]


@pytest.fixture
def estimators() -> dict:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    scaler = RobustScaler().fit(X)
    return {"scaler": scaler, "linear": Ridge(alpha=1.0).fit(scaler.transform(X), y)}


@pytest.fixture
def saved(tmp_path: Path, estimators: dict) -> Path:
    root = tmp_path / "models"
    save_model(
        root, KEY, estimators, feature_names=FEATURES, code_version="abc123", extra={"cv_scheme": "group 5-fold"}
    )
    return root


@pytest.fixture
def no_unpickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if a refused file would be unpickled anyway."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("joblib.load called on an unverified file")

    monkeypatch.setattr(model_store.joblib, "load", refuse)


def _edit_sidecar(root: Path, model_key: str, **changes: object) -> None:
    """Rewrite sidecar fields; ``a__b`` addresses ``meta["a"]["b"]``."""
    path = root / f"{model_key}.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    for name, value in changes.items():
        node = meta
        *parents, leaf = name.split("__")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    path.write_text(json.dumps(meta), encoding="utf-8")


def test_round_trip_with_provenance(tmp_path: Path, estimators: dict) -> None:
    root = tmp_path / "models"
    path = save_model(root, KEY, estimators, feature_names=FEATURES, code_version="abc123", extra={"r2": 0.12})
    assert path == (root / "glowfuel__nutrition" / "0-15s.joblib").resolve()
    assert sorted(p.name for p in path.parent.iterdir()) == ["0-15s.joblib", "0-15s.json"]  # no temp files left
    loaded, meta = load_model(root, KEY, code_version="abc123")
    X = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_array_equal(
        loaded["linear"].predict(loaded["scaler"].transform(X)),
        estimators["linear"].predict(estimators["scaler"].transform(X)),
    )
    assert meta["key"] == KEY and meta["code_version"] == "abc123" and meta["feature_names"] == FEATURES
    assert meta["versions"]["sklearn"] == sklearn.__version__
    assert set(meta["versions"]) == {"python", "sklearn", "numpy", "pandas", "scipy", "joblib"}
    assert meta["sha256"] == file_sha256(path) and meta["size_bytes"] == path.stat().st_size
    assert meta["estimators"] == {"scaler": "RobustScaler", "linear": "Ridge"}
    assert meta["extra"] == {"r2": 0.12} and meta["created_at"].endswith("+00:00")
    assert load_model(root, KEY)[1] == meta  # code_version is optional on load
    # Saving again replaces both files atomically and the pair stays consistent.
    save_model(root, KEY, estimators, feature_names=FEATURES, code_version="def456")
    assert load_model(root, KEY, code_version="def456")[1]["code_version"] == "def456"


def test_tampered_file_is_refused_before_unpickling(saved: Path, no_unpickle: None) -> None:
    path = saved / f"{KEY}.joblib"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelStoreError, match="failed its integrity check: sha256"):
        load_model(saved, KEY)


def test_swapped_file_is_refused(saved: Path, estimators: dict, no_unpickle: None) -> None:
    """A valid pickle of something else (here: a different model) is still not the file the sidecar describes."""
    other = dict(estimators, linear=Ridge(alpha=5.0))
    with open(saved / f"{KEY}.joblib", "wb") as handle:
        joblib.dump(other, handle)
    with pytest.raises(ModelStoreError, match="integrity check"):
        load_model(saved, KEY)


@pytest.mark.parametrize("key", ["../outside", "a/../../outside", "/etc/passwd", "a//b", "./a", "a\\b", "", "C:x"])
def test_path_escape_is_refused(saved: Path, estimators: dict, key: str, no_unpickle: None) -> None:
    with pytest.raises(ModelStoreError, match="model key"):
        load_model(saved, key)
    with pytest.raises(ModelStoreError, match="model key"):
        save_model(saved, key, estimators, feature_names=FEATURES, code_version="x")


def test_symlink_escape_is_refused(tmp_path: Path, saved: Path, estimators: dict, no_unpickle: None) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, saved / "evil", target_is_directory=True)
    with pytest.raises(ModelStoreError, match="outside the store"):
        save_model(saved, "evil/model", estimators, feature_names=FEATURES, code_version="x")
    assert list(outside.iterdir()) == []
    # A model whose files are symlinks to a copy outside the store is refused too, though the pair is consistent.
    for suffix in (".joblib", ".json"):
        (outside / f"model{suffix}").write_bytes((saved / f"{KEY}{suffix}").read_bytes())
        os.symlink(outside / f"model{suffix}", saved / f"linked{suffix}")
    with pytest.raises(ModelStoreError, match="outside the store"):
        load_model(saved, "linked")
    with pytest.raises(ModelStoreError, match="outside the store"):
        load_model(saved, "evil/model")


def test_missing_or_broken_sidecar_is_refused(saved: Path, no_unpickle: None) -> None:
    sidecar = saved / f"{KEY}.json"
    sidecar.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelStoreError, match="unreadable"):
        load_model(saved, KEY)
    sidecar.write_text(json.dumps({"key": KEY}), encoding="utf-8")
    with pytest.raises(ModelStoreError, match="no sha256"):
        load_model(saved, KEY)
    sidecar.unlink()
    with pytest.raises(ModelStoreError, match=r"has no sidecar 0-15s\.json"):
        load_model(saved, KEY)
    with pytest.raises(ModelStoreError, match="has no sidecar"):
        load_model(saved, "never/saved")


def test_sklearn_version_mismatch_is_refused(saved: Path, no_unpickle: None) -> None:
    _edit_sidecar(saved, KEY, versions__sklearn="1.5.2")
    with pytest.raises(ModelStoreError) as info:
        load_model(saved, KEY)
    assert f"saved with scikit-learn 1.5.2, this process runs scikit-learn {sklearn.__version__}" in str(info.value)


def test_code_version_mismatch_is_refused(saved: Path, no_unpickle: None) -> None:
    with pytest.raises(ModelStoreError, match="fitted by code version 'abc123', expected 'zzz999'"):
        load_model(saved, KEY, code_version="zzz999")


def test_sidecar_of_another_key_is_refused(saved: Path, no_unpickle: None) -> None:
    _edit_sidecar(saved, KEY, key="other/key")
    with pytest.raises(ModelStoreError, match="belongs to key 'other/key'"):
        load_model(saved, KEY)
    assert read_metadata(saved, KEY)["key"] == "other/key"


def test_save_refuses_bad_inputs(tmp_path: Path, estimators: dict) -> None:
    with pytest.raises(ModelStoreError, match="not plain JSON"):
        save_model(tmp_path, "k", estimators, feature_names=FEATURES, code_version="x", extra={"bad": object()})
    with pytest.raises(ModelStoreError, match="not plain JSON"):
        save_model(tmp_path, "k", estimators, feature_names=FEATURES, code_version="x", extra={"r2": float("nan")})
    with pytest.raises(ModelStoreError, match="code_version"):
        save_model(tmp_path, "k", estimators, feature_names=FEATURES, code_version="")
    with pytest.raises(ModelStoreError, match="must be a dict"):
        save_model(tmp_path, "k", [1], feature_names=FEATURES, code_version="x")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # nothing written on refusal


def test_fitted_bucket_model_round_trip(tmp_path: Path) -> None:
    """The estimators of a real fit survive the store and predict identically."""
    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(30, 3)), columns=FEATURES)
    y = pd.Series(np.exp(-3 + 0.5 * X["duration_s"] + rng.normal(0, 0.3, 30)))
    result = fit_bucket_model(X, y, groups=pd.Series(np.arange(30) % 10), n_boot_rounds=2)
    assert result.status == "ok"
    save_model(tmp_path, "c__h/0-15s", result.estimators, feature_names=result.feature_names, code_version="v1")
    loaded, meta = load_model(tmp_path, "c__h/0-15s", code_version="v1")
    for model in ("random_forest", "decision_tree", "linear"):
        np.testing.assert_array_equal(
            predict_log_er(loaded, X, meta["feature_names"], model=model),
            predict_log_er(result.estimators, X, result.feature_names, model=model),
        )
