"""Seeded sample corpus: the embedded default that lets the whole pipeline run with no network.

One sample client (:data:`SAMPLE_CLIENT`) and two hashtags (:data:`SAMPLE_HASHTAGS`). For each hashtag the generator
writes ``<out>/<hashtag>/items.json`` in the Apify ``clockworks/tiktok-scraper`` item schema (plus
``localVideoPath``, relative to that file), one real mp4 per normal item in ``<out>/videos/<id>.mp4``
(see :mod:`optimizer_pipeline.lib.sample.media`), and ``<out>/ground_truth.json`` with the planted effects.

This is a **test oracle, not evidence about TikTok**: engagement depends on the design only through
:data:`PLANTED_EFFECTS`; every other design feature varies with no effect at all.

Per hashtag at ``scale`` 1.0: 80 / 80 / 60 / 40 / 8 normal videos in 0-15s / 16-30s / 31-60s / 61-90s / 91-120s
(``max(1, round(n * scale))``, so 91-120s stays under 20, "insufficient data", for any scale ≤ 2), plus 10 fixed
cases: 3 ``low_views`` (< 1,000 views), 3 ``low_engagement`` (ER < 2%), 2 ``outlier`` (ER 0.75-0.90, about ten
times normal) and 2 ``before_cutoff`` (created 2025-12-01, before the sample client's 2026-01-01 cutoff), and 7 bad
items that normalisation must reject (:data:`BAD_ITEM_REASONS`). Durations are whole seconds (Apify reports
integers), uniform in the cheap lower part of each bucket: :data:`DURATION_RANGES`.

Engagement: ER = base(hashtag) × Π(multipliers of the effects present) × exp(0.25·z), z ~ N(0, 1) truncated to
[-2, 2]; views = 30k × creator-tier factor × exp(0.7·z) (≥ 1,500, independent of the design); likes / comments /
shares split ER × views 85 / 7 / 8 %; saves separate. Every random draw of video ``i`` of a hashtag comes from
``SeedSequence([seed, crc32(hashtag), i])``, so output is identical for any number of workers.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS, bucket_for
from optimizer_pipeline.lib.sample.media import HEIGHT, WIDTH, VideoPlan, plan_video, render_video

SAMPLE_CLIENT = "glowfuel"
SAMPLE_HASHTAGS: tuple[str, ...] = ("nutrition", "mealprep")
DEFAULT_SEED = 20261122
GENERATOR_VERSION = "1"

#: Normal videos per hashtag and bucket at scale 1.0.
BUCKET_COUNTS: dict[str, int] = {"0-15s": 80, "16-30s": 80, "31-60s": 60, "61-90s": 40, "91-120s": 8}
#: Whole-second durations, inclusive, uniform: the lower part of each bucket keeps encoding cheap.
DURATION_RANGES: dict[str, tuple[int, int]] = {
    "0-15s": (10, 15),
    "16-30s": (16, 24),
    "31-60s": (31, 42),
    "61-90s": (61, 68),
    "91-120s": (91, 98),
}
#: Whole-video cut rate ranges; the lower edge keeps ``round(rate × duration) ≥ 4`` so the rate is independent
#: of ``hook_cut_count`` (the hook's cuts are part of the total).
CUT_RATE_RANGES: dict[str, tuple[float, float]] = {"0-15s": (0.4, 1.0)} | {b: (0.25, 1.2) for b in DURATION_BUCKETS[1:]}
#: No tempo within 5% of the 120 BPM threshold, so a measured tempo falls on the planted side of it.
TEMPOS: tuple[int, ...] = (80, 90, 100, 110, 126, 132, 140)
SILENCE_RANGE = (0.0, 0.4)
AUDIO_FEATURES = ("tempo_bpm", "silence_ratio")
#: P(feature >= threshold | has audio), for the audio-neutral factor.
AUDIO_PATTERN_SHARE = {
    "tempo_bpm": lambda th: sum(t >= th for t in TEMPOS) / len(TEMPOS),
    "silence_ratio": lambda th: min(1.0, max(0.0, (SILENCE_RANGE[1] - th) / (SILENCE_RANGE[1] - SILENCE_RANGE[0]))),
}
BASE_ER: dict[str, float] = {"nutrition": 0.07, "mealprep": 0.08}
ER_NOISE_SIGMA = 0.25
VIEWS_MEDIAN = 30_000
TIER_VIEW_FACTOR = {"nano": 0.5, "micro": 1.0, "macro": 2.0, "celebrity": 25.0}
QUALITY_CASES: tuple[tuple[str, str], ...] = (
    ("16-30s", "low_views"),
    ("0-15s", "low_views"),
    ("31-60s", "low_views"),
    ("0-15s", "low_engagement"),
    ("16-30s", "low_engagement"),
    ("31-60s", "low_engagement"),
    ("16-30s", "outlier"),
    ("0-15s", "outlier"),
    ("16-30s", "before_cutoff"),
    ("31-60s", "before_cutoff"),
)
#: Expected rejection reason per corrupted item (codes; the normaliser may word them its own way).
BAD_ITEM_REASONS: tuple[tuple[str, str], ...] = (
    ("missing_id", "no `id` (and no webVideoUrl)"),
    ("non_positive_views", "playCount is 0"),
    ("negative_count", "diggCount is negative"),
    ("unparseable_date", "createTimeISO is 'not-a-date' and createTime is absent"),
    ("duration_over_120s", "videoMeta.duration is 150"),
    ("unparseable_duration", "videoMeta.duration is 'n/a'"),
    ("duplicate_id", "an exact copy of another item, placed right after it"),
)
WINDOW = (datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 10, 31, 23, 59, tzinfo=UTC))
BEFORE_CUTOFF_DAY = datetime(2025, 12, 1, tzinfo=UTC)

DESIGN_FEATURES: dict[str, dict[str, str]] = {
    "hook_cut_count": {"unit": "cuts", "description": "hard cuts in the first 3 s (0-4)"},
    "cuts_per_second": {"unit": "cuts/s", "description": "hard cuts over the whole video (hook included) / duration"},
    "has_text_hook": {"unit": "0/1", "description": "bold white outlined text on screen for the whole first 3 s"},
    "text_share": {"unit": "share", "description": "share of frames with on-screen text (hook text included)"},
    "tempo_bpm": {"unit": "BPM", "description": "beat tempo of the kick track (0 without audio)"},
    "brightness_mean": {"unit": "luma 0-255", "description": "design mean luma of the shots' backgrounds"},
    "colorfulness_mean": {"unit": "0-1", "description": "chroma radius / 55 (Cr/Cb units) of the palettes"},
    "motion_mean": {"unit": "px/frame", "description": "speed of the four moving shapes in every shot"},
    "has_audio": {"unit": "0/1", "description": "the file has an audio stream at all"},
    "silence_ratio": {"unit": "share", "description": "share of the audio that is digital silence (0 without audio)"},
    "has_face": {"unit": "0/1", "description": "always 0: the corpus draws no faces"},
}


def _effect(feature, bucket, multiplier, threshold=1.0, kind="binary", hashtags=SAMPLE_HASHTAGS, text=""):
    return {
        "feature": feature,
        "duration_bucket": bucket,
        "hashtags": list(hashtags),
        "direction": "higher" if multiplier > 1 else "lower",
        "multiplier": multiplier,
        "kind": kind,
        "threshold": threshold,
        "description": text,
    }


#: The planted effects: the pattern is present when ``feature >= threshold``; ER is multiplied by ``multiplier``.
PLANTED_EFFECTS: tuple[dict, ...] = (
    _effect("hook_cut_count", "0-15s", 2.0, 2, "threshold", text="Two or more cuts in the first 3 s double it."),
    _effect("tempo_bpm", "0-15s", 2.0, 120, "threshold", text="A beat of 120 BPM or faster doubles engagement."),
    _effect("has_text_hook", "16-30s", 2.0, text="A text hook in the first 3 s doubles engagement."),
    _effect("hook_cut_count", "16-30s", 1.8, 2, "threshold", text="Two or more cuts in the first 3 s lift it 1.8x."),
    _effect("cuts_per_second", "31-60s", 2.0, 0.7, "threshold", text="Cutting 0.7 times a second or more doubles it."),
    _effect(
        "silence_ratio",
        "31-60s",
        0.5,
        0.25,
        "threshold",
        text="Audio that is silent a quarter of the time or more halves engagement.",
    ),
    _effect("has_text_hook", "61-90s", 2.2, text="A text hook in the first 3 s lifts engagement 2.2x."),
    _effect(
        "brightness_mean",
        "61-90s",
        2.0,
        130,
        "threshold",
        hashtags=("nutrition",),
        text="Bright shots (mean luma 130 or more) double engagement, in #nutrition only.",
    ),
    _effect(
        "motion_mean",
        "61-90s",
        2.0,
        3.0,
        "threshold",
        hashtags=("mealprep",),
        text="Fast-moving shapes (3 px/frame or more) double engagement, in #mealprep only.",
    ),
)


@dataclass
class CorpusSummary:
    out_dir: Path
    seed: int
    scale: float
    n_items: dict[str, int]  # items in each hashtag's items.json, bad items included
    n_videos: int
    video_seconds: float
    elapsed_s: float
    regenerated: bool
    ground_truth_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ground_truth_path = Path(self.out_dir) / "ground_truth.json"


def effects_for(hashtag: str, bucket: str) -> list[dict]:
    return [e for e in PLANTED_EFFECTS if e["duration_bucket"] == bucket and hashtag in e["hashtags"]]


def audio_neutral_factor(hashtag: str, bucket: str) -> float:
    """Multiplier of a video without audio: the geometric mean of the audio effects' multipliers over videos with
    audio, so ``has_audio`` itself carries no effect (else "no audio" would look like "no fast beat")."""
    log_mean = 0.0
    for e in effects_for(hashtag, bucket):
        if e["feature"] in AUDIO_FEATURES:
            share = AUDIO_PATTERN_SHARE[e["feature"]](float(e["threshold"]))
            log_mean += share * math.log(e["multiplier"])
    return round(math.exp(log_mean), 6)


def null_features() -> dict[str, dict[str, list[str]]]:
    """hashtag → bucket → design features with no planted effect there."""
    return {
        h: {
            b: [f for f in DESIGN_FEATURES if f not in {e["feature"] for e in effects_for(h, b)}]
            for b in DURATION_BUCKETS
        }
        for h in SAMPLE_HASHTAGS
    }


def bucket_sizes(scale: float) -> dict[str, int]:
    return {b: max(1, round(n * scale)) for b, n in BUCKET_COUNTS.items()}


def _rng(seed: int, hashtag: str, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(hashtag.encode()), index, stream]))


def _truncated_normal(rng: np.random.Generator, limit: float = 2.0) -> float:
    while True:
        z = float(rng.standard_normal())
        if abs(z) <= limit:
            return z


def draw_design(bucket: str, rng: np.random.Generator) -> tuple[int, dict]:
    """(duration_s, target design) for one video, all independent draws."""
    lo, hi = DURATION_RANGES[bucket]
    duration = int(rng.integers(lo, hi + 1))
    has_audio = int(rng.random() < 0.9)
    tempo = int(rng.choice(TEMPOS))
    silence = round(float(rng.uniform(*SILENCE_RANGE)), 3)
    design = {
        "hook_cut_count": int(rng.integers(0, 5)),
        "cuts_per_second": round(float(rng.uniform(*CUT_RATE_RANGES[bucket])), 4),
        "has_text_hook": int(rng.random() < 0.5),
        "text_share": round(float(rng.uniform(0.2, 0.7)), 4),
        "tempo_bpm": tempo if has_audio else 0,
        "brightness_mean": round(float(rng.uniform(60, 200)), 2),
        "colorfulness_mean": round(float(rng.uniform(0.0, 1.0)), 4),
        "motion_mean": round(float(rng.uniform(0.0, 6.0)), 3),
        "has_audio": has_audio,
        "silence_ratio": silence if has_audio else 0.0,
        "has_face": 0,
    }
    return duration, design


def _creator_pool(seed: int) -> list[dict]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    first = ("fit", "lean", "green", "macro", "prep", "chef", "daily", "glow", "plant", "protein")
    second = ("kitchen", "bites", "coach", "eats", "lab", "bowl", "life", "meals", "fuel", "diary")
    pool = []
    for k in range(90):
        tier = "celebrity" if k < 2 else ("macro" if k < 18 else ("micro" if k < 54 else "nano"))
        fans = {"celebrity": (1.8e6, 2.4e6), "macro": (1e5, 1e6), "micro": (1e4, 1e5), "nano": (1e3, 1e4)}[tier]
        name = f"{first[k % 10]}{second[(k // 10 + k) % 10]}{k:02d}"
        fans_n = int(np.exp(rng.uniform(np.log(fans[0]), np.log(fans[1]))))
        pool.append(
            {
                "id": str(6_800_000_000_000_000_000 + int(rng.integers(10**17))),
                "name": name,
                "nickName": name.title(),
                "verified": tier == "celebrity" or bool(tier == "macro" and rng.random() < 0.2),
                "fans": fans_n,
                "heart": int(fans_n * rng.uniform(5, 30)),
                "video": int(rng.integers(20, 800)),
                "following": int(rng.integers(10, 1000)),
                "tier": tier,
            }
        )
    return pool


_CAPTIONS = (
    "what I eat in a day",
    "5 minute high protein breakfast",
    "sunday meal prep for the week",
    "easy lunch idea",
    "healthy snack swap",
    "budget grocery haul",
    "overnight oats 3 ways",
    "post workout meal",
    "dinner in 10 min",
    "my go-to smoothie",
)
_AUTHOR_KEYS = ("id", "name", "nickName", "verified", "fans", "heart", "video", "following")
_SONGS = ("Good Days", "Levitating", "Espresso", "As It Was", "Flowers", "Cruel Summer", "Sunroof", "Paint The Town")


def _item(
    hashtag: str, rng: np.random.Generator, author: dict, duration: int, created: int, views: int, er: float
) -> dict:
    """One Apify-format item; ``id`` is TikTok-like: creation time in the high 32 bits (19 digits)."""
    vid = str((created << 32) | int(rng.integers(2**32)))
    engaged = round(er * views)
    comments, shares = round(engaged * 0.07), round(engaged * 0.08)
    extra = [t for t in ("fyp", "healthyeating", "foodtok", SAMPLE_CLIENT, "protein") if rng.random() < 0.5]
    tags = [hashtag, *extra]
    original = bool(rng.random() < 0.4)
    return {
        "id": vid,
        "text": f"{_CAPTIONS[int(rng.integers(len(_CAPTIONS)))]} " + " ".join(f"#{t}" for t in tags),
        "createTime": created,
        "createTimeISO": datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "authorMeta": {k: author[k] for k in _AUTHOR_KEYS},
        "musicMeta": {
            "musicId": str(7_000_000_000_000_000_000 + int(rng.integers(10**17))),
            "musicName": f"original sound - {author['name']}" if original else _SONGS[int(rng.integers(len(_SONGS)))],
            "musicAuthor": author["nickName"] if original else "Various",
            "musicOriginal": original,
        },
        "webVideoUrl": f"https://www.tiktok.com/@{author['name']}/video/{vid}",
        "videoMeta": {"height": HEIGHT, "width": WIDTH, "duration": duration, "format": "mp4"},
        "diggCount": engaged - comments - shares,
        "shareCount": shares,
        "playCount": views,
        "commentCount": comments,
        "collectCount": round(views * rng.uniform(0.002, 0.01)),
        "hashtags": [{"name": t} for t in tags],
        "searchHashtag": {"name": hashtag},
        "isAd": False,
    }


def _engagement(item: dict) -> float:
    return (item["diggCount"] + item["commentCount"] + item["shareCount"]) / item["playCount"]


def _created(rng: np.random.Generator, role: str) -> int:
    if role == "before_cutoff":
        return int(BEFORE_CUTOFF_DAY.timestamp()) + int(rng.integers(0, 86_400))
    lo, hi = (int(d.timestamp()) for d in WINDOW)
    return int(rng.integers(lo, hi))


def _video(
    seed: int, hashtag: str, index: int, bucket: str, role: str, pool: list[dict]
) -> tuple[dict, dict, VideoPlan]:
    """(item, ground-truth row, plan) of one valid video."""
    duration, design = draw_design(bucket, _rng(seed, hashtag, index, 0))
    plan = plan_video(design, duration, _rng(seed, hashtag, index, 1))
    design.update(plan.realized())
    rng = _rng(seed, hashtag, index, 2)
    author = pool[int(rng.integers(len(pool)))]
    created = _created(rng, role)
    views = max(1_500, int(VIEWS_MEDIAN * TIER_VIEW_FACTOR[author["tier"]] * np.exp(0.7 * _truncated_normal(rng, 3))))
    present = [e for e in effects_for(hashtag, bucket) if float(design[e["feature"]]) >= float(e["threshold"])]
    multiplier = float(np.prod([e["multiplier"] for e in present])) if present else 1.0
    if not design["has_audio"]:
        multiplier *= audio_neutral_factor(hashtag, bucket)
    er = BASE_ER[hashtag] * multiplier * float(np.exp(ER_NOISE_SIGMA * _truncated_normal(rng)))
    special = float(rng.random())
    if role == "low_views":
        views = 200 + int(special * 700)
    elif role == "low_engagement":
        er = 0.005 + special * 0.01
    elif role == "outlier":
        er = 0.75 + special * 0.15
    item = _item(hashtag, rng, author, duration, created, views, er)
    truth = {
        "video_id": item["id"],
        "hashtag": hashtag,
        "duration_s": duration,
        "duration_bucket": bucket,
        "design": design,
        "effects_present": [e["feature"] for e in present],
        "multiplier": round(multiplier, 6),
        "engagement_rate": _engagement(item),
        "views": item["playCount"],
        "role": role,
        "author": author["name"],
        "author_tier": author["tier"],
        "video_path": f"videos/{item['id']}.mp4" if role == "normal" else None,
        "timeline": plan.timeline(),
    }
    return item, truth, plan


def _bad_items(seed: int, hashtag: str, pool: list[dict], normal: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for k, (reason, _) in enumerate(BAD_ITEM_REASONS):
        rng = _rng(seed, hashtag, 1_000_000 + k, 2)
        if reason == "duplicate_id":
            out.append((reason, json.loads(json.dumps(normal[int(rng.integers(len(normal)))]))))
            continue
        author = pool[int(rng.integers(len(pool)))]
        item = _item(
            hashtag,
            rng,
            author,
            int(rng.integers(16, 25)),
            _created(rng, "normal"),
            int(VIEWS_MEDIAN * np.exp(0.5 * rng.standard_normal())),
            BASE_ER[hashtag],
        )
        if reason == "missing_id":
            del item["id"], item["webVideoUrl"]
        elif reason == "non_positive_views":
            item.update(playCount=0, diggCount=0, commentCount=0, shareCount=0, collectCount=0)
        elif reason == "negative_count":
            item["diggCount"] = -12
        elif reason == "unparseable_date":
            item["createTimeISO"] = "not-a-date"
            del item["createTime"]
        elif reason == "duration_over_120s":
            item["videoMeta"]["duration"] = 150
        elif reason == "unparseable_duration":
            item["videoMeta"]["duration"] = "n/a"
        out.append((reason, item))
    return out


def build_corpus(
    seed: int = DEFAULT_SEED, scale: float = 1.0
) -> tuple[dict[str, list[dict]], dict, list[tuple[Path, VideoPlan]]]:
    """Everything but the encoding: (items per hashtag, ground truth, [(relative mp4 path, plan)])."""
    pool = _creator_pool(seed)
    sizes = bucket_sizes(scale)
    items_by_tag: dict[str, list[dict]] = {}
    videos, bad, plans = [], [], []
    counts: dict[str, dict] = {}
    seen: set[str] = set()
    for hashtag in SAMPLE_HASHTAGS:
        entries = [(b, "normal") for b in DURATION_BUCKETS for _ in range(sizes[b])] + list(QUALITY_CASES)
        valid = []
        for index, (bucket, role) in enumerate(entries):
            item, truth, plan = _video(seed, hashtag, index, bucket, role, pool)
            while item["id"] in seen:  # astronomically rare; deterministic all the same
                item["id"] = truth["video_id"] = str(int(item["id"]) + 1)
                item["webVideoUrl"] = re.sub(r"/video/\d+$", f"/video/{item['id']}", item["webVideoUrl"])
            seen.add(item["id"])
            if role == "normal":  # the quality cases are filtered out before any video is needed
                truth["video_path"] = f"videos/{item['id']}.mp4"
                item["localVideoPath"] = f"../{truth['video_path']}"
                plans.append((Path(truth["video_path"]), plan))
            assert bucket_for(truth["duration_s"]) == bucket
            valid.append(item)
            videos.append(truth)
        order_rng = _rng(seed, hashtag, 2_000_000, 0)
        rows = [valid[i] for i in order_rng.permutation(len(valid))]
        normal = [v for v, (_, r) in zip(valid, entries, strict=True) if r == "normal"]
        corrupt = _bad_items(seed, hashtag, pool, normal)
        tagged = []
        for reason, item in corrupt:
            if reason == "duplicate_id":
                rows.insert(next(i for i, r in enumerate(rows) if r.get("id") == item["id"]) + 1, item)
            else:
                rows.insert(int(order_rng.integers(0, len(rows) + 1)), item)
            tagged.append((reason, item))
        for reason, item in tagged:
            row = next(i for i, r in enumerate(rows) if r is item)
            bad.append(
                {
                    "hashtag": hashtag,
                    "row": row,
                    "video_id": item.get("id"),
                    "expected_reason": reason,
                    "detail": dict(BAD_ITEM_REASONS)[reason],
                }
            )
        items_by_tag[hashtag] = rows
        by_bucket = {
            b: {"normal": 0, "low_views": 0, "low_engagement": 0, "outlier": 0, "before_cutoff": 0}
            for b in DURATION_BUCKETS
        }
        for bucket, role in entries:
            by_bucket[bucket][role] += 1
        for c in by_bucket.values():
            c["valid_items"] = sum(c.values())
        counts[hashtag] = {"buckets": by_bucket, "items": len(rows), "bad_items": len(corrupt)}
    truth = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "scale": float(scale),
        "client": SAMPLE_CLIENT,
        "hashtags": list(SAMPLE_HASHTAGS),
        "date_cutoff": "2026-01-01",
        "note": "A test oracle, not evidence about TikTok: engagement depends on the design only through `effects`.",
        "engagement_model": {
            "base_engagement_rate": BASE_ER,
            "noise": f"lognormal, sigma {ER_NOISE_SIGMA}, z truncated to [-2, 2]",
            "pattern_present": "feature >= threshold (binary features: == 1)",
            "views": f"{VIEWS_MEDIAN} x creator-tier factor {TIER_VIEW_FACTOR} x lognormal(sigma 0.7), >= 1500",
        },
        "effects": [dict(e) for e in PLANTED_EFFECTS],
        "null_features": null_features(),
        "design_features": DESIGN_FEATURES,
        "videos": videos,
        "bad_items": bad,
        "counts": counts,
    }
    return items_by_tag, truth, plans


def _render_task(args: tuple[str, VideoPlan]) -> str:
    path, plan = args
    render_video(path, plan)
    return path


def _dump(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _config(seed: int, scale: float) -> dict:
    return {"generator_version": GENERATOR_VERSION, "seed": int(seed), "scale": float(scale)}


def _summary(out_dir: Path, truth: dict, started: float, regenerated: bool) -> CorpusSummary:
    return CorpusSummary(
        out_dir=out_dir,
        seed=truth["seed"],
        scale=truth["scale"],
        n_items={h: c["items"] for h, c in truth["counts"].items()},
        n_videos=sum(1 for v in truth["videos"] if v["video_path"]),
        video_seconds=float(sum(v["duration_s"] for v in truth["videos"] if v["video_path"])),
        elapsed_s=round(time.perf_counter() - started, 3),
        regenerated=regenerated,
    )


def _complete(out_dir: Path, seed: int, scale: float) -> dict | None:
    """The existing ground truth when it matches this configuration and every file it names exists."""
    try:
        truth = json.loads((out_dir / "ground_truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if {k: truth.get(k) for k in ("generator_version", "seed", "scale")} != _config(seed, scale):
        return None
    needed = [out_dir / h / "items.json" for h in truth["hashtags"]]
    needed += [out_dir / v["video_path"] for v in truth["videos"] if v["video_path"]]
    return truth if all(p.is_file() for p in needed) else None


def generate_sample_corpus(
    out_dir: Path, seed: int = DEFAULT_SEED, *, scale: float = 1.0, workers: int = 1, force: bool = False
) -> CorpusSummary:
    """Write the sample corpus to ``out_dir`` (skipped when a complete one with the same seed/scale is there)."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if not force and (truth := _complete(out_dir, seed, scale)) is not None:
        return _summary(out_dir, truth, started, regenerated=False)
    items_by_tag, truth, plans = build_corpus(seed, scale)
    videos_dir = out_dir / "videos"
    videos_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ground_truth.json").unlink(missing_ok=True)
    marker = out_dir / ".sample_corpus_config.json"
    try:
        resumable = not force and json.loads(marker.read_text(encoding="utf-8")) == _config(seed, scale)
    except (OSError, ValueError):
        resumable = False
    _dump(marker, _config(seed, scale))
    wanted = {p.name for p, _ in plans}
    for old in videos_dir.iterdir():  # stale files of another configuration or an interrupted run
        if old.suffix == ".mp4" and (old.name.startswith(".") or (old.name not in wanted and old.stem.isdigit())):
            old.unlink()
    todo = [(str(out_dir / p), plan) for p, plan in plans if not (resumable and (out_dir / p).is_file())]
    todo.sort(key=lambda t: -t[1].duration_s)  # longest first balances the workers
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            for _ in pool.map(_render_task, todo, chunksize=1):
                pass
    else:
        for task in todo:
            _render_task(task)
    for hashtag, rows in items_by_tag.items():
        (out_dir / hashtag).mkdir(parents=True, exist_ok=True)
        _dump(out_dir / hashtag / "items.json", rows)
    _dump(out_dir / "ground_truth.json", truth)
    return _summary(out_dir, truth, started, regenerated=True)


