"""The experiments registry of a client: which ad A/B tests run, on which ads, judged on which metric, with which
guardrails and which design (significance level, horizon, minimum runtime and sample size).

A test is declared before it is judged (pre-registration: the metric, the guardrails, the smallest lift worth acting
on and the horizon are fixed in the file, not chosen after looking at the data), so the decision loop cannot
fish for a winner. An ad serves at most one running test: otherwise one ad's traffic would count for two
comparisons and the two tests would no longer be independent.

The metric tables below (:data:`METRIC_RATIOS`, :data:`HIGHER_IS_BETTER`, :data:`SAMPLE_UNIT`) are the single
source of how a metric is computed from ``ad_performance`` columns, which way is better, and what
``min_samples_per_variant`` counts. Errors name the file, the experiment and the field, because the people
editing this file are marketers and analysts, not the authors of this code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from optimizer_pipeline.lib.core.slugs import is_slug
from optimizer_pipeline.lib.core.yaml_files import read_yaml

#: Metric → (numerator column, denominator column) of ``ad_performance``; a variant's metric is sum/sum over its ads.
METRIC_RATIOS: dict[str, tuple[str, str]] = {
    "ctr": ("clicks", "impressions"),
    "cvr": ("conversions", "clicks"),
    "cpa": ("spend", "conversions"),
    "roas": ("revenue", "spend"),
    "revenue_per_impression": ("revenue", "impressions"),
}
#: Metric → True when a higher value is better (only cost per acquisition is better lower).
HIGHER_IS_BETTER: dict[str, bool] = {
    "ctr": True,
    "cvr": True,
    "cpa": False,
    "roas": True,
    "revenue_per_impression": True,
}
#: Metric → the ``ad_performance`` count that ``min_samples_per_variant`` counts: the trials of a rate of counts
#: (impressions for CTR, clicks for CVR) and, for the money metrics, the conversions, whose number drives their noise
#: (spend and revenue arrive in lumps, one per purchase).
SAMPLE_UNIT: dict[str, str] = {
    "ctr": "impressions",
    "cvr": "clicks",
    "cpa": "conversions",
    "roas": "conversions",
    "revenue_per_impression": "conversions",
}
METRICS: tuple[str, ...] = tuple(METRIC_RATIOS)
STATUSES: tuple[str, ...] = ("draft", "running", "paused", "stopped", "completed")
#: Statuses whose ads are being served for the test (an ad may appear in only one of these experiments).
ACTIVE_STATUSES: tuple[str, ...] = ("running",)
SPLIT_TOLERANCE = 1e-6

_EXPERIMENT_KEYS = {
    "id",
    "hypothesis",
    "variants",
    "split",
    "primary_metric",
    "guardrails",
    "min_relative_lift",
    "start",
    "max_duration_days",
    "min_runtime_hours",
    "min_samples_per_variant",
    "alpha",
    "status",
    "aa",
}
_VARIANT_KEYS = {"name", "ad_ids", "control"}
_GUARDRAIL_KEYS = {"metric", "max_degradation"}


class ExperimentRegistryError(ValueError):
    """An experiments file that cannot be used; the message names the file, the experiment and the field."""


@dataclass(frozen=True)
class Variant:
    """One arm: the ads that serve it, whether it is the control, and its planned share of the traffic."""

    name: str
    ad_ids: tuple[str, ...]
    control: bool
    share: float  # planned fraction of the experiment's traffic (the split), used by the sample-ratio check


@dataclass(frozen=True)
class Guardrail:
    """A metric that must not degrade by more than ``max_degradation`` (relative) against the control."""

    metric: str
    max_degradation: float  # cpa: at most this much higher; the other metrics: at most this much lower

    @property
    def higher_is_better(self) -> bool:
        """Which way the guardrail metric is better."""
        return HIGHER_IS_BETTER[self.metric]


@dataclass(frozen=True)
class Experiment:
    """One pre-registered ad A/B test."""

    id: str
    hypothesis: str
    variants: tuple[Variant, ...]  # file order; exactly one has control=True
    primary_metric: str
    guardrails: tuple[Guardrail, ...]
    min_relative_lift: float
    start: datetime | None  # timezone-aware (UTC); None only for a draft
    max_duration_days: int
    min_runtime_hours: int
    min_samples_per_variant: int  # counted in SAMPLE_UNIT[primary_metric]
    alpha: float
    status: str
    aa: bool = False  # an A/A test (the same creative in every arm): its daily pairs calibrate the client's VIF

    @property
    def control(self) -> Variant:
        """The control arm."""
        return next(v for v in self.variants if v.control)

    @property
    def treatments(self) -> tuple[Variant, ...]:
        """Every arm but the control, in file order."""
        return tuple(v for v in self.variants if not v.control)

    @property
    def split(self) -> dict[str, float]:
        """Variant name → planned traffic share."""
        return {v.name: v.share for v in self.variants}

    @property
    def ad_ids(self) -> tuple[str, ...]:
        """Every ad of the experiment, in variant order."""
        return tuple(a for v in self.variants for a in v.ad_ids)

    @property
    def higher_is_better(self) -> bool:
        """Which way the primary metric is better."""
        return HIGHER_IS_BETTER[self.primary_metric]

    @property
    def sample_unit(self) -> str:
        """The ``ad_performance`` column that ``min_samples_per_variant`` counts."""
        return SAMPLE_UNIT[self.primary_metric]


def load_experiments(path: str | Path, *, timezone_name: str = "UTC") -> list[Experiment]:
    """Parse and validate an experiments file; a start time without an offset is read in ``timezone_name`` (the
    client's ``decisions.timezone``)."""
    p = Path(path)
    doc = read_yaml(p, "experiments file", ExperimentRegistryError)
    return parse_experiments(doc, str(p), timezone_name=timezone_name)


def parse_experiments(doc: Any, source: str, *, timezone_name: str = "UTC") -> list[Experiment]:
    """Validate an already-parsed experiments document (``source`` names it in errors)."""
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("experiments", []), list):
        raise ExperimentRegistryError(f"{source}: expected a mapping with an 'experiments' list")
    unknown = set(doc) - {"experiments"}
    if unknown:
        raise ExperimentRegistryError(f"{source}: unknown top-level field(s) {sorted(unknown)}")
    zone = ZoneInfo(timezone_name)
    experiments: list[Experiment] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(doc.get("experiments") or []):
        exp = _experiment(raw, i, source, zone)
        if exp.id in seen:
            raise ExperimentRegistryError(
                f"{source}: experiment '{exp.id}': field 'id': used twice "
                f"(experiments #{seen[exp.id] + 1} and #{i + 1})"
            )
        seen[exp.id] = i
        experiments.append(exp)
    _check_running_ads(experiments, source)
    return experiments


