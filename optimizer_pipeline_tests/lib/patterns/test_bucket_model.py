"""Bucket engagement model: planted signal found, grouped CV not fooled by creator identity, adaptive CV, weights,
degenerate inputs, and a real run on the shared TikTok metadata sets (figures printed under ``pytest -s``)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.inspection import permutation_importance
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupKFold, KFold, cross_val_predict
from sklearn.tree import DecisionTreeRegressor

from optimizer_pipeline.lib.market.normalize import normalize_items
from optimizer_pipeline.lib.market.replay import read_export
from optimizer_pipeline.lib.patterns import model_importance
from optimizer_pipeline.lib.patterns.bucket_model import (
    CLUSTER_COLUMNS,
    BucketModelResult,
    fit_bucket_model,
    insufficient,
    predict_log_er,
)
from optimizer_pipeline.lib.patterns.model_comparison import ALPHA
from optimizer_pipeline.lib.patterns.model_estimators import PREDICTIVE_MODELS, build_pipeline, ridge_path_predict
from optimizer_pipeline.lib.patterns.model_importance import (
    IMPORTANCE_COLUMNS,
    permutation_importance_batched,
    silhouette_or_zero,
)
from optimizer_pipeline.lib.patterns.model_metrics import METRIC_COLUMNS, weighted_spearman
from optimizer_pipeline.lib.patterns.model_validation import cv_plan
from optimizer_pipeline_tests.shared_data import shared_data

SCRAPED = pd.Timestamp("2025-06-01", tz="UTC")


def _synthetic(
    n: int, n_creators: int, n_features: int = 4, *, seed: int = 0, planted: dict[int, float] | None = None
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Features f00.., log ER = -3 + planted effects + a small creator effect + noise; creators round-robin."""
    rng = np.random.default_rng(seed)
    creator = np.arange(n) % n_creators
    X = pd.DataFrame(rng.normal(size=(n, n_features)), columns=[f"f{j:02d}" for j in range(n_features)])
    log_er = -3 + rng.normal(0, 0.2, n_creators)[creator] + rng.normal(0, 0.3, n)
    for j, beta in (planted or {0: 0.6}).items():
        log_er = log_er + beta * X.iloc[:, j].to_numpy()
    return X, pd.Series(np.exp(log_er)), pd.Series([f"creator{c}" for c in creator])


def _check_well_formed(result: BucketModelResult) -> None:
    """Contract every result satisfies, model or not."""
    assert list(result.metrics.columns) == METRIC_COLUMNS
    assert list(result.importance.columns) == IMPORTANCE_COLUMNS
    assert list(result.cluster_summary.columns) == CLUSTER_COLUMNS
    assert result.target == "log(engagement rate)"
    assert np.isfinite(result.silhouette)
    floats = result.metrics.drop(columns="model").to_numpy(dtype=float)
    assert np.isfinite(floats).all()
    assert np.isfinite(result.importance.select_dtypes("number").to_numpy(dtype=float)).all()
    if result.status == "ok":
        assert result.metrics["model"].tolist() == list(PREDICTIVE_MODELS)
        assert sorted(result.importance["feature"]) == sorted(result.feature_names)
        assert set(result.estimators) == {"scaler", "random_forest", "decision_tree", "linear", "kmeans"}
        assert result.importance["votes"].between(0, 4).all()
        elected = result.importance["votes"] >= 2
        assert (result.importance["is_driver"] == (elected & result.beats_baseline)).all()
        m = result.metrics
        assert (m["alpha"] == ALPHA).all() and (m["significant"] == (m["p_holm"] <= m["alpha"])).all()
        assert m["p_value"].between(0, 1).all() and (m["p_holm"] >= m["p_value"]).all()
        winners = m["significant"] & (m["r2_gain"] > 0) & (m["rmse_gain"] > 0)
        assert result.beats_baseline == bool(winners.any())
        assert result.baseline_test["p_holm"] == m["p_holm"].min() and result.baseline_test["alpha"] == ALPHA
        assert result.drivers == result.importance.loc[result.importance["is_driver"], "feature"].tolist()
        assert (result.metrics["baseline_spearman"] == 0.0).all()  # a constant prediction ranks nothing
        assert int(result.cluster_summary["size"].sum()) == result.n_rows