# -- competitor profiles ------------------------------------------------------------------------------------------
#
# A competitor partition of the sample client scrapes a TikTok profile. Its items reuse the corpus' normal videos
# (``localVideoPath`` points at the same mp4s, so nothing new is encoded and features cached by content hash are
# reused) under their own ids, with the competitor as author, their own views and engagement, and hashtags drawn
# from the competitor's seeded mix. They are written to ``<out>/@<handle>/items.json``, the replay layout of a
# profile, on first use; the corpus' hashtag items and ``ground_truth.json`` are not touched.
#
# Engagement: ER = base(competitor) × multiplier of the reused video's design (as in its source hashtag, so the
# planted effects hold for competitors too) × Π(multipliers of the hashtags it uses) × exp(0.25·z).

#: Hashtags a competitor draws from (the sample client's own two, plus three common neighbours).
COMPETITOR_HASHTAGS: tuple[str, ...] = ("nutrition", "mealprep", "protein", "healthyrecipes", "fyp")


@dataclass(frozen=True)
class CompetitorProfile:
    """How one sample competitor posts: P(uses hashtag), engagement multiplier per hashtag, reach."""

    handle: str
    base_engagement_rate: float
    views_factor: float
    fans: int
    usage: dict[str, float]  # hashtag -> probability that a video uses it
    multipliers: dict[str, float]  # hashtag -> ER multiplier when a video uses it (1.0 when absent)

    def truth(self) -> dict:
        """The competitor's planted hashtag strategy, for tests and readers of the corpus."""
        return {
            "handle": self.handle,
            "base_engagement_rate": self.base_engagement_rate,
            "views_factor": self.views_factor,
            "hashtags": {t: {"usage": self.usage[t], "multiplier": self.multipliers.get(t, 1.0)} for t in self.usage},
        }


