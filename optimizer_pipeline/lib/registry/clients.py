"""The client registry (``clients.yaml``): who the clients are, which hashtags and which competitors to learn from.

A competitor handle is collected like a hashtag: it becomes one more ``client_hashtag`` partition of its client, keyed
``<client>__at-<handle slug>`` (:data:`PROFILE_SLUG_PREFIX`), with the client's default settings, so every
downstream market asset analyses it unchanged. ``settings.kind`` says which of the two a partition is.

A client's optional ``test_loop:`` block (creatives and influencer files, the influencer filter, the statistics
knobs of the test loop) becomes ``client.test_loop``, see :mod:`optimizer_pipeline.lib.registry.testloop_settings`;
its optional ``decisions:`` block (experiments file, ad source, timezone, alert thresholds) becomes
``client.decisions``, see :mod:`optimizer_pipeline.lib.registry.decisions_settings`; its optional ``reports:`` block
(the brief-tests file) becomes ``client.reports``, see :mod:`optimizer_pipeline.lib.registry.reports_settings`.

Validation errors name the file, the client and the field, because the people editing this file are marketers and
analysts, not the authors of this code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from croniter import croniter

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.core.slugs import client_hashtag_key, is_slug, slugify
from optimizer_pipeline.lib.core.yaml_files import read_yaml
from optimizer_pipeline.lib.registry.decisions_settings import DecisionSettings, DecisionSettingsError, parse_decisions
from optimizer_pipeline.lib.registry.reports_settings import ReportSettings, ReportSettingsError, parse_reports
from optimizer_pipeline.lib.registry.testloop_settings import TestLoopSettings, TestLoopSettingsError, parse_test_loop

#: The registry shipped with the package: the sample client of the embedded default.
SAMPLE_CLIENTS_FILE = Path(__file__).resolve().parents[2] / "sample" / "clients.yaml"

HASHTAG_DEFAULTS: dict[str, Any] = {
    "videos_per_bucket": 50,
    "date_cutoff": None,
    "min_views": 1000,
    "min_engagement_rate": 0.02,
    "over_collection": 800,
    "buckets": list(DURATION_BUCKETS),
    "outlier_fence_scale": "linear",
    "refresh": "0 6 * * 1",
}
#: ``refresh: none`` (or null) turns the scheduled re-scrape of a hashtag or competitor off.
REFRESH_OFF = "none"
_HASHTAG_KEYS = {"tag", "slug", *HASHTAG_DEFAULTS}
_CLIENT_KEYS = {
    "slug",
    "name",
    "industry",
    "brand",
    "hashtags",
    "competitors",
    "defaults",
    "test_loop",
    "decisions",
    "reports",
}
_COMPETITOR_KEYS = {"handle", *HASHTAG_DEFAULTS}
#: A competitor's partition slug is ``at-<handle slug>`` ("@handle"), e.g. ``glowfuel__at-fitfoodie``.
PROFILE_SLUG_PREFIX = "at-"
#: TikTok handles: letters, digits, ``_`` and ``.`` (compared case-insensitively, stored lower-case).
HANDLE_RE = re.compile(r"^[a-z0-9_.]*[a-z0-9][a-z0-9_.]*$")
KIND_HASHTAG = "hashtag"
KIND_PROFILE = "profile"


class RegistryError(ValueError):
    """A registry file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class HashtagSettings:
    """One hashtag (or competitor profile) of one client, with the collection and filtering settings of the seed.

    For a competitor profile (``kind == "profile"``) ``handle`` is the TikTok handle (no ``@``), ``tag`` repeats it and
    ``slug`` is ``at-<handle slug>``; the filtering settings are the client's defaults (or the competitor's own).
    """

    tag: str
    slug: str
    videos_per_bucket: int
    date_cutoff: date | None
    min_views: int
    min_engagement_rate: float
    over_collection: int
    buckets: tuple[str, ...]
    outlier_fence_scale: str = "linear"
    refresh: str | None = "0 6 * * 1"  # cron (UTC) of the scheduled re-scrape; None = never
    kind: str = KIND_HASHTAG
    handle: str | None = None

    @property
    def is_profile(self) -> bool:
        """True for a competitor profile, False for a hashtag."""
        return self.kind == KIND_PROFILE

    @property
    def label(self) -> str:
        """How people write it: ``#nutrition`` or ``@greenbites``."""
        return f"@{self.handle}" if self.is_profile else f"#{self.tag}"


