"""Per-duration-bucket engagement model: the seed's four-method ensemble, scored honestly (pure logic, no Dagster).

What it answers: within one duration bucket, which numeric features go with a higher or lower engagement rate, and
how much better than "predict the average" a model does on creators it has never seen.

* **Target** is ``log(engagement rate)``: rates are right-skewed and roughly log-normal (a few videos engage 10x
  the median), so on the log scale a squared error is a relative error and one viral video cannot dominate the fit.
* **Ensemble** (the seed's): a random forest, a decision tree, a ridge regression and KMeans(5). The three
  regressors are scored; all four vote for drivers.
* **Honest scoring**: every split is by creator (``groups``). A creator's videos share audience, style and follower
  count, so a random split lets a model recognise the creator instead of learning the feature effect (the test suite
  measures the inflation). Preprocessing (median imputation + ``RobustScaler``) is fitted inside each training fold
  only. The CV scheme adapts to the sample size (:func:`cv_plan`); under :data:`MIN_ROWS_MODEL` videos or
  :data:`MIN_GROUPS` creators no model is fitted and the result says why.
* **Weights** (celebrity videos 0.5, else 1) enter every fit and every metric.
* **Metrics** per regressor, each next to a mean-predictor baseline computed in the same folds (it predicts the
  weighted training-fold mean): R² and RMSE pooled over the held-out predictions of all folds (k-fold) or averaged
  over rounds (bootstrap); Spearman ρ is computed within each test fold and averaged (weighted by fold weight),
  because pooling ranks across folds mixes in each fold's offset: a constant predictor would get a spurious
  non-zero ρ from the training-fold means alone. ``r2_gain = r2 - baseline_r2`` (a difference);
  ``rmse_gain = 1 - rmse / baseline_rmse`` (the relative RMSE reduction; > 0 means better than the baseline).
* **Drivers** (the seed's voting): random-forest impurity importance, decision-tree importance (non-zero only),
  ridge ``|coef|`` on the scaled features and KMeans separation each vote for their ``top_k`` features; two votes
  or more make a driver. ``direction`` is the sign of the (weighted) Spearman correlation with the target.
  The votes are in-sample and are fooled by features that merely identify creators; so is held-out permutation
  importance, which measures how much the fitted forest *relies* on a feature, not whether it helps. Read both only
  when ``beats_baseline`` is true (some regressor beats the mean predictor on held-out creators); otherwise no
  feature is a driver (``is_driver`` false, ``votes`` kept) and ``notes`` says why.

Deterministic for a given ``random_state`` (every estimator is single-threaded and seeded).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score, silhouette_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import check_random_state

from optimizer_pipeline.lib.market.bucket_selection import STATUS_INSUFFICIENT, STATUS_OK

MIN_ROWS_MODEL = 20
#: Fewer creators than this and "held-out creators" means one or two people: no model.
MIN_GROUPS = 5
MIN_ROWS_5FOLD = 50
MIN_ROWS_3FOLD = 30
MIN_FOLDS = 2
BOOTSTRAP_ROUNDS = 200
PERM_REPEATS = 5
N_CLUSTERS = 5
MIN_VOTES_DRIVER = 2
#: Ridge penalties tried by the inner grouped CV (on RobustScaler-scaled features); the top end is ~ "predict mean".
RIDGE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 5, 15))
#: Used when the training rows hold fewer than two creators, so no inner grouped split exists.
DEFAULT_RIDGE_ALPHA = 10.0
INNER_FOLDS = 3
#: Cap on cells of one batched permutation-importance predict call (memory bound, ~16 MB of float64).
PERM_MAX_CELLS = 2_000_000
TARGET = "log(engagement rate)"

PREDICTIVE_MODELS: tuple[str, ...] = ("random_forest", "decision_tree", "linear")
ESTIMATOR_KEYS: tuple[str, ...] = ("scaler", "random_forest", "decision_tree", "linear", "kmeans")
METRIC_COLUMNS: list[str] = [
    "model",
    "r2",
    "rmse",
    "spearman",
    "baseline_r2",
    "baseline_rmse",
    "baseline_spearman",
    "r2_gain",
    "rmse_gain",
    "n_test",
]
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
CLUSTER_COLUMNS: list[str] = ["cluster", "size", "mean_target"]


@dataclass
class BucketModelResult:
    """Everything the bucket report and the model store need; ``status`` says whether a model exists at all."""

    status: str  # "ok" | "insufficient data"
    reason: str  # human sentence, e.g. "12 videos from 9 creators: a model needs >= 20 videos"
    n_rows: int
    n_groups: int
    cv_scheme: str  # "group 5-fold" | "group 3-fold" | "group bootstrap (200 rounds, out-of-bag)" | ""
    target: str
    metrics: pd.DataFrame  # METRIC_COLUMNS, one row per model in PREDICTIVE_MODELS
    importance: pd.DataFrame  # IMPORTANCE_COLUMNS, one row per kept feature, drivers first
    drivers: list[str]
    silhouette: float
    cluster_summary: pd.DataFrame  # CLUSTER_COLUMNS
    estimators: dict[str, Any]  # ESTIMATOR_KEYS, refit on all rows; the models take scaler-transformed input
    feature_names: list[str]  # the kept features, in the order the estimators expect them
    #: True when some regressor beats the mean predictor on held-out creators (r2_gain > 0 and rmse_gain > 0).
    #: When False no feature is named a driver: the votes describe the sample but predict nothing.
    beats_baseline: bool = False
    dropped_features: list[str] = field(default_factory=list)  # constant or all-missing columns
    notes: list[str] = field(default_factory=list)  # what was dropped, substituted or skipped, and why


def empty_metrics() -> pd.DataFrame:
    """A metrics frame with no rows but the right columns, so callers never special-case a missing model."""
    return pd.DataFrame({c: pd.Series(dtype="str" if c == "model" else "float64") for c in METRIC_COLUMNS})


def empty_importance() -> pd.DataFrame:
    """An importance frame with no rows but the right columns."""
    kinds = {"feature": "str", "direction": "str", "votes": "int64", "is_driver": "bool"}
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "float64")) for c in IMPORTANCE_COLUMNS})


def empty_clusters() -> pd.DataFrame:
    """A cluster summary with no rows but the right columns."""
    kinds = {"cluster": "int64", "size": "int64", "mean_target": "float64"}
    return pd.DataFrame({c: pd.Series(dtype=kinds[c]) for c in CLUSTER_COLUMNS})


def insufficient(
    n_rows: int,
    n_groups: int,
    reason: str,
    *,
    dropped_features: list[str] | None = None,
    notes: list[str] | None = None,
) -> BucketModelResult:
    """A well-formed "no model" result: empty frames with the right columns, so reports render it as a sentence."""
    return BucketModelResult(
        status=STATUS_INSUFFICIENT,
        reason=reason,
        n_rows=int(n_rows),
        n_groups=int(n_groups),
        cv_scheme="",
        target=TARGET,
        metrics=empty_metrics(),
        importance=empty_importance(),
        drivers=[],
        silhouette=0.0,
        cluster_summary=empty_clusters(),
        estimators={},
        feature_names=[],
        dropped_features=list(dropped_features or []),
        notes=list(notes or []),
    )


# --- building blocks ----------------------------------------------------------------------------------------------


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


def weighted_spearman(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Weighted Pearson correlation of average ranks; 0.0 when either side is constant (no ranking to agree with)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=float)
    if len(x) < 2 or w.sum() <= 0:
        return 0.0
    rx, ry = rankdata(x), rankdata(y)
    dx, dy = rx - np.average(rx, weights=w), ry - np.average(ry, weights=w)
    sxx, syy = float(np.sum(w * dx * dx)), float(np.sum(w * dy * dy))
    if sxx <= 1e-12 * max(1.0, float(np.sum(w))) or syy <= 1e-12 * max(1.0, float(np.sum(w))):
        return 0.0
    rho = float(np.sum(w * dx * dy) / np.sqrt(sxx * syy))
    return float(np.clip(rho, -1.0, 1.0)) if np.isfinite(rho) else 0.0


def _rmse(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    """Weighted root mean squared error."""
    return float(np.sqrt(mean_squared_error(y, pred, sample_weight=w)))


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


def predict_log_er(
    estimators: dict[str, Any], X: pd.DataFrame, feature_names: list[str], *, model: str = "random_forest"
) -> np.ndarray:
    """Predicted log(engagement rate) of new videos from refit estimators (e.g. loaded from the model store)."""
    missing = [f for f in feature_names if f not in X.columns]
    if missing:
        raise KeyError(f"X lacks the model's features: {', '.join(missing)}")
    values = np.column_stack([_numeric(X[f], f) for f in feature_names])
    values[~np.isfinite(values)] = np.nan
    return np.asarray(estimators[model].predict(estimators["scaler"].transform(values)), dtype=float)


# --- input preparation ------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    X: np.ndarray  # float, NaN = missing (imputed inside the folds)
    y: np.ndarray  # log(engagement rate)
    groups: np.ndarray  # int codes 0..g-1
    w: np.ndarray
    features: list[str]
    dropped: list[str]
    notes: list[str]


def _numeric(col: pd.Series, name: str) -> np.ndarray:
    """A numeric or boolean column as float64 with NaN for missing; anything else is a caller bug."""
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise TypeError(f"feature {name!r} has dtype {col.dtype}: pass numeric feature columns only")
    return col.to_numpy(dtype="float64", na_value=np.nan)


def _group_codes(groups: pd.Series) -> np.ndarray:
    """Creator ids as codes in sorted-label order (-1 = missing): the codes then split exactly as the raw labels do
    under sklearn's ``GroupKFold``, so a fold can be reproduced outside this module."""
    try:
        codes, _ = pd.factorize(groups, sort=True, use_na_sentinel=True)
    except TypeError:  # labels of mixed, unorderable types
        codes, _ = pd.factorize(groups, use_na_sentinel=True)
    return np.asarray(codes)


