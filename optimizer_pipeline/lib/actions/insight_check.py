"""Is every number of a text one of the evidence's numbers? The gate an LLM-written insight must pass.

Why: DESIGN ("Speaking") lets a language model word a report but never supply a fact; a model that writes "CTR
rose 14 %" when the evidence says 12.3 % is wrong however fluent. So a text is accepted only if every number in
it is one of the evidence numbers *as it could be displayed*: written with ``d`` decimals it may differ from the
value by at most half a unit of its last digit (12 % and 12.3 % both stand for 0.1234; 13 % does not). Rules:

* A number followed by ``%`` / ``percent`` / ``pp`` is compared with 100 x each evidence value (rates and lifts are
  stored as fractions); any other number with the value itself; ``k`` / ``thousand`` and ``M`` / ``million``
  scale it (and its rounding) by 1e3 / 1e6; a trailing ``x`` / ``×`` marks a ratio (compared as it is).
* An explicit sign (``+12.3 %``, ``-4 %``) must match the value's sign; without one the magnitude is compared
  ("CPA fell 4 %" for a lift of -0.04).
* Dates and times (``2026-11-11`` or ``2026-11-11 06:00``) must be evidence dates (and times).
* Digits inside the evidence's names (experiment ids, variants, creatives, tags, feature phrases such as "first
  3 seconds") are not numbers; every other digit run is, including one glued to a word ("e7", "3rd"), which then
  has to match too. Numbers written in words ("three") are not checked: the rule is strict on digits, which is
  where a made-up statistic would sit.

A rejection names the first numbers that match nothing, so the reason recorded beside the fallback text says what
was wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["InsightCheck", "NumberToken", "check_numbers", "number_tokens"]

#: How many unmatched numbers a rejection reason lists.
SHOWN = 5
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2})(?::\d{2})?)?\b")
_NUMBER = re.compile(
    r"(?P<sign>(?<![^\s(\[:=])[+\-−])?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<unit>\s?(?:%|percent\b|pp\b|percentage points?\b|k\b|thousand\b|M\b|million\b|x\b|×))?"
)
_SCALE = {"k": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6}


@dataclass(frozen=True)
class NumberToken:
    """One number as written: its value (scale applied), the half-unit of its last digit, and how to compare it."""

    text: str
    value: float
    tolerance: float
    percent: bool
    signed: bool


@dataclass(frozen=True)
class InsightCheck:
    """``accepted`` when every number and date of the text is in the evidence; ``reason`` says why not."""

    accepted: bool
    reason: str
    numbers: int
    unmatched: tuple[str, ...] = field(default_factory=tuple)


def number_tokens(text: str, names: Iterable[str] = ()) -> list[NumberToken]:
    """The numbers of ``text`` (dates and the digits inside ``names`` left out), in order."""
    cleaned = _without_names(_DATE.sub(" ", text), names)
    out = []
    for m in _NUMBER.finditer(cleaned):
        raw = m.group("num").replace(",", "")
        unit = (m.group("unit") or "").strip()
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        scale = _SCALE.get(unit, 1.0)
        sign = m.group("sign") or ""
        value = float(raw) * scale * (-1.0 if sign in ("-", "−") else 1.0)
        out.append(
            NumberToken(
                text=m.group(0).strip(),
                value=value,
                tolerance=0.5 * 10.0**-decimals * scale,
                percent=unit in ("%", "percent", "pp") or unit.startswith("percentage point"),
                signed=bool(sign),
            )
        )
    return out


def _without_names(text: str, names: Iterable[str]) -> str:
    """``text`` with every occurrence of a name (longest first, case-insensitive) blanked out."""
    for name in sorted({n for n in names if n and any(ch.isdigit() for ch in n)}, key=len, reverse=True):
        text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
    return text


def _matches(token: NumberToken, values: Iterable[float]) -> bool:
    slack = 1e-9
    for v in values:
        target = 100.0 * v if token.percent else v
        if token.signed:
            if abs(token.value - target) <= token.tolerance + slack * max(1.0, abs(target)):
                return True
        elif abs(abs(token.value) - abs(target)) <= token.tolerance + slack * max(1.0, abs(target)):
            return True
    return False


def check_numbers(
    text: str,
    numbers: Mapping[str, float] | Iterable[float],
    *,
    names: Iterable[str] = (),
    dates: Iterable[str] = (),
) -> InsightCheck:
    """Whether every number of ``text`` is an evidence number (module docstring); ``dates``: ISO dates or
    date-times (``YYYY-MM-DD[ HH:MM]``) the text may name."""
    if not text or not text.strip():
        return InsightCheck(False, "the text is empty", 0)
    values = [float(v) for v in (numbers.values() if isinstance(numbers, Mapping) else numbers)]
    values = [v for v in values if math.isfinite(v)]
    known_dates = {d[:10] for d in dates}
    known_times = {d[:16].replace("T", " ") for d in dates if len(d) >= 16}
    unmatched: list[str] = []
    for m in _DATE.finditer(text):
        day, clock = m.group(1), m.group(2)
        if day not in known_dates or (clock and f"{day} {clock}" not in known_times):
            unmatched.append(m.group(0))
    tokens = number_tokens(text, names)
    unmatched += [t.text for t in tokens if not _matches(t, values)]
    checked = len(tokens) + len(_DATE.findall(text))
    if unmatched:
        shown = ", ".join(repr(u) for u in unmatched[:SHOWN]) + (" …" if len(unmatched) > SHOWN else "")
        return InsightCheck(
            False, f"{len(unmatched)} of {checked} numbers are not in the evidence: {shown}", checked, tuple(unmatched)
        )
    return InsightCheck(True, f"all {checked} numbers are in the evidence", checked)