@dataclass(frozen=True)
class Client:
    """A client (tenant): brand facts are used by the briefs of later issues."""

    slug: str
    name: str
    industry: str
    brand: dict[str, Any]
    hashtags: tuple[HashtagSettings, ...]
    competitors: tuple[str, ...] = ()  # handles, lower-case, without '@'
    competitor_profiles: tuple[HashtagSettings, ...] = ()  # one per handle, same order, kind "profile"
    test_loop: TestLoopSettings = field(default_factory=TestLoopSettings)  # defaults when the block is absent
    decisions: DecisionSettings = field(default_factory=DecisionSettings)  # defaults when the block is absent
    reports: ReportSettings = field(default_factory=ReportSettings)  # defaults when the block is absent

    @property
    def sources(self) -> tuple[HashtagSettings, ...]:
        """Everything collected for this client: its hashtags, then its competitor profiles."""
        return self.hashtags + self.competitor_profiles

    def key_for(self, settings: HashtagSettings) -> str:
        """The ``client_hashtag`` partition key of one of this client's hashtags or competitor profiles."""
        return client_hashtag_key(self.slug, settings.slug)

    def competitor_keys(self) -> dict[str, str]:
        """Competitor handle → its ``client_hashtag`` partition key, in registry order."""
        return {p.handle or p.tag: self.key_for(p) for p in self.competitor_profiles}


@dataclass(frozen=True)
class Registry:
    """All clients of one registry file."""

    path: str
    clients: tuple[Client, ...] = field(default_factory=tuple)

    def client_hashtag_keys(self) -> list[str]:
        """Every ``client_hashtag`` partition key, hashtags and competitors (``<client>__at-<handle>``), sorted."""
        return sorted(c.key_for(h) for c in self.clients for h in c.sources)

    def competitor_keys(self) -> list[str]:
        """The ``client_hashtag`` keys of competitor profiles only, sorted."""
        return sorted(c.key_for(p) for c in self.clients for p in c.competitor_profiles)

    def client_keys(self) -> list[str]:
        """Every client partition key, sorted."""
        return sorted(c.slug for c in self.clients)

    def client(self, slug: str) -> Client:
        """The client with this slug (a ``client`` partition key); ``KeyError`` when it is not registered."""
        for c in self.clients:
            if c.slug == slug:
                return c
        raise KeyError(f"client {slug!r} is not in the registry {self.path}")

    def lookup(self, key: str) -> tuple[Client, HashtagSettings]:
        """The client and hashtag (or competitor profile) behind a ``client_hashtag`` key; ``KeyError`` when it is
        not registered."""
        for c in self.clients:
            for h in c.sources:
                if c.key_for(h) == key:
                    return c, h
        raise KeyError(f"{key!r} is not in the registry {self.path}")


def load_registry(path: str | Path) -> Registry:
    """Parse and validate a registry file."""
    p = Path(path)
    doc = read_yaml(p, "registry file", RegistryError)
    return parse_registry(doc, source=str(p), base_dir=p.resolve().parent)


def parse_registry(doc: Any, *, source: str = "<registry>", base_dir: Path | None = None) -> Registry:
    """Validate an already-parsed registry document; relative file paths (``test_loop``) resolve against
    ``base_dir``, the registry file's folder."""
    if not isinstance(doc, dict) or not isinstance(doc.get("clients"), list):
        raise RegistryError(f"{source}: expected a mapping with a 'clients' list")
    unknown = set(doc) - {"clients", "defaults"}
    if unknown:
        raise RegistryError(f"{source}: unknown top-level field(s) {sorted(unknown)}")
    defaults = _merge_defaults(HASHTAG_DEFAULTS, doc.get("defaults") or {}, f"{source}: defaults")
    clients: list[Client] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["clients"]):
        client = _parse_client(raw, defaults, f"{source}: clients[{i}]", base_dir)
        if client.slug in seen:
            raise RegistryError(f"{source}: client {client.slug!r} is listed twice")
        seen.add(client.slug)
        clients.append(client)
    return Registry(path=source, clients=tuple(clients))


def _merge_defaults(base: dict[str, Any], override: Any, where: str) -> dict[str, Any]:
    if not isinstance(override, dict):
        raise RegistryError(f"{where}: expected a mapping")
    unknown = set(override) - set(HASHTAG_DEFAULTS)
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    return {**base, **override}