def _check_running_ads(experiments: list[Experiment], source: str) -> None:
    """An ad serves at most one running test."""
    owner: dict[str, tuple[str, str]] = {}
    for exp in experiments:
        if exp.status not in ACTIVE_STATUSES:
            continue
        for v in exp.variants:
            for ad in v.ad_ids:
                if ad in owner:
                    other, variant = owner[ad]
                    raise ExperimentRegistryError(
                        f"{source}: experiment '{exp.id}': field 'variants': ad '{ad}' is already in running "
                        f"experiment '{other}' (variant '{variant}'); an ad cannot serve two running tests"
                    )
                owner[ad] = (exp.id, v.name)


def _experiment(raw: Any, index: int, source: str, zone: ZoneInfo) -> Experiment:
    label = f"{source}: experiment #{index + 1}"
    if not isinstance(raw, dict):
        raise ExperimentRegistryError(f"{label}: expected a mapping")
    exp_id = raw.get("id")
    if not isinstance(exp_id, str) or not is_slug(exp_id):
        raise ExperimentRegistryError(
            f"{label}: field 'id': must be a slug (lower-case letters, digits and '-'), got {exp_id!r}"
        )
    where = f"{source}: experiment '{exp_id}'"
    unknown = set(raw) - _EXPERIMENT_KEYS
    if unknown:
        raise ExperimentRegistryError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_EXPERIMENT_KEYS)}")

    def fail(key: str, problem: str) -> ExperimentRegistryError:
        return ExperimentRegistryError(f"{where}: field '{key}': {problem}")

    hypothesis = raw.get("hypothesis")
    if not isinstance(hypothesis, str) or not hypothesis.strip():
        raise fail("hypothesis", "is required (one sentence: what should change and why)")
    status = raw.get("status", "draft")
    if status not in STATUSES:
        raise fail("status", f"must be one of {list(STATUSES)}, got {status!r}")
    primary = raw.get("primary_metric")
    if primary not in METRICS:
        raise fail("primary_metric", f"must be one of {list(METRICS)}, got {primary!r}")
    names, ads, controls = _variants(raw.get("variants"), fail)
    shares = _split(raw.get("split"), names, fail)
    variants = tuple(
        Variant(name=n, ad_ids=a, control=c, share=shares[n]) for n, a, c in zip(names, ads, controls, strict=True)
    )
    guardrails = _guardrails(raw.get("guardrails"), primary, fail)
    max_days = _int(raw, "max_duration_days", 30, 1, fail)
    min_hours = _int(raw, "min_runtime_hours", 24, 0, fail)
    if min_hours > 24 * max_days:
        raise fail("min_runtime_hours", f"is longer than max_duration_days ({max_days} days), got {min_hours}")
    lift = _number(raw, "min_relative_lift", 0.0, fail)
    if lift < 0:
        raise fail("min_relative_lift", f"must be >= 0 (5% = 0.05), got {lift!r}")
    alpha = _number(raw, "alpha", 0.05, fail)
    if not 0 < alpha < 0.5:
        raise fail("alpha", f"must be in (0, 0.5), got {alpha!r}")
    aa = raw.get("aa", False)
    if not isinstance(aa, bool):
        raise fail("aa", f"must be true or false (true: every arm shows the same creative), got {aa!r}")
    return Experiment(
        id=exp_id,
        hypothesis=hypothesis.strip(),
        variants=variants,
        primary_metric=primary,
        guardrails=guardrails,
        min_relative_lift=lift,
        start=_start(raw.get("start"), status, zone, fail),
        max_duration_days=max_days,
        min_runtime_hours=min_hours,
        min_samples_per_variant=_int(raw, "min_samples_per_variant", 100, 1, fail),
        alpha=alpha,
        status=status,
        aa=aa,
    )


