"""A client's creative registry (YAML): the videos the test loop puts in front of influencers, each tagged with the
five pattern attributes and given the canonical pattern hash the posteriors are keyed by.

File format (``test_loop.creatives_file`` in ``clients.yaml``)::

    creatives:
      - id: gf-q-curiosity              # [A-Za-z0-9_.-], unique in the file
        name: Why am I always tired?
        video_path: videos/gf-q-curiosity.mp4   # relative to this file's folder; optional when every tag is given
        status: active                  # draft | active | paused | retired
        tags: {hook_type: question, emotion: curiosity, pacing: fast, pain_point: no_time, cta_type: urgency}
        ad_ids: ["120210000000000001"]  # optional: the paid ads (ad_performance.ad_id) that run this creative

Tag values are checked against :mod:`optimizer_pipeline.lib.features.labels.vocabulary` (the one list of allowed
values). Tags may be absent or partial: a missing tag (absent, null or empty) is an empty string in its column and is
listed in ``tags_missing``, and the creative autopsy (:mod:`.creative_autopsy`, asset ``creative_dna``) derives it
from the video. Such an entry therefore needs a ``video_path``; an entry with neither complete tags nor a video is
rejected. ``pattern_hash`` is the full hash of the *given* tags, and null while a tag is missing: a pattern is only
named once every attribute is known, so the hash of a partly tagged creative is ``creative_dna.pattern_hash`` (given
tags first, derived ones filling the gaps).

An ad id belongs to at most one creative of the file (its performance is that creative's evidence): a later entry
naming an ad id already claimed is rejected, as is an entry listing one twice.

One bad entry never stops the others: it is quarantined with a reason naming the file, the entry and the field.
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
#: What a missing tag is in its column (a string column stays a string column).
MISSING_TAG = ""
CREATIVE_COLUMNS: tuple[str, ...] = (
    "creative_id",
    "name",
    "video_path",
    "status",
    *TAG_FIELDS,
    "pattern_hash",
    "ad_ids",
    "tags_missing",
)
REJECTED_COLUMNS: tuple[str, ...] = ("source_file", "entry", "creative_id", "field", "reason", "raw")
_ENTRY_KEYS = {"id", "name", "video_path", "status", "tags", "ad_ids"}
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
    ad_owner: dict[str, int] = {}  # ad id -> the entry that claimed it first
    for i, raw in enumerate(entries):
        creative_id = _raw_id(raw)
        problems = _problems(raw)
        if creative_id is not None:
            if creative_id in first_seen:
                first = first_seen[creative_id]
                problems.insert(0, ("id", f"duplicate id {creative_id!r} (first used by creatives[{first}])"))
            else:
                first_seen[creative_id] = i
        for ad_id in _raw_ad_ids(raw):
            if ad_owner.setdefault(ad_id, i) != i:
                problems.append(("ad_ids", f"ad id {ad_id!r} already belongs to creatives[{ad_owner[ad_id]}]"))
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


def is_blank(value: Any) -> bool:
    """True for an absent value (a tag, a path): None, NaN (a Parquet null read back) or a blank string."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or another container is a value, not a missing one
        return False