# --- planted signal and honesty ------------------------------------------------------------------------------------


def test_planted_drivers_found_with_direction() -> None:
    X, y, groups = _synthetic(120, 40, 30, seed=1, planted={0: 0.6, 1: -0.6, 2: 0.5})
    result = fit_bucket_model(X, y, groups=groups)
    _check_well_formed(result)
    assert (result.status, result.cv_scheme, result.n_rows, result.n_groups) == ("ok", "group 5-fold", 120, 40)
    imp = result.importance.set_index("feature")
    assert {"f00", "f01", "f02"} <= set(result.drivers)
    assert imp.loc[["f00", "f01", "f02"], "direction"].tolist() == ["higher", "lower", "higher"]
    null_drivers = set(result.drivers) - {"f00", "f01", "f02"}
    assert len(null_drivers) <= 10  # the seed's 4-method top-10 vote is loose: measured 8 of 27 here
    # Held-out permutation importance separates cleanly where the in-sample votes do not.
    planted_perm = imp.loc[["f00", "f01", "f02"], "perm_importance_mean"]
    assert planted_perm.min() > 5 * imp.drop(["f00", "f01", "f02"])["perm_importance_mean"].max()
    assert result.beats_baseline
    rf = result.metrics.set_index("model").loc["random_forest"]
    assert rf["r2"] > rf["baseline_r2"] + 0.3 and rf["r2_gain"] > 0.3
    assert rf["significant"] and rf["p_holm"] < 0.01 and rf["n_folds"] == 25 and rf["df"] == 24  # 5 x 5 folds
    assert rf["spearman"] > 0.5 and rf["rmse_gain"] > 0.2 and rf["n_test"] == 120
    assert result.estimators["linear"].coef_.shape == (30,)


def test_grouped_cv_is_not_fooled_by_creator_identity() -> None:
    """A per-creator constant feature + strong creator effects: random folds reward memorising the creator."""
    rng = np.random.default_rng(7)
    n_creators, per_creator = 20, 8
    creator = np.repeat(np.arange(n_creators), per_creator)
    code = rng.uniform(0, 1, n_creators)  # identifies the creator, carries no feature effect
    log_er = -3 + rng.normal(0, 1.0, n_creators)[creator] + rng.normal(0, 0.2, len(creator))
    X = pd.DataFrame({"creator_code": code[creator], "noise_a": rng.normal(size=len(creator)),
                      "noise_b": rng.normal(size=len(creator))})  # fmt: skip
    result = fit_bucket_model(X, pd.Series(np.exp(log_er)), groups=pd.Series(creator))
    _check_well_formed(result)
    grouped_r2 = float(result.metrics.set_index("model").loc["random_forest", "r2"])
    # Same Pipeline, same (unit) weights, plain random folds. (That the library's grouped figure is exactly this
    # Pipeline under GroupKFold is checked in test_sample_weights_enter_fit_and_metrics.)
    random_cv = KFold(5, shuffle=True, random_state=0)
    unit = {"model__sample_weight": np.ones(len(log_er))}
    random_r2 = r2_score(
        log_er, cross_val_predict(build_pipeline("random_forest"), X, log_er, cv=random_cv, params=unit)
    )
    print(f"\ncreator-identity leak: random 5-fold R² {random_r2:.3f} vs grouped 5-fold R² {grouped_r2:.3f}")
    assert random_r2 > 0.6  # measured 0.87: looks like a great model
    assert grouped_r2 < 0.0  # measured -1.0: worse than the mean on creators it has not seen
    assert random_r2 - grouped_r2 > 0.8
    assert not result.beats_baseline
    # The in-sample vote is fooled (the forest leans on the creator code), the held-out gate is not. Held-out
    # permutation importance is fooled too: it measures how much the fitted model relies on a feature (shuffling
    # the code scatters predictions that were at least constant within a creator), not whether the feature helps.
    imp = result.importance.set_index("feature")
    assert imp["rf_importance"].idxmax() == "creator_code" and imp.loc["creator_code", "votes"] >= 2
    assert result.drivers == [] and not imp["is_driver"].any()  # the gate: no generalising model, no drivers
    assert imp.loc["creator_code", "perm_importance_mean"] > 0.3
    assert any(note.startswith("no model beats the mean predictor") for note in result.notes)


