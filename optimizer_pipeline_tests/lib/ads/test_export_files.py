"""Export files of the ad inbox: canonical rows, rejected lines with file/line/reason, idempotent re-drops."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from optimizer_pipeline.lib.ads.export_files import (
    ACCEPTED_COLUMNS,
    REJECTED_COLUMNS,
    ExportFileError,
    read_export_file,
    read_export_files,
)
from optimizer_pipeline.lib.ads.export_schema import ExportSchemaError
from optimizer_pipeline_tests.shared_data import shared_data

#: One file per platform; each holds the same two ad-days (ad 101 on Nov 3: 1,200 imp, 30 clicks, 12.50 spent,
#: 2 conversions, 40.00 revenue; ad 102 on Nov 3 with blank conversions) in that platform's own spelling.
PLATFORM_FILES: dict[str, tuple[str, str]] = {
    "generic": (
        "generic",
        "ad_id,date,impressions,reach,clicks,spend,conversions,revenue,currency\n"
        "101,2026-11-03,1200,1000,30,12.50,2,40.00,EUR\n"
        "102,2026-11-03,800,,8,4.00,,,EUR\n",
    ),
    "meta_ads_manager": (
        "meta",
        "Reporting starts,Reporting ends,Ad name,Ad ID,Day,Impressions,Reach,Link clicks,Amount spent (EUR),"
        "Purchases,Purchases conversion value\n"
        '2026-11-03,2026-11-03,Spring hook,101,2026-11-03,"1,200","1,000",30,12.50,2,40.00\n'
        "2026-11-03,2026-11-03,Other,102,2026-11-03,800,,8,4.00,,\n",
    ),
    "tiktok_ads_manager": (
        "tiktok",
        "Ad name,Ad ID,Date,Cost,Impressions,Reach,Clicks (destination),Conversions,Total purchase value,Currency\n"
        "Spring hook,101,2026-11-03 00:00:00,12.50,1200,1000,30,2,40.00,EUR\n"
        "Other,102,2026-11-03 00:00:00,4.00,800,,8,,,EUR\n",
    ),
    "x_ads": (
        "x",
        "Time period,Tweet ID,Impressions,Link clicks,Spend,Conversions,Conversion sale amount,Currency\n"
        '"Nov 03, 2026",101,1200,30,12.50,2,40.00,EUR\n'
        '"Nov 03, 2026 - Nov 03, 2026",102,800,8,4.00,,,EUR\n',
    ),
    "linkedin_campaign_manager": (
        "linkedin",
        "Campaign Performance Report (in UTC)\n"
        "Report Start: 11/1/2026\n"
        "\n"
        "Start Date (in UTC),End Date (in UTC),Creative ID,Total Spent,Impressions,Reach,Clicks,Conversions,"
        "Conversion value,Currency\n"
        "11/3/2026,11/3/2026,101,12.50,1200,1000,30,2,40.00,EUR\n"
        "11/3/2026,11/3/2026,102,4.00,800,,8,,,EUR\n",
    ),
    "reddit_ads": (
        "reddit",
        "Date,Ad ID,Impressions,Reach,Clicks,Spend,Conversions,Purchase Total Value,Currency\n"
        "2026-11-03,101,1200,1000,30,$12.50,2,40.00,EUR\n"
        "2026-11-03,102,800,,8,$4.00,,,EUR\n",
    ),
}


def _write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("format_name", sorted(PLATFORM_FILES))
def test_each_platform_export_gives_the_same_canonical_rows(tmp_path: Path, format_name: str) -> None:
    platform, text = PLATFORM_FILES[format_name]
    result = read_export_file(_write(tmp_path, f"{format_name}.csv", text, encoding="utf-8-sig"))
    assert result.export_format == format_name and result.platform == platform
    assert result.rejected.empty, result.rejected.to_dict("records")
    assert result.rows_read == 2 and list(result.accepted.columns) == list(ACCEPTED_COLUMNS)
    first, second = (r for _, r in result.accepted.iterrows())
    assert (first["ad_id"], first["date"], first["impressions"], first["clicks"]) == (
        "101",
        date(2026, 11, 3),
        1200,
        30,
    )
    assert first["spend"] == pytest.approx(12.5) and first["currency"] == "EUR" and first["platform"] == platform
    assert first["conversions"] == 2 and first["revenue"] == pytest.approx(40.0)
    assert (second["impressions"], second["clicks"], second["spend"]) == (800, 8, 4.0)
    assert second["conversions"] == 0  # a blank cell of a present column: none recorded
    if "reach" in text.lower():
        assert first["reach"] == 1000 and first["frequency"] == pytest.approx(1.2) and pd.isna(second["reach"])
    expected_header = 4 if format_name == "linkedin_campaign_manager" else 1
    assert result.header_line == expected_header
    assert result.accepted["source_line"].tolist() == [expected_header + 1, expected_header + 2]


def test_platform_parameter_labels_instagram_rows(tmp_path: Path) -> None:
    _, text = PLATFORM_FILES["meta_ads_manager"]
    result = read_export_file(_write(tmp_path, "ig.csv", text), platform="instagram")
    assert result.export_format == "meta_ads_manager"
    assert set(result.accepted["platform"]) == {"instagram"}


BAD_FILE = (
    "ad_id,date,impressions,reach,clicks,spend,conversions,revenue,currency\n"  # 1
    "201,2026-11-03,1000,900,10,5.00,1,20,USD\n"  # 2 ok
    ",2026-11-03,1000,,10,5.00,1,20,USD\n"  # 3 missing ad id
    "203,,1000,,10,5.00,1,20,USD\n"  # 4 missing date
    "204,2026-13-45,1000,,10,5.00,1,20,USD\n"  # 5 bad date
    "205,2026-11-03,lots,,10,5.00,1,20,USD\n"  # 6 unparsable number
    "206,2026-11-03,1000,,-3,5.00,1,20,USD\n"  # 7 negative count
    "207,2026-11-03,1000,,1001,5.00,1,20,USD\n"  # 8 clicks > impressions
    "208,2026-11-03,1000,,10,5.00,1,20,XYZ\n"  # 9 unknown currency
    "209,2026-11-03,1000,,10.5,5.00,1,20,USD\n"  # 10 fractional count
    "210,2026-11-03,1000,,10,-5.00,1,20,USD\n"  # 11 negative amount
    "211,2026-11-03,1000,,10,5.00,1,20\n"  # 12 wrong field count
    "201,2026-11-03,1000,900,10,5.00,1,20,USD\n"  # 13 duplicate of line 2
    '212,"2026-11-03",1000,,3,"1,005.25",7,20,USD\n'  # 14 ok, conversions > clicks (flagged)
    "213,2026-11-03,1000,1200,10,5.00,1,20,USD\n"  # 15 reach > impressions
    '214,2026-11-03,1000,,10,5.00,1,20,"US\nD"\n'  # 16-17 quoted newline: unknown currency, starts on line 16
    "215,2026-11-03 - 2026-11-04,1000,,10,5.00,1,20,USD\n"  # 18 two days
    "216,2026-11-03,1000,,10,inf,1,20,USD\n"  # 19 non-finite
    "\n"  # 20 blank: not a row
    "217,2026-11-04,0,,0,0,0,,\n"  # 21 missing currency
)
EXPECTED_REASONS = {
    3: "missing ad id",
    4: "missing date",
    5: "bad date '2026-13-45'",
    6: "unparsable number in impressions: 'lots'",
    7: "negative count in clicks: -3",
    8: "clicks (1001) exceed impressions (1000)",
    9: "unknown currency code 'XYZ'",
    10: "clicks is not a whole number: 10.5",
    11: "negative amount in spend: -5.00",
    12: "row has 8 fields, header has 9",
    13: "duplicate ad_id and date (first at line 2)",
    15: "reach exceeds impressions (1000)",
    16: "unknown currency code 'US\\nD'",
    18: "row covers 2026-11-03 to 2026-11-04, not one day",
    19: "unparsable number in spend: 'inf'",
    21: "missing currency (no currency column, header or setting)",
}


def test_bad_rows_are_rejected_with_file_line_and_reason(tmp_path: Path) -> None:
    result = read_export_file(_write(tmp_path, "bad.csv", BAD_FILE))
    assert list(result.rejected.columns) == list(REJECTED_COLUMNS)
    got = dict(zip(result.rejected["source_line"].tolist(), result.rejected["reason"].tolist(), strict=True))
    assert got == EXPECTED_REASONS
    assert set(result.rejected["source_file"]) == {"bad.csv"}
    assert result.accepted["source_line"].tolist() == [2, 14]
    assert result.rows_read == len(result.accepted) + len(result.rejected) == 18
    raw_by_line = dict(zip(result.rejected["source_line"], result.rejected["raw"], strict=True))
    assert raw_by_line[7] == "206,2026-11-03,1000,,-3,5.00,1,20,USD"
    assert raw_by_line[16] == '214,2026-11-03,1000,,10,5.00,1,20,"US\nD"'
    flagged = result.accepted.set_index("ad_id")["flags"]
    assert flagged["212"] == "conversions_exceed_clicks" and flagged["201"] == ""
    assert result.accepted.set_index("ad_id").loc["212", "spend"] == pytest.approx(1005.25)


def test_configured_currency_fills_files_without_one(tmp_path: Path) -> None:
    text = "ad_id,date,impressions,clicks,spend\n301,2026-11-03,100,1,1.00\n302,2026-11-03,100,1,1.00\n"
    result = read_export_file(_write(tmp_path, "nocur.csv", text), currency="GBP")
    assert result.rejected.empty and set(result.accepted["currency"]) == {"GBP"}
    assert result.accepted["revenue"].isna().all() and result.accepted["conversions"].isna().all()


def test_missing_required_column_rejects_the_whole_file_line_by_line(tmp_path: Path) -> None:
    text = "ad_id,date,impressions,spend,currency\n1,2026-11-03,10,1.0,USD\n2,2026-11-03,10,1.0,USD\n\n3,x,y,z,USD\n"
    result = read_export_file(_write(tmp_path, "noclicks.csv", text))
    assert result.accepted.empty and result.rows_read == 3
    assert result.rejected["source_line"].tolist() == [2, 3, 5]
    assert result.rejected["reason"].nunique() == 1
    assert "missing required column(s) ['clicks']" in result.rejected["reason"].iloc[0]


def test_non_utf8_file_is_rejected_with_a_clear_reason(tmp_path: Path) -> None:
    text = "ad_id,date,impressions,clicks,spend,currency,ad_name\n1,2026-11-03,10,1,1.0,EUR,Crème\n"
    result = read_export_file(_write(tmp_path, "latin1.csv", text, encoding="latin-1"))
    assert result.accepted.empty and result.rows_read == 1
    assert result.rejected["reason"].iloc[0].startswith("file is not UTF-8 text")


def test_kaggle_file_loads_fully_with_flags(tmp_path: Path) -> None:
    path = shared_data("facebook_ads_kag_conversion", "KAG_conversion_data.csv")
    result = read_export_file(path, default_date=date(2017, 8, 1))
    acc = result.accepted
    assert result.export_format == "kaggle_fb_conversion" and result.rejected.empty
    assert result.rows_read == len(acc) == 1143
    assert (acc["flags"] == "conversions_exceed_clicks").sum() == 218  # the README's measured count
    # the README's totals: 213.4 M impressions, 38,165 clicks, $58,705 spent, 3,264 conversions
    assert acc["impressions"].sum() == pytest.approx(213.4e6, rel=5e-4)
    assert (acc["clicks"].sum(), acc["conversions"].sum()) == (38_165, 3_264)
    assert acc["spend"].sum() == pytest.approx(58_705, abs=1)
    assert acc["revenue"].isna().all() and set(acc["currency"]) == {"USD"} and set(acc["platform"]) == {"meta"}
    assert acc["campaign_id"].value_counts().to_dict() == {"1178": 625, "936": 464, "916": 54}
    undated = read_export_file(path)
    assert undated.accepted.empty and len(undated.rejected) == 1143
    assert "missing required column(s) ['date']" in undated.rejected["reason"].iloc[0]


def test_redrop_changes_nothing_and_later_revisions_win(tmp_path: Path) -> None:
    day1 = "ad_id,date,impressions,clicks,spend,currency\nA,2026-11-03,100,5,2.00,EUR\nB,2026-11-03,50,1,1.00,EUR\n"
    revised = "ad_id,date,impressions,clicks,spend,currency\nA,2026-11-03,120,6,2.40,EUR\nA,2026-11-04,90,2,1.10,EUR\n"
    first = _write(tmp_path, "day1.csv", day1)
    again = _write(tmp_path, "day1 (1).csv", day1)
    second = _write(tmp_path, "day2.csv", revised)

    once = read_export_files([first])
    twice = read_export_files([first, again])
    pd.testing.assert_frame_equal(once.rows, twice.rows)  # provenance included: the copy is not a revision
    assert twice.files.set_index("source_file")["superseded"].to_dict() == {"day1.csv": 0, "day1 (1).csv": 2}

    combined = read_export_files([first, second, again])
    rows = combined.rows.set_index(["ad_id", combined.rows["date"].astype(str)])
    assert rows.loc[("A", "2026-11-03"), "impressions"] == 100  # the re-dropped day1 came last: it revises back
    assert rows.loc[("A", "2026-11-03"), "source_file"] == "day1 (1).csv"
    assert rows.loc[("A", "2026-11-04"), "impressions"] == 90 and len(rows) == 3
    in_order = read_export_files([first, again, second]).rows.set_index("ad_id")
    assert in_order.loc["B", "source_file"] == "day1.csv"
    assert in_order.loc["A"].set_index(in_order.loc["A"]["date"].astype(str)).loc["2026-11-03", "impressions"] == 120

    files = combined.files.set_index("source_file")
    assert (files["rows_read"] == files["accepted"] + files["rejected"]).all()
    assert len(combined.rows) == files["accepted"].sum() - files["superseded"].sum()
    pd.testing.assert_frame_equal(combined.rows, read_export_files([first, second, again]).rows)


def test_bad_file_among_good_ones_loses_nothing(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.csv", PLATFORM_FILES["generic"][1])
    bad = _write(tmp_path, "bad.csv", BAD_FILE)
    result = read_export_files([good, bad])
    per_file = result.files.set_index("source_file")
    assert per_file.loc["bad.csv", "rejected"] == len(EXPECTED_REASONS)
    assert per_file.loc["good.csv", "accepted"] == 2
    assert len(result.rejected) == len(EXPECTED_REASONS) and set(result.rejected["source_file"]) == {"bad.csv"}
    assert (per_file["rows_read"] == per_file["accepted"] + per_file["rejected"]).all()


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    assert read_export_file(_write(tmp_path, "empty.csv", "")).rows_read == 0
    only = read_export_file(_write(tmp_path, "header.csv", "ad_id,date,impressions,clicks,spend\n"))
    assert only.rows_read == 0 and only.accepted.empty and only.rejected.empty
    assert read_export_files([]).rows.empty


def test_read_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ExportFileError, match="cannot read ad export"):
        read_export_file(tmp_path / "absent.csv")
    path = _write(tmp_path, "a.csv", PLATFORM_FILES["generic"][1])
    with pytest.raises(ExportSchemaError, match="unknown platform"):
        read_export_file(path, platform="myspace")
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copy(path, sub / "a.csv")
    with pytest.raises(ExportFileError, match="must be distinct"):
        read_export_files([path, sub / "a.csv"])


def test_windows_line_endings_keep_line_numbers(tmp_path: Path) -> None:
    text = (
        "ad_id,date,impressions,clicks,spend,currency\r\n"
        "1,2026-11-03,10,1,1.0,EUR\r\n"
        "2,2026-11-03,10,11,1.0,EUR\r\n"
        "\r\n"
        '3,2026-11-03,"1\r\n0",1,1.0,EUR\r\n'
        "4,2026-11-03,10,1,1.0,EUR\r\n"
    )
    result = read_export_file(_write(tmp_path, "crlf.csv", text))
    assert result.accepted["source_line"].tolist() == [2, 7]
    assert result.rejected["source_line"].tolist() == [3, 5]
    assert result.rejected["raw"].tolist() == ["2,2026-11-03,10,11,1.0,EUR", '3,2026-11-03,"1\n0",1,1.0,EUR']
    assert result.rows_read == 4
