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
* **Beats the baseline** is a test, not a point estimate (:mod:`.model_comparison`): per fold, the paired
  difference of held-out weighted MSE (baseline minus model, same fold, same rows); the grouped k-fold is repeated
  ``cv_repeats`` times with different creator shuffles (bootstrap: each round is a fold); a one-sided
  Nadeau-Bengio corrected t-test (its variance accounts for the overlapping training sets) gives each regressor a
  p-value, Holm-adjusted over the three regressors. ``beats_baseline`` is true when some regressor has Holm
  p <= :data:`~.model_comparison.ALPHA` (0.05) *and* positive pooled ``r2_gain`` and ``rmse_gain``. Under
  pure-noise features (40-80 videos, 10-30 creators, 20-40 features) it was true in 0 of 48 simulated buckets,
  against 21 % for the old rule "some regressor has r2_gain > 0 and rmse_gain > 0", while three planted features
  (population R² ~0.6) were detected in 70 % (``benchmarks/calibration_sims/beats_baseline.py``). The metrics
  table carries the statistic, df, raw and Holm p and α of every regressor; ``baseline_test`` summarises them.
* **Drivers** (the seed's voting): random-forest impurity importance, decision-tree importance (non-zero only),
  ridge ``|coef|`` on the scaled features and KMeans separation each vote for their ``top_k`` features; two votes
  or more make a driver. ``direction`` is the sign of the (weighted) Spearman correlation with the target.
  The votes are in-sample and are fooled by features that merely identify creators; so is held-out permutation
  importance, which measures how much the fitted forest *relies* on a feature, not whether it helps. Read both only
  when ``beats_baseline`` is true (some regressor significantly beats the mean predictor on held-out creators); no
  feature is a driver (``is_driver`` false, ``votes`` kept) and ``notes`` says why.

Deterministic for a given ``random_state`` (every estimator is single-threaded and seeded); the seed is returned
in the result (``random_state``) so the asset can record it next to the model.

This module is the orchestration; the parts live next to it: :mod:`.model_data` (input validation),
:mod:`.model_estimators` (the ensemble members), :mod:`.model_metrics` (weighted scores against the baseline),
:mod:`.model_validation` (grouped k-fold / bootstrap), :mod:`.model_comparison` (the baseline test) and
:mod:`.model_importance` (permutation importance, votes, KMeans separation).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from optimizer_pipeline.lib.market.bucket_selection import STATUS_INSUFFICIENT, STATUS_OK
from optimizer_pipeline.lib.patterns.model_comparison import ALPHA, TEST_NAME, compare_to_baseline
from optimizer_pipeline.lib.patterns.model_data import PreparedData, numeric_column, prepare_inputs
from optimizer_pipeline.lib.patterns.model_estimators import (
    N_CLUSTERS,
    make_model,
    make_preprocessor,
    select_ridge_alpha,
)
from optimizer_pipeline.lib.patterns.model_importance import (
    PERM_REPEATS,
    empty_importance,
    importance_frame,
    silhouette_or_zero,
)
from optimizer_pipeline.lib.patterns.model_metrics import empty_metrics, metrics_frame
from optimizer_pipeline.lib.patterns.model_validation import (
    BOOTSTRAP_ROUNDS,
    CV_REPEATS,
    cv_plan,
    evaluate_bootstrap,
    evaluate_kfold,
)

MIN_ROWS_MODEL = 20
#: Fewer creators than this and "held-out creators" means one or two people: no model.
MIN_GROUPS = 5

TARGET = "log(engagement rate)"

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
    #: True when some regressor beats the mean predictor on held-out creators: Holm p <= alpha in the corrected
    #: repeated-CV t-test, and positive pooled r2_gain and rmse_gain. When False no feature is named a driver: the
    #: votes describe the sample but predict nothing.
    beats_baseline: bool = False
    #: The seed every estimator, split and permutation used (recorded in the asset metadata and the model sidecar).
    random_state: int = 0
    #: How beats_baseline was decided (JSON-able): test, alpha, folds, cv_repeats, best model, its t / p / Holm p.
    baseline_test: dict[str, Any] = field(default_factory=dict)
    dropped_features: list[str] = field(default_factory=list)  # constant or all-missing columns
    notes: list[str] = field(default_factory=list)  # what was dropped, substituted or skipped, and why


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
    random_state: int = 0,
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
        random_state=int(random_state),
        dropped_features=list(dropped_features or []),
        notes=list(notes or []),
    )


def predict_log_er(
    estimators: dict[str, Any], X: pd.DataFrame, feature_names: list[str], *, model: str = "random_forest"
) -> np.ndarray:
    """Predicted log(engagement rate) of new videos from refit estimators (e.g. loaded from the model store)."""
    missing = [f for f in feature_names if f not in X.columns]
    if missing:
        raise KeyError(f"X lacks the model's features: {', '.join(missing)}")
    values = np.column_stack([numeric_column(X[f], f) for f in feature_names])
    values[~np.isfinite(values)] = np.nan
    return np.asarray(estimators[model].predict(estimators["scaler"].transform(values)), dtype=float)