def _noise_bucket(seed: int, signal: float = 0.0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """A bucket-sized sample: 40-49 videos from 10-20 creators, 20-30 pure-noise features, creator effect sd 0.4,
    video noise sd 0.6 on log ER; ``signal`` adds ``signal * (f00 + f01 + f02)``."""
    rng = np.random.default_rng(seed)
    n, g, p = int(rng.integers(40, 50)), int(rng.integers(10, 21)), int(rng.integers(20, 31))
    creator = np.arange(n) % g
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j:02d}" for j in range(p)])
    log_er = -3 + rng.normal(0, 0.4, g)[creator] + rng.normal(0, 0.6, n)
    log_er = log_er + signal * X[["f00", "f01", "f02"]].to_numpy().sum(axis=1)
    return X, pd.Series(np.exp(log_er)), pd.Series([f"creator{c}" for c in creator])


def test_noise_features_rarely_beat_the_baseline() -> None:
    """Truth in: no feature carries signal. The old rule (some regressor with r2_gain > 0 and rmse_gain > 0 in one
    CV) held in 4 of these 10 buckets (~30 % over 200 buckets in the calibration benchmark) and named their in-sample
    votes as drivers. The test must hold its 5 % level: <= 1 of 10 passes with probability 0.91 at a true rate of
    5 % and 0.24 at the old 25-30 %; the fuller figure (<= 0.05 over many buckets) is
    ``benchmarks/calibration_sims/beats_baseline.py``. Two k-fold repetitions keep it fast (production: 5)."""
    beats, old_rule, spurious = 0, 0, 0
    for seed in range(10):
        X, y, groups = _noise_bucket(seed)
        result = fit_bucket_model(X, y, groups=groups, random_state=seed, perm_repeats=1, cv_repeats=2)
        _check_well_formed(result)
        assert result.cv_scheme == "group 3-fold" and result.metrics["n_folds"].eq(6).all()
        beats += result.beats_baseline
        spurious += len(result.drivers)
        # The first k-fold repetition is exactly the old single CV, so its pooled gains are the old verdict.
        old_rule += bool(((result.metrics["r2_gain"] > 0) & (result.metrics["rmse_gain"] > 0)).any())
    assert old_rule >= 3  # measured 4 of 10
    assert beats <= 1 and spurious <= 12  # measured 0 and 0


def test_planted_signal_still_beats_the_baseline_at_bucket_size() -> None:
    """Truth in: three planted features (population R² of log ER ~0.6, with creator effects). Bucket size 60/20,
    5-fold x 2: each bucket significantly beats the mean (measured Holm p 5e-5 to 0.024)."""
    for seed in range(4):
        X, y, groups = _synthetic(60, 20, 25, seed=seed, planted={0: 0.35, 1: -0.35, 2: 0.3})
        result = fit_bucket_model(X, y, groups=groups, random_state=seed, perm_repeats=1, cv_repeats=2)
        _check_well_formed(result)
        assert result.beats_baseline, result.baseline_test
        assert {"f00", "f01"} <= set(result.drivers)


