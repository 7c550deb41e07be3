"""The ``ad_performance`` schema (one row per ad and day) and the header mappings of ad platforms' CSV exports.

Every source (an export file dropped in the ad inbox, the Meta Insights API) ends up in the same canonical columns,
so fatigue signals and decisions never care where a row came from. A platform's export is described by an
:class:`ExportFormat`: a plain mapping from its column headers onto canonical names, easy to extend as data.

Where the names come from (each :class:`ExportFormat` keeps ``verified`` = headers checked in documentation):

* TikTok Ads Manager metric names "Impressions", "Reach", "Frequency", "Clicks (destination)", "Conversions",
  "Cost" are from TikTok's "Basic data metrics" help page (ads.tiktok.com/help/article/basic-data).
* Meta Ads Manager, X, LinkedIn Campaign Manager and Reddit headers are best effort (the names their report
  exports use in the English UI as of 2025-26); an unrecognised header is simply ignored, a missing required one
  rejects the file with a message naming it, so a changed export fails loudly rather than silently.
* The Kaggle file ``facebook_ads_kag_conversion`` (madislemsalu, 2017) headers are read from the file itself.

Money headers may carry the currency, as Meta writes "Amount spent (USD)": a trailing ``(XXX)`` that is an ISO 4217
code (``pycountry``) is split off, so the base name is mapped and the code becomes the file's currency.

Pipeline stages (a service business's ``decisions.pipeline.stages`` in the registry) are not part of any format:
the caller names them, and a column whose header spells a stage name (:func:`stage_header`: ``"Call booked"``,
``"call-booked"``, ``"CALL_BOOKED"`` -> ``call_booked``) holds that stage's counts, whatever the platform
(:func:`stage_fields`). Without stages no header is read as one, so other clients' rows are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import pycountry

PLATFORMS: tuple[str, ...] = ("meta", "tiktok", "instagram", "x", "linkedin", "reddit", "generic")

#: Canonical ``ad_performance`` columns, in order, with their pandas dtypes (nullable where the value may be absent).
AD_PERFORMANCE_DTYPES: Mapping[str, str] = MappingProxyType(
    {
        "ad_id": "string",
        "date": "object",  # datetime.date
        "ad_name": "string",
        "adset_id": "string",
        "campaign_id": "string",
        "impressions": "Int64",
        "reach": "Int64",
        "frequency": "Float64",
        "clicks": "Int64",
        "spend": "Float64",
        "conversions": "Int64",
        "revenue": "Float64",
        "currency": "string",
        "platform": "string",
    }
)
AD_PERFORMANCE_COLUMNS: tuple[str, ...] = tuple(AD_PERFORMANCE_DTYPES)
#: Canonical fields an export must provide (by header, or for ``date`` through ``default_date``).
REQUIRED_FIELDS: tuple[str, ...] = ("ad_id", "date", "impressions", "clicks", "spend")
#: Fields an export may map besides the canonical ones: the last day a row covers (a row must cover one day).
EXTRA_FIELDS: tuple[str, ...] = ("date_stop",)
COUNT_FIELDS: tuple[str, ...] = ("impressions", "reach", "clicks", "conversions")
MONEY_FIELDS: tuple[str, ...] = ("spend", "revenue")
FLAG_CONVERSIONS_EXCEED_CLICKS = "conversions_exceed_clicks"

_CURRENCY_SUFFIX = re.compile(r"^(?P<base>.*?)\s*\((?P<code>[A-Za-z]{3})\)\s*$")


class ExportSchemaError(ValueError):
    """An export format or platform name that does not exist, or a malformed mapping."""


def is_currency_code(code: str) -> bool:
    """True for an ISO 4217 alphabetic code (upper case, as written in exports)."""
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def normalize_header(name: str) -> str:
    """Comparable form of a header: BOM and outer spaces stripped, inner spaces collapsed, case folded."""
    return " ".join(name.replace("\ufeff", "").split()).casefold()


def split_currency(header: str) -> tuple[str, str | None]:
    """``"Amount spent (USD)"`` -> ``("Amount spent", "USD")``; headers without an ISO code suffix are unchanged."""
    match = _CURRENCY_SUFFIX.match(header.replace("\ufeff", ""))
    if match and is_currency_code(match["code"]):
        return match["base"].strip(), match["code"]
    return header, None


def stage_header(header: str) -> str:
    """A header as stage names are spelt: normalised, spaces and hyphens as ``_`` ("Call booked" -> ``call_booked``)."""
    return "_".join(normalize_header(header).replace("-", " ").split())


def stage_fields(header: Sequence[str], stages: Sequence[str]) -> dict[str, int]:
    """Which column index holds each pipeline stage's counts (the first header spelling it); absent stages left out.

    A column may also feed a canonical field (a stage named ``results`` in a Meta export is its conversions too).
    """
    index_of: dict[str, int] = {}
    for position, raw in enumerate(header):
        index_of.setdefault(stage_header(raw), position)
    return {s: index_of[s] for s in stages if s in index_of}


@dataclass(frozen=True)
class ExportFormat:
    """How one platform's export names its columns.

    ``columns`` maps export headers (compared by :func:`normalize_header`) onto canonical fields; several headers
    may feed one field, the first present in ``columns`` order wins. ``date_formats`` are ``strptime`` patterns
    tried in order (ISO ``%Y-%m-%d`` always last); a ``date`` cell ``"A - B"`` is a range and must be one day.
    """

    name: str
    platform: str
    columns: Mapping[str, str]
    date_formats: tuple[str, ...] = ()
    default_currency: str | None = None
    verified: frozenset[str] = field(default_factory=frozenset)
    source: str = ""

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ExportSchemaError(f"export format {self.name!r}: unknown platform {self.platform!r}")
        allowed = set(AD_PERFORMANCE_COLUMNS) | set(EXTRA_FIELDS)
        bad = sorted({f for f in self.columns.values() if f not in allowed})
        if bad:
            raise ExportSchemaError(f"export format {self.name!r} maps onto unknown fields {bad}")

    def resolve(self, header: Sequence[str]) -> HeaderMatch:
        """Which column index feeds each canonical field, and the currency a header suffix names."""
        wanted: dict[str, list[str]] = {}
        for export_name, canonical in self.columns.items():
            wanted.setdefault(canonical, []).append(normalize_header(export_name))
        bases: list[str] = []
        currencies: set[str] = set()
        for raw in header:
            base, code = split_currency(raw)
            bases.append(normalize_header(base))
            if code is not None:
                currencies.add(code)
        index_of: dict[str, int] = {}
        for position, name in enumerate(bases):
            index_of.setdefault(name, position)
        fields: dict[str, int] = {}
        for canonical, names in wanted.items():
            for name in names:
                if name in index_of:
                    fields[canonical] = index_of[name]
                    break
        return HeaderMatch(self, MappingProxyType(fields), tuple(sorted(currencies)))


@dataclass(frozen=True)
class HeaderMatch:
    """An :class:`ExportFormat` applied to one header row."""

    export_format: ExportFormat
    fields: Mapping[str, int]  # canonical field -> column index
    header_currencies: tuple[str, ...]

    def missing(self, *, has_default_date: bool = False) -> list[str]:
        """Required canonical fields no header provides."""
        provided = set(self.fields) | ({"date"} if has_default_date else set())
        return [f for f in REQUIRED_FIELDS if f not in provided]


def _fmt(
    name: str, platform: str, columns: dict[str, str], *, verified: Sequence[str] = (), **kw: object
) -> ExportFormat:
    return ExportFormat(name, platform, MappingProxyType(columns), verified=frozenset(verified), **kw)  # type: ignore[arg-type]


_ISO = ("%Y-%m-%d",)
#: Canonical names themselves: the documented export schema every other tool can write.
GENERIC = _fmt(
    "generic",
    "generic",
    {name: name for name in (*AD_PERFORMANCE_COLUMNS, *EXTRA_FIELDS) if name != "platform"},
    date_formats=_ISO,
    source="this module (AD_PERFORMANCE_COLUMNS)",
)
META_ADS_MANAGER = _fmt(
    "meta_ads_manager",
    "meta",
    {
        "Ad ID": "ad_id",
        "Ad name": "ad_name",
        "Ad set ID": "adset_id",
        "Campaign ID": "campaign_id",
        "Day": "date",
        "Reporting starts": "date",
        "Reporting ends": "date_stop",
        "Impressions": "impressions",
        "Reach": "reach",
        "Frequency": "frequency",
        "Link clicks": "clicks",
        "Amount spent": "spend",
        "Purchases": "conversions",
        "Results": "conversions",
        "Purchases conversion value": "revenue",
        "Currency": "currency",
    },
    date_formats=_ISO,
    source="Meta Ads Manager > Reports > Export table data (CSV), breakdown by Day; best effort",
)
TIKTOK_ADS_MANAGER = _fmt(
    "tiktok_ads_manager",
    "tiktok",
    {
        "Ad ID": "ad_id",
        "Ad name": "ad_name",
        "Ad group ID": "adset_id",
        "Campaign ID": "campaign_id",
        "Date": "date",
        "By Day": "date",
        "Impressions": "impressions",
        "Reach": "reach",
        "Frequency": "frequency",
        "Clicks (destination)": "clicks",
        "Clicks": "clicks",
        "Cost": "spend",
        "Conversions": "conversions",
        "Total purchase value": "revenue",
        "Currency": "currency",
    },
    date_formats=("%Y-%m-%d %H:%M:%S", *_ISO),
    verified=("Impressions", "Reach", "Frequency", "Clicks (destination)", "Conversions", "Cost"),
    source="TikTok Ads Manager > Reporting > custom report, Ad + Day (ads.tiktok.com/help/article/basic-data)",
)
X_ADS = _fmt(
    "x_ads",
    "x",
    {
        "Ad ID": "ad_id",
        "Tweet ID": "ad_id",
        "Ad name": "ad_name",
        "Ad Group ID": "adset_id",
        "Campaign ID": "campaign_id",
        "Time period": "date",
        "Impressions": "impressions",
        "Link clicks": "clicks",
        "Spend": "spend",
        "Conversions": "conversions",
        "Conversion sale amount": "revenue",
        "Currency": "currency",
    },
    date_formats=("%b %d, %Y", "%m/%d/%Y", *_ISO),
    source="X Ads Manager > Export, segment by day; best effort",
)
LINKEDIN_CAMPAIGN_MANAGER = _fmt(
    "linkedin_campaign_manager",
    "linkedin",
    {
        "Creative ID": "ad_id",
        "Ad Name": "ad_name",
        "Campaign ID": "adset_id",  # LinkedIn's campaign is the ad set; its campaign group is the campaign
        "Campaign Group ID": "campaign_id",
        "Start Date (in UTC)": "date",
        "End Date (in UTC)": "date_stop",
        "Impressions": "impressions",
        "Reach": "reach",
        "Clicks": "clicks",
        "Total Spent": "spend",
        "Conversions": "conversions",
        "Conversion value": "revenue",
        "Currency": "currency",
    },
    date_formats=("%m/%d/%Y", *_ISO),
    source="LinkedIn Campaign Manager > Export > Ad performance, time breakdown Daily; best effort",
)
REDDIT_ADS = _fmt(
    "reddit_ads",
    "reddit",
    {
        "Ad ID": "ad_id",
        "Ad Name": "ad_name",
        "Ad Group ID": "adset_id",
        "Campaign ID": "campaign_id",
        "Date": "date",
        "Day": "date",
        "Impressions": "impressions",
        "Reach": "reach",
        "Clicks": "clicks",
        "Spend": "spend",
        "Amount Spent": "spend",
        "Conversions": "conversions",
        "Purchase Total Value": "revenue",
        "Currency": "currency",
    },
    date_formats=("%m/%d/%Y", *_ISO),
    source="Reddit Ads Manager > Reporting > Export, breakdown Day; best effort",
)
KAGGLE_FB_CONVERSION = _fmt(
    "kaggle_fb_conversion",
    "meta",
    {
        "ad_id": "ad_id",
        "xyz_campaign_id": "campaign_id",
        "fb_campaign_id": "adset_id",  # the README: fb_campaign_id is the Facebook ad set
        "reporting_start": "date",
        "reporting_end": "date_stop",
        "Impressions": "impressions",
        "Clicks": "clicks",
        "Spent": "spend",
        "Total_Conversion": "conversions",  # all conversions; Approved_Conversion (purchases) is not mapped
    },
    date_formats=_ISO,
    default_currency="USD",  # README: Spent is in USD
    verified=(
        "ad_id",
        "xyz_campaign_id",
        "fb_campaign_id",
        "Impressions",
        "Clicks",
        "Spent",
        "Total_Conversion",
    ),
    source="../shared/data/facebook_ads_kag_conversion/KAG_conversion_data.csv (no date column, no revenue)",
)

#: Every known export format; detection tries them in this order and takes the first with the most fields.
EXPORT_FORMATS: Mapping[str, ExportFormat] = MappingProxyType(
    {
        f.name: f
        for f in (
            GENERIC,
            META_ADS_MANAGER,
            TIKTOK_ADS_MANAGER,
            X_ADS,
            LINKEDIN_CAMPAIGN_MANAGER,
            REDDIT_ADS,
            KAGGLE_FB_CONVERSION,
        )
    }
)
#: The export format a platform's files are read with when the caller names the platform (Instagram = Meta).
PLATFORM_FORMATS: Mapping[str, str] = MappingProxyType(
    {
        "meta": "meta_ads_manager",
        "instagram": "meta_ads_manager",
        "tiktok": "tiktok_ads_manager",
        "x": "x_ads",
        "linkedin": "linkedin_campaign_manager",
        "reddit": "reddit_ads",
        "generic": "generic",
    }
)


def export_format(name: str) -> ExportFormat:
    """The :class:`ExportFormat` called ``name``; a clear error listing the known ones otherwise."""
    try:
        return EXPORT_FORMATS[name]
    except KeyError:
        raise ExportSchemaError(f"unknown export format {name!r}; known: {sorted(EXPORT_FORMATS)}") from None


def format_for_platform(platform: str) -> ExportFormat:
    """The export format used for ``platform``'s files (Instagram exports come from Meta Ads Manager)."""
    if platform not in PLATFORM_FORMATS:
        raise ExportSchemaError(f"unknown platform {platform!r}; known: {list(PLATFORMS)}")
    return EXPORT_FORMATS[PLATFORM_FORMATS[platform]]


def detect_format(header: Sequence[str], *, has_default_date: bool = False) -> HeaderMatch:
    """The format explaining ``header`` best: fewest missing required fields, then most mapped fields.

    Ties go to the earlier entry of :data:`EXPORT_FORMATS`. The result may still miss required fields; the
    caller rejects the file naming them (:meth:`HeaderMatch.missing`).
    """
    matches = [f.resolve(header) for f in EXPORT_FORMATS.values()]
    return min(
        matches,
        key=lambda m: (len(m.missing(has_default_date=has_default_date)), -len(m.fields)),
    )
