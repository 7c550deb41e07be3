"""The asset checks' pure predicates: each passes on good data and fails on planted bad data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.core.invariants import (
    accounting,
    beats_baseline,
    enough_data,
    fixed_schema,
    foreign_rows,
    no_nan,
    non_finite_cells,
    posterior_sanity,
    schema_problems,
)
from optimizer_pipeline.lib.features import feature_columns
from optimizer_pipeline.lib.features.table import table_columns
from optimizer_pipeline.lib.market.bucket_selection import STATUS_INSUFFICIENT, STATUS_OK


def test_accounting_balances_and_reports_the_gap():
    ok = accounting(10, {"accepted": 7, "rejected": 2, "duplicates": 1})
    assert ok.passed and ok.metadata["accounted"] == 10 and ok.metadata["difference"] == 0
    assert ok.reason == "read 10 = accepted 7 + rejected 2 + duplicates 1"
    lost = accounting(10, {"accepted": 7, "rejected": 2})
    assert not lost.passed and lost.metadata["difference"] == 1 and "1 item(s) unaccounted" in lost.reason
    doubled = accounting(3, {"accepted": 3, "rejected": 1})
    assert not doubled.passed and doubled.metadata["difference"] == -1


def test_foreign_rows_finds_another_clients_row_and_rows_without_a_client():
    own = pd.Series(["acme", "acme"])
    assert foreign_rows(own, ["acme"], compared="client column").passed
    assert foreign_rows(pd.Series([], dtype=object), ["acme"], compared="client column").passed
    mixed = foreign_rows(pd.Series(["acme", "globex", None]), ["acme"], compared="client column")
    assert not mixed.passed and mixed.metadata["foreign_rows"] == 2
    assert mixed.metadata["examples"] == ["(missing)", "globex"] and "client column" in mixed.reason


def test_foreign_rows_splits_list_cells():
    rows = pd.Series(["nutrition", "nutrition, mealprep"])
    assert foreign_rows(rows, ["nutrition", "mealprep"], compared="hashtags", separator=",").passed
    leaked = foreign_rows(pd.Series(["nutrition, at-rival"]), ["nutrition", "mealprep"], compared="x", separator=",")
    assert not leaked.passed and leaked.metadata["foreign_rows"] == 1


def feature_table(rows: int = 3) -> pd.DataFrame:
    """A table with the real video_features schema, every cell a finite number."""
    return pd.DataFrame({c: np.arange(rows, dtype="float64") for c in table_columns()})


def test_fixed_schema_is_the_feature_tables_schema():
    table = feature_table()
    assert fixed_schema(table, table_columns()).passed and schema_problems(table, table_columns()) == []
    dropped = pd.concat([table.drop(columns=["cuts_per_second"]), pd.DataFrame({"extra": [1, 2, 3]})], axis=1)
    verdict = fixed_schema(dropped, table_columns())
    assert not verdict.passed
    assert verdict.metadata["problems"] == ["missing column(s): cuts_per_second", "unexpected column(s): extra"]
    reordered = table[list(reversed(table.columns))]
    assert schema_problems(reordered, table_columns()) == ["columns are not in schema order"]


def test_no_nan_fails_on_a_planted_nan_and_an_infinity():
    table = feature_table()
    assert no_nan(table, feature_columns()).passed
    table.loc[1, "cuts_per_second"] = np.nan
    table.loc[2, "tempo_bpm"] = np.inf
    verdict = no_nan(table, feature_columns())
    assert not verdict.passed and verdict.metadata["nan_columns"] == {"cuts_per_second": 1, "tempo_bpm": 1}
    # a NaN outside the feature columns (a label, the author's follower count) is not a feature NaN
    ok = feature_table().assign(author_followers=np.nan, label_cost_usd=np.nan)
    assert no_nan(ok, feature_columns()).passed


def test_non_finite_cells_skips_text_and_boolean_columns():
    df = pd.DataFrame({"label": ["a", None], "flag": [True, False], "x": [1.0, np.nan]})
    assert non_finite_cells(df, ["label", "flag", "x", "absent"]) == {"x": 1}


def posteriors(alpha: list[float], beta: list[float]) -> pd.DataFrame:
    a, b = np.array(alpha), np.array(beta)
    return pd.DataFrame(
        {
            "pattern_hash": [f"p{i}" for i in range(len(a))],
            "alpha": a,
            "beta": b,
            "mean": a / (a + b),
            "ci_low": stats.beta.ppf(0.025, a, b),
            "ci_high": stats.beta.ppf(0.975, a, b),
        }
    )


def test_posterior_sanity_passes_real_posteriors_including_skewed_ones():
    good = posteriors([3.0, 40.5, 1.0], [97.0, 2000.0, 1.0])
    assert posterior_sanity(good).passed
    assert posterior_sanity(good.iloc[0:0]).passed
    # a weak prior and no data: the 95 % interval excludes the mean, legitimately
    skewed = posteriors([0.002], [1.998])
    assert skewed["mean"].iloc[0] > skewed["ci_high"].iloc[0]
    verdict = posterior_sanity(skewed)
    assert verdict.passed and verdict.metadata["skewed_rows"] == 1


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("ci_low", 0.5, "ci_low_above_mean"),  # ci_low > mean (mean 0.03)
        ("ci_high", 0.01, "mean_above_ci_high"),
        ("alpha", 0.0, "alpha_not_positive"),
        ("beta", -1.0, "beta_not_positive"),
        ("mean", 0.2, "mean_not_alpha_over_alpha_plus_beta"),
        ("ci_high", 1.5, "interval_outside_0_1"),
    ],
)
def test_posterior_sanity_fails_on_a_planted_broken_row(column, value, problem):
    table = posteriors([3.0, 5.0], [97.0, 95.0])
    table.loc[0, column] = value
    verdict = posterior_sanity(table)
    assert not verdict.passed and verdict.metadata[problem] == 1 and verdict.metadata["examples"] == ["p0"]


def metrics(r2: float, baseline_r2: float) -> pd.DataFrame:
    return pd.DataFrame(
        {"model": ["linear"], "r2": [r2], "baseline_r2": [baseline_r2], "rmse": [0.5], "baseline_rmse": [0.6]}
    )


def test_beats_baseline_warns_only_when_a_fitted_model_does_not_beat_it():
    won = beats_baseline(STATUS_OK, True, metrics(0.3, -0.01), ok_status=STATUS_OK)
    assert won.passed and won.metadata["best_model"] == "linear" and won.metadata["r2"] == 0.3
    lost = beats_baseline(STATUS_OK, False, metrics(-0.2, -0.01), ok_status=STATUS_OK)
    assert not lost.passed and lost.metadata["evaluated"] is True
    none = beats_baseline(STATUS_INSUFFICIENT, False, metrics(0, 0).iloc[0:0], ok_status=STATUS_OK)
    assert none.passed and none.metadata["evaluated"] is False


def test_enough_data_carries_the_status_text_and_counts():
    ok = enough_data(STATUS_OK, {"videos": 40}, insufficient=STATUS_INSUFFICIENT)
    assert ok.passed and ok.metadata == {"status": "ok", "videos": 40}
    thin = enough_data("insufficient data: 8 videos", {"videos": 8}, insufficient=STATUS_INSUFFICIENT)
    assert not thin.passed and thin.reason == "insufficient data: 8 videos" and thin.metadata["videos"] == 8
    assert enough_data("not analysed", {}, insufficient=STATUS_INSUFFICIENT).passed
