"""Honest held-out scoring of the bucket model: grouped k-fold or grouped bootstrap, split by creator.

A creator's videos share audience, style and follower count, so every split keeps a creator on one side; the
preprocessing and the ridge penalty are fitted inside each training fold only. :func:`cv_plan` picks the scheme from
the sample size. k-fold pools the held-out predictions for R²/RMSE and averages Spearman ρ per fold (pooling ranks
across folds would mix in each fold's offset); the bootstrap averages each out-of-bag round.

Every fold (or round) also records, per regressor, the paired held-out loss difference
``weighted MSE(baseline) - weighted MSE(model)`` on its test rows: the input of the "beats the baseline" test
(:mod:`.model_comparison`). k-fold is repeated ``n_repeats`` times with different creator shuffles for that test
only: the reported metrics and permutation importances come from the first repetition, and the extra repetitions
fit the regressors without permuting (they only add folds, i.e. degrees of freedom, to the test).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import GroupKFold

from optimizer_pipeline.lib.patterns.model_data import PreparedData
from optimizer_pipeline.lib.patterns.model_estimators import (
    PREDICTIVE_MODELS,
    make_model,
    make_preprocessor,
    select_ridge_alpha,
)
from optimizer_pipeline.lib.patterns.model_importance import permutation_importance_batched
from optimizer_pipeline.lib.patterns.model_metrics import weighted_mse, weighted_scores, weighted_spearman

MIN_ROWS_5FOLD = 50
MIN_ROWS_3FOLD = 30
MIN_FOLDS = 2
BOOTSTRAP_ROUNDS = 200
#: Repetitions of the grouped k-fold for the "beats the baseline" test (the first one also gives the metrics).
CV_REPEATS = 5


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
    perm: np.ndarray  # (n_features,) mean drop in R² over repeats; NaN when the test fold is too small or unpermuted


@dataclass
class CrossValidation:
    """Held-out scores of one bucket: what the metrics table, the importances and the baseline test need."""

    scores: dict[str, dict[str, float]]  # PREDICTIVE_MODELS + "baseline" -> {"r2", "rmse", "spearman"}
    n_test: int  # rows scored (k-fold) or mean out-of-bag rows per round (bootstrap)
    perm: np.ndarray  # (folds, n_features) permutation importances of the forest
    #: per regressor, one paired loss difference per fold: weighted MSE(baseline) - weighted MSE(model)
    fold_gains: dict[str, np.ndarray] = field(default_factory=dict)
    test_train_ratio: float = 0.0  # mean held-out rows / mean (distinct) training rows, for the corrected t-test


def _fold_gains(folds: list[_Fold], data: PreparedData) -> dict[str, np.ndarray]:
    """Per regressor: weighted MSE(baseline) - weighted MSE(model) on each fold's held-out rows."""
    gains: dict[str, list[float]] = {m: [] for m in PREDICTIVE_MODELS}
    for fold in folds:
        y, w = data.y[fold.test], data.w[fold.test]
        base = weighted_mse(y, fold.preds["baseline"], w)
        for model in PREDICTIVE_MODELS:
            gains[model].append(base - weighted_mse(y, fold.preds[model], w))
    return {m: np.asarray(v, dtype=float) for m, v in gains.items()}


def repeat_seed(random_state: int, repeat: int) -> int:
    """The creator shuffle of k-fold repetition ``repeat``: repetition 0 is ``random_state`` itself (so the metrics
    are those of a plain seeded ``GroupKFold``), later ones are derived from it."""
    if repeat == 0:
        return int(random_state)
    return int(np.random.default_rng([int(random_state), repeat]).integers(np.iinfo(np.int32).max))


