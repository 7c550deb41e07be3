"""Creative autopsy: a registered creative's video is measured and labeled like a market video, and the result is
its *DNA*: final tags, where each came from, what the video contradicts, and the video features.

Why: a creative registered without tags (or with some) cannot be tested as a pattern, and a hand-tagged one may be
tagged wrong. The market loop already turns a video into features (``lib/features``: ``extract_video_features``
through ``run_feature_batch``, with its cache and quarantine) and labels (the labeler of ``resources/features.py``);
this module reads their output, so a creative and a market video with the same bytes get the same numbers and labels.

Rules, per tag field (``hook_type``, ``emotion``, ``pacing``, ``pain_point``, ``cta_type``):

* **derived** value: ``pacing`` is the measured ``pacing_label`` (cut rate), the other four are the labeler's (the
  creative's ``name`` is its caption; the Anthropic labeler also sees keyframes). A value outside the vocabulary
  counts as no derived value.
* **final** value: the given tag wins; a missing one is filled by the derived one; ``source`` says which
  (``given`` / ``derived`` / ``missing`` when there is neither).
* **disagreement**: a given tag whose derived value differs, except a derived ``"none"`` ("nothing recognisable",
  mostly the caption-only rules finding no cue), which is an absence of evidence, not a contradiction. It still fills
  a missing tag: ``"none"`` is a vocabulary value and the labeler's answer.
* ``pattern_hash`` is the full hash of the final tags, null while one is still missing.

Videos: a creative with a ``video_path`` is analysed; one whose file is missing or unusable (the feature batch's
quarantine reason) is *set aside* with that reason, counted, and keeps its given tags; the others are still
analysed. A creative without a video keeps its given tags (the registry only accepts it when they are complete).
Numeric features of a creative that was not analysed are NaN (not measured), never 0 (measured as absent).
Same inputs, same table: no clock, no randomness, file order kept.

Home folder: a registered ``video_path`` that does not exist is looked up by file name in
``<home>/creative_videos/<client>/`` (:func:`home_video_path`), so videos can be dropped into the data home without
touching the registry folder (the demo renders the sample's videos there, never into the installed package). The
registered path wins when it exists; ``video_path`` in the DNA is the file actually read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY
from optimizer_pipeline.lib.features.labels.vocabulary import NONE
from optimizer_pipeline.lib.features.runner import VideoJob
from optimizer_pipeline.lib.testloop.creatives import TAG_FIELDS, TAG_VALUES, is_blank
from optimizer_pipeline.lib.testloop.pattern_hash import full_pattern_hash

GIVEN, DERIVED, MISSING = "given", "derived", "missing"
ANALYSED, NO_VIDEO, SET_ASIDE = "analysed", "no_video", "set_aside"
#: The feature row column the pacing tag is derived from (the other tags come from the labeler's same-named columns).
PACING_FEATURE = "pacing_label"
#: Numeric video features, as named and ordered by the market loop's feature dictionary (meta columns left out).
VIDEO_FEATURES: tuple[str, ...] = tuple(
    name for name, spec in FEATURE_DICTIONARY.items() if spec.role in ("feature", "flag")
)
SOURCE_COLUMNS: tuple[str, ...] = tuple(f"{field}_source" for field in TAG_FIELDS)
DERIVED_COLUMNS: tuple[str, ...] = tuple(f"derived_{field}" for field in TAG_FIELDS)
DNA_COLUMNS: tuple[str, ...] = (
    "creative_id",
    "name",
    "status",
    "ad_ids",
    "video_path",
    "video_status",
    *TAG_FIELDS,
    *SOURCE_COLUMNS,
    *DERIVED_COLUMNS,
    "tags_filled",
    "tags_missing",
    "disagreement_fields",
    "disagreements",
    "has_disagreement",
    "pattern_hash",
    "label_source",
    "content_sha256",
    "feature_version",
    *VIDEO_FEATURES,
)
SET_ASIDE_COLUMNS: tuple[str, ...] = ("creative_id", "video_path", "reason")
DISAGREEMENT_COLUMNS: tuple[str, ...] = ("creative_id", "field", "given", "derived")
_VIDEO_ID_PREFIX = "creative"
#: The data home's folder of creative videos, one subfolder per client (see the module docstring).
HOME_VIDEOS_DIR = "creative_videos"


@dataclass(frozen=True)
class AutopsyResult:
    """``dna`` (``DNA_COLUMNS``, one row per creative in input order), the videos ``set_aside`` with their reason,
    every ``disagreements`` pair, and the ``counts`` the asset reports."""

    dna: pd.DataFrame
    set_aside: pd.DataFrame
    disagreements: pd.DataFrame
    counts: dict[str, int]


def video_job_id(client: str, creative_id: str) -> str:
    """The feature batch's video id of a creative: client-qualified, so two clients' ``gf-001`` never share a
    quarantine record, and never a TikTok id."""
    return f"{_VIDEO_ID_PREFIX}:{client}:{creative_id}"


def home_video_dir(home: str | Path, client: str) -> Path:
    """The data home's folder of a client's creative videos: ``<home>/creative_videos/<client>``."""
    return Path(home) / HOME_VIDEOS_DIR / client


def home_video_path(home: str | Path, client: str, video_path: str | Path) -> Path:
    """Where the data home keeps a creative's video: the file name of ``video_path`` in :func:`home_video_dir`."""
    return home_video_dir(home, client) / Path(video_path).name


