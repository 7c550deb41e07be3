"""The ensemble members of the bucket model and their preprocessing (pure logic, no Dagster).

A random forest, a decision tree, a ridge regression (penalty chosen by an inner grouped CV) and KMeans, each
single-threaded and seeded so a fit is reproducible; preprocessing is median imputation + ``RobustScaler``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler
from sklearn.tree import DecisionTreeRegressor

N_CLUSTERS = 5
#: Ridge penalties tried by the inner grouped CV (on RobustScaler-scaled features); the top end is ~ "predict mean".
RIDGE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 5, 15))
#: Used when the training rows hold fewer than two creators, so no inner grouped split exists.
DEFAULT_RIDGE_ALPHA = 10.0
INNER_FOLDS = 3

PREDICTIVE_MODELS: tuple[str, ...] = ("random_forest", "decision_tree", "linear")
ESTIMATOR_KEYS: tuple[str, ...] = ("scaler", "random_forest", "decision_tree", "linear", "kmeans")


def make_preprocessor() -> Pipeline:
    """Median imputation then ``RobustScaler``: medians/IQRs are not dragged by the heavy tails of counts.

    ``keep_empty_features`` keeps a column that is all-missing in one training fold (imputed as 0) so the column
    order never shifts between folds.
    """
    return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)), ("scale", RobustScaler())])


def make_model(name: str, *, random_state: int = 0, alpha: float = DEFAULT_RIDGE_ALPHA) -> Any:
    """An unfitted ensemble member (single-threaded, seeded) by name."""
    if name == "random_forest":
        return RandomForestRegressor(n_estimators=100, max_depth=10, n_jobs=1, random_state=random_state)
    if name == "decision_tree":
        return DecisionTreeRegressor(max_depth=8, random_state=random_state)
    if name == "linear":
        return Ridge(alpha=alpha)
    if name == "kmeans":
        return KMeans(n_clusters=N_CLUSTERS, n_init=10, random_state=random_state)
    raise KeyError(f"unknown model {name!r}; known: {', '.join((*PREDICTIVE_MODELS, 'kmeans'))}")


def build_pipeline(name: str, *, random_state: int = 0, alpha: float = DEFAULT_RIDGE_ALPHA) -> Pipeline:
    """Preprocessor + one regressor as a single sklearn Pipeline: exactly what each CV fold fits, for outside use."""
    prep = make_preprocessor()
    return Pipeline([*prep.steps, ("model", make_model(name, random_state=random_state, alpha=alpha))])


def ridge_path_predict(
    X_train: np.ndarray, y_train: np.ndarray, w_train: np.ndarray, X_test: np.ndarray, alphas: np.ndarray
) -> np.ndarray:
    """Weighted ridge predictions for every alpha from one SVD (same objective as sklearn ``Ridge``), shape
    (n_test, n_alphas). One decomposition per split makes the grouped alpha search cheap even inside 200 bootstrap
    rounds, and it is exact when features outnumber rows."""
    w = np.asarray(w_train, dtype=float)
    x_mean = np.average(X_train, axis=0, weights=w)
    y_mean = float(np.average(y_train, weights=w))
    root = np.sqrt(w)
    u, s, vt = np.linalg.svd((X_train - x_mean) * root[:, None], full_matrices=False)
    uty = u.T @ ((y_train - y_mean) * root)
    alphas = np.asarray(alphas, dtype=float)
    shrink = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # (n_alphas, rank)
    coefs = vt.T @ (shrink * uty[None, :]).T  # (n_features, n_alphas)
    return (X_test - x_mean) @ coefs + y_mean


def select_ridge_alpha(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray, *, random_state: int = 0
) -> float:
    """Ridge penalty chosen by an inner GroupKFold on the training rows only (weighted SSE, ties -> stronger).

    Why ridge (not ElasticNet): features can outnumber a bucket's videos and several are correlated (followers,
    views-derived tiers, timing); ridge keeps every feature with a shrunk, stable coefficient where the lasso part
    of ElasticNet would pick one of a correlated pair at random from fold to fold, which makes its vote noisy.
    Why grouped inner folds: sklearn's default ``RidgeCV`` uses row-level leave-one-out, which keeps a creator's other
    videos in training and so favours too little shrinkage when features identify the creator. The scaler seen here
    was fitted on the outer training rows only (unsupervised), so no held-out information enters.
    """
    unique = np.unique(groups)
    if len(unique) < 2:
        return DEFAULT_RIDGE_ALPHA
    splitter = GroupKFold(n_splits=min(INNER_FOLDS, len(unique)), shuffle=True, random_state=random_state)
    alphas = np.asarray(RIDGE_ALPHAS)
    sse = np.zeros(len(alphas))
    for tr, te in splitter.split(X, y, groups):
        pred = ridge_path_predict(X[tr], y[tr], w[tr], X[te], alphas)
        sse += np.sum(w[te][:, None] * (y[te][:, None] - pred) ** 2, axis=0)
    best_from_top = int(np.argmin(sse[::-1]))
    return float(alphas[len(alphas) - 1 - best_from_top])