def _variants(raw: Any, fail: Any) -> tuple[list[str], list[tuple[str, ...]], list[bool]]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise fail("variants", "must be a list of at least 2 variants (a control and one challenger)")
    names: list[str] = []
    ads: list[tuple[str, ...]] = []
    controls: list[bool] = []
    for j, v in enumerate(raw):
        if not isinstance(v, dict):
            raise fail("variants", f"variant #{j + 1} must be a mapping with 'name' and 'ad_ids'")
        unknown = set(v) - _VARIANT_KEYS
        if unknown:
            raise fail("variants", f"variant #{j + 1} has unknown field(s) {sorted(unknown)}")
        name = v.get("name")
        if not isinstance(name, str) or not is_slug(name):
            raise fail("variants", f"variant #{j + 1}: 'name' must be a slug (a-z, 0-9, '-'), got {name!r}")
        if name in names:
            raise fail("variants", f"variant name '{name}' is used twice")
        ad_ids = v.get("ad_ids")
        if isinstance(ad_ids, (str, int)) and not isinstance(ad_ids, bool):
            ad_ids = [ad_ids]
        if not isinstance(ad_ids, list) or not ad_ids or not all(_is_ad_id(a) for a in ad_ids):
            raise fail("variants", f"variant '{name}': 'ad_ids' must be a non-empty list of ad ids, got {ad_ids!r}")
        ids = tuple(str(a).strip() for a in ad_ids)
        for a in ids:
            if ids.count(a) > 1 or any(a in other for other in ads):
                raise fail("variants", f"ad '{a}' is listed twice in this experiment")
        control = v.get("control", False)
        if not isinstance(control, bool):
            raise fail("variants", f"variant '{name}': 'control' must be true or false, got {control!r}")
        names.append(name)
        ads.append(ids)
        controls.append(control)
    if sum(controls) != 1:
        raise fail("variants", f"exactly one variant must have 'control: true', found {sum(controls)}")
    return names, ads, controls


