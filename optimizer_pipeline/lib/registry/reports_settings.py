"""A client's ``reports:`` block in ``clients.yaml``: where its brief-test registry is (the tests of whether a
creative brief that asks for a pattern pays off, :mod:`optimizer_pipeline.lib.reports.brief_tests`).

Kept beside the registry (which parses it into ``client.reports``) like the ``test_loop`` block; errors name the file,
the client and the field like every other registry error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ReportSettingsError(ValueError):
    """A ``reports`` block that cannot be used; the registry re-raises it as a ``RegistryError``."""


@dataclass(frozen=True)
class ReportSettings:
    """Settings of one client's reports; every field has the default used when the block is absent."""

    brief_tests_file: Path | None = None


_FIELDS = set(ReportSettings.__dataclass_fields__)


def parse_reports(raw: Any, where: str, base_dir: Path | None = None) -> ReportSettings:
    """Validate a ``reports`` mapping (``None`` = defaults); a relative file path resolves against ``base_dir``."""
    if raw is None:
        return ReportSettings()
    where = f"{where}: reports"
    if not isinstance(raw, dict):
        raise ReportSettingsError(f"{where}: expected a mapping")
    unknown = set(map(str, raw)) - _FIELDS
    if unknown:
        raise ReportSettingsError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    return ReportSettings(brief_tests_file=_path(raw.get("brief_tests_file"), "brief_tests_file", where, base_dir))


def _path(v: Any, key: str, where: str, base_dir: Path | None) -> Path | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise ReportSettingsError(f"{where}: field '{key}' must be a file path, got {v!r}")
    p = Path(v.strip()).expanduser()
    return p if p.is_absolute() or base_dir is None else (base_dir / p)