def _fit_final(data: PreparedData, random_state: int, notes: list[str]) -> tuple[dict[str, Any], np.ndarray, float]:
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


def _baseline_test_summary(metrics: pd.DataFrame, alpha: float, cv_repeats: int, ratio: float) -> dict[str, Any]:
    """The baseline test in one JSON-able dict (for metadata and the model sidecar): the regressor with the smallest
    Holm p (ties: larger t), its statistic and p-values, the level and the fold design."""
    best = metrics.sort_values(["p_holm", "t_corrected"], ascending=[True, False]).iloc[0]
    return {
        "test": TEST_NAME,
        "alpha": float(alpha),
        "cv_repeats": int(cv_repeats),
        "n_folds": int(best["n_folds"]),
        "test_train_ratio": round(float(ratio), 6),
        "best_model": str(best["model"]),
        "t_corrected": float(best["t_corrected"]),
        "df": int(best["df"]),
        "p_value": float(best["p_value"]),
        "p_holm": float(best["p_holm"]),
    }


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
    cv_repeats: int = CV_REPEATS,
    alpha: float = ALPHA,
) -> BucketModelResult:
    """Fit and score the ensemble on one bucket; see the module docstring for the target, CV and voting rules.

    ``X`` holds numeric feature columns only (bool allowed, NaN = missing); ``y_er`` the engagement rates (> 0; the
    model works on their log); ``groups`` the creator ids; ``sample_weight`` the celebrity weights. Inputs are
    aligned by position (pandas indexes, when given, must equal ``X.index``). Rows without a positive rate, a
    creator id or a positive weight are dropped and counted in ``notes``; constant columns are dropped and listed in
    ``dropped_features``. Never raises on small or degenerate data: the result then has ``status == "insufficient
    data"`` and a reason. Raises ``TypeError``/``ValueError`` only for caller bugs (text columns, misaligned inputs,
    negative weights). ``cv_repeats`` repetitions of the grouped k-fold feed the baseline test (the bootstrap
    ignores it); ``alpha`` is its one-sided family-wise level.
    """
    data = prepare_inputs(X, y_er, groups, sample_weight)
    notes = list(data.notes)
    n_rows, n_groups = len(data.y), len(np.unique(data.groups))
    head = f"{n_rows} videos from {n_groups} creators"
    if n_rows < MIN_ROWS_MODEL:
        reason = f"{head}: a model needs >= {MIN_ROWS_MODEL} videos"
        return insufficient(
            n_rows, n_groups, reason, dropped_features=data.dropped, notes=notes, random_state=random_state
        )
    if n_groups < MIN_GROUPS:
        reason = f"{head}: grouped validation needs >= {MIN_GROUPS} creators"
        return insufficient(
            n_rows, n_groups, reason, dropped_features=data.dropped, notes=notes, random_state=random_state
        )
    if not data.features:
        reason = f"{head}: no feature varies (all {len(data.dropped)} columns are constant or missing)"
        return insufficient(
            n_rows, n_groups, reason, dropped_features=data.dropped, notes=notes, random_state=random_state
        )
    if top_k >= len(data.features):
        notes.append(
            f"top_k={top_k} >= {len(data.features)} features: every feature with a non-zero score gets each "
            "method's vote, so the vote does not select; rank by perm_importance_mean instead"
        )
    scheme, n_splits = cv_plan(n_rows, n_groups, n_boot_rounds)
    if n_splits:
        cv = evaluate_kfold(data, n_splits, random_state, perm_repeats, cv_repeats)
    else:
        cv = evaluate_bootstrap(data, n_boot_rounds, random_state, perm_repeats, notes)
    comparison = compare_to_baseline(cv.fold_gains, cv.test_train_ratio, alpha=alpha)
    metrics = _finite(metrics_frame(cv.scores, cv.n_test, comparison, alpha), "metric", notes)
    estimators, labels, silhouette = _fit_final(data, random_state, notes)
    importance = _finite(importance_frame(data, estimators, labels, cv.perm, top_k), "importance", notes)
    winners = metrics["significant"] & (metrics["r2_gain"] > 0) & (metrics["rmse_gain"] > 0)
    beats_baseline = bool(winners.any())
    baseline_test = _baseline_test_summary(metrics, alpha, cv_repeats if n_splits else 1, cv.test_train_ratio)
    if not beats_baseline:
        # The votes are in-sample: without a model that generalises they elect whatever identifies creators.
        importance["is_driver"] = False
        why = (
            f"best Holm-adjusted one-sided p = {baseline_test['p_holm']:.3g} > {alpha:g}"
            if not metrics["significant"].any()
            else "the significant model's pooled gain is not positive"
        )
        notes.append(
            f"no model beats the mean predictor on held-out creators ({why}): no drivers are named (the in-sample "
            "votes stay in `votes`; they describe this sample, they do not predict engagement)"
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
        random_state=int(random_state),
        baseline_test=baseline_test,
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