def _is_ad_id(a: Any) -> bool:
    """Ad ids are strings (Meta's are 15-20 digits: quote them, YAML would read an integer); integers are accepted."""
    return (isinstance(a, str) and bool(a.strip())) or (isinstance(a, int) and not isinstance(a, bool))


def _split(raw: Any, names: list[str], fail: Any) -> dict[str, float]:
    if raw is None:
        return {n: 1 / len(names) for n in names}
    if not isinstance(raw, Mapping):
        raise fail("split", f"must be a mapping of variant name to traffic share, got {raw!r}")
    if set(raw) != set(names):
        raise fail("split", f"must name every variant exactly ({names}), got {sorted(map(str, raw))}")
    shares: dict[str, float] = {}
    for n in names:
        s = raw[n]
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s < 1:
            raise fail("split", f"share of '{n}' must be in (0, 1), got {s!r}")
        shares[n] = float(s)
    total = math.fsum(shares.values())
    if abs(total - 1) > SPLIT_TOLERANCE:
        raise fail("split", f"shares must sum to 1, got {total:g}")
    return shares


def _guardrails(raw: Any, primary: str, fail: Any) -> tuple[Guardrail, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail("guardrails", "must be a list of {metric, max_degradation}")
    out: list[Guardrail] = []
    for j, g in enumerate(raw):
        if not isinstance(g, dict) or set(g) - _GUARDRAIL_KEYS:
            raise fail("guardrails", f"guardrail #{j + 1} must be a mapping with 'metric' and 'max_degradation'")
        metric = g.get("metric")
        if metric not in METRICS:
            raise fail("guardrails", f"guardrail #{j + 1}: 'metric' must be one of {list(METRICS)}, got {metric!r}")
        if metric == primary:
            raise fail("guardrails", f"'{metric}' is the primary metric; a guardrail watches another metric")
        if any(o.metric == metric for o in out):
            raise fail("guardrails", f"metric '{metric}' has two guardrails")
        d = g.get("max_degradation")
        upper = math.inf if not HIGHER_IS_BETTER[metric] else 1.0
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < upper:
            bound = "a number >= 0" if upper == math.inf else "a fraction in [0, 1)"
            raise fail("guardrails", f"'{metric}' max_degradation must be {bound} (10% = 0.10), got {d!r}")
        out.append(Guardrail(metric=metric, max_degradation=float(d)))
    return tuple(out)


def _int(raw: dict[str, Any], key: str, default: int, minimum: int, fail: Any) -> int:
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise fail(key, f"must be an integer >= {minimum}, got {v!r}")
    return v


def _number(raw: dict[str, Any], key: str, default: float, fail: Any) -> float:
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise fail(key, f"must be a number, got {v!r}")
    return float(v)


def _start(v: Any, status: str, zone: ZoneInfo, fail: Any) -> datetime | None:
    """An aware start time in UTC. A date means its midnight, and a time without an offset is read, in the client's
    timezone; a draft may leave it out."""
    if v is None:
        if status == "draft":
            return None
        raise fail("start", f"is required for a {status} experiment (e.g. 2026-11-01T00:00:00Z)")
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.strip())
        except ValueError:
            raise fail("start", f"must be an ISO date-time such as 2026-11-01T09:00:00+01:00, got {v!r}") from None
    if isinstance(v, date) and not isinstance(v, datetime):
        v = datetime.combine(v, time())
    if not isinstance(v, datetime):
        raise fail("start", f"must be an ISO date-time such as 2026-11-01T09:00:00+01:00, got {v!r}")
    if v.tzinfo is None or v.utcoffset() is None:
        v = v.replace(tzinfo=zone)
    return v.astimezone(UTC)
