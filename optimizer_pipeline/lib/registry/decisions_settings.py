"""A client's ``decisions:`` block in ``clients.yaml``: where its ad experiments are declared, where its ad metrics
come from (export files or the Meta Insights API), the client's timezone, how often decisions run, and the alert
thresholds of :mod:`optimizer_pipeline.lib.decisions.alerts`, and (optional ``pipeline:`` sub-block) the sales funnel
that values a service business's leads before they close, read by :mod:`optimizer_pipeline.lib.actions.blended_scores`.

Kept beside the registry (which parses it into ``client.decisions``) so the registry module stays readable; errors
name the file, the client and the field like every other registry error. Timezones are validated with the standard
library's IANA database (:mod:`zoneinfo`), so a name accepted here never fails when a day boundary is computed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from optimizer_pipeline.lib.ads.export_files import RESERVED_COLUMNS
from optimizer_pipeline.lib.ads.export_schema import is_currency_code

#: Where the ``ad_performance`` rows of a client come from: export files (default) or the Meta Insights API.
AD_SOURCES: tuple[str, ...] = ("csv", "meta")
#: A Meta ad account id as written in Ads Manager ("act_1234…") or as its digits only.
_AD_ACCOUNT_RE = re.compile(r"^(?:act_)?([0-9]{5,20})$")
#: An action type of the Insights ``actions`` list, e.g. ``offsite_conversion.fb_pixel_purchase``.
_ACTION_RE = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)*$")
#: A pipeline stage name, also the name of its optional count column in ``ad_performance`` rows.
_STAGE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Shapes of the CTR -> ROAS blend weight over an ad's age (see ``blended_scores.blend_weight``).
BLEND_CURVES: tuple[str, ...] = ("sigmoid", "linear", "step")


class DecisionSettingsError(ValueError):
    """A ``decisions`` block that cannot be used; the registry re-raises it as a ``RegistryError``."""


@dataclass(frozen=True)
class Stage:
    """One funnel stage: the chance a prospect at this stage closes, the deal value then, and the days left to close."""

    name: str
    probability: float  # in (0, 1], increasing along the funnel
    value: float  # deal value when it closes, in the pipeline's currency, > 0
    days_to_close: float  # expected days from reaching this stage to the sale, >= 0, non-increasing along the funnel


@dataclass(frozen=True)
class BlendCurve:
    """How the weight of ROAS (vs CTR) grows with an ad's age: ~0 at ``start_hours``, ~1 at ``full_hours``."""

    kind: str = "sigmoid"  # one of BLEND_CURVES
    start_hours: float = 6.0
    full_hours: float = 48.0


@dataclass(frozen=True)
class PipelineSettings:
    """A service business's funnel (``stages`` from first touch to sale) and the discount of value still to come."""

    stages: tuple[Stage, ...]
    half_life_days: float = 7.0  # value expected d days out counts 0.5 ** (d / half_life_days)
    currency: str | None = None  # ISO 4217 code of the stage values (None: the ad account's currency)
    blend: BlendCurve = field(default_factory=BlendCurve)


@dataclass(frozen=True)
class DecisionSettings:
    """Settings of one client's decision loop; every field has the default used when the block is absent."""

    experiments_file: Path | None = None  # the experiments registry (None: the client runs no A/B test)
    ad_source: str = "csv"  # one of AD_SOURCES
    meta_ad_account_id: str | None = None  # normalised to "act_<digits>"; required when ad_source is "meta"
    conversion_action: str = "offsite_conversion.fb_pixel_purchase"  # the Insights action counted as a conversion
    timezone: str = "UTC"  # IANA name: the ad account's reporting day, and naive experiment start times
    decision_every_hours: int = 6  # a divisor of 24, so decisions run at the same hours every day
    alert_drop_threshold: float = 0.25  # a drop alert needs the day's rate this far below the trailing 7 days
    alert_min_engagement: float = 0.01  # CTR below this (with enough impressions) is a low-engagement alert
    alert_min_impressions: int = 1000  # impressions an ad needs that day for low-engagement and viral alerts
    pipeline: PipelineSettings | None = None  # None: ROAS uses the observed ``revenue`` column

    @property
    def zone(self) -> ZoneInfo:
        """The client's timezone as a :class:`zoneinfo.ZoneInfo`."""
        return ZoneInfo(self.timezone)