def _prepare(X: pd.DataFrame, y_er: pd.Series, groups: pd.Series, sample_weight: pd.Series | None) -> _Prepared:
    """Validate and align the inputs positionally; drop unusable rows and constant columns, saying so."""
    n = len(X)
    for name, other in (("y_er", y_er), ("groups", groups), ("sample_weight", sample_weight)):
        if other is not None and len(other) != n:
            raise ValueError(f"{name} has {len(other)} rows, X has {n}")
        if isinstance(other, pd.Series) and not other.index.equals(X.index):
            raise ValueError(f"{name} and X have different indexes: rows are matched by position, align them first")
    notes: list[str] = []
    names = [str(c) for c in X.columns]
    if len(set(names)) != len(names):
        raise ValueError("X has duplicate column names")
    values = (
        np.column_stack([_numeric(X.iloc[:, i], names[i]) for i in range(len(names))]) if names else np.empty((n, 0))
    )
    infinite = ~np.isfinite(values) & ~np.isnan(values)
    if infinite.any():
        cols = sorted({names[j] for j in np.flatnonzero(infinite.any(axis=0))})
        notes.append(f"{int(infinite.sum())} infinite feature values treated as missing ({', '.join(cols)})")
        values[infinite] = np.nan
    y = pd.Series(y_er).to_numpy(dtype="float64", na_value=np.nan)
    w = np.ones(n) if sample_weight is None else pd.Series(sample_weight).to_numpy(dtype="float64", na_value=np.nan)
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    codes = _group_codes(pd.Series(groups).reset_index(drop=True))
    bad_y = ~(np.isfinite(y) & (y > 0))
    keep = ~bad_y & (codes >= 0) & (w > 0)
    for count, what in (
        (int(bad_y.sum()), "engagement rate missing or <= 0 (no log)"),
        (int((~bad_y & (codes < 0)).sum()), "creator id missing"),
        (int((~bad_y & (codes >= 0) & (w <= 0)).sum()), "sample weight 0"),
    ):
        if count:
            notes.append(f"{count} rows dropped: {what}")
    values, y, w = values[keep], np.log(y[keep]), w[keep]
    codes = pd.factorize(codes[keep], sort=True)[0]
    varies = [np.unique(values[~np.isnan(values[:, j]), j]).size > 1 for j in range(values.shape[1])]
    dropped = [f for f, v in zip(names, varies, strict=True) if not v]
    if dropped:
        notes.append(f"constant or all-missing features dropped: {', '.join(dropped)}")
    kept_idx = [j for j, v in enumerate(varies) if v]
    return _Prepared(values[:, kept_idx], y, codes, w, [names[j] for j in kept_idx], dropped, notes)