def resolve_video_path(video_path: str, home: str | Path | None, client: str) -> str:
    """The file to read: the registered path when it exists, else the home's copy when that exists, else the
    registered path (then set aside as missing, naming the path the registry gave)."""
    if home is None or Path(video_path).exists():
        return video_path
    in_home = home_video_path(home, client, video_path)
    return str(in_home) if in_home.exists() else video_path


def with_home_videos(creatives: pd.DataFrame, home: str | Path | None, client: str) -> pd.DataFrame:
    """``creatives`` with each ``video_path`` resolved by :func:`resolve_video_path` (a copy; blank paths kept)."""
    if "video_path" not in creatives.columns:
        return creatives
    resolved = [
        path if is_blank(path) else resolve_video_path(str(path), home, client) for path in creatives["video_path"]
    ]
    return creatives.assign(video_path=pd.Series(resolved, index=creatives.index, dtype=creatives["video_path"].dtype))


def video_jobs(creatives: pd.DataFrame, client: str) -> dict[str, VideoJob]:
    """creative_id → the job that measures and labels its video (creatives with a ``video_path`` only); the name is
    the caption the labeler reads."""
    jobs: dict[str, VideoJob] = {}
    for row in creatives.to_dict("records"):
        path = row.get("video_path")
        if is_blank(path):
            continue
        cid = str(row["creative_id"])
        jobs[cid] = VideoJob(video_id=video_job_id(client, cid), path=str(path), caption=str(row.get("name") or ""))
    return jobs


def batch_evidence(
    jobs: Mapping[str, VideoJob], rows: Sequence[Mapping[str, Any]], quarantined: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Mapping[str, Any]], dict[str, str]]:
    """The feature batch's output by creative: (creative_id → feature + label row, creative_id → quarantine reason)."""
    creative_of = {job.video_id: cid for cid, job in jobs.items()}
    evidence = {creative_of[str(r["video_id"])]: r for r in rows if str(r["video_id"]) in creative_of}
    reasons = {creative_of[str(q["video_id"])]: str(q["reason"]) for q in quarantined if q["video_id"] in creative_of}
    return evidence, reasons


def derive_tags(row: Mapping[str, Any]) -> dict[str, str | None]:
    """Tags read from one feature + label row: pacing measured, the rest labeled; None where no valid value."""
    derived: dict[str, str | None] = {}
    for field, allowed in TAG_VALUES.items():
        value = row.get(PACING_FEATURE if field == "pacing" else field)
        derived[field] = value if isinstance(value, str) and value in allowed else None
    return derived


def disagrees(given: str | None, derived: str | None) -> bool:
    """A given tag contradicted by a derived one (a derived ``"none"`` never contradicts; see module docstring)."""
    return given is not None and derived is not None and derived != NONE and derived != given


def autopsy(
    creatives: pd.DataFrame,
    evidence: Mapping[str, Mapping[str, Any]],
    set_aside: Mapping[str, str],
) -> AutopsyResult:
    """DNA of every creative of a ``creatives`` table from its analysed video (``evidence``: creative_id → feature +
    label row) or the reason its video was set aside (``set_aside``: creative_id → reason)."""
    records: list[dict[str, Any]] = []
    aside: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    for row in creatives.to_dict("records"):
        cid = str(row["creative_id"])
        has_video = not is_blank(row.get("video_path"))
        found = evidence.get(cid) if has_video else None
        if found is not None:
            status = ANALYSED
        elif has_video:
            status = SET_ASIDE
            reason = set_aside.get(cid, "video not analysed (no feature row and no quarantine record)")
            aside.append({"creative_id": cid, "video_path": str(row["video_path"]), "reason": reason})
        else:
            status = NO_VIDEO
        record, disagreements = _dna_row(row, found, status)
        records.append(record)
        pairs += disagreements
    dna = pd.DataFrame(records, columns=list(DNA_COLUMNS))
    dna = dna.astype({name: "float64" for name in VIDEO_FEATURES} | {"has_disagreement": "bool"})
    counts = {
        "read": len(dna),
        "with_video": int((dna["video_status"] != NO_VIDEO).sum()),
        "analysed": int((dna["video_status"] == ANALYSED).sum()),
        "set_aside": int((dna["video_status"] == SET_ASIDE).sum()),
        "no_video": int((dna["video_status"] == NO_VIDEO).sum()),
        "tags_filled": int(dna["tags_filled"].map(len).sum()),
        "creatives_filled": int(dna["tags_filled"].map(len).gt(0).sum()),
        "disagreements": len(pairs),
        "creatives_disagreeing": int(dna["has_disagreement"].sum()),
        "pattern_unknown": int(dna["pattern_hash"].isna().sum()),
    }
    return AutopsyResult(
        dna=dna,
        set_aside=pd.DataFrame(aside, columns=list(SET_ASIDE_COLUMNS)),
        disagreements=pd.DataFrame(pairs, columns=list(DISAGREEMENT_COLUMNS)),
        counts=counts,
    )