_FIELDS = set(DecisionSettings.__dataclass_fields__)


def parse_decisions(raw: Any, where: str, base_dir: Path | None = None) -> DecisionSettings:
    """Validate a ``decisions`` mapping (``None`` = all defaults); a relative ``experiments_file`` resolves against
    ``base_dir`` (the folder of ``clients.yaml``)."""
    if raw is None:
        return DecisionSettings()
    where = f"{where}: decisions"
    if not isinstance(raw, dict):
        raise DecisionSettingsError(f"{where}: expected a mapping")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise DecisionSettingsError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    d = {**DecisionSettings().__dict__, **raw}
    ad_source = d["ad_source"]
    if ad_source not in AD_SOURCES:
        raise DecisionSettingsError(f"{where}: field 'ad_source' must be one of {list(AD_SOURCES)}, got {ad_source!r}")
    account = _account(d["meta_ad_account_id"], where)
    if ad_source == "meta" and account is None:
        raise DecisionSettingsError(
            f"{where}: field 'meta_ad_account_id' is required when ad_source is 'meta' (e.g. 'act_1234567890')"
        )
    every = d["decision_every_hours"]
    if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= 24 or 24 % every:
        raise DecisionSettingsError(
            f"{where}: field 'decision_every_hours' must be a divisor of 24 (1, 2, 3, 4, 6, 8, 12 or 24), got {every!r}"
        )
    threshold = _number(d, "alert_drop_threshold", where)
    if not 0 < threshold < 1:
        raise DecisionSettingsError(
            f"{where}: field 'alert_drop_threshold' must be a fraction in (0, 1) (25% = 0.25), got {threshold!r}"
        )
    engagement = _number(d, "alert_min_engagement", where)
    if not 0 <= engagement <= 1:
        raise DecisionSettingsError(
            f"{where}: field 'alert_min_engagement' must be a fraction between 0 and 1 (1% = 0.01), got {engagement!r}"
        )
    impressions = d["alert_min_impressions"]
    if isinstance(impressions, bool) or not isinstance(impressions, int) or impressions < 1:
        raise DecisionSettingsError(
            f"{where}: field 'alert_min_impressions' must be an integer >= 1, got {impressions!r}"
        )
    return DecisionSettings(
        experiments_file=_path(d["experiments_file"], where, base_dir),
        ad_source=ad_source,
        meta_ad_account_id=account,
        conversion_action=_action(d["conversion_action"], where),
        timezone=_timezone(d["timezone"], where),
        decision_every_hours=every,
        alert_drop_threshold=threshold,
        alert_min_engagement=engagement,
        alert_min_impressions=impressions,
        pipeline=parse_pipeline(d["pipeline"], where),
    )


def parse_pipeline(raw: Any, where: str) -> PipelineSettings | None:
    """Validate a ``pipeline`` mapping (``None`` = no pipeline); ``where`` is the enclosing block's location."""
    if raw is None:
        return None
    where = f"{where}: pipeline"
    d = _mapping(raw, where, {"stages", "half_life_days", "currency", "blend"})
    raw_stages = d.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise DecisionSettingsError(f"{where}: field 'stages' must be a non-empty list of stages, got {raw_stages!r}")
    stages = tuple(_stage(s, f"{where}: stages[{i}]") for i, s in enumerate(raw_stages))
    names = [s.name for s in stages]
    if len(set(names)) < len(names):
        raise DecisionSettingsError(f"{where}: field 'stages' repeats a stage name: {names}")
    for i, (prev, cur) in enumerate(pairwise(stages), start=1):
        if not cur.probability > prev.probability:
            raise DecisionSettingsError(
                f"{where}: stages[{i}] ({cur.name!r}): field 'probability' must increase along the funnel "
                f"(deeper stages close more often), got {cur.probability!r} after {prev.probability!r}"
            )
        if cur.days_to_close > prev.days_to_close:
            raise DecisionSettingsError(
                f"{where}: stages[{i}] ({cur.name!r}): field 'days_to_close' must not increase along the funnel, "
                f"got {cur.days_to_close!r} after {prev.days_to_close!r}"
            )
    half_life = _number({"half_life_days": d.get("half_life_days", 7.0)}, "half_life_days", where)
    if not half_life > 0:
        raise DecisionSettingsError(f"{where}: field 'half_life_days' must be > 0 days, got {half_life!r}")
    currency = d.get("currency")
    if currency is not None and not (isinstance(currency, str) and is_currency_code(currency)):
        raise DecisionSettingsError(
            f"{where}: field 'currency' must be an ISO 4217 code such as 'AED', got {currency!r}"
        )
    return PipelineSettings(stages, half_life, currency, _blend(d.get("blend"), f"{where}: blend"))


