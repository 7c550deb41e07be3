"""A client's brief-test registry (YAML): videos made with a creative brief versus control videos made without it.

Why: a pattern the market analysis reports ("question hooks are more common among top videos") is a correlation in
other accounts' videos. Whether *telling* affiliates to use it pays off is a separate question, answered by a brief
test: some affiliates get a brief that asks for the pattern, the others (the control) do not, and the two groups'
engagement or conversions are compared (:mod:`optimizer_pipeline.lib.reports.brief_validation`). The registry is the
record of those tests; it is written by people, so every problem is reported with the file, the entry and the field.

File format (one file per client, e.g. ``reports.brief_tests_file`` in ``clients.yaml``)::

    brief_tests:
      - id: gf-question-hook-2026-11        # [A-Za-z0-9_.-], unique in the file
        description: Brief asked for a question in the first 3 s   # optional
        pattern:                            # at least one of feature / pattern_hash
          feature: hook_type                # a pattern family lead (a feature or label name)
          level: question                   # the level asked for (categorical features only)
          pattern_hash: "hook:question"     # optional: full or partial test-loop pattern hash
        hashtag: nutrition
        bucket: 16-30s                      # optional duration bucket
        metric: engagement_rate             # engagement_rate (per video) | conversion_rate (conversions / clicks)
        with_brief:
          - {video_id: "7301", author: anna.fit, views: 12000, engagements: 640}
        control:
          - {video_id: "7302", author: ben.cooks, views: 9000, engagements: 310}

Videos of an ``engagement_rate`` test give ``views`` and ``engagements`` (likes + comments + shares), those of a
``conversion_rate`` test ``clicks`` and ``conversions`` (conversions <= clicks). ``author`` (optional) is the creator:
videos of one creator are one cluster in the test. A video id appears at most once per test (not in both arms), and
each arm needs at least :data:`MIN_VIDEOS_PER_ARM` videos. A ``level`` is checked against the label vocabulary, and a
``pattern_hash`` must be canonical with vocabulary values; when both name the same attribute they must agree.

One bad entry never stops the others: it is set aside with a reason naming the file, the entry and the field
(``read`` = accepted + rejected). A file that cannot be read at all raises :class:`BriefTestsError`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.core.slugs import slugify
from optimizer_pipeline.lib.core.yaml_files import read_yaml
from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY, STRING_COLUMNS
from optimizer_pipeline.lib.features.labels.vocabulary import LABEL_FIELDS, PACING
from optimizer_pipeline.lib.testloop.market_prior import MARKET_FEATURE
from optimizer_pipeline.lib.testloop.pattern_hash import PATTERN_TAGS, parse_pattern

#: Metric -> (exposure field, event field) of a video entry; the arm's rate is events / exposure.
METRIC_FIELDS: dict[str, tuple[str, str]] = {
    "engagement_rate": ("views", "engagements"),
    "conversion_rate": ("clicks", "conversions"),
}
METRICS: tuple[str, ...] = tuple(METRIC_FIELDS)
ARMS: tuple[str, ...] = ("with_brief", "control")
#: Fewest videos per arm: a between-video variance needs two.
MIN_VIDEOS_PER_ARM = 2
#: Categorical features and their allowed levels (the label vocabulary; pacing is measured, same values).
CATEGORICAL_LEVELS: dict[str, tuple[str, ...]] = {**LABEL_FIELDS, "pacing_label": PACING}
#: Names a pattern's ``feature`` may take: the feature dictionary (minus bookkeeping columns) and the label fields.
PATTERN_FEATURES: frozenset[str] = frozenset(
    (set(FEATURE_DICTIONARY) - (STRING_COLUMNS - {"pacing_label"})) | set(LABEL_FIELDS)
)
REJECTED_COLUMNS: tuple[str, ...] = ("source_file", "entry", "test_id", "field", "reason", "raw")
VIDEO_COLUMNS: tuple[str, ...] = ("test_id", "arm", "video_id", "author", "exposure", "events")
TEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENTRY_KEYS = {"id", "description", "pattern", "hashtag", "bucket", "metric", *ARMS}
_PATTERN_KEYS = {"feature", "level", "pattern_hash"}
_FIELD_OF_TAG = {tag: field for field, tag in PATTERN_TAGS}
_TAG_OF_FEATURE = {feature: tag for tag, feature in MARKET_FEATURE.items()} | dict(PATTERN_TAGS)


class BriefTestsError(ValueError):
    """A brief-tests file that cannot be read at all (missing, not YAML, not a list of entries)."""


@dataclass(frozen=True)
class BriefPattern:
    """What the brief asked for: a pattern family lead (``feature``, ``level`` for a categorical one) and/or a
    test-loop ``pattern_hash`` (full or partial)."""

    feature: str | None
    level: str | None
    pattern_hash: str | None

    @property
    def key(self) -> str:
        """The name reports use for the pattern: ``feature=level``, ``feature``, else the pattern hash."""
        if self.feature is None:
            return str(self.pattern_hash)
        return f"{self.feature}={self.level}" if self.level is not None else self.feature

    @property
    def attributes(self) -> dict[str, str]:
        """Test-loop attributes (tag -> level) the pattern names: the hash's, plus ``feature=level`` when the feature
        is a pattern attribute (``hook_type=question`` -> ``hook: question``)."""
        attrs = parse_pattern(self.pattern_hash) if self.pattern_hash else {}
        tag = _TAG_OF_FEATURE.get(self.feature or "")
        if tag is not None and self.level is not None:
            attrs.setdefault(tag, self.level)
        return attrs


@dataclass(frozen=True)
class BriefVideo:
    """One video of an arm: ``exposure`` (views or clicks) and ``events`` (engagements or conversions)."""

    video_id: str
    author: str | None
    exposure: int
    events: int


@dataclass(frozen=True)
class BriefTest:
    """One brief test: the pattern the brief asked for, where (hashtag, bucket), the metric and both arms."""

    id: str
    pattern: BriefPattern
    hashtag: str
    bucket: str | None
    metric: str
    with_brief: tuple[BriefVideo, ...]
    control: tuple[BriefVideo, ...]
    description: str = ""


@dataclass(frozen=True)
class BriefTestsResult:
    """Accepted tests (file order) and set-aside entries (:data:`REJECTED_COLUMNS`); ``read`` = both."""

    accepted: tuple[BriefTest, ...]
    rejected: pd.DataFrame
    read: int


def load_brief_tests(path: str | Path) -> BriefTestsResult:
    """Read and validate a brief-tests file."""
    p = Path(path)
    return parse_brief_tests(read_yaml(p, "brief-tests file", BriefTestsError), source=str(p))


def parse_brief_tests(doc: Any, *, source: str = "<brief tests>") -> BriefTestsResult:
    """Validate an already-parsed document: ``{brief_tests: [...]}``, a bare list, or empty (no tests)."""
    entries = doc.get("brief_tests") if isinstance(doc, dict) else doc
    if doc is None or (isinstance(doc, dict) and entries is None and set(doc) <= {"brief_tests"}):
        entries = []
    if not isinstance(entries, list):
        raise BriefTestsError(f"{source}: expected a mapping with a 'brief_tests' list (or a list of brief tests)")
    accepted: list[BriefTest] = []
    rejected: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    for i, raw in enumerate(entries):
        test_id = _raw_id(raw)
        problems = _problems(raw)
        if test_id is not None:
            if test_id in first_seen:
                problems.insert(
                    0, ("id", f"duplicate id {test_id!r} (first used by brief_tests[{first_seen[test_id]}])")
                )
            else:
                first_seen[test_id] = i
        if problems:
            where = f"{source}: brief_tests[{i}]" + (f" (id {test_id!r})" if test_id else "")
            rejected.append(
                {
                    "source_file": source,
                    "entry": i,
                    "test_id": test_id,
                    "field": ", ".join(dict.fromkeys(f for f, _ in problems)),
                    "reason": f"{where}: " + "; ".join(f"field '{f}': {why}" for f, why in problems),
                    "raw": json.dumps(raw, default=str, sort_keys=True),
                }
            )
        else:
            accepted.append(_test(raw))
    return BriefTestsResult(
        accepted=tuple(accepted),
        rejected=pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS)).astype({"entry": "int64"}),
        read=len(entries),
    )


def videos_frame(tests: tuple[BriefTest, ...] | list[BriefTest]) -> pd.DataFrame:
    """Every video of ``tests`` as one row (:data:`VIDEO_COLUMNS`), for a table or a Parquet file."""
    rows = [
        (t.id, arm, v.video_id, v.author, v.exposure, v.events) for t in tests for arm in ARMS for v in getattr(t, arm)
    ]
    frame = pd.DataFrame(rows, columns=list(VIDEO_COLUMNS))
    return frame.astype({"exposure": "int64", "events": "int64"})


def _raw_id(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip() or None


def _text(value: Any) -> str | None:
    """An id or a name as text (numbers allowed, as YAML reads bare digits); None when blank or not scalar."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip() or None