def test_seed_and_baseline_test_are_recorded() -> None:
    X, y, groups = _synthetic(35, 12, 4, seed=6)
    result = fit_bucket_model(X, y, groups=groups, random_state=17, perm_repeats=1, cv_repeats=3)
    _check_well_formed(result)
    assert result.random_state == 17 and result.cv_scheme == "group 3-fold"
    test = result.baseline_test
    assert set(test) == {"test", "alpha", "cv_repeats", "n_folds", "test_train_ratio", "best_model", "t_corrected",
                         "df", "p_value", "p_holm"}  # fmt: skip
    assert "Nadeau-Bengio" in test["test"] and "Holm" in test["test"]
    assert (test["cv_repeats"], test["n_folds"], test["df"]) == (3, 9, 8)
    assert test["test_train_ratio"] == pytest.approx(0.5)  # 3-fold: a third held out against two thirds
    best = result.metrics.set_index("model").loc[test["best_model"]]
    assert (test["t_corrected"], test["p_value"]) == (best["t_corrected"], best["p_value"])
    boot = fit_bucket_model(*_synthetic(25, 12, 4, seed=2)[:2], groups=_synthetic(25, 12, 4, seed=2)[2],
                            n_boot_rounds=8, random_state=5, perm_repeats=1)  # fmt: skip
    _check_well_formed(boot)
    assert boot.random_state == 5 and boot.baseline_test["cv_repeats"] == 1 and boot.baseline_test["n_folds"] <= 8
    assert 0.3 < boot.baseline_test["test_train_ratio"] < 1.0  # out-of-bag vs distinct in-bag rows (~0.37/0.63)
    with pytest.raises(ValueError, match="n_repeats"):
        fit_bucket_model(X, y, groups=groups, cv_repeats=0)
    small = fit_bucket_model(X.iloc[:10], y.iloc[:10], groups=groups.iloc[:10], random_state=9)
    assert small.status == "insufficient data" and small.random_state == 9 and small.baseline_test == {}


# --- adaptive CV and degenerate inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "n_creators", "scheme"),
    [
        (60, 6, "group 5-fold"),  # few creators: one or two per fold still works
        (35, 20, "group 3-fold"),
        (25, 12, "group bootstrap (6 rounds, out-of-bag)"),
    ],
)
def test_adaptive_cv_scheme(n: int, n_creators: int, scheme: str) -> None:
    X, y, groups = _synthetic(n, n_creators, seed=n)
    result = fit_bucket_model(X, y, groups=groups, n_boot_rounds=6)
    _check_well_formed(result)
    assert (result.status, result.cv_scheme) == ("ok", scheme)
    assert result.reason == f"{n} videos from {n_creators} creators: {scheme}"
    n_test = int(result.metrics["n_test"].iloc[0])
    assert n_test == n if "fold" in scheme else 0 < n_test < n  # bootstrap: mean out-of-bag rows per round


@pytest.mark.parametrize(
    ("n", "n_creators", "reason"),
    [
        (15, 8, "15 videos from 8 creators: a model needs >= 20 videos"),
        (60, 4, "60 videos from 4 creators: grouped validation needs >= 5 creators"),
        (0, 1, "0 videos from 0 creators: a model needs >= 20 videos"),
    ],
)
def test_insufficient_data_is_a_result_not_an_error(n: int, n_creators: int, reason: str) -> None:
    X, y, groups = _synthetic(n, n_creators, seed=3)
    result = fit_bucket_model(X, y, groups=groups)
    _check_well_formed(result)
    assert (result.status, result.reason, result.cv_scheme) == ("insufficient data", reason, "")
    assert result.metrics.empty and result.importance.empty and result.cluster_summary.empty
    assert (result.drivers, result.estimators, result.feature_names) == ([], {}, [])
    assert insufficient(3, 2, "x").metrics.columns.tolist() == METRIC_COLUMNS