#: The sample registry's competitors: greenbites favours #nutrition and wins with #healthyrecipes; preppro favours
#: #mealprep and wins with #protein; both lose engagement with #fyp.
SAMPLE_COMPETITORS: dict[str, CompetitorProfile] = {
    "greenbites": CompetitorProfile(
        handle="greenbites",
        base_engagement_rate=0.045,
        views_factor=1.5,
        fans=420_000,
        usage={"nutrition": 0.8, "healthyrecipes": 0.5, "fyp": 0.5, "protein": 0.2, "mealprep": 0.15},
        multipliers={"healthyrecipes": 2.0, "fyp": 0.6},
    ),
    "preppro": CompetitorProfile(
        handle="preppro",
        base_engagement_rate=0.04,
        views_factor=0.8,
        fans=96_000,
        usage={"mealprep": 0.85, "protein": 0.5, "fyp": 0.3, "nutrition": 0.25, "healthyrecipes": 0.1},
        multipliers={"protein": 2.0, "fyp": 0.6},
    ),
}


def competitor_profile(handle: str, seed: int = DEFAULT_SEED) -> CompetitorProfile:
    """The profile of a sample competitor; a handle the sample does not know gets a seeded profile of its own."""
    handle = handle.strip().lstrip("@").lower()
    if handle in SAMPLE_COMPETITORS:
        return SAMPLE_COMPETITORS[handle]
    rng = _rng(seed, f"@{handle}", 0, 9)
    return CompetitorProfile(
        handle=handle,
        base_engagement_rate=round(float(rng.uniform(0.03, 0.05)), 4),
        views_factor=round(float(rng.uniform(0.5, 2.0)), 3),
        fans=int(np.exp(rng.uniform(np.log(1e4), np.log(1e6)))),
        usage={t: round(float(rng.uniform(0.1, 0.9)), 2) for t in COMPETITOR_HASHTAGS},
        multipliers={t: float(rng.choice([0.6, 1.0, 1.0, 1.5])) for t in COMPETITOR_HASHTAGS},
    )