# --- cross-validation ---------------------------------------------------------------------------------------------


def cv_plan(n_rows: int, n_groups: int, n_boot_rounds: int = BOOTSTRAP_ROUNDS) -> tuple[str, int]:
    """(scheme, folds): grouped 5-fold from 50 videos, 3-fold from 30, else the grouped bootstrap (folds = 0).

    Folds never outnumber creators: a plan asking for more is reduced (down to 2) and falls back to the bootstrap
    below that, and the scheme string says so.
    """
    wanted = 5 if n_rows >= MIN_ROWS_5FOLD else 3 if n_rows >= MIN_ROWS_3FOLD else 0
    bootstrap = f"group bootstrap ({n_boot_rounds} rounds, out-of-bag)"
    if wanted == 0:
        return bootstrap, 0
    if n_groups >= wanted:
        return f"group {wanted}-fold", wanted
    if n_groups >= MIN_FOLDS:
        return f"group {n_groups}-fold (reduced from {wanted}: {n_groups} creators)", n_groups
    return f"{bootstrap} (only {n_groups} creator for {wanted} folds)", 0


@dataclass
class _Fold:
    test: np.ndarray  # row indices
    preds: dict[str, np.ndarray]  # PREDICTIVE_MODELS + "baseline"
    perm: np.ndarray  # (n_features,) mean drop in R² over repeats; NaN when the test fold is too small