def test_dominant_creator_with_single_video_folds() -> None:
    """One creator with 47 of 55 videos: folds of one video cannot be permuted or ranked, yet all stays finite."""
    X, y, _ = _synthetic(55, 1, 3, seed=8)
    groups = pd.Series(["big"] * 47 + [f"solo{i}" for i in range(8)])
    result = fit_bucket_model(X, y, groups=groups)
    _check_well_formed(result)
    assert (result.status, result.cv_scheme, result.n_groups) == ("ok", "group 5-fold", 9)
    assert result.importance["perm_importance_mean"].notna().all()


def test_cv_plan_reduces_folds_to_creators() -> None:
    assert cv_plan(60, 40) == ("group 5-fold", 5)
    assert cv_plan(50, 5) == ("group 5-fold", 5)
    assert cv_plan(49, 40) == ("group 3-fold", 3)
    assert cv_plan(29, 40, 200) == ("group bootstrap (200 rounds, out-of-bag)", 0)
    assert cv_plan(60, 3) == ("group 3-fold (reduced from 5: 3 creators)", 3)
    assert cv_plan(35, 2) == ("group 2-fold (reduced from 3: 2 creators)", 2)
    assert cv_plan(60, 1, 50) == ("group bootstrap (50 rounds, out-of-bag) (only 1 creator for 5 folds)", 0)


def test_constant_missing_and_bad_rows_are_dropped_not_fatal() -> None:
    X, y, groups = _synthetic(62, 20, 3, seed=5)
    X["const"] = 7.0
    X["all_nan"] = np.nan
    X["flag"] = pd.array([True, False] * 31, dtype="boolean")
    X.loc[[0, 1], "f01"] = [np.nan, np.inf]
    y.iloc[3], y.iloc[4] = 0.0, np.nan  # no log of 0: dropped and counted
    result = fit_bucket_model(X, y, groups=groups)
    _check_well_formed(result)
    assert result.status == "ok" and result.n_rows == 60
    assert result.dropped_features == ["const", "all_nan"]
    assert result.feature_names == ["f00", "f01", "f02", "flag"]
    assert "2 rows dropped: engagement rate missing or <= 0 (no log)" in result.notes
    assert any(note.startswith("1 infinite feature values treated as missing (f01)") for note in result.notes)
    assert any("constant or all-missing features dropped: const, all_nan" in note for note in result.notes)
    # Nothing depends on fold luck: every value is finite (checked above) and the refit models accept NaN rows.
    pred = predict_log_er(result.estimators, X, result.feature_names)
    assert pred.shape == (62,) and np.isfinite(pred).all()

    only_const = pd.DataFrame({"a": np.ones(62), "b": np.full(62, np.nan)})
    empty = fit_bucket_model(only_const, y, groups=groups)
    assert empty.status == "insufficient data"
    assert empty.reason == "60 videos from 20 creators: no feature varies (all 2 columns are constant or missing)"
    with pytest.raises(TypeError, match="'name' has dtype"):
        fit_bucket_model(X.assign(name="x"), y, groups=groups)
    with pytest.raises(ValueError, match="groups has 61 rows, X has 62"):
        fit_bucket_model(X, y, groups=groups.iloc[:61])
    with pytest.raises(ValueError, match="y_er and X have different indexes"):
        fit_bucket_model(X, y.sort_values(), groups=groups)


def test_sample_weights_enter_fit_and_metrics() -> None:
    X, y, groups = _synthetic(80, 20, 4, seed=11, planted={0: 0.5, 1: 0.3})
    weights = pd.Series(np.where(np.arange(80) % 3 == 0, 0.5, 1.0))
    unweighted = fit_bucket_model(X, y, groups=groups)
    weighted = fit_bucket_model(X, y, groups=groups, sample_weight=weights)
    _check_well_formed(weighted)
    cols = ["r2", "rmse", "spearman", "baseline_rmse"]
    assert not np.allclose(unweighted.metrics[cols].to_numpy(), weighted.metrics[cols].to_numpy())
    # Independent recomputation: the same Pipeline (preprocessing fitted inside each fold), the same grouped folds,
    # weights routed to the model's fit, weighted R² on the pooled held-out predictions.
    log_er = np.log(y.to_numpy())
    pred = cross_val_predict(build_pipeline("random_forest"), X, log_er, groups=groups,
                             cv=GroupKFold(5, shuffle=True, random_state=0),
                             params={"model__sample_weight": weights.to_numpy()})  # fmt: skip
    expected = r2_score(log_er, pred, sample_weight=weights)
    assert float(weighted.metrics.set_index("model").loc["random_forest", "r2"]) == pytest.approx(expected, abs=1e-9)
    assert r2_score(log_er, pred) != pytest.approx(expected, abs=1e-6)  # the weighting is visible in the metric


