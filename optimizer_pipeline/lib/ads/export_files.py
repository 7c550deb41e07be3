"""Ad platforms' CSV exports (a client's ad inbox) into canonical ``ad_performance`` rows, losing nothing.

* Every data line of a file ends up either accepted (canonical columns + ``flags``, ``source_file``, ``source_line``)
  or rejected (``source_file``, ``source_line``, ``reason``, ``raw``): read = accepted + rejected, per file.
  The header is line 1 unless a preamble precedes it (LinkedIn writes report metadata first): the header is the
  first of the first 30 records whose names cover every required field. Blank lines are not data rows.
* A file missing a required column is rejected as a whole: each data line is rejected with that one reason.
* Several files, in the order the caller gives (arrival, then name, as the inbox sensor hands them over): the same
  ``(platform, ad_id, date)`` from a later file replaces the earlier row, because platforms revise recent days; a
  later row with identical values is *not* a revision and keeps the earlier provenance, so re-dropping a file
  changes nothing at all.
* Conversions above clicks are accepted and flagged ``conversions_exceed_clicks``: view-through attribution counts
  conversions without a click (the Kaggle file has 218 such ads).
* Pipeline stages (``stages``: a service business's funnel, first touch to sale, from the registry's
  ``decisions.pipeline``): a column whose header spells a stage name (``call_booked``, "Call booked") is that stage's
  count, checked like the other counts (blank = 0; negative, fractional or unparsable rejects the row, naming the
  stage). The rows then carry one ``Int64`` column per stage, in funnel order after ``platform``, whatever the file
  holds, so the Parquet schema of a client is the same every run: a stage the file has no column for is null (not
  reported; :func:`~optimizer_pipeline.lib.actions.pipeline_value.pipeline_value` counts it 0), except the first
  stage, which is then the row's ``conversions`` (what ``pipeline_value`` falls back to when that column is absent,
  here decided row by row, so files with and without the column can be combined). A revision of a stage count alone
  is a revision. Without stages, nothing of this applies: stage-like columns are ignored as any unknown column.

Records are split by the standard ``csv`` module, which reports the physical line each record ends on (pandas'
reader does not), so line numbers stay right with quoted newlines; values are parsed column-wise with pandas.
:func:`conform_rows` is shared with the Meta Insights path, so both sources obey the same rules.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.ads.derived_metrics import DERIVED_METRICS
from optimizer_pipeline.lib.ads.export_schema import (
    AD_PERFORMANCE_COLUMNS,
    AD_PERFORMANCE_DTYPES,
    COUNT_FIELDS,
    EXTRA_FIELDS,
    FLAG_CONVERSIONS_EXCEED_CLICKS,
    HeaderMatch,
    detect_format,
    export_format,
    format_for_platform,
    is_currency_code,
    stage_fields,
)

AD_INBOX_SUFFIXES: tuple[str, ...] = (".csv",)
#: Columns an accepted row carries besides its values: not compared when a later file revises the row.
PROVENANCE_COLUMNS: tuple[str, ...] = ("flags", "source_file", "source_line")
#: Accepted rows without pipeline stages; with stages, their count columns come after ``platform``.
ACCEPTED_COLUMNS: tuple[str, ...] = (*AD_PERFORMANCE_COLUMNS, *PROVENANCE_COLUMNS)
#: Columns of the stored ``ad_performance`` table a pipeline stage cannot be named after.
RESERVED_COLUMNS: frozenset[str] = frozenset((*ACCEPTED_COLUMNS, *EXTRA_FIELDS, *DERIVED_METRICS))
STAGE_DTYPE = "Int64"
REJECTED_COLUMNS: tuple[str, ...] = ("source_file", "source_line", "reason", "raw")
KEY_COLUMNS: tuple[str, ...] = ("platform", "ad_id", "date")
HEADER_SEARCH_RECORDS = 30
_BLANK_NUMBERS = ("", "-", "--", "—")
_NULL_WHEN_BLANK = ("reach", "frequency")  # not additive / not always available: blank means unknown
_RAW_LIMIT = 500


class ExportFileError(ValueError):
    """A file that cannot be read at all (not found), or conflicting read options."""


@dataclass(frozen=True)
class ExportFileResult:
    """One file read: ``rows_read == len(accepted) + len(rejected)``."""

    source_file: str
    export_format: str | None
    platform: str | None
    header_line: int | None
    rows_read: int
    accepted: pd.DataFrame  # ACCEPTED_COLUMNS (+ stage columns after platform)
    rejected: pd.DataFrame  # REJECTED_COLUMNS


@dataclass(frozen=True)
class AdExportRead:
    """Several files read and combined: ``rows`` holds one row per ``(platform, ad_id, date)``."""

    rows: pd.DataFrame  # ACCEPTED_COLUMNS (+ stage columns), the latest revision of each key, sorted by KEY_COLUMNS
    rejected: pd.DataFrame  # REJECTED_COLUMNS, every file's rejected lines
    files: pd.DataFrame  # source_file, export_format, platform, header_line, rows_read, accepted, rejected, superseded


def check_stage_names(stages: Sequence[str]) -> tuple[str, ...]:
    """``stages`` as a tuple, or an error if one repeats or would overwrite a column of the stored table."""
    names = tuple(stages)
    if len(set(names)) < len(names):
        raise ExportFileError(f"pipeline stage names repeat: {list(names)}")
    clash = sorted(set(names) & RESERVED_COLUMNS)
    if clash:
        raise ExportFileError(
            f"pipeline stage(s) {clash} would overwrite ad_performance column(s) of the same name: rename the "
            "stage in the client's decisions.pipeline"
        )
    return names


def with_stage_columns(rows: pd.DataFrame, stages: Sequence[str]) -> pd.DataFrame:
    """``rows`` with one ``Int64`` count column per stage, in funnel order right after ``platform``.

    A stage column ``rows`` lacks is added: the first stage as the row's ``conversions`` (what the platform counts
    is the funnel's first touch), any later one null (not reported). Without stages ``rows`` is returned as is.
    """
    names = check_stage_names(stages)
    if not names:
        return rows
    out = rows.copy()
    for i, name in enumerate(names):
        if name in out.columns:
            out[name] = out[name].astype(STAGE_DTYPE)
        elif i == 0:
            out[name] = out["conversions"].astype(STAGE_DTYPE)
        else:
            out[name] = pd.Series(pd.NA, index=out.index, dtype=STAGE_DTYPE)
    others = [c for c in out.columns if c not in names]
    at = others.index("platform") + 1
    return out[[*others[:at], *names, *others[at:]]]


def empty_accepted(stages: Sequence[str] = ()) -> pd.DataFrame:
    """An accepted-rows frame with no rows and the right dtypes (and a column per pipeline stage)."""
    frame = pd.DataFrame({c: pd.Series(dtype=t) for c, t in AD_PERFORMANCE_DTYPES.items()})
    frame["flags"] = pd.Series(dtype="string")
    frame["source_file"] = pd.Series(dtype="string")
    frame["source_line"] = pd.Series(dtype="Int64")
    return with_stage_columns(frame, stages)


def empty_rejected() -> pd.DataFrame:
    """A rejected-rows frame with no rows and the right dtypes."""
    return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "source_line" else "string") for c in REJECTED_COLUMNS})


def _rejected(source_file: str, lines: Sequence[int], reasons: Sequence[str], raws: Sequence[str]) -> pd.DataFrame:
    if not len(lines):
        return empty_rejected()
    return pd.DataFrame(
        {
            "source_file": pd.Series([source_file] * len(lines), dtype="string"),
            "source_line": pd.Series(list(lines), dtype="Int64"),
            "reason": pd.Series(list(reasons), dtype="string"),
            "raw": pd.Series([r[:_RAW_LIMIT] for r in raws], dtype="string"),
        }
    )


def _parse_numbers(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Numbers as exports write them ("1,234", "$12.50", "12.50 €", blank): ``(values, blank, unparsable)``."""
    cleaned = text.fillna("").astype(str).str.strip()
    blank = cleaned.isin(_BLANK_NUMBERS)
    cleaned = cleaned.str.replace(r"^[$€£¥]|\s*[$€£¥]$", "", regex=True).str.replace(
        r"(?<=\d),(?=\d{3}(?:\D|$))", "", regex=True
    )
    values = pd.to_numeric(cleaned.where(~blank, None), errors="coerce").astype("Float64")
    finite = values.notna() & np.isfinite(values.fillna(0.0).to_numpy(dtype=float))
    bad = ~blank & ~finite
    return values.where(finite), blank, bad


