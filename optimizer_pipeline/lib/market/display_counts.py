"""Parse the display values scrapers emit (``"541.2K"``, ``"01:05"``, unix or ISO times) into plain numbers.

Each scalar parser returns ``None`` for a missing value (``None``, NaN, ``""``, ``"nan"``/``"null"``) and raises
``ValueError`` for anything it cannot read, so callers can turn the message into a rejection reason instead of
silently guessing. The ``*_series`` variants give identical results on a whole column: they take a fast vectorised
path for plain numbers / ISO strings and fall back to the scalar parser (once per distinct value) for the rest.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

#: Strings that mean "no value" in exported files.
MISSING_STRINGS: frozenset[str] = frozenset({"", "nan", "none", "null", "n/a", "na", "nat"})
#: Display suffixes as TikTok shows them ("541.2K", "1.4M", "3B").
SUFFIX_MULTIPLIERS: dict[str, int] = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
#: Unit words allowed after a count ("302 videos"); anything else is garbage.
_UNIT_STEMS = ("video", "view", "like", "comment", "share", "save", "follower", "fan", "play")
COUNT_UNIT_WORDS: frozenset[str] = frozenset(f"{stem}{plural}" for stem in _UNIT_STEMS for plural in ("", "s"))
#: Epoch magnitudes: below this a number is seconds, below the next one milliseconds.
MAX_EPOCH_SECONDS: float = 1e11
MAX_EPOCH_MILLISECONDS: float = 1e14

_COUNT_RE = re.compile(
    r"^(?P<num>[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[+-]?\d+)?|[+-]?\.\d+)"
    r"\s*(?P<suffix>[kmb])?(?:\s+(?P<unit>[^\W\d_]+))?$",
    re.IGNORECASE,
)
_DURATION_RE = re.compile(r"^(?:(?P<h>\d+):(?P<m2>[0-5]?\d)|(?P<m>\d+)):(?P<s>[0-5]?\d(?:\.\d+)?)$")
_SECONDS_RE = re.compile(r"^(?P<v>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*s?$", re.IGNORECASE)
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$", re.IGNORECASE)
ISO_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)


def is_missing(value: Any) -> bool:
    """True for the shapes a missing cell takes across JSON, CSV and pandas (None, NaN, NaT, pd.NA, "", "nan")."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip().lower() in MISSING_STRINGS
    return False


def parse_count(value: Any) -> int | None:
    """Whole-number count from an int, float or display string; negatives are returned for the caller to reject."""
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"cannot parse count {value!r}: a boolean is not a count")
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Decimal):
        value = str(value)
    elif isinstance(value, Real):
        number = float(value)
        if not math.isfinite(number) or not number.is_integer():
            raise ValueError(f"cannot parse count {value!r}: not a finite whole number")
        return int(number)
    if not isinstance(value, str):
        raise ValueError(f"cannot parse count {value!r}: unsupported type {type(value).__name__}")
    try:
        return _parse_count_text(value)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"cannot parse count {value!r}") from exc


def _parse_count_text(value: str) -> int:
    """The string branch of :func:`parse_count`."""
    match = _COUNT_RE.match(value.strip())
    unit = match and match.group("unit")
    if match is None or (unit and unit.lower() not in COUNT_UNIT_WORDS):
        raise ValueError(f"cannot parse count {value!r}: expected e.g. 1234, '1,234', '541.2K', '1.4M', '3B'")
    number = Decimal(match.group("num").replace(",", ""))
    suffix = match.group("suffix")
    if suffix:
        return int((number * SUFFIX_MULTIPLIERS[suffix.lower()]).to_integral_value(ROUND_HALF_UP))
    if number != number.to_integral_value():
        raise ValueError(f"cannot parse count {value!r}: not a whole number")
    return int(number)


def parse_duration(value: Any) -> float | None:
    """Duration in seconds from a number, ``"15"``, ``"15s"``, ``"MM:SS"`` or ``"HH:MM:SS"``."""
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"cannot parse duration {value!r}: a boolean is not a duration")
    if isinstance(value, Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"cannot parse duration {value!r}: not finite")
        return number
    if not isinstance(value, str):
        raise ValueError(f"cannot parse duration {value!r}: unsupported type {type(value).__name__}")
    text = value.strip()
    if match := _SECONDS_RE.match(text):
        return float(match.group("v"))
    if match := _DURATION_RE.match(text):
        hours = int(match.group("h") or 0)
        minutes = int(match.group("m2") if match.group("h") else match.group("m"))
        return hours * 3600 + minutes * 60 + float(match.group("s"))
    raise ValueError(f"cannot parse duration {value!r}: expected seconds, 'MM:SS' or 'HH:MM:SS'")


def _epoch_to_timestamp(number: float, original: Any) -> pd.Timestamp:
    """Unix seconds or milliseconds (told apart by magnitude) to a UTC timestamp in microseconds."""
    if not math.isfinite(number):
        raise ValueError(f"cannot parse timestamp {original!r}: not finite")
    if abs(number) < MAX_EPOCH_SECONDS:
        micros = round(number * 1_000_000)
    elif abs(number) < MAX_EPOCH_MILLISECONDS:
        micros = round(number * 1_000)
    else:
        raise ValueError(f"cannot parse timestamp {original!r}: too large for unix seconds or milliseconds")
    return pd.Timestamp(micros, unit="us", tz="UTC")