def test_deterministic_given_random_state() -> None:
    X, y, groups = _synthetic(25, 10, 4, seed=2)
    first = fit_bucket_model(X, y, groups=groups, n_boot_rounds=3, random_state=3)
    again = fit_bucket_model(X, y, groups=groups, n_boot_rounds=3, random_state=3)
    other = fit_bucket_model(X, y, groups=groups, n_boot_rounds=3, random_state=4)
    pd.testing.assert_frame_equal(first.metrics, again.metrics)
    pd.testing.assert_frame_equal(first.importance, again.importance)
    pd.testing.assert_frame_equal(first.cluster_summary, again.cluster_summary)
    assert first.silhouette == again.silhouette and first.drivers == again.drivers
    assert not first.metrics.equals(other.metrics)


# --- building blocks ----------------------------------------------------------------------------------------------


def test_weighted_spearman() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=40), rng.normal(size=40)
    assert weighted_spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    assert weighted_spearman(np.ones(40), y) == 0.0 and weighted_spearman(x[:1], y[:1]) == 0.0
    # Weight 0 removes a point exactly.
    w = np.ones(40)
    w[0] = 0.0
    assert weighted_spearman(x, y, w) != pytest.approx(weighted_spearman(x, y))


def test_ridge_path_matches_sklearn_even_with_more_features_than_rows() -> None:
    rng = np.random.default_rng(4)
    for n, p in ((50, 5), (12, 30)):
        X, y, w = rng.normal(size=(n, p)), rng.normal(size=n), rng.uniform(0.5, 1.0, n)
        X_test = rng.normal(size=(7, p))
        path = ridge_path_predict(X, y, w, X_test, np.array([0.1, 10.0]))
        for k, alpha in enumerate((0.1, 10.0)):
            ref = Ridge(alpha=alpha).fit(X, y, sample_weight=w).predict(X_test)
            np.testing.assert_allclose(path[:, k], ref, rtol=1e-7, atol=1e-9)


def test_batched_permutation_importance_equals_sklearn() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 6))
    y = X[:, 0] - 0.5 * X[:, 2] + rng.normal(0, 0.3, 40)
    w = rng.uniform(0.5, 1.0, 40)
    model = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y)
    ours = permutation_importance_batched(model, X, y, w, n_repeats=4, random_state=9)
    ref = permutation_importance(model, X, y, scoring="r2", n_repeats=4, random_state=9, sample_weight=w)
    np.testing.assert_allclose(ours, ref.importances, rtol=1e-12, atol=1e-12)


def test_silhouette_undefined_is_zero_with_a_note() -> None:
    xs = np.arange(12, dtype=float).reshape(6, 2)
    assert silhouette_or_zero(xs, np.zeros(6, dtype=int)) == (
        0.0,
        "silhouette undefined with 1 distinct clusters among 6 rows: reported as 0.0",
    )
    value, note = silhouette_or_zero(xs, np.array([0, 0, 0, 1, 1, 1]))
    assert note is None and 0 < value <= 1


def test_top_k_votes_skip_zero_scores() -> None:
    assert model_importance._top_k(np.array([0.0, 0.3, 0.3, 0.1]), 2).tolist() == [False, True, True, False]
    assert model_importance._top_k(np.array([0.0, 0.0, 0.2]), 3).tolist() == [False, False, True]


