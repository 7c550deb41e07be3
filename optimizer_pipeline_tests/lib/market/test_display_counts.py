"""Display-value parsers: the table of shapes scrapers really emit, and loud failures on garbage."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.market.display_counts import (
    parse_bool,
    parse_count,
    parse_count_series,
    parse_duration,
    parse_duration_series,
    parse_timestamp,
    parse_timestamp_series,
)

COUNT_CASES = [
    (0, 0),
    (1234, 1234),
    (np.int64(7), 7),
    (88.0, 88),
    ("88.0", 88),
    ("1234", 1234),
    ("1,234", 1234),
    ("1,234,567", 1234567),
    ("541.2K", 541_200),
    ("541.2k", 541_200),
    ("1.4M", 1_400_000),
    ("1.2M", 1_200_000),
    ("1M", 1_000_000),
    ("3B", 3_000_000_000),
    ("9.7M", 9_700_000),
    ("302 videos", 302),
    ("361K videos", 361_000),
    ("1.5k views", 1_500),
    (" 12 ", 12),
    ("-5", -5),
    (-3, -3),
    ("1e3", 1_000),
    (Decimal("42"), 42),
    (None, None),
    (float("nan"), None),
    (pd.NA, None),
    ("", None),
    ("  ", None),
    ("nan", None),
    ("NULL", None),
]


@pytest.mark.parametrize(("value", "expected"), COUNT_CASES)
def test_parse_count(value: object, expected: int | None) -> None:
    result = parse_count(value)
    assert result == expected
    assert result is None or type(result) is int


@pytest.mark.parametrize(
    "value", ["abc", "K", "1.5", 1.5, "12 apples", "1,23", "--1", "1.2.3", "1.2MM", True, [1], {"a": 1}, float("inf")]
)
def test_parse_count_garbage_raises(value: object) -> None:
    with pytest.raises(ValueError, match="cannot parse count"):
        parse_count(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (15, 15.0),
        (15.4, 15.4),
        ("15", 15.0),
        ("15s", 15.0),
        ("00:31", 31.0),
        ("01:05", 65.0),
        ("1:02:03", 3723.0),
        ("0:07.5", 7.5),
        ("00:00", 0.0),
        (None, None),
        ("", None),
        (float("nan"), None),
    ],
)
def test_parse_duration(value: object, expected: float | None) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["abc", "1:75", "1:2:3:4", True, "15 minutes", float("inf")])
def test_parse_duration_garbage_raises(value: object) -> None:
    with pytest.raises(ValueError, match="cannot parse duration"):
        parse_duration(value)


UTC_2020 = pd.Timestamp("2020-12-17 14:15:17", tz="UTC")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1608214517, UTC_2020),
        (1608214517.0, UTC_2020),
        ("1608214517", UTC_2020),
        ("1608214517.0", UTC_2020),
        (1608214517000, UTC_2020),  # milliseconds, told apart by magnitude
        ("1608214517000", UTC_2020),
        ("2020-12-17T14:15:17.000Z", UTC_2020),
        ("2020-12-17T14:15:17Z", UTC_2020),
        ("2020-12-17T21:15:17+07:00", UTC_2020),
        ("2020-12-17 14:15:17", UTC_2020),  # naive means UTC
        ("2020-12-17", pd.Timestamp("2020-12-17", tz="UTC")),
        (dt.datetime(2020, 12, 17, 14, 15, 17), UTC_2020),
        (dt.date(2020, 12, 17), pd.Timestamp("2020-12-17", tz="UTC")),
        (None, None),
        ("", None),
        (float("nan"), None),
    ],
)
def test_parse_timestamp(value: object, expected: pd.Timestamp | None) -> None:
    result = parse_timestamp(value)
    assert result == expected
    if result is not None:
        assert str(result.tz) == "UTC"


@pytest.mark.parametrize("value", ["garbage", "now", "today", "2020-13-45", "17/12/2020", 1e20, True])
def test_parse_timestamp_garbage_raises(value: object) -> None:
    with pytest.raises(ValueError, match="cannot parse timestamp"):
        parse_timestamp(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("True", True), ("true", True), (1, True), ("1.0", True), (False, False), ("False", False),
     (0, False), ("0", False), (0.0, False), (None, None), ("", None), ("maybe", None), (2, None)],
)  # fmt: skip
def test_parse_bool(value: object, expected: bool | None) -> None:
    assert parse_bool(value) is expected


MIXED = [1, "2", "541.2K", None, "x", -3, 2.5, True, "1,234", float("nan"), "1.4M", "302 videos", "", 7.0]


def test_count_series_matches_scalar() -> None:
    values, errors = parse_count_series(MIXED)
    assert str(values.dtype) == "Int64"
    for raw, got, err in zip(MIXED, values, errors, strict=True):
        try:
            expected = parse_count(raw)
        except ValueError as exc:
            assert err == str(exc) and got is pd.NA
        else:
            assert err is None
            assert (got is pd.NA) if expected is None else got == expected


def test_duration_series_matches_scalar() -> None:
    raw = [15, "00:31", None, "x", 2.5, "1:02:03", "", True]
    values, errors = parse_duration_series(raw)
    assert [e is not None for e in errors] == [False, False, False, True, False, False, False, True]
    assert values.iloc[:2].tolist() == [15.0, 31.0] and values.iloc[5] == 3723.0
    assert math.isnan(values.iloc[2]) and math.isnan(values.iloc[3]) and math.isnan(values.iloc[7])


def test_timestamp_series_matches_scalar() -> None:
    raw = [1608214517, "2020-12-17 14:15:17", "2020-12-17T21:15:17+07:00", None, "garbage", "1608214517.0", "now",
           1608214517000, "2020-12-17T14:15:17.000Z"]  # fmt: skip
    values, errors = parse_timestamp_series(raw)
    assert str(values.dtype) == "datetime64[us, UTC]"
    for cell, got, err in zip(raw, values, errors, strict=True):
        try:
            expected = parse_timestamp(cell)
        except ValueError as exc:
            assert err == str(exc) and got is pd.NaT
        else:
            assert err is None
            assert (got is pd.NaT) if expected is None else got == expected
    assert errors[4] is not None and errors[6] is not None