def parse_timestamp(value: Any) -> pd.Timestamp | None:
    """UTC timestamp from unix s/ms (number or string), ISO-8601 or ``"YYYY-MM-DD HH:MM:SS"`` (naive means UTC)."""
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"cannot parse timestamp {value!r}: a boolean is not a time")
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return pd.Timestamp(value.isoformat(), tz="UTC").as_unit("us")
    if isinstance(value, dt.datetime | np.datetime64):
        stamp = pd.Timestamp(value)
        return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).as_unit("us")
    if isinstance(value, Real):
        return _epoch_to_timestamp(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"cannot parse timestamp {value!r}: unsupported type {type(value).__name__}")
    text = value.strip()
    if _NUMBER_RE.match(text):
        return _epoch_to_timestamp(float(text), value)
    if not ISO_RE.match(text):
        raise ValueError(f"cannot parse timestamp {value!r}: expected unix seconds/ms or ISO-8601")
    try:
        stamp = pd.Timestamp(text.replace(",", "."))
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"cannot parse timestamp {value!r}: {exc}") from exc
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).as_unit("us")


def _fallback(values: pd.Series, todo: np.ndarray, parse: Callable[[Any], Any]) -> tuple[dict[int, Any], list]:
    """Apply a scalar parser to the positions in ``todo`` (once per distinct value); results and error messages."""
    cache: dict[tuple[type, Any], tuple[Any, str | None]] = {}
    results: dict[int, Any] = {}
    errors: list[str | None] = [None] * len(values)
    cells = values.tolist()
    for pos in np.flatnonzero(todo).tolist():
        raw = cells[pos]
        if raw is None:
            continue
        try:
            key = (type(raw), raw)
            hit = cache.get(key)
        except TypeError:  # unhashable (list, dict): parse directly
            key, hit = None, None
        if hit is None:
            try:
                hit = (parse(raw), None)
            except ValueError as exc:
                hit = (None, str(exc))
            if key is not None:
                cache[key] = hit
        results[pos], errors[pos] = hit
    return results, errors


def _as_object_series(values: Iterable[Any]) -> pd.Series:
    """Positional object Series (RangeIndex), whatever the input container."""
    return pd.Series(list(values), dtype=object)


def _plain_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Float values and a mask of the cells that are already plain finite numbers (booleans excluded)."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    is_bool = np.fromiter((type(v) is bool or type(v) is np.bool_ for v in values), dtype=bool, count=len(values))
    return numbers, np.isfinite(numbers) & ~is_bool


def parse_count_series(values: Iterable[Any]) -> tuple[pd.Series, list[str | None]]:
    """Vectorised :func:`parse_count`: an ``Int64`` Series (positional) and one error message (or None) per cell."""
    series = _as_object_series(values)
    numbers, plain = _plain_numbers(series)
    fast = plain & (np.mod(numbers, 1, where=plain, out=np.ones_like(numbers)) == 0) & (np.abs(numbers) < 2**53)
    results, errors = _fallback(series, ~fast, parse_count)
    ints = np.where(fast, numbers, 0).astype("int64")
    valid = fast.copy()
    for pos, value in results.items():
        if value is not None and abs(value) >= 2**63:
            errors[pos] = f"cannot parse count {series.iat[pos]!r}: out of the int64 range"
        elif value is not None:
            ints[pos], valid[pos] = value, True
    return pd.Series(pd.arrays.IntegerArray(ints, ~valid)), errors


def parse_duration_series(values: Iterable[Any]) -> tuple[pd.Series, list[str | None]]:
    """Vectorised :func:`parse_duration`: a float64 Series (NaN when missing or bad) and error messages."""
    series = _as_object_series(values)
    numbers, plain = _plain_numbers(series)
    results, errors = _fallback(series, ~plain, parse_duration)
    out = np.where(plain, numbers, np.nan)
    for pos, value in results.items():
        out[pos] = np.nan if value is None else value
    return pd.Series(out, dtype="float64"), errors


def parse_timestamp_series(values: Iterable[Any]) -> tuple[pd.Series, list[str | None]]:
    """Vectorised :func:`parse_timestamp`: a ``datetime64[us, UTC]`` Series (NaT when missing or bad) and errors."""
    series = _as_object_series(values)
    numbers, plain = _plain_numbers(series)
    seconds = plain & (np.abs(numbers) < MAX_EPOCH_SECONDS)
    millis = plain & ~seconds & (np.abs(numbers) < MAX_EPOCH_MILLISECONDS)
    micros = np.where(seconds, numbers * 1e6, np.where(millis, numbers * 1e3, 0.0))
    out = pd.Series(pd.to_datetime(np.round(micros).astype("int64"), unit="us", utc=True)).dt.as_unit("us")
    done = seconds | millis
    is_text = np.fromiter((type(v) is str for v in series), dtype=bool, count=len(series)) & ~done
    if is_text.any():
        text = series[is_text].astype("str").str.strip()
        iso = text[text.str.fullmatch(ISO_RE)]
        parsed = pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce").dt.as_unit("us")
        parsed = parsed[parsed.notna()]
        out.iloc[parsed.index.to_numpy()] = parsed.array
        done[parsed.index.to_numpy()] = True
    out[~done] = pd.NaT
    results, errors = _fallback(series, ~done, parse_timestamp)
    for pos, value in results.items():
        if value is not None:
            out.iat[pos] = value
    return out, errors


_TRUE_STRINGS = frozenset({"true", "1", "1.0", "yes", "y", "t"})
_FALSE_STRINGS = frozenset({"false", "0", "0.0", "no", "n", "f"})


def parse_bool(value: Any) -> bool | None:
    """Flag from ``True``/``1``/``"True"``/``"1.0"``/``"false"``...; ``None`` when missing or unrecognisable."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if type(value) is str:
        text = value.strip().lower()
        return True if text in _TRUE_STRINGS else False if text in _FALSE_STRINGS else None
    if is_missing(value):
        return None
    if isinstance(value, Real) and float(value) in (0.0, 1.0):
        return float(value) == 1.0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_STRINGS:
            return True
        if text in _FALSE_STRINGS:
            return False
    return None