# --- real data ----------------------------------------------------------------------------------------------------


def _engagement_features(accepted: pd.DataFrame) -> pd.DataFrame:
    """The metadata features every scrape has: duration, reach, hashtags, sound, timing, caption."""
    followers = accepted["author_followers"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return pd.DataFrame(
        index=accepted.index,
        data={
            "duration_s": accepted["duration_s"].to_numpy(dtype=float),
            "log1p_followers": np.log1p(followers),
            "hashtag_count": [len(t) if isinstance(t, list) else np.nan for t in accepted["hashtags"]],
            "music_original": accepted["music_original"].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
            "post_hour_utc": accepted["created_at"].dt.hour.to_numpy(dtype=float),
            "post_weekday": accepted["created_at"].dt.day_of_week.to_numpy(dtype=float),
            "caption_length": accepted["caption"].str.len().astype("Float64").to_numpy(dtype=float, na_value=np.nan),
        },
    )


@pytest.fixture(scope="module")
def vn_accepted() -> pd.DataFrame:
    path = shared_data("tiktok_vn_2025_ie403", "raw_data.csv.gz")
    return normalize_items(read_export(path), source="replay:vn", scraped_at=SCRAPED).accepted


@pytest.fixture(scope="module")
def unpopular_accepted() -> pd.DataFrame:
    path = shared_data("tiktok_popular_vs_unpopular_2021", "unpopular_tiktoks.csv.gz")
    return normalize_items(read_export(path), source="replay:unpopular", scraped_at=SCRAPED).accepted


def _real_run(name: str, sample: pd.DataFrame, group_col: str) -> BucketModelResult:
    """Fit on a sample, check the contract, print the figures (``pytest -s``)."""
    sample = sample[sample["engagement_rate"] > 0]
    start = datetime.now(UTC)
    result = fit_bucket_model(
        _engagement_features(sample),
        sample["engagement_rate"],
        groups=sample[group_col],
        random_state=0,
        top_k=3,  # 7 features: a top-10 vote would elect every feature
    )
    seconds = (datetime.now(UTC) - start).total_seconds()
    _check_well_formed(result)
    assert result.status == "ok", result.reason
    print(f"\n{name}: {result.reason} ({seconds:.1f} s), silhouette {result.silhouette:.3f}")
    print(result.metrics.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(result.importance.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("drivers:", result.drivers, "| notes:", result.notes)
    return result


def test_real_vn_bucket_sample(vn_accepted: pd.DataFrame) -> None:
    """A bucket-sized sample: 300 videos of the VN 0-15s bucket, grouped by author."""
    bucket = vn_accepted[vn_accepted["duration_bucket"] == "0-15s"]
    result = _real_run("VN 2025, 0-15s, 300 rows", bucket.sample(300, random_state=0), "author")
    assert result.cv_scheme == "group 5-fold" and result.n_rows == 300


def test_real_vn_large_sample(vn_accepted: pd.DataFrame) -> None:
    """2,000 videos across buckets: the forest beats the mean predictor on unseen creators."""
    result = _real_run("VN 2025, all buckets, 2000 rows", vn_accepted.sample(2000, random_state=0), "author")
    rf = result.metrics.set_index("model").loc["random_forest"]
    assert rf["r2"] > rf["baseline_r2"] and rf["spearman"] > 0.1


def test_real_unpopular_bucket_sample(unpopular_accepted: pd.DataFrame) -> None:
    """Non-trending 2021 set: no author name, so creators are the (float-rounded) author ids; rounding can only
    merge creators, which keeps grouped folds conservative."""
    bucket = unpopular_accepted[unpopular_accepted["duration_bucket"] == "0-15s"]
    result = _real_run("unpopular 2021, 0-15s, 300 rows", bucket.sample(300, random_state=0), "author_id")
    assert result.cv_scheme == "group 5-fold"