def _parse_client(raw: Any, defaults: dict[str, Any], where: str, base_dir: Path | None = None) -> Client:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: expected a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(f"{where}: field 'name' is required (a non-empty string)")
    where = f"{where.rsplit(':', 1)[0]}: client {name!r}"
    unknown = set(raw) - _CLIENT_KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    slug = _slug_field(raw.get("slug"), name, where)
    industry = raw.get("industry", "")
    if not isinstance(industry, str):
        raise RegistryError(f"{where}: field 'industry' must be a string")
    brand = raw.get("brand") or {}
    if not isinstance(brand, dict):
        raise RegistryError(f"{where}: field 'brand' must be a mapping of brand facts")
    client_defaults = _merge_defaults(defaults, raw.get("defaults") or {}, f"{where}: defaults")
    tags = raw.get("hashtags")
    if not isinstance(tags, list) or not tags:
        raise RegistryError(f"{where}: field 'hashtags' must be a non-empty list")
    hashtags = [_parse_hashtag(t, client_defaults, f"{where}: hashtags[{j}]") for j, t in enumerate(tags)]
    slugs = [h.slug for h in hashtags]
    dupes = sorted({s for s in slugs if slugs.count(s) > 1})
    if dupes:
        raise RegistryError(f"{where}: hashtag(s) {dupes} listed twice")
    competitors = raw.get("competitors") or []
    if not isinstance(competitors, list):
        raise RegistryError(f"{where}: field 'competitors' must be a list of TikTok handles")
    profiles = [_parse_competitor(c, client_defaults, f"{where}: competitors[{j}]") for j, c in enumerate(competitors)]
    _check_keys(slug, hashtags, profiles, where)
    try:
        test_loop = parse_test_loop(raw.get("test_loop"), where, base_dir)
    except TestLoopSettingsError as exc:
        raise RegistryError(str(exc)) from exc
    try:
        decisions = parse_decisions(raw.get("decisions"), where, base_dir)
    except DecisionSettingsError as exc:
        raise RegistryError(str(exc)) from exc
    try:
        reports = parse_reports(raw.get("reports"), where, base_dir)
    except ReportSettingsError as exc:
        raise RegistryError(str(exc)) from exc
    return Client(
        slug=slug,
        name=name.strip(),
        industry=industry,
        brand=brand,
        hashtags=tuple(hashtags),
        competitors=tuple(p.tag for p in profiles),
        competitor_profiles=tuple(profiles),
        test_loop=test_loop,
        decisions=decisions,
        reports=reports,
    )


def _check_keys(client: str, hashtags: list[HashtagSettings], profiles: list[HashtagSettings], where: str) -> None:
    """Competitor handles must map to partition keys of their own: no repeats, no clash with a hashtag."""
    seen: dict[str, HashtagSettings] = {h.slug: h for h in hashtags}
    for p in profiles:
        other = seen.get(p.slug)
        if other is None:
            seen[p.slug] = p
            continue
        key = client_hashtag_key(client, p.slug)
        if other.is_profile and other.handle == p.handle:
            raise RegistryError(f"{where}: competitor '@{p.handle}' listed twice")
        if other.is_profile:
            what, hint = f"competitor '@{other.handle}'", "handles that differ only in '.' and '_' cannot both be used"
        else:
            what = f"hashtag {other.tag!r}"
            hint = f"give the hashtag another 'slug' (competitor keys are '{client}__{PROFILE_SLUG_PREFIX}<handle>')"
        raise RegistryError(
            f"{where}: competitor '@{p.handle}' and {what} would share the partition key {key!r}; {hint}"
        )


def _parse_competitor(raw: Any, defaults: dict[str, Any], where: str) -> HashtagSettings:
    """A competitor: a handle string, or ``{handle: ..., <any hashtag setting>: ...}``; the client's defaults apply."""
    if isinstance(raw, str):
        raw = {"handle": raw}
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: expected a TikTok handle or a mapping with 'handle'")
    handle = raw.get("handle")
    if not isinstance(handle, str) or not handle.strip().lstrip("@"):
        raise RegistryError(f"{where}: field 'handle' is required (the TikTok handle, with or without '@')")
    handle = handle.strip().lstrip("@").lower()
    if not HANDLE_RE.match(handle):
        raise RegistryError(
            f"{where}: competitor {handle!r} is not a TikTok handle (letters, digits, '_' and '.' only)"
        )
    where = f"{where.rsplit(':', 1)[0]}: competitor '@{handle}'"
    unknown = set(raw) - _COMPETITOR_KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    merged = {**defaults, **{k: v for k, v in raw.items() if k in HASHTAG_DEFAULTS}}
    slug = PROFILE_SLUG_PREFIX + slugify(handle)
    return _settings(handle, slug, merged, where, kind=KIND_PROFILE, handle=handle)