def _raw_id(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text or None


def _ad_id_text(value: Any) -> str | None:
    """An ad id as text (ids are often typed as bare numbers in YAML); None when it is not a usable id."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text if text and not any(ch.isspace() for ch in text) else None


def _raw_ad_ids(raw: Any) -> list[str]:
    """The distinct usable ad ids of an entry, in file order (for the file-wide ownership check)."""
    ads = raw.get("ad_ids") if isinstance(raw, dict) else None
    if not isinstance(ads, list):
        return []
    return list(dict.fromkeys(t for t in (_ad_id_text(a) for a in ads) if t is not None))


def _raw_tags(raw: dict[str, Any]) -> dict[str, Any]:
    """The entry's tags mapping ({} when absent or null; not a mapping is reported by :func:`_problems`)."""
    tags = raw.get("tags")
    return tags if isinstance(tags, dict) else {}


def missing_tags(tags: Mapping[str, Any]) -> list[str]:
    """The tag fields absent from ``tags`` (absent, null or empty), in pattern-hash order."""
    return [field for field in TAG_FIELDS if is_blank(tags.get(field))]


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
    if not isinstance(raw.get("name"), str) or not raw["name"].strip():
        problems.append(("name", "missing (a non-empty string)"))
    video = raw.get("video_path")
    if video is not None and (not isinstance(video, str) or not video.strip()):
        problems.append(("video_path", f"{video!r} is not a path (a non-empty string, or leave the field out)"))
    status = raw.get("status")
    if status is None:
        problems.append(("status", f"missing (one of {list(CREATIVE_STATUSES)})"))
    elif normalize_tag(status) not in CREATIVE_STATUSES:
        problems.append(("status", f"{status!r} is not one of {list(CREATIVE_STATUSES)}"))
    problems += _tag_problems(raw)
    problems += _ad_id_problems(raw.get("ad_ids"))
    return problems


def _tag_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Unknown tags and values outside the vocabulary; missing tags only when there is no video to derive them."""
    tags = raw.get("tags")
    if tags is not None and not isinstance(tags, dict):
        return [("tags", f"expected a mapping of {list(TAG_FIELDS)} (or leave it out), got {type(tags).__name__}")]
    tags = tags or {}
    problems: list[tuple[str, str]] = []
    unknown_tags = sorted(set(tags) - set(TAG_FIELDS))
    if unknown_tags:
        problems.append((f"tags.{unknown_tags[0]}", f"unknown tag(s) {unknown_tags}; known: {list(TAG_FIELDS)}"))
    for field, allowed in TAG_VALUES.items():
        value = tags.get(field)
        if not is_blank(value) and normalize_tag(value) not in allowed:
            problems.append((f"tags.{field}", f"{value!r} is not one of {list(allowed)}"))
    missing = missing_tags(tags)
    video = raw.get("video_path")
    if missing and not (isinstance(video, str) and video.strip()):
        problems.append(
            (
                "tags",
                f"tag(s) {missing} missing and no video_path to derive them from: give every tag "
                f"({list(TAG_FIELDS)}) or a video",
            )
        )
    return problems


def _ad_id_problems(ads: Any) -> list[tuple[str, str]]:
    """``ad_ids`` must be a list of distinct ids (text or numbers, no spaces); absent or null means none."""
    if ads is None:
        return []
    if not isinstance(ads, list):
        return [("ad_ids", f"expected a list of ad ids such as ['120210000000000001'], got {type(ads).__name__}")]
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for k, ad in enumerate(ads):
        text = _ad_id_text(ad)
        if text is None:
            problems.append(("ad_ids", f"ad_ids[{k}] = {ad!r} is not an ad id (non-empty text or number, no spaces)"))
        elif text in seen:
            problems.append(("ad_ids", f"ad id {text!r} listed twice"))
        seen.add(text or "")
    return problems


def _row(raw: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    given = _raw_tags(raw)
    missing = missing_tags(given)
    tags = {field: MISSING_TAG if field in missing else normalize_tag(given[field]) for field in TAG_FIELDS}
    video_path = None
    if isinstance(raw.get("video_path"), str):
        video = Path(raw["video_path"].strip()).expanduser()
        if not video.is_absolute() and base_dir is not None:
            video = base_dir / video
        video_path = str(video)
    return {
        "creative_id": _raw_id(raw),
        "name": raw["name"].strip(),
        "video_path": video_path,
        "status": normalize_tag(raw["status"]),
        **tags,
        "pattern_hash": None if missing else full_pattern_hash(tags),
        "ad_ids": _raw_ad_ids(raw),
        "tags_missing": missing,
    }


def active_creatives(creatives: pd.DataFrame) -> pd.DataFrame:
    """The creatives that can be assigned to influencers (status ``active``), in id order."""
    return creatives[creatives["status"] == ACTIVE].sort_values("creative_id", kind="stable").reset_index(drop=True)
