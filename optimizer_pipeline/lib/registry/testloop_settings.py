"""A client's ``test_loop:`` block in ``clients.yaml``: where its creatives and influencers are, and the knobs of
the test loop (the seed's influencer filter, attribution window, ignorance zone, decay, top-N, Thompson seed and
sharpness).

Kept beside the registry (which parses it into ``client.test_loop``) so the registry module stays readable; errors
name the file, the client and the field like every other registry error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Attribution windows the loop supports, in days (the seed's 1-day, 7-day and 28-day click windows).
ATTRIBUTION_WINDOWS: tuple[int, ...] = (1, 7, 28)


class TestLoopSettingsError(ValueError):
    """A ``test_loop`` block that cannot be used; the registry re-raises it as a ``RegistryError``."""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class TestLoopSettings:
    """Settings of one client's test loop; every field has the default used when the block is absent."""

    __test__ = False  # not a pytest test class

    creatives_file: Path | None = None
    influencers_file: Path | None = None
    landing_url: str | None = None
    niches: tuple[str, ...] = ()  # lower-case; empty = any niche
    min_followers: int = 5000  # inclusive
    max_followers: int = 50000  # inclusive
    min_engagement_rate: float = 0.03  # strict: ER must be above it
    creatives_per_influencer: int = 1
    attribution_window_days: int = 7
    min_clicks: int = 100
    min_days: int = 7
    decay: float | None = None
    top_n: int = 5
    seed: int = 0
    sharpness: float = 1.0  # posterior reshaping kappa of the Thompson draws; 1 = plain Thompson sampling


_FIELDS = set(TestLoopSettings.__dataclass_fields__)


def parse_test_loop(raw: Any, where: str, base_dir: Path | None = None) -> TestLoopSettings:
    """Validate a ``test_loop`` mapping (``None`` = all defaults); relative file paths resolve against ``base_dir``."""
    if raw is None:
        return TestLoopSettings()
    where = f"{where}: test_loop"
    if not isinstance(raw, dict):
        raise TestLoopSettingsError(f"{where}: expected a mapping")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise TestLoopSettingsError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    d = {**TestLoopSettings().__dict__, **raw}
    settings = TestLoopSettings(
        creatives_file=_path(d["creatives_file"], "creatives_file", where, base_dir),
        influencers_file=_path(d["influencers_file"], "influencers_file", where, base_dir),
        landing_url=_url(d["landing_url"], where),
        niches=_niches(d["niches"], where),
        min_followers=_int(d, "min_followers", where, minimum=0),
        max_followers=_int(d, "max_followers", where, minimum=0),
        min_engagement_rate=_fraction(d, "min_engagement_rate", where),
        creatives_per_influencer=_int(d, "creatives_per_influencer", where, minimum=1),
        attribution_window_days=_int(d, "attribution_window_days", where, minimum=1),
        min_clicks=_int(d, "min_clicks", where, minimum=0),
        min_days=_int(d, "min_days", where, minimum=0),
        decay=_decay(d["decay"], where),
        top_n=_int(d, "top_n", where, minimum=1),
        seed=_int(d, "seed", where, minimum=0),
        sharpness=_sharpness(d["sharpness"], where),
    )
    if settings.min_followers > settings.max_followers:
        raise TestLoopSettingsError(
            f"{where}: field 'min_followers' ({settings.min_followers}) is above 'max_followers' "
            f"({settings.max_followers})"
        )
    if settings.attribution_window_days not in ATTRIBUTION_WINDOWS:
        raise TestLoopSettingsError(
            f"{where}: field 'attribution_window_days' must be one of {list(ATTRIBUTION_WINDOWS)}, "
            f"got {settings.attribution_window_days}"
        )
    return settings


def _path(v: Any, key: str, where: str, base_dir: Path | None) -> Path | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise TestLoopSettingsError(f"{where}: field '{key}' must be a file path, got {v!r}")
    p = Path(v.strip()).expanduser()
    return p if p.is_absolute() or base_dir is None else (base_dir / p)


def _url(v: Any, where: str) -> str | None:
    if v is None:
        return None
    parts = urlsplit(v.strip()) if isinstance(v, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise TestLoopSettingsError(
            f"{where}: field 'landing_url' must be an http(s) URL without '#fragment', got {v!r}"
        )
    return v.strip()


def _niches(v: Any, where: str) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in v):
        raise TestLoopSettingsError(f"{where}: field 'niches' must be a list of niche names, got {v!r}")
    return tuple(dict.fromkeys(n.strip().lower() for n in v))


def _int(d: dict[str, Any], key: str, where: str, *, minimum: int) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise TestLoopSettingsError(f"{where}: field '{key}' must be an integer >= {minimum}, got {v!r}")
    return v


def _fraction(d: dict[str, Any], key: str, where: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise TestLoopSettingsError(f"{where}: field '{key}' must be a fraction between 0 and 1 (3% = 0.03), got {v!r}")
    return float(v)


def _decay(v: Any, where: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
        raise TestLoopSettingsError(
            f"{where}: field 'decay' must be a per-day factor with 0 < decay <= 1 (or absent), got {v!r}"
        )
    return float(v)


def _sharpness(v: Any, where: str) -> float:
    """Posterior reshaping kappa: a finite number >= 1 (``recommend`` draws from Beta(kappa alpha, kappa beta))."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 1):
        raise TestLoopSettingsError(
            f"{where}: field 'sharpness' must be a finite number >= 1 (1 = plain Thompson sampling, 8 = the "
            f"benchmarked policy), got {v!r}"
        )
    return float(v)