def _slug_field(value: Any, fallback: str, where: str) -> str:
    if value is None:
        try:
            return slugify(fallback)
        except ValueError as exc:
            raise RegistryError(f"{where}: cannot derive a slug from {fallback!r}; set 'slug'") from exc
    if not isinstance(value, str) or not is_slug(value):
        raise RegistryError(f"{where}: field 'slug' must match [a-z0-9-] without '__', got {value!r}")
    return value


def _parse_hashtag(raw: Any, defaults: dict[str, Any], where: str) -> HashtagSettings:
    if isinstance(raw, str):
        raw = {"tag": raw}
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: expected a hashtag string or mapping")
    tag = raw.get("tag")
    if not isinstance(tag, str) or not tag.strip().lstrip("#"):
        raise RegistryError(f"{where}: field 'tag' is required (the hashtag, without '#')")
    tag = tag.strip().lstrip("#")
    where = f"{where.rsplit(':', 1)[0]}: hashtag {tag!r}"
    unknown = set(raw) - _HASHTAG_KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    merged = {**defaults, **{k: v for k, v in raw.items() if k in HASHTAG_DEFAULTS}}
    return _settings(tag, _slug_field(raw.get("slug"), tag, where), merged, where)


def _settings(tag: str, slug: str, merged: dict[str, Any], where: str, **extra: Any) -> HashtagSettings:
    """Validated settings of one hashtag or competitor from its merged (defaults + own) fields."""
    return HashtagSettings(
        tag=tag,
        slug=slug,
        videos_per_bucket=_int_field(merged, "videos_per_bucket", where, minimum=1),
        date_cutoff=_date_field(merged.get("date_cutoff"), where),
        min_views=_int_field(merged, "min_views", where, minimum=0),
        min_engagement_rate=_rate_field(merged, "min_engagement_rate", where),
        over_collection=_int_field(merged, "over_collection", where, minimum=1),
        buckets=_buckets_field(merged.get("buckets"), where),
        outlier_fence_scale=_choice_field(merged, "outlier_fence_scale", ("linear", "log"), where),
        refresh=_refresh_field(merged.get("refresh"), where),
        **extra,
    )


def _int_field(d: dict[str, Any], key: str, where: str, *, minimum: int) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise RegistryError(f"{where}: field '{key}' must be an integer >= {minimum}, got {v!r}")
    return v


def _rate_field(d: dict[str, Any], key: str, where: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise RegistryError(f"{where}: field '{key}' must be a fraction between 0 and 1 (2% = 0.02), got {v!r}")
    return float(v)


def _choice_field(d: dict[str, Any], key: str, choices: tuple[str, ...], where: str) -> str:
    v = d.get(key)
    if v not in choices:
        raise RegistryError(f"{where}: field '{key}' must be one of {list(choices)}, got {v!r}")
    return str(v)


def _refresh_field(v: Any, where: str) -> str | None:
    """A five-field cron string (UTC), or None for ``none`` / null.

    Validity is croniter's, the library ``hashtag_refresh_schedule`` evaluates the string with, so a file accepted
    here never fails at a tick, and no cron grammar is written here.
    """
    if v is None or (isinstance(v, str) and v.strip().lower() == REFRESH_OFF):
        return None
    if not isinstance(v, str) or len(v.split()) != 5 or not croniter.is_valid(v):
        raise RegistryError(
            f"{where}: field 'refresh' must be a cron string with five fields (UTC), e.g. '0 6 * * 1' for Mondays "
            f"at 06:00, or 'none' to never re-scrape; got {v!r}"
        )
    return " ".join(v.split())


def _date_field(v: Any, where: str) -> date | None:
    if v is None or isinstance(v, date):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise RegistryError(f"{where}: field 'date_cutoff' must be a date YYYY-MM-DD, got {v!r}")


def _buckets_field(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not v:
        raise RegistryError(f"{where}: field 'buckets' must be a non-empty list of {list(DURATION_BUCKETS)}")
    bad = [b for b in v if b not in DURATION_BUCKETS]
    if bad:
        raise RegistryError(f"{where}: field 'buckets' has unknown bucket(s) {bad}; known: {list(DURATION_BUCKETS)}")
    return tuple(b for b in DURATION_BUCKETS if b in v)