def _fit_fold(
    data: PreparedData, train: np.ndarray, w_train: np.ndarray, test: np.ndarray, random_state: int, perm_repeats: int
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
    if len(test) < 2 or perm_repeats < 1:  # R² needs two rows; the fold still counts for the pooled metrics
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


def evaluate_kfold(
    data: PreparedData, n_splits: int, random_state: int, perm_repeats: int, n_repeats: int = CV_REPEATS
) -> CrossValidation:
    """Grouped k-fold: R²/RMSE on the pooled held-out predictions, Spearman per fold (fold-weighted mean), all from
    the first repetition; per-fold loss differences from all ``n_repeats`` repetitions."""
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    all_folds: list[_Fold] = []
    for repeat in range(n_repeats):
        splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=repeat_seed(random_state, repeat))
        all_folds += [
            _fit_fold(data, tr, data.w[tr], te, random_state, perm_repeats if repeat == 0 else 0)
            for tr, te in splitter.split(data.X, data.y, data.groups)
        ]
    folds = all_folds[:n_splits]
    rows: dict[str, dict[str, float]] = {}
    for model in (*PREDICTIVE_MODELS, "baseline"):
        pooled = np.empty(len(data.y))
        rhos, fold_w = [], []
        for fold in folds:
            pooled[fold.test] = fold.preds[model]
            rhos.append(weighted_spearman(fold.preds[model], data.y[fold.test], data.w[fold.test]))
            fold_w.append(float(data.w[fold.test].sum()))
        r2, rmse = weighted_scores(data.y, pooled, data.w)
        rows[model] = {"r2": r2, "rmse": rmse, "spearman": float(np.average(rhos, weights=fold_w))}
    n_test = np.mean([len(f.test) for f in all_folds])
    return CrossValidation(
        scores=rows,
        n_test=len(data.y),
        perm=np.vstack([f.perm for f in folds]),
        fold_gains=_fold_gains(all_folds, data),
        test_train_ratio=float(n_test / (len(data.y) - n_test)),
    )


def evaluate_bootstrap(
    data: PreparedData, n_rounds: int, random_state: int, perm_repeats: int, notes: list[str]
) -> CrossValidation:
    """Grouped bootstrap: resample creators with replacement, score on the rows of creators never drawn.

    A creator drawn k times trains with weight ``k * sample_weight`` (the same as k copies of its rows). Metrics
    are averaged over rounds; a round with fewer than two out-of-bag rows cannot be scored and is skipped. Each
    scored round is one "fold" of the baseline test, with ``n_train`` = its distinct in-bag rows.
    """
    rng = np.random.default_rng(random_state)
    n_groups = int(data.groups.max()) + 1
    per_round: dict[str, list[tuple[float, float, float]]] = {m: [] for m in (*PREDICTIVE_MODELS, "baseline")}
    perms, folds, train_sizes, skipped = [], [], [], 0
    for _ in range(n_rounds):
        draws = np.bincount(rng.integers(0, n_groups, size=n_groups), minlength=n_groups)[data.groups]
        train, test = np.flatnonzero(draws > 0), np.flatnonzero(draws == 0)
        if len(test) < 2:
            skipped += 1
            continue
        fold = _fit_fold(data, train, data.w[train] * draws[train], test, random_state, perm_repeats)
        y_te, w_te = data.y[test], data.w[test]
        for model, pred in fold.preds.items():
            r2, rmse = weighted_scores(y_te, pred, w_te)
            per_round[model].append((r2, rmse, weighted_spearman(pred, y_te, w_te)))
        perms.append(fold.perm)
        folds.append(fold)
        train_sizes.append(len(train))
    if skipped:
        notes.append(f"{skipped} of {n_rounds} bootstrap rounds skipped: fewer than 2 out-of-bag videos")
    if not folds:
        zeros = {model: {"r2": 0.0, "rmse": 0.0, "spearman": 0.0} for model in per_round}
        empty = {m: np.zeros(0) for m in PREDICTIVE_MODELS}
        return CrossValidation(scores=zeros, n_test=0, perm=np.zeros((1, data.X.shape[1])), fold_gains=empty)
    rows = {}
    for model, values in per_round.items():
        arr = np.asarray(values)
        rows[model] = {
            "r2": float(arr[:, 0].mean()),
            "rmse": float(arr[:, 1].mean()),
            "spearman": float(arr[:, 2].mean()),
        }
    oob = float(np.mean([len(f.test) for f in folds]))
    return CrossValidation(
        scores=rows,
        n_test=round(oob),
        perm=np.vstack(perms),
        fold_gains=_fold_gains(folds, data),
        test_train_ratio=oob / float(np.mean(train_sizes)),
    )