def _fit_fold(
    data: _Prepared, train: np.ndarray, w_train: np.ndarray, test: np.ndarray, random_state: int, perm_repeats: int
) -> _Fold:
    """Fit preprocessing and the three regressors on the training rows, predict and permute on the test rows."""
    prep = make_preprocessor().fit(data.X[train])
    x_tr, x_te = prep.transform(data.X[train]), prep.transform(data.X[test])
    y_tr = data.y[train]
    rf = make_model("random_forest", random_state=random_state).fit(x_tr, y_tr, sample_weight=w_train)
    tree = make_model("decision_tree", random_state=random_state).fit(x_tr, y_tr, sample_weight=w_train)
    alpha = select_ridge_alpha(x_tr, y_tr, w_train, data.groups[train], random_state=random_state)
    linear = make_model("linear", alpha=alpha).fit(x_tr, y_tr, sample_weight=w_train)
    base = float(np.average(y_tr, weights=w_train))
    preds = {
        "random_forest": rf.predict(x_te),
        "decision_tree": tree.predict(x_te),
        "linear": linear.predict(x_te),
        "baseline": np.full(len(test), base),
    }
    if len(test) < 2:  # R² needs two rows; the fold still counts for the pooled metrics
        return _Fold(test=test, preds=preds, perm=np.full(data.X.shape[1], np.nan))
    perm = permutation_importance_batched(
        rf,
        x_te,
        data.y[test],
        data.w[test],
        n_repeats=perm_repeats,
        random_state=random_state,
        prediction=preds["random_forest"],
    )
    return _Fold(test=test, preds=preds, perm=perm.mean(axis=1))