def _count(value: Any) -> int | None:
    """A whole number >= 0 (an integral float counts, a bool does not); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if isinstance(value, (int, np.integer)) and value >= 0 else None


def _problems(raw: Any) -> list[tuple[str, str]]:
    """(field, why) for everything wrong with one entry; empty when it is usable."""
    if not isinstance(raw, dict):
        return [("entry", f"expected a mapping with {sorted(_ENTRY_KEYS)}, got {type(raw).__name__}")]
    problems: list[tuple[str, str]] = []
    unknown = sorted(set(map(str, raw)) - _ENTRY_KEYS)
    if unknown:
        problems.append((unknown[0], f"unknown field(s) {unknown}; known: {sorted(_ENTRY_KEYS)}"))
    test_id = _raw_id(raw)
    if test_id is None:
        problems.append(("id", "missing (a non-empty id such as 'gf-question-hook-2026-11')"))
    elif not TEST_ID_RE.match(test_id):
        problems.append(("id", f"{test_id!r} may only use letters, digits, '_', '.' and '-'"))
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(("description", f"expected text, got {type(description).__name__}"))
    problems += _pattern_problems(raw.get("pattern"))
    hashtag = raw.get("hashtag")
    if not isinstance(hashtag, str) or not hashtag.strip().lstrip("#").strip():
        problems.append(
            ("hashtag", f"missing (the hashtag the videos were posted under, e.g. 'nutrition'), got {hashtag!r}")
        )
    else:
        try:
            slugify(hashtag)
        except ValueError as exc:
            problems.append(("hashtag", str(exc)))
    bucket = raw.get("bucket")
    if bucket is not None and bucket not in DURATION_BUCKETS:
        problems.append(("bucket", f"{bucket!r} is not one of {list(DURATION_BUCKETS)} (or leave it out)"))
    metric = raw.get("metric")
    if metric not in METRIC_FIELDS:
        problems.append(("metric", f"{metric!r} is not one of {list(METRICS)}"))
        return problems  # the videos' fields depend on the metric
    problems += _video_problems(raw, metric)
    return problems


def _pattern_problems(pattern: Any) -> list[tuple[str, str]]:
    if not isinstance(pattern, dict):
        return [("pattern", "expected a mapping with 'feature' (and 'level') and/or 'pattern_hash'")]
    problems: list[tuple[str, str]] = []
    unknown = sorted(set(map(str, pattern)) - _PATTERN_KEYS)
    if unknown:
        problems.append((f"pattern.{unknown[0]}", f"unknown field(s) {unknown}; known: {sorted(_PATTERN_KEYS)}"))
    feature, level, hashed = pattern.get("feature"), pattern.get("level"), pattern.get("pattern_hash")
    if feature is None and hashed is None:
        problems.append(("pattern", "give a 'feature' (a pattern family lead) and/or a 'pattern_hash'"))
    if feature is not None and feature not in PATTERN_FEATURES:
        problems.append(("pattern.feature", f"{feature!r} is not a feature or label name of the feature dictionary"))
    if level is not None:
        if feature not in CATEGORICAL_LEVELS:
            problems.append(("pattern.level", f"only a categorical feature {sorted(CATEGORICAL_LEVELS)} has a level"))
        elif level not in CATEGORICAL_LEVELS[feature]:
            problems.append(("pattern.level", f"{level!r} is not one of {list(CATEGORICAL_LEVELS[feature])}"))
    elif feature in CATEGORICAL_LEVELS:
        problems.append(("pattern.level", f"the categorical feature {feature!r} needs the level the brief asked for"))
    if hashed is not None:
        problems += _hash_problems(hashed)
        tag = _TAG_OF_FEATURE.get(feature or "")
        if not problems and tag is not None and level is not None:
            given = parse_pattern(hashed).get(tag)
            if given is not None and given != level:
                problems.append(("pattern", f"feature {feature}={level} disagrees with pattern_hash ({tag}:{given})"))
    return problems


def _hash_problems(hashed: Any) -> list[tuple[str, str]]:
    if not isinstance(hashed, str) or not hashed:
        return [("pattern.pattern_hash", f"expected a pattern hash such as 'hook:question|pace:fast', got {hashed!r}")]
    try:
        attrs = parse_pattern(hashed)
    except ValueError as exc:
        return [("pattern.pattern_hash", str(exc))]
    for tag, value in attrs.items():
        allowed = CATEGORICAL_LEVELS["pacing_label" if tag == "pace" else _FIELD_OF_TAG[tag]]
        if value not in allowed:
            return [("pattern.pattern_hash", f"{tag}:{value} is not one of {list(allowed)}")]
    return []


def _video_problems(raw: dict[str, Any], metric: str) -> list[tuple[str, str]]:
    exposure, events = METRIC_FIELDS[metric]
    keys = {"video_id", "author", exposure, events}
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for arm in ARMS:
        videos = raw.get(arm)
        if not isinstance(videos, list) or len(videos) < MIN_VIDEOS_PER_ARM:
            got = f"{len(videos)} video(s)" if isinstance(videos, list) else repr(videos)
            problems.append((arm, f"expected a list of at least {MIN_VIDEOS_PER_ARM} videos, got {got}"))
            continue
        for k, video in enumerate(videos):
            where = f"{arm}[{k}]"
            if not isinstance(video, dict):
                problems.append((where, f"expected a mapping with {sorted(keys - {'author'})}"))
                continue
            unknown = sorted(set(map(str, video)) - keys)
            if unknown:
                problems.append(
                    (f"{where}.{unknown[0]}", f"unknown field(s) {unknown} for {metric}; known: {sorted(keys)}")
                )
            video_id = _text(video.get("video_id"))
            if video_id is None:
                problems.append((f"{where}.video_id", "missing (the video's id)"))
            elif video_id in seen:
                problems.append(
                    (f"{where}.video_id", f"video {video_id!r} is listed twice (first in {seen[video_id]})")
                )
            else:
                seen[video_id] = where
            if "author" in video and _text(video["author"]) is None:
                problems.append((f"{where}.author", f"expected the creator's handle, got {video['author']!r}"))
            n, x = _count(video.get(exposure)), _count(video.get(events))
            if n is None or n == 0:
                problems.append((f"{where}.{exposure}", f"expected a whole number > 0, got {video.get(exposure)!r}"))
            if x is None:
                problems.append((f"{where}.{events}", f"expected a whole number >= 0, got {video.get(events)!r}"))
            elif metric == "conversion_rate" and n is not None and x > n:
                problems.append((f"{where}.{events}", f"{x} conversions exceed {n} clicks"))
    return problems


def _test(raw: dict[str, Any]) -> BriefTest:
    exposure, events = METRIC_FIELDS[raw["metric"]]
    pattern = raw["pattern"]

    def arm(name: str) -> tuple[BriefVideo, ...]:
        return tuple(
            BriefVideo(
                video_id=str(_text(v["video_id"])),
                author=_text(v.get("author")),
                exposure=int(_count(v[exposure]) or 0),
                events=int(_count(v[events]) or 0),
            )
            for v in raw[name]
        )

    return BriefTest(
        id=str(_raw_id(raw)),
        pattern=BriefPattern(pattern.get("feature"), pattern.get("level"), pattern.get("pattern_hash")),
        hashtag=slugify(raw["hashtag"]),
        bucket=raw.get("bucket"),
        metric=raw["metric"],
        with_brief=arm("with_brief"),
        control=arm("control"),
        description=(raw.get("description") or "").strip(),
    )