def competitor_items_path(out_dir: Path, handle: str) -> Path:
    """Where a competitor's items live in the corpus: the replay layout of a profile, ``<out>/@<handle>/``."""
    return Path(out_dir) / f"@{handle}" / "items.json"


def build_competitor_items(truth: dict, handle: str) -> tuple[list[dict], dict]:
    """(items, competitor truth) of one competitor, from the corpus' ground truth (its seed, scale and videos).

    Per bucket, as many videos as one hashtag has (:func:`bucket_sizes`), drawn without replacement from the normal
    videos of both hashtags in that bucket. Deterministic in (seed, scale, handle).
    """
    seed, scale = int(truth["seed"]), float(truth["scale"])
    profile = competitor_profile(handle, seed)
    stream = f"@{profile.handle}"
    normal = [v for v in truth["videos"] if v["role"] == "normal" and v["video_path"]]
    known_ids = {v["video_id"] for v in truth["videos"]}
    pick = _rng(seed, stream, 3_000_000, 0)
    chosen: list[dict] = []
    for bucket, size in bucket_sizes(scale).items():
        pool = [v for v in normal if v["duration_bucket"] == bucket]
        order = pick.permutation(len(pool))[: min(size, len(pool))]
        chosen.extend(pool[i] for i in sorted(order))
    author_rng = _rng(seed, stream, 3_000_001, 0)
    author = {
        "id": str(6_900_000_000_000_000_000 + int(author_rng.integers(10**17))),
        "name": profile.handle,
        "nickName": profile.handle.title(),
        "verified": profile.fans >= 250_000,
        "fans": profile.fans,
        "heart": int(profile.fans * author_rng.uniform(8, 20)),
        "video": len(chosen) + int(author_rng.integers(50, 400)),
        "following": int(author_rng.integers(20, 400)),
    }
    items, rows = [], []
    for index, video in enumerate(chosen):
        rng = _rng(seed, stream, index, 2)
        tags = [t for t in profile.usage if rng.random() < profile.usage[t]]
        if not tags:  # every post carries at least its favourite hashtag
            tags = [max(profile.usage, key=profile.usage.__getitem__)]
        created = _created(rng, "normal")
        views = max(1_500, int(VIEWS_MEDIAN * profile.views_factor * np.exp(0.7 * _truncated_normal(rng, 3))))
        tag_multiplier = float(np.prod([profile.multipliers.get(t, 1.0) for t in tags]))
        er = profile.base_engagement_rate * float(video["multiplier"]) * tag_multiplier
        er *= float(np.exp(ER_NOISE_SIGMA * _truncated_normal(rng)))
        item = _item(tags[0], rng, author, int(video["duration_s"]), created, views, min(er, 0.6))
        while item["id"] in known_ids:  # astronomically rare; deterministic all the same
            item["id"] = str(int(item["id"]) + 1)
        known_ids.add(item["id"])
        caption = item["text"].split(" #", 1)[0]
        item.update(
            text=f"{caption} " + " ".join(f"#{t}" for t in tags),
            hashtags=[{"name": t} for t in tags],
            webVideoUrl=f"https://www.tiktok.com/@{profile.handle}/video/{item['id']}",
            localVideoPath=f"../{video['video_path']}",
        )
        item.pop("searchHashtag", None)  # a profile scrape has no search hashtag
        items.append(item)
        rows.append(
            {
                "video_id": item["id"],
                "reused_video_id": video["video_id"],
                "video_path": video["video_path"],
                "duration_bucket": video["duration_bucket"],
                "hashtags": tags,
                "design_multiplier": video["multiplier"],
                "hashtag_multiplier": round(tag_multiplier, 6),
                "engagement_rate": _engagement(item),
                "views": views,
            }
        )
    return items, {**profile.truth(), "seed": seed, "scale": scale, "videos": rows}


def write_competitor_items(out_dir: Path, handle: str) -> Path:
    """Write (or refresh) ``<out>/@<handle>/items.json`` for the corpus in ``out_dir``; returns its path.

    Cheap (no video is rendered), so it is rebuilt from ``ground_truth.json`` on every call and only rewritten
    when its content changed (a corpus regenerated with another seed or scale).
    """
    out_dir = Path(out_dir)
    truth = json.loads((out_dir / "ground_truth.json").read_text(encoding="utf-8"))
    items, _ = build_competitor_items(truth, handle)
    path = competitor_items_path(out_dir, handle.strip().lstrip("@").lower())
    text = json.dumps(items, indent=1, ensure_ascii=False) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        _dump(path, items)
    return path