def _scores(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(weighted R², weighted RMSE)."""
    return float(r2_score(y, pred, sample_weight=w)), _rmse(y, pred, w)


def _metrics_frame(rows: dict[str, dict[str, float]], n_test: int) -> pd.DataFrame:
    """One row per regressor with its baseline next to it, gains derived (see the module docstring)."""
    base = rows["baseline"]
    records = []
    for model in PREDICTIVE_MODELS:
        m = rows[model]
        rmse_gain = 1.0 - m["rmse"] / base["rmse"] if base["rmse"] > 0 else 0.0
        records.append(
            {
                "model": model,
                "r2": m["r2"],
                "rmse": m["rmse"],
                "spearman": m["spearman"],
                "baseline_r2": base["r2"],
                "baseline_rmse": base["rmse"],
                "baseline_spearman": base["spearman"],
                "r2_gain": m["r2"] - base["r2"],
                "rmse_gain": rmse_gain,
                "n_test": n_test,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=METRIC_COLUMNS)
    frame["model"] = frame["model"].astype("str")
    frame["n_test"] = frame["n_test"].astype("int64")
    return frame


def _evaluate_kfold(
    data: _Prepared, n_splits: int, random_state: int, perm_repeats: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Grouped k-fold: R²/RMSE on the pooled held-out predictions, Spearman per fold (fold-weighted mean)."""
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    folds = [
        _fit_fold(data, tr, data.w[tr], te, random_state, perm_repeats)
        for tr, te in splitter.split(data.X, data.y, data.groups)
    ]
    rows: dict[str, dict[str, float]] = {}
    for model in (*PREDICTIVE_MODELS, "baseline"):
        pooled = np.empty(len(data.y))
        rhos, fold_w = [], []
        for fold in folds:
            pooled[fold.test] = fold.preds[model]
            rhos.append(weighted_spearman(fold.preds[model], data.y[fold.test], data.w[fold.test]))
            fold_w.append(float(data.w[fold.test].sum()))
        r2, rmse = _scores(data.y, pooled, data.w)
        rows[model] = {"r2": r2, "rmse": rmse, "spearman": float(np.average(rhos, weights=fold_w))}
    return _metrics_frame(rows, len(data.y)), np.vstack([f.perm for f in folds])


def _evaluate_bootstrap(
    data: _Prepared, n_rounds: int, random_state: int, perm_repeats: int, notes: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Grouped bootstrap: resample creators with replacement, score on the rows of creators never drawn.

    A creator drawn k times trains with weight ``k * sample_weight`` (the same as k copies of its rows). Metrics
    are averaged over rounds; a round with fewer than two out-of-bag rows cannot be scored and is skipped.
    """
    rng = np.random.default_rng(random_state)
    n_groups = int(data.groups.max()) + 1
    per_round: dict[str, list[tuple[float, float, float]]] = {m: [] for m in (*PREDICTIVE_MODELS, "baseline")}
    perms, oob_sizes, skipped = [], [], 0
    for _ in range(n_rounds):
        draws = np.bincount(rng.integers(0, n_groups, size=n_groups), minlength=n_groups)[data.groups]
        train, test = np.flatnonzero(draws > 0), np.flatnonzero(draws == 0)
        if len(test) < 2:
            skipped += 1
            continue
        fold = _fit_fold(data, train, data.w[train] * draws[train], test, random_state, perm_repeats)
        y_te, w_te = data.y[test], data.w[test]
        for model, pred in fold.preds.items():
            r2, rmse = _scores(y_te, pred, w_te)
            per_round[model].append((r2, rmse, weighted_spearman(pred, y_te, w_te)))
        perms.append(fold.perm)
        oob_sizes.append(len(test))
    if skipped:
        notes.append(f"{skipped} of {n_rounds} bootstrap rounds skipped: fewer than 2 out-of-bag videos")
    if not oob_sizes:
        zeros = {model: {"r2": 0.0, "rmse": 0.0, "spearman": 0.0} for model in per_round}
        return _metrics_frame(zeros, 0), np.zeros((1, data.X.shape[1]))
    rows = {}
    for model, values in per_round.items():
        arr = np.asarray(values)
        rows[model] = {
            "r2": float(arr[:, 0].mean()),
            "rmse": float(arr[:, 1].mean()),
            "spearman": float(arr[:, 2].mean()),
        }
    return _metrics_frame(rows, round(float(np.mean(oob_sizes)))), np.vstack(perms)


# --- final refit and voting ---------------------------------------------------------------------------------------


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


def _fit_final(data: _Prepared, random_state: int, notes: list[str]) -> tuple[dict[str, Any], np.ndarray, float]:
    """Refit everything on all rows: (estimators, KMeans labels, silhouette)."""
    prep = make_preprocessor().fit(data.X)
    xs = prep.transform(data.X)
    rf = make_model("random_forest", random_state=random_state).fit(xs, data.y, sample_weight=data.w)
    tree = make_model("decision_tree", random_state=random_state).fit(xs, data.y, sample_weight=data.w)
    alpha = select_ridge_alpha(xs, data.y, data.w, data.groups, random_state=random_state)
    linear = make_model("linear", alpha=alpha).fit(xs, data.y, sample_weight=data.w)
    kmeans = make_model("kmeans", random_state=random_state)
    kmeans.set_params(n_clusters=min(N_CLUSTERS, len(data.y) - 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        kmeans.fit(xs, sample_weight=data.w)
    if any(issubclass(c.category, ConvergenceWarning) for c in caught):
        notes.append("KMeans found fewer distinct clusters than requested (too few distinct feature rows)")
    labels = kmeans.labels_
    silhouette, note = silhouette_or_zero(xs, labels)
    if note:
        notes.append(note)
    estimators = {"scaler": prep, "random_forest": rf, "decision_tree": tree, "linear": linear, "kmeans": kmeans}
    return estimators, labels, silhouette


def _importance_frame(
    data: _Prepared, estimators: dict[str, Any], labels: np.ndarray, perm: np.ndarray, top_k: int
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


def _finite(frame: pd.DataFrame, what: str, notes: list[str]) -> pd.DataFrame:
    """Replace any non-finite float by 0.0 and say where: downstream tables and JSON must stay finite."""
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    bad = ~np.isfinite(frame[floats].to_numpy(dtype=float)) if floats else np.zeros((len(frame), 0), dtype=bool)
    if bad.any():
        cols = [floats[j] for j in np.flatnonzero(bad.any(axis=0))]
        notes.append(f"{int(bad.sum())} undefined {what} values reported as 0.0 ({', '.join(cols)})")
        frame = frame.copy()
        frame[floats] = frame[floats].where(np.isfinite(frame[floats].to_numpy(dtype=float)), 0.0)
    return frame


def fit_bucket_model(
    X: pd.DataFrame,
    y_er: pd.Series,
    *,
    groups: pd.Series,
    sample_weight: pd.Series | None = None,
    random_state: int = 0,
    top_k: int = 10,
    n_boot_rounds: int = BOOTSTRAP_ROUNDS,
    perm_repeats: int = PERM_REPEATS,
) -> BucketModelResult:
    """Fit and score the ensemble on one bucket; see the module docstring for the target, CV and voting rules.

    ``X`` holds numeric feature columns only (bool allowed, NaN = missing); ``y_er`` the engagement rates (> 0; the
    model works on their log); ``groups`` the creator ids; ``sample_weight`` the celebrity weights. Inputs are
    aligned by position (pandas indexes, when given, must equal ``X.index``). Rows without a positive rate, a
    creator id or a positive weight are dropped and counted in ``notes``; constant columns are dropped and listed in
    ``dropped_features``. Never raises on small or degenerate data: the result then has ``status == "insufficient
    data"`` and a reason. Raises ``TypeError``/``ValueError`` only for caller bugs (text columns, misaligned inputs,
    negative weights).
    """
    data = _prepare(X, y_er, groups, sample_weight)
    notes = list(data.notes)
    n_rows, n_groups = len(data.y), len(np.unique(data.groups))
    head = f"{n_rows} videos from {n_groups} creators"
    if n_rows < MIN_ROWS_MODEL:
        reason = f"{head}: a model needs >= {MIN_ROWS_MODEL} videos"
        return insufficient(n_rows, n_groups, reason, dropped_features=data.dropped, notes=notes)
    if n_groups < MIN_GROUPS:
        reason = f"{head}: grouped validation needs >= {MIN_GROUPS} creators"
        return insufficient(n_rows, n_groups, reason, dropped_features=data.dropped, notes=notes)
    if not data.features:
        reason = f"{head}: no feature varies (all {len(data.dropped)} columns are constant or missing)"
        return insufficient(n_rows, n_groups, reason, dropped_features=data.dropped, notes=notes)
    if top_k >= len(data.features):
        notes.append(
            f"top_k={top_k} >= {len(data.features)} features: every feature with a non-zero score gets each "
            "method's vote, so the vote does not select; rank by perm_importance_mean instead"
        )
    scheme, n_splits = cv_plan(n_rows, n_groups, n_boot_rounds)
    if n_splits:
        metrics, perm = _evaluate_kfold(data, n_splits, random_state, perm_repeats)
    else:
        metrics, perm = _evaluate_bootstrap(data, n_boot_rounds, random_state, perm_repeats, notes)
    estimators, labels, silhouette = _fit_final(data, random_state, notes)
    importance = _finite(_importance_frame(data, estimators, labels, perm, top_k), "importance", notes)
    metrics = _finite(metrics, "metric", notes)
    beats_baseline = bool(((metrics["r2_gain"] > 0) & (metrics["rmse_gain"] > 0)).any())
    if not beats_baseline:
        # The votes are in-sample: without a model that generalises they elect whatever identifies creators.
        importance["is_driver"] = False
        notes.append(
            "no model beats the mean predictor on held-out creators: no drivers are named (the in-sample votes "
            "stay in `votes`; they describe this sample, they do not predict engagement)"
        )
    clusters = np.unique(labels)
    cluster_summary = pd.DataFrame(
        {
            "cluster": clusters.astype("int64"),
            "size": np.array([(labels == c).sum() for c in clusters], dtype="int64"),
            "mean_target": [float(np.average(data.y[labels == c], weights=data.w[labels == c])) for c in clusters],
        }
    )
    return BucketModelResult(
        status=STATUS_OK,
        reason=f"{head}: {scheme}",
        n_rows=n_rows,
        n_groups=n_groups,
        cv_scheme=scheme,
        target=TARGET,
        metrics=metrics,
        importance=importance,
        drivers=importance.loc[importance["is_driver"], "feature"].tolist(),
        silhouette=silhouette,
        cluster_summary=cluster_summary,
        estimators=estimators,
        feature_names=list(data.features),
        beats_baseline=beats_baseline,
        dropped_features=list(data.dropped),
        notes=notes,
    )


def model_inputs(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """(X, engagement rate, creator, sample weight) from a ``video_features`` table: X is every numeric creative
    feature of the feature dictionary (meta columns and string labels left out)."""
    from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY

    columns = [n for n, s in FEATURE_DICTIONARY.items() if s.role in ("feature", "flag") and n in table.columns]
    x = table[columns].apply(pd.to_numeric, errors="coerce").astype(float)
    weights = (
        pd.to_numeric(table["sample_weight"], errors="coerce").fillna(1.0)
        if "sample_weight" in table
        else pd.Series(1.0, index=table.index)
    )
    return x, table["engagement_rate"].astype(float), table["author"].astype(str), weights
