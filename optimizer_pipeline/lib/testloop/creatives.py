"""A client's creative registry (YAML): the videos the test loop puts in front of influencers, each tagged with the
five pattern attributes and given the canonical pattern hash the posteriors are keyed by.

File format (``test_loop.creatives_file`` in ``clients.yaml``)::

    creatives:
      - id: gf-q-curiosity              # [A-Za-z0-9_.-], unique in the file
        name: Why am I always tired?
        video_path: videos/gf-q-curiosity.mp4   # relative to this file's folder
        status: active                  # draft | active | paused | retired
        tags: {hook_type: question, emotion: curiosity, pacing: fast, pain_point: no_time, cta_type: urgency}

Tag values are checked against :mod:`optimizer_pipeline.lib.features.labels.vocabulary` (the one list of allowed
values). One bad entry never stops the others: it is quarantined with a reason naming the file, the entry and the field.
A file that cannot be read at all raises :class:`CreativesError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer_pipeline.lib.core.yaml_files import read_yaml
from optimizer_pipeline.lib.testloop.pattern_hash import PATTERN_VALUES, full_pattern_hash

CREATIVE_STATUSES: tuple[str, ...] = ("draft", "active", "paused", "retired")
ACTIVE = "active"
#: Allowed values per tag field, in pattern-hash order (hook, emotion, pacing, pain point, CTA): a creative's tags
#: are exactly the attributes of its pattern hash.
TAG_VALUES: Mapping[str, tuple[str, ...]] = PATTERN_VALUES
TAG_FIELDS: tuple[str, ...] = tuple(TAG_VALUES)
CREATIVE_COLUMNS: tuple[str, ...] = ("creative_id", "name", "video_path", "status", *TAG_FIELDS, "pattern_hash")
REJECTED_COLUMNS: tuple[str, ...] = ("source_file", "entry", "creative_id", "field", "reason", "raw")
_ENTRY_KEYS = {"id", "name", "video_path", "status", "tags"}
CREATIVE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class CreativesError(ValueError):
    """A creatives file that cannot be read at all (missing, not YAML, not a list of entries)."""


@dataclass(frozen=True)
class CreativesResult:
    """Accepted creatives (``CREATIVE_COLUMNS``) and quarantined entries (``REJECTED_COLUMNS``); read = both."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame
    read: int


def load_creatives(path: str | Path) -> CreativesResult:
    """Read and validate a creatives file; relative video paths resolve against the file's folder."""
    p = Path(path)
    doc = read_yaml(p, "creatives file", CreativesError)
    return parse_creatives(doc, source=str(p), base_dir=p.resolve().parent)


def parse_creatives(doc: Any, *, source: str = "<creatives>", base_dir: Path | None = None) -> CreativesResult:
    """Validate an already-parsed creatives document: ``{creatives: [...]}`` or a bare list of entries."""
    entries = doc.get("creatives") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise CreativesError(f"{source}: expected a mapping with a 'creatives' list (or a list of creatives)")
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    for i, raw in enumerate(entries):
        creative_id = _raw_id(raw)
        problems = _problems(raw)
        if creative_id is not None:
            if creative_id in first_seen:
                first = first_seen[creative_id]
                problems.insert(0, ("id", f"duplicate id {creative_id!r} (first used by creatives[{first}])"))
            else:
                first_seen[creative_id] = i
        if problems:
            where = f"{source}: creatives[{i}]" + (f" (id {creative_id!r})" if creative_id else "")
            rejected.append(
                {
                    "source_file": source,
                    "entry": i,
                    "creative_id": creative_id,
                    "field": ", ".join(dict.fromkeys(f for f, _ in problems)),
                    "reason": f"{where}: " + "; ".join(f"field '{f}': {why}" for f, why in problems),
                    "raw": json.dumps(raw, default=str, sort_keys=True),
                }
            )
        else:
            accepted.append(_row(raw, base_dir))
    return CreativesResult(
        accepted=pd.DataFrame(accepted, columns=list(CREATIVE_COLUMNS)),
        rejected=pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS)).astype({"entry": "int64"}),
        read=len(entries),
    )


def normalize_tag(value: Any) -> Any:
    """``"Before-After"`` → ``"before_after"``: how people type a tag vs. how the vocabulary spells it."""
    if isinstance(value, str):
        return re.sub(r"[\s-]+", "_", value.strip().lower())
    return value


def _raw_id(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text or None


def _problems(raw: Any) -> list[tuple[str, str]]:
    """(field, why) for everything wrong with one entry; empty when it is usable."""
    if not isinstance(raw, dict):
        return [("entry", f"expected a mapping with {sorted(_ENTRY_KEYS)}, got {type(raw).__name__}")]
    problems: list[tuple[str, str]] = []
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        problems.append((unknown[0], f"unknown field(s) {unknown}; known: {sorted(_ENTRY_KEYS)}"))
    creative_id = _raw_id(raw)
    if creative_id is None:
        problems.append(("id", "missing (a non-empty id such as 'gf-001')"))
    elif not CREATIVE_ID_RE.match(creative_id):
        problems.append(("id", f"{creative_id!r} may only use letters, digits, '_', '.' and '-'"))
    for key in ("name", "video_path"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            problems.append((key, "missing (a non-empty string)"))
    status = raw.get("status")
    if status is None:
        problems.append(("status", f"missing (one of {list(CREATIVE_STATUSES)})"))
    elif normalize_tag(status) not in CREATIVE_STATUSES:
        problems.append(("status", f"{status!r} is not one of {list(CREATIVE_STATUSES)}"))
    tags = raw.get("tags")
    if not isinstance(tags, dict):
        problems.append(("tags", f"missing (a mapping of {list(TAG_FIELDS)})"))
        return problems
    unknown_tags = sorted(set(tags) - set(TAG_FIELDS))
    if unknown_tags:
        problems.append((f"tags.{unknown_tags[0]}", f"unknown tag(s) {unknown_tags}; known: {list(TAG_FIELDS)}"))
    for field, allowed in TAG_VALUES.items():
        if field not in tags or tags[field] is None:
            problems.append((f"tags.{field}", f"missing (one of {list(allowed)})"))
        elif normalize_tag(tags[field]) not in allowed:
            problems.append((f"tags.{field}", f"{tags[field]!r} is not one of {list(allowed)}"))
    return problems


def _row(raw: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    tags = {field: normalize_tag(raw["tags"][field]) for field in TAG_FIELDS}
    video = Path(raw["video_path"].strip()).expanduser()
    if not video.is_absolute() and base_dir is not None:
        video = base_dir / video
    return {
        "creative_id": _raw_id(raw),
        "name": raw["name"].strip(),
        "video_path": str(video),
        "status": normalize_tag(raw["status"]),
        **tags,
        "pattern_hash": full_pattern_hash(tags),
    }


def active_creatives(creatives: pd.DataFrame) -> pd.DataFrame:
    """The creatives that can be assigned to influencers (status ``active``), in id order."""
    return creatives[creatives["status"] == ACTIVE].sort_values("creative_id", kind="stable").reset_index(drop=True)
