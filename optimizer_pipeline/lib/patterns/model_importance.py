"""Which features drive the bucket model: held-out permutation importance, the four-method vote, KMeans separation.

Random-forest impurity importance, decision-tree importance, ridge ``|coef|`` on the scaled features and KMeans
separation each vote for their ``top_k`` features; :data:`MIN_VOTES_DRIVER` votes or more make a driver.
``direction`` is the sign of the weighted Spearman correlation with the target. Votes are in-sample; the caller
clears ``is_driver`` when no regressor significantly beats the baseline on held-out creators (the corrected
repeated-CV t-test of :mod:`.model_comparison`): under pure noise the votes still elect ``top_k`` features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, silhouette_score
from sklearn.utils import check_random_state

from optimizer_pipeline.lib.patterns.model_data import PreparedData
from optimizer_pipeline.lib.patterns.model_metrics import weighted_spearman

PERM_REPEATS = 5
MIN_VOTES_DRIVER = 2

#: Cap on cells of one batched permutation-importance predict call (memory bound, ~16 MB of float64).
PERM_MAX_CELLS = 2_000_000

IMPORTANCE_COLUMNS: list[str] = [
    "feature",
    "rf_importance",
    "tree_importance",
    "linear_coef",
    "kmeans_separation",
    "perm_importance_mean",
    "perm_importance_std",
    "votes",
    "is_driver",
    "direction",
    "target_spearman",
]


def empty_importance() -> pd.DataFrame:
    """An importance frame with no rows but the right columns."""
    kinds = {"feature": "str", "direction": "str", "votes": "int64", "is_driver": "bool"}
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "float64")) for c in IMPORTANCE_COLUMNS})


def permutation_importance_batched(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    n_repeats: int = PERM_REPEATS,
    random_state: int = 0,
    prediction: np.ndarray | None = None,
) -> np.ndarray:
    """Permutation importances (drop in weighted R²), shape (n_features, n_repeats).

    Same permutations and scores as ``sklearn.inspection.permutation_importance(model, X, y, scoring="r2",
    sample_weight=w, random_state=random_state)``, but the permuted copies are stacked into a few large ``predict``
    calls: a random forest pays ~12 ms of overhead per call, so sklearn's one call per (feature, repeat) took 2.0 s
    per fold for 30 features on a 2-core box, against a few tens of milliseconds here. ``prediction`` (the model's
    prediction on unpermuted ``X``, when the caller already has it) saves one more call.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    rs = np.random.RandomState(seed)
    shuffling, current, perms = np.arange(n), np.arange(n), []
    for _ in range(n_repeats):  # sklearn shuffles the index in place and re-applies it to the permuted column
        rs.shuffle(shuffling)
        current = current[shuffling]
        perms.append(current.copy())
    baseline = r2_score(y, model.predict(X) if prediction is None else prediction, sample_weight=w)
    scores = np.empty((p, n_repeats))
    per_chunk = max(1, PERM_MAX_CELLS // max(1, n_repeats * n * p))
    for start in range(0, p, per_chunk):
        cols = range(start, min(p, start + per_chunk))
        blocks = []
        for j in cols:
            for perm in perms:
                block = X.copy()
                block[:, j] = X[perm, j]
                blocks.append(block)
        pred = model.predict(np.vstack(blocks)).reshape(len(cols), n_repeats, n)
        scores[start : start + len(cols)] = _r2_many(np.asarray(y, dtype=float), pred, np.asarray(w, dtype=float))
    return baseline - scores


def _r2_many(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted R² of many prediction vectors (last axis = rows) at once, with ``r2_score``'s finite convention:
    a constant target scores 1.0 when predicted exactly, else 0.0."""
    resid = np.sum(w * (y - pred) ** 2, axis=-1)
    total = float(np.sum(w * (y - np.average(y, weights=w)) ** 2))
    if total == 0.0:
        return np.where(resid == 0.0, 1.0, 0.0)
    return 1.0 - resid / total


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Vote mask: the k highest strictly positive scores (ties keep column order)."""
    order = np.argsort(-scores, kind="stable")[:k]
    votes = np.zeros(len(scores), dtype=bool)
    votes[[i for i in order if scores[i] > 0]] = True
    return votes


def _kmeans_separation(xs: np.ndarray, y: np.ndarray, w: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """|weighted mean of the best cluster (highest mean target) - mean of the other rows| / feature std."""
    clusters = np.unique(labels)
    means = [np.average(y[labels == c], weights=w[labels == c]) for c in clusters]
    best = labels == clusters[int(np.argmax(means))]
    if best.all():
        return np.zeros(xs.shape[1])
    diff = np.average(xs[best], axis=0, weights=w[best]) - np.average(xs[~best], axis=0, weights=w[~best])
    mu = np.average(xs, axis=0, weights=w)
    std = np.sqrt(np.average((xs - mu) ** 2, axis=0, weights=w))
    with np.errstate(divide="ignore", invalid="ignore"):
        sep = np.where(std > 0, np.abs(diff) / std, 0.0)
    return np.nan_to_num(sep, nan=0.0, posinf=0.0, neginf=0.0)


def silhouette_or_zero(xs: np.ndarray, labels: np.ndarray) -> tuple[float, str | None]:
    """(silhouette, note): 0.0 and a note when it is undefined (one cluster, or every row its own cluster)."""
    n_labels = len(np.unique(labels))
    value = float(silhouette_score(xs, labels)) if 2 <= n_labels <= len(labels) - 1 else float("nan")
    if np.isfinite(value):
        return value, None
    return 0.0, f"silhouette undefined with {n_labels} distinct clusters among {len(labels)} rows: reported as 0.0"


def importance_frame(
    data: PreparedData, estimators: dict[str, Any], labels: np.ndarray, perm: np.ndarray, top_k: int
) -> pd.DataFrame:
    """One row per feature: each method's score, its vote, permutation importance, direction; drivers first."""
    xs = estimators["scaler"].transform(data.X)
    rf_imp = np.asarray(estimators["random_forest"].feature_importances_, dtype=float)
    tree_imp = np.asarray(estimators["decision_tree"].feature_importances_, dtype=float)
    coef = np.asarray(estimators["linear"].coef_, dtype=float)
    sep = _kmeans_separation(xs, data.y, data.w, labels)
    scored = perm[~np.isnan(perm).any(axis=1)]  # folds too small to permute are left out
    perm_mean = scored.mean(axis=0) if len(scored) else np.zeros(perm.shape[1])
    perm_std = scored.std(axis=0) if len(scored) else np.zeros(perm.shape[1])
    votes = sum(_top_k(s, top_k).astype(int) for s in (rf_imp, tree_imp, np.abs(coef), sep))
    rho = []
    for j in range(data.X.shape[1]):
        ok = ~np.isnan(data.X[:, j])
        rho.append(weighted_spearman(data.X[ok, j], data.y[ok], data.w[ok]))
    frame = pd.DataFrame(
        {
            "feature": pd.array(data.features, dtype="str"),
            "rf_importance": rf_imp,
            "tree_importance": tree_imp,
            "linear_coef": coef,
            "kmeans_separation": sep,
            "perm_importance_mean": perm_mean,
            "perm_importance_std": perm_std,
            "votes": np.asarray(votes, dtype="int64"),
            "is_driver": np.asarray(votes) >= MIN_VOTES_DRIVER,
            "direction": pd.array(["higher" if r > 0 else "lower" if r < 0 else "none" for r in rho], dtype="str"),
            "target_spearman": np.asarray(rho, dtype=float),
        }
    )
    frame["_order"] = np.arange(len(frame))
    frame = frame.sort_values(["votes", "perm_importance_mean", "_order"], ascending=[False, False, True])
    return frame.drop(columns="_order").reset_index(drop=True)[IMPORTANCE_COLUMNS]