def _mapping(raw: Any, where: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise DecisionSettingsError(f"{where}: expected a mapping, got {raw!r}")
    unknown = set(raw) - known
    if unknown:
        raise DecisionSettingsError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    return raw


def _stage(raw: Any, where: str) -> Stage:
    d = _mapping(raw, where, {"name", "probability", "value", "days_to_close"})
    name = d.get("name")
    if not isinstance(name, str) or not _STAGE_RE.match(name) or name in RESERVED_COLUMNS:
        raise DecisionSettingsError(
            f"{where}: field 'name' must be lower_snake_case (it names the stage's count column) and not an "
            f"ad_performance column ({', '.join(sorted(RESERVED_COLUMNS))}), got {name!r}"
        )
    where = f"{where} ({name!r})"
    probability = _number(d, "probability", where)
    if not 0 < probability <= 1:
        raise DecisionSettingsError(
            f"{where}: field 'probability' must be a chance of closing in (0, 1] (35% = 0.35), got {probability!r}"
        )
    value = _number(d, "value", where)
    if not value > 0:
        raise DecisionSettingsError(f"{where}: field 'value' must be a deal value > 0, got {value!r}")
    days = _number(d, "days_to_close", where)
    if not days >= 0:
        raise DecisionSettingsError(f"{where}: field 'days_to_close' must be >= 0 days, got {days!r}")
    return Stage(name, probability, value, days)


def _blend(raw: Any, where: str) -> BlendCurve:
    if raw is None:
        return BlendCurve()
    d = {**BlendCurve().__dict__, **_mapping(raw, where, set(BlendCurve.__dataclass_fields__))}
    if d["kind"] not in BLEND_CURVES:
        raise DecisionSettingsError(f"{where}: field 'kind' must be one of {list(BLEND_CURVES)}, got {d['kind']!r}")
    start, full = _number(d, "start_hours", where), _number(d, "full_hours", where)
    if not 0 <= start < full:
        raise DecisionSettingsError(
            f"{where}: fields 'start_hours' and 'full_hours' need 0 <= start_hours < full_hours, got {start!r} and "
            f"{full!r}"
        )
    return BlendCurve(d["kind"], start, full)


def _path(v: Any, where: str, base_dir: Path | None) -> Path | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise DecisionSettingsError(f"{where}: field 'experiments_file' must be a file path, got {v!r}")
    p = Path(v.strip()).expanduser()
    return p if p.is_absolute() or base_dir is None else (base_dir / p)


def _account(v: Any, where: str) -> str | None:
    if v is None:
        return None
    match = _AD_ACCOUNT_RE.match(str(v).strip()) if isinstance(v, (str, int)) and not isinstance(v, bool) else None
    if match is None:
        raise DecisionSettingsError(
            f"{where}: field 'meta_ad_account_id' must be 'act_' followed by digits, or the digits alone, got {v!r}"
        )
    return f"act_{match.group(1)}"


def _action(v: Any, where: str) -> str:
    if not isinstance(v, str) or not _ACTION_RE.match(v.strip()):
        raise DecisionSettingsError(
            f"{where}: field 'conversion_action' must be an Insights action type such as "
            f"'offsite_conversion.fb_pixel_purchase', got {v!r}"
        )
    return v.strip()


def _timezone(v: Any, where: str) -> str:
    name = v.strip() if isinstance(v, str) else None
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            if name in available_timezones() or name == "UTC":
                return name
    raise DecisionSettingsError(
        f"{where}: field 'timezone' must be an IANA timezone name such as 'Europe/Paris' or 'UTC', got {v!r}"
    )


def _number(d: dict[str, Any], key: str, where: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise DecisionSettingsError(f"{where}: field '{key}' must be a number, got {v!r}")
    return float(v)
