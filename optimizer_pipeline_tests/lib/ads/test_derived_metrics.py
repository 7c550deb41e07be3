"""Derived ratios: the usual definitions, null (never inf/NaN, never a warning) when the denominator is 0 or null."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.ads.derived_metrics import (
    DERIVED_METRICS,
    DerivedMetricsError,
    add_derived_metrics,
    safe_ratio,
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "impressions": pd.array([10_000, 0, 500, None], dtype="Int64"),
            "clicks": pd.array([200, 0, 0, 4], dtype="Int64"),
            "spend": pd.array([50.0, 0.0, 3.0, 2.0], dtype="Float64"),
            "conversions": pd.array([8, 0, 1, 0], dtype="Int64"),
            "revenue": pd.array([400.0, 0.0, None, 9.0], dtype="Float64"),
        }
    )


def test_hand_computed_values_and_nulls() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any divide-by-zero / invalid-value warning fails the test
        out = add_derived_metrics(_frame())
    first = out.iloc[0]
    assert first["ctr"] == pytest.approx(0.02)
    assert first["cpm"] == pytest.approx(5.0)
    assert first["cpc"] == pytest.approx(0.25)
    assert first["cpa"] == pytest.approx(6.25)
    assert first["roas"] == pytest.approx(8.0)
    assert first["cvr"] == pytest.approx(0.04)
    for metric in DERIVED_METRICS:
        assert out[metric].dtype == "Float64"
        assert pd.isna(out.loc[1, metric])  # every denominator is 0
    third = out.iloc[2]
    assert pd.isna(third["cpc"]) and pd.isna(third["cvr"]) and pd.isna(third["roas"])  # 0 clicks, unknown revenue
    assert third["cpa"] == pytest.approx(3.0) and third["ctr"] == 0.0
    fourth = out.iloc[3]
    assert pd.isna(fourth["ctr"]) and pd.isna(fourth["cpm"]) and pd.isna(fourth["cpa"])  # null impressions, 0 conv
    assert fourth["roas"] == pytest.approx(4.5) and fourth["cvr"] == 0.0
    assert not np.isinf(out[list(DERIVED_METRICS)].astype(float).to_numpy()).any()


def test_matches_numpy_where_the_denominator_is_positive() -> None:
    rng = np.random.default_rng(7)
    num = pd.Series(rng.integers(0, 50, 2_000), dtype="Int64")
    den = pd.Series(rng.integers(0, 5, 2_000), dtype="Int64")  # many zeros
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = safe_ratio(num, den, 1000.0)
    positive = den.to_numpy(dtype=float) > 0
    expected = 1000.0 * num.to_numpy(dtype=float)[positive] / den.to_numpy(dtype=float)[positive]
    np.testing.assert_allclose(got[positive].to_numpy(dtype=float), expected, rtol=1e-12)
    assert got[~positive].isna().all() and int(got.isna().sum()) == int((~positive).sum())


def test_input_is_not_modified_and_missing_columns_are_named() -> None:
    frame = _frame()
    before = frame.copy()
    add_derived_metrics(frame)
    pd.testing.assert_frame_equal(frame, before)
    with pytest.raises(DerivedMetricsError, match=r"\['revenue'\]"):
        add_derived_metrics(frame.drop(columns="revenue"))
