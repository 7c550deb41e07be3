"""Header mappings of ad platforms' exports onto the canonical ``ad_performance`` columns."""

from __future__ import annotations

import csv

import pytest

from optimizer_pipeline.lib.ads.export_schema import (
    AD_PERFORMANCE_COLUMNS,
    EXPORT_FORMATS,
    PLATFORMS,
    REQUIRED_FIELDS,
    ExportFormat,
    ExportSchemaError,
    detect_format,
    export_format,
    format_for_platform,
    is_currency_code,
    normalize_header,
    split_currency,
)
from optimizer_pipeline_tests.shared_data import shared_data

#: A typical header of each platform's daily ad export (with columns the mapping ignores, as real exports have).
HEADERS: dict[str, list[str]] = {
    "generic": ["ad_id", "date", "impressions", "reach", "clicks", "spend", "conversions", "revenue", "currency"],
    "meta_ads_manager": [
        "Reporting starts",
        "Reporting ends",
        "Ad name",
        "Ad ID",
        "Day",
        "Ad delivery",
        "Impressions",
        "Reach",
        "Frequency",
        "Link clicks",
        "Amount spent (USD)",
        "Purchases",
        "Purchases conversion value",
    ],
    "tiktok_ads_manager": [
        "Ad name",
        "Ad ID",
        "Date",
        "Cost",
        "Impressions",
        "Reach",
        "Clicks (destination)",
        "CTR (destination)",
        "Conversions",
        "Total purchase value",
        "Currency",
    ],
    "x_ads": ["Time period", "Ad name", "Tweet ID", "Impressions", "Link clicks", "Spend", "Conversions", "Currency"],
    "linkedin_campaign_manager": [
        "Start Date (in UTC)",
        "End Date (in UTC)",
        "Creative ID",
        "Campaign Group ID",
        "Total Spent",
        "Impressions",
        "Clicks",
        "Conversions",
        "Conversion value",
        "Currency",
    ],
    "reddit_ads": ["Date", "Ad ID", "Ad Name", "Impressions", "Clicks", "Spend", "Conversions", "Currency"],
}


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_each_platform_header_is_detected_and_complete(name: str) -> None:
    match = detect_format(HEADERS[name])
    assert match.export_format.name == name
    assert match.missing() == []
    for canonical in REQUIRED_FIELDS:
        assert canonical in match.fields


def test_meta_money_header_carries_the_currency() -> None:
    match = detect_format(HEADERS["meta_ads_manager"])
    assert match.header_currencies == ("USD",)
    assert HEADERS["meta_ads_manager"][match.fields["spend"]] == "Amount spent (USD)"
    assert HEADERS["meta_ads_manager"][match.fields["clicks"]] == "Link clicks"
    # "Day" is listed before "Reporting starts" in the mapping, so it feeds the date
    assert HEADERS["meta_ads_manager"][match.fields["date"]] == "Day"


def test_kaggle_header_from_the_real_file_maps_onto_meta() -> None:
    path = shared_data("facebook_ads_kag_conversion", "KAG_conversion_data.csv")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh))
    match = detect_format(header, has_default_date=True)
    assert match.export_format.name == "kaggle_fb_conversion"
    assert match.export_format.platform == "meta"
    assert match.missing(has_default_date=True) == []
    assert match.missing() == ["date"]  # the file has no dates
    assert {header[i] for f, i in match.fields.items()} >= {
        "ad_id",
        "Impressions",
        "Clicks",
        "Spent",
        "Total_Conversion",
    }
    assert "revenue" not in match.fields


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Amount spent (USD)", ("Amount spent", "USD")),
        ("Cost (EUR)", ("Cost", "EUR")),
        ("Clicks (destination)", ("Clicks (destination)", None)),
        ("Start Date (in UTC)", ("Start Date (in UTC)", None)),
        ("Spend (ABC)", ("Spend (ABC)", None)),  # not an ISO 4217 code
    ],
)
def test_split_currency(header: str, expected: tuple[str, str | None]) -> None:
    assert split_currency(header) == expected


def test_currency_codes_and_header_normalisation() -> None:
    assert is_currency_code("USD") and is_currency_code("JPY")
    assert not is_currency_code("usd") and not is_currency_code("XYZ") and not is_currency_code("US")
    assert normalize_header("\ufeff  Link   Clicks ") == "link clicks"


def test_every_format_is_consistent_data() -> None:
    for name, fmt in EXPORT_FORMATS.items():
        assert fmt.name == name and fmt.platform in PLATFORMS
        assert fmt.verified <= set(fmt.columns), name  # verified names are names the mapping uses
        assert set(fmt.columns.values()) <= {*AD_PERFORMANCE_COLUMNS, "date_stop"}
    assert format_for_platform("instagram").name == "meta_ads_manager"
    assert {format_for_platform(p).platform for p in PLATFORMS} <= set(PLATFORMS)


def test_unknown_names_raise_clear_errors() -> None:
    with pytest.raises(ExportSchemaError, match="unknown export format 'snapchat'"):
        export_format("snapchat")
    with pytest.raises(ExportSchemaError, match="unknown platform 'myspace'"):
        format_for_platform("myspace")
    with pytest.raises(ExportSchemaError, match="unknown fields"):
        ExportFormat("x", "meta", {"Ad ID": "ad_identifier"})
    with pytest.raises(ExportSchemaError, match="unknown platform"):
        ExportFormat("x", "myspace", {"Ad ID": "ad_id"})


def test_unrelated_header_reports_what_is_missing() -> None:
    match = detect_format(["name", "email", "signup_date"])
    assert match.missing() == list(REQUIRED_FIELDS)