def ad_id_list(value: Any) -> list[str]:
    """``ad_ids`` as a list of strings, whatever Parquet gave back (a NumPy array or a list; null is none)."""
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [str(v) for v in list(value)]
    return []


def _dna_row(
    row: Mapping[str, Any], found: Mapping[str, Any] | None, status: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cid = str(row["creative_id"])
    derived = derive_tags(found) if found is not None else dict.fromkeys(TAG_FIELDS)
    final: dict[str, str | None] = {}
    source: dict[str, str] = {}
    pairs: list[dict[str, Any]] = []
    for field in TAG_FIELDS:
        given = None if is_blank(row.get(field)) else str(row[field])
        if given is not None:
            final[field], source[field] = given, GIVEN
            if disagrees(given, derived[field]):
                pairs.append({"creative_id": cid, "field": field, "given": given, "derived": derived[field]})
        elif derived[field] is not None:
            final[field], source[field] = derived[field], DERIVED
        else:
            final[field], source[field] = None, MISSING
    still_missing = [f for f in TAG_FIELDS if final[f] is None]
    features = found or {}
    record: dict[str, Any] = {
        "creative_id": cid,
        "name": row.get("name"),
        "status": row.get("status"),
        "ad_ids": ad_id_list(row.get("ad_ids")),
        "video_path": None if is_blank(row.get("video_path")) else str(row["video_path"]),
        "video_status": status,
        **{field: final[field] if final[field] is not None else "" for field in TAG_FIELDS},
        **{f"{field}_source": source[field] for field in TAG_FIELDS},
        **{f"derived_{field}": derived[field] for field in TAG_FIELDS},
        "tags_filled": [f for f in TAG_FIELDS if source[f] == DERIVED],
        "tags_missing": still_missing,
        "disagreement_fields": [p["field"] for p in pairs],
        "disagreements": [f"{p['field']}: given {p['given']}, derived {p['derived']}" for p in pairs],
        "has_disagreement": bool(pairs),
        "pattern_hash": None if still_missing else full_pattern_hash(final),
        "label_source": features.get("label_source"),
        "content_sha256": features.get("content_sha256"),
        "feature_version": features.get("feature_version"),
        **{name: _number(features.get(name)) for name in VIDEO_FEATURES},
    }
    return record, pairs


def _number(value: Any) -> float:
    """A feature value as float; NaN when the video was not measured."""
    if value is None or isinstance(value, str):
        return float("nan")
    return float(value)


def with_autopsy_tags(creatives: pd.DataFrame, dna: pd.DataFrame | None) -> pd.DataFrame:
    """``creatives`` with the tags and ``pattern_hash`` its autopsy completed: a creative registered without some tags
    takes the final tags of its ``creative_dna`` row when every one of them is known there. Registered tags and
    hashes are never changed, so a creative is assigned and its ads weighted under the pattern the user gave.

    Why: the test loop keys links, posteriors and fatigue weights by ``pattern_hash``; without this, a creative whose
    tags only its video tells would never be tested."""
    if dna is None or dna.empty or creatives.empty or "pattern_hash" not in creatives.columns:
        return creatives
    final = dna.dropna(subset=["pattern_hash"]).drop_duplicates("creative_id").set_index("creative_id")
    out = creatives.copy()
    ids = out["creative_id"].astype(str)
    fill = out["pattern_hash"].isna() & ids.isin(final.index)
    if not fill.any():
        return out
    picked = ids[fill]
    for field in (*TAG_FIELDS, "pattern_hash"):
        out.loc[fill, field] = final.loc[picked, field].to_numpy()
    if "tags_missing" in out.columns:
        out.loc[fill, "tags_missing"] = pd.Series([[] for _ in range(int(fill.sum()))], index=out.index[fill])
    return out