def _parse_dates(text: pd.Series, formats: Sequence[str]) -> pd.Series:
    """Cells as ``datetime.date`` (``None`` where no format fits)."""
    cleaned = text.fillna("").astype(str).str.strip()
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in (*formats, "%Y-%m-%d"):
        todo = parsed.isna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(cleaned[todo], format=fmt, errors="coerce")
    return pd.Series([None if pd.isna(v) else v.date() for v in parsed], index=text.index, dtype="object")


def _first_reason(reason: pd.Series, mask: pd.Series, message: pd.Series | str) -> pd.Series:
    """Set ``message`` where ``mask`` holds and no earlier check already rejected the row."""
    return reason.mask(reason.isna() & mask.fillna(False).astype(bool), message)


def conform_rows(
    raw: pd.DataFrame,
    *,
    source_file: str,
    platform: str,
    date_formats: Sequence[str] = (),
    currency: str | None = None,
    default_date: date | None = None,
    stages: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate and type rows named by canonical fields (text cells) into ``(accepted, rejected)``.

    ``raw`` has any subset of the canonical fields (+ ``date_stop``) and of ``stages`` as columns, plus
    ``source_line`` and ``raw`` (the line's text). An absent column is null (``reach``, ``revenue`` ...); a blank
    cell of a present count or money column is 0, except ``reach``/``frequency`` (null). ``currency`` fills rows
    without a currency cell. The first failing check names the row's reason; see the module docstring for the rules.
    """
    stages = check_stage_names(stages)
    n = len(raw)
    if n == 0:
        return empty_accepted(stages), empty_rejected()
    raw = raw.reset_index(drop=True)
    idx = raw.index
    cell = {c: raw[c].fillna("").astype(str).str.strip() for c in raw.columns if c not in ("source_line", "raw")}
    reason = pd.Series(pd.NA, index=idx, dtype="string")
    out: dict[str, pd.Series] = {}

    ad_id = cell.get("ad_id", pd.Series("", index=idx)).str.removesuffix(".0")
    reason = _first_reason(reason, ad_id == "", "missing ad id")
    out["ad_id"] = ad_id.astype("string")

    if "date" in cell:
        parts = cell["date"].str.split(r"\s+-\s+", n=1, regex=True)
        start_text = parts.str[0].fillna("")
        stop_text = parts.str[1].fillna("") if parts.str.len().max() > 1 else pd.Series("", index=idx)
        if "date_stop" in cell:
            stop_text = stop_text.where(stop_text != "", cell["date_stop"])
        start = _parse_dates(start_text, date_formats)
        stop = _parse_dates(stop_text, date_formats)
        reason = _first_reason(reason, start_text == "", "missing date")
        reason = _first_reason(reason, start.isna(), "bad date " + start_text.map(repr))
        reason = _first_reason(reason, (stop_text != "") & stop.isna(), "bad end date " + stop_text.map(repr))
        multi = stop.notna() & start.notna() & (stop.astype(str) != start.astype(str))
        span = "row covers " + start.astype(str) + " to " + stop.astype(str) + ", not one day"
        reason = _first_reason(reason, multi, span)
        out["date"] = start
    else:
        out["date"] = pd.Series([default_date] * n, index=idx, dtype="object")
        reason = _first_reason(reason, pd.Series(default_date is None, index=idx), "missing date")

    for name in ("ad_name", "adset_id", "campaign_id"):
        text = cell.get(name)
        if text is None:
            out[name] = pd.Series(pd.NA, index=idx, dtype="string")
        else:
            text = text.str.removesuffix(".0") if name != "ad_name" else text
            out[name] = text.where(text != "", None).astype("string")

    present_stages = [s for s in stages if s in cell]  # the others: with_stage_columns below
    for name in ("impressions", "reach", "clicks", "conversions", "spend", "revenue", "frequency", *present_stages):
        if name not in cell:
            out[name] = pd.Series(pd.NA, index=idx, dtype=AD_PERFORMANCE_DTYPES[name])
            continue
        values, blank, bad = _parse_numbers(cell[name])
        reason = _first_reason(reason, bad, f"unparsable number in {name}: " + cell[name].map(repr))
        is_count = name in COUNT_FIELDS or name in stages
        kind = "count" if is_count else "amount"
        reason = _first_reason(reason, values < 0, f"negative {kind} in {name}: " + cell[name])
        if is_count:
            fractional = values.notna() & (values != values.round())
            reason = _first_reason(reason, fractional, f"{name} is not a whole number: " + cell[name])
        filled = values if name in _NULL_WHEN_BLANK else values.mask(blank, 0.0)
        if AD_PERFORMANCE_DTYPES.get(name, STAGE_DTYPE) == "Int64":
            out[name] = filled.where(reason.isna()).round().astype("Int64")
        else:
            out[name] = filled.astype("Float64")

    over = out["clicks"] > out["impressions"]
    clicks_text = out["clicks"].astype("string").fillna("")
    impressions_text = out["impressions"].astype("string").fillna("")
    reason = _first_reason(reason, over, "clicks (" + clicks_text + ") exceed impressions (" + impressions_text + ")")
    reach_over = out["reach"] > out["impressions"]
    reason = _first_reason(reason, reach_over, "reach exceeds impressions (" + impressions_text + ")")
    reach = out["reach"].astype("Float64")
    from_ratio = (out["impressions"].astype("Float64") / reach.mask(reach == 0)).round(6)
    out["frequency"] = from_ratio.where(from_ratio.notna(), out["frequency"]).astype("Float64")

    cur = cell.get("currency", pd.Series("", index=idx)).str.upper()
    if currency is not None:
        cur = cur.where(cur != "", currency)
    known = cur.map(is_currency_code).astype(bool)
    reason = _first_reason(reason, cur == "", "missing currency (no currency column, header or setting)")
    reason = _first_reason(reason, ~known, "unknown currency code " + cur.map(repr))
    out["currency"] = cur.astype("string")
    out["platform"] = pd.Series(platform, index=idx, dtype="string")

    lines = raw["source_line"].astype("Int64")
    key = out["ad_id"].astype(str) + "\x1f" + out["date"].astype(str)
    first_line = lines.groupby(key.where(reason.isna())).transform("min")
    dup = reason.isna() & (lines != first_line)
    reason = _first_reason(reason, dup, "duplicate ad_id and date (first at line " + first_line.astype("string") + ")")

    ok = reason.isna().to_numpy()
    accepted = pd.DataFrame({c: out[c] for c in (*AD_PERFORMANCE_COLUMNS, *present_stages)})[ok]
    for c, t in AD_PERFORMANCE_DTYPES.items():
        accepted[c] = accepted[c].astype(t)
    flagged = (accepted["conversions"] > accepted["clicks"]).fillna(False).astype(bool)
    accepted["flags"] = pd.Series(np.where(flagged, FLAG_CONVERSIONS_EXCEED_CLICKS, ""), index=accepted.index)
    accepted["flags"] = accepted["flags"].astype("string")
    accepted["source_file"] = pd.Series(source_file, index=accepted.index, dtype="string")
    accepted["source_line"] = lines[ok]
    accepted = with_stage_columns(accepted, stages)
    rejected = _rejected(
        source_file, lines[~ok].tolist(), reason[~ok].tolist(), raw["raw"][~ok].fillna("").astype(str).tolist()
    )
    return accepted.reset_index(drop=True), rejected


def _records(text: str, delimiter: str) -> list[tuple[int, list[str], str]]:
    """Non-blank CSV records as ``(first line, cells, raw text)``; lines count from 1."""
    lines = [line.rstrip("\r\n") for line in io.StringIO(text, newline="")]  # the reader's own line splitting
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[int, list[str], str]] = []
    previous_end = 0
    for cells in reader:
        start, end = previous_end + 1, reader.line_num
        previous_end = end
        if cells and any(c.strip() for c in cells):
            out.append((start, cells, "\n".join(lines[start - 1 : end])))
    return out


def read_export_file(
    path: Path | str,
    *,
    source_name: str | None = None,
    platform: str | None = None,
    export_format_name: str | None = None,
    currency: str | None = None,
    default_date: date | None = None,
    delimiter: str = ",",
    stages: Sequence[str] = (),
) -> ExportFileResult:
    """Read one export file (UTF-8, with or without BOM) into accepted and rejected rows.

    ``platform`` (e.g. ``"instagram"``) selects its export format and labels the rows; ``export_format_name``
    forces a format (see ``EXPORT_FORMATS``); with neither, the format is detected from the header.
    ``currency`` is used where neither a Currency column nor a header suffix ("Amount spent (EUR)") names one;
    ``default_date`` is the day of files with no date column (lifetime exports such as the Kaggle file).
    ``stages`` are the client's pipeline stage names, in funnel order (see the module docstring).
    """
    stages = check_stage_names(stages)
    path = Path(path)
    source = source_name or path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportFileError(f"cannot read ad export {path}: {exc.strerror or exc}") from None
    forced = None
    if export_format_name is not None:
        forced = export_format(export_format_name)
    elif platform is not None:
        forced = format_for_platform(platform)
    try:
        text = data.decode("utf-8-sig")
        decode_error = None
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        decode_error = f"file is not UTF-8 text (byte {exc.start}); save the export as CSV UTF-8"
    records = _records(text, delimiter)
    if not records:
        return ExportFileResult(source, None, platform, None, 0, empty_accepted(stages), empty_rejected())
    has_default = default_date is not None

    def match(cells: list[str]) -> HeaderMatch:
        return forced.resolve(cells) if forced is not None else detect_format(cells, has_default_date=has_default)

    header_at = next(
        (
            i
            for i, rec in enumerate(records[:HEADER_SEARCH_RECORDS])
            if not match(rec[1]).missing(has_default_date=has_default)
        ),
        0,
    )
    header_line, header, _ = records[header_at]
    found = match(header)
    body = records[header_at + 1 :]
    fmt = found.export_format
    row_platform = platform or fmt.platform
    missing = found.missing(has_default_date=has_default)
    whole_file_reason = decode_error or (
        f"missing required column(s) {missing} for export format {fmt.name!r}; header: {header}" if missing else None
    )
    if whole_file_reason is not None:
        rejected = _rejected(source, [r[0] for r in body], [whole_file_reason] * len(body), [r[2] for r in body])
        accepted = empty_accepted(stages)
        return ExportFileResult(source, fmt.name, row_platform, header_line, len(body), accepted, rejected)

    width = len(header)
    wrong = [r for r in body if len(r[1]) != width]
    good = [r for r in body if len(r[1]) == width]
    shape_rejected = _rejected(
        source,
        [r[0] for r in wrong],
        [f"row has {len(r[1])} fields, header has {width}" for r in wrong],
        [r[2] for r in wrong],
    )
    fields = {**found.fields, **stage_fields(header, stages)}  # stage names are never canonical fields
    columns: dict[str, list[str]] = {f: [r[1][i] for r in good] for f, i in fields.items()}
    raw = pd.DataFrame(columns, index=range(len(good)), dtype=object)
    raw["source_line"] = [r[0] for r in good]
    raw["raw"] = [r[2] for r in good]
    file_currency = found.header_currencies[0] if len(found.header_currencies) == 1 else None
    accepted, rejected = conform_rows(
        raw,
        source_file=source,
        platform=row_platform,
        date_formats=fmt.date_formats,
        currency=file_currency or currency or fmt.default_currency,
        default_date=default_date,
        stages=stages,
    )
    rejected = pd.concat([shape_rejected, rejected], ignore_index=True) if len(shape_rejected) else rejected
    rejected = rejected.sort_values("source_line", kind="stable").reset_index(drop=True)
    return ExportFileResult(source, fmt.name, row_platform, header_line, len(body), accepted, rejected)


def combine_exports(results: Sequence[ExportFileResult], *, stages: Sequence[str] = ()) -> AdExportRead:
    """Combine files read in arrival order: the latest *changed* row per ``(platform, ad_id, date)`` wins.

    Changed = any value column differs, stage counts included (``stages``: those the files were read with).
    """
    accepted = [r.accepted for r in results if len(r.accepted)]
    stacked = pd.concat(accepted, ignore_index=True) if accepted else empty_accepted(stages)
    stacked = with_stage_columns(stacked, stages)
    values = stacked[[c for c in stacked.columns if c not in PROVENANCE_COLUMNS]].astype(str)
    digest = pd.util.hash_pandas_object(values, index=False)
    key = stacked["platform"].astype(str) + "\x1f" + stacked["ad_id"].astype(str) + "\x1f" + stacked["date"].astype(str)
    changed = digest != digest.groupby(key).shift()
    revisions = stacked[changed.to_numpy()]
    rows = revisions.groupby(key[changed.to_numpy()], sort=False).tail(1)
    rows = rows.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    kept = rows.groupby("source_file").size()
    files = pd.DataFrame(
        {
            "source_file": [r.source_file for r in results],
            "export_format": [r.export_format for r in results],
            "platform": [r.platform for r in results],
            "header_line": pd.array([r.header_line for r in results], dtype="Int64"),
            "rows_read": [r.rows_read for r in results],
            "accepted": [len(r.accepted) for r in results],
            "rejected": [len(r.rejected) for r in results],
        }
    )
    files["superseded"] = files["accepted"] - files["source_file"].map(kept).fillna(0).astype(int)
    rejected_frames = [r.rejected for r in results if len(r.rejected)]
    rejected = pd.concat(rejected_frames, ignore_index=True) if rejected_frames else empty_rejected()
    return AdExportRead(rows, rejected, files)


def read_export_files(
    paths: Sequence[Path | str],
    *,
    platform: str | None = None,
    export_format_name: str | None = None,
    currency: str | None = None,
    default_date: date | None = None,
    source_names: Mapping[str, str] | None = None,
    stages: Sequence[str] = (),
) -> AdExportRead:
    """Read a client's export files in the given order (arrival, then name) and combine them.

    ``superseded`` in ``files`` counts a file's accepted rows replaced by a later revision (or kept from an earlier
    identical file): its accepted = kept + superseded. Source names must be distinct (they are file names).
    ``stages``: the client's pipeline stage names in funnel order (one count column each; see the module docstring).
    """
    names = [(source_names or {}).get(str(p), Path(p).name) for p in paths]
    if len(set(names)) != len(names):
        raise ExportFileError(f"ad export source names must be distinct, got {names}")
    results = [
        read_export_file(
            p,
            source_name=name,
            platform=platform,
            export_format_name=export_format_name,
            currency=currency,
            default_date=default_date,
            stages=stages,
        )
        for p, name in zip(paths, names, strict=True)
    ]
    return combine_exports(results, stages=stages)
