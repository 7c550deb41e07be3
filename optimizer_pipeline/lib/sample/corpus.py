"""The sample corpus on disk: the embedded default that lets the whole pipeline run with no network.

For each hashtag of the design (:mod:`optimizer_pipeline.lib.sample.design`) the generator writes
``<out>/<hashtag>/items.json`` in the Apify ``clockworks/tiktok-scraper`` item schema (plus ``localVideoPath``,
relative to that file), one real mp4 per normal item in ``<out>/videos/<id>.mp4`` (see
:mod:`optimizer_pipeline.lib.sample.media`), and ``<out>/ground_truth.json`` with the planted effects. Competitor
profiles reuse these files: :mod:`optimizer_pipeline.lib.sample.competitor_items`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from optimizer_pipeline.lib.core.atomic_files import atomic_write_text
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS, bucket_for
from optimizer_pipeline.lib.core.progress import Progress
from optimizer_pipeline.lib.sample.apify_items import apify_item, created_at, creator_pool, engagement_rate
from optimizer_pipeline.lib.sample.design import (
    BAD_ITEM_REASONS,
    BASE_ER,
    DEFAULT_SEED,
    DESIGN_FEATURES,
    ER_NOISE_SIGMA,
    GENERATOR_VERSION,
    PLANTED_EFFECTS,
    QUALITY_CASES,
    SAMPLE_CLIENT,
    SAMPLE_HASHTAGS,
    TIER_VIEW_FACTOR,
    VIEWS_MEDIAN,
    audio_neutral_factor,
    bucket_sizes,
    draw_design,
    effects_for,
    null_features,
    seeded_rng,
    truncated_normal,
)
from optimizer_pipeline.lib.sample.media import VideoPlan, plan_video, render_video


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


def _video(
    seed: int, hashtag: str, index: int, bucket: str, role: str, pool: list[dict]
) -> tuple[dict, dict, VideoPlan]:
    """(item, ground-truth row, plan) of one valid video."""
    duration, design = draw_design(bucket, seeded_rng(seed, hashtag, index, 0))
    plan = plan_video(design, duration, seeded_rng(seed, hashtag, index, 1))
    design.update(plan.realized())
    rng = seeded_rng(seed, hashtag, index, 2)
    author = pool[int(rng.integers(len(pool)))]
    created = created_at(rng, role)
    views = max(1_500, int(VIEWS_MEDIAN * TIER_VIEW_FACTOR[author["tier"]] * np.exp(0.7 * truncated_normal(rng, 3))))
    present = [e for e in effects_for(hashtag, bucket) if float(design[e["feature"]]) >= float(e["threshold"])]
    multiplier = float(np.prod([e["multiplier"] for e in present])) if present else 1.0
    if not design["has_audio"]:
        multiplier *= audio_neutral_factor(hashtag, bucket)
    er = BASE_ER[hashtag] * multiplier * float(np.exp(ER_NOISE_SIGMA * truncated_normal(rng)))
    special = float(rng.random())
    if role == "low_views":
        views = 200 + int(special * 700)
    elif role == "low_engagement":
        er = 0.005 + special * 0.01
    elif role == "outlier":
        er = 0.75 + special * 0.15
    item = apify_item(hashtag, rng, author, duration, created, views, er)
    truth = {
        "video_id": item["id"],
        "hashtag": hashtag,
        "duration_s": duration,
        "duration_bucket": bucket,
        "design": design,
        "effects_present": [e["feature"] for e in present],
        "multiplier": round(multiplier, 6),
        "engagement_rate": engagement_rate(item),
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
        rng = seeded_rng(seed, hashtag, 1_000_000 + k, 2)
        if reason == "duplicate_id":
            out.append((reason, json.loads(json.dumps(normal[int(rng.integers(len(normal)))]))))
            continue
        author = pool[int(rng.integers(len(pool)))]
        item = apify_item(
            hashtag,
            rng,
            author,
            int(rng.integers(16, 25)),
            created_at(rng, "normal"),
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
    pool = creator_pool(seed)
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
        order_rng = seeded_rng(seed, hashtag, 2_000_000, 0)
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


def write_json_atomic(path: Path, obj: object) -> None:
    """The corpus's one JSON layout (indent 1, UTF-8, final newline), written so no reader sees half a file."""
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


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
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    *,
    scale: float = 1.0,
    workers: int = 1,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> CorpusSummary:
    """Write the sample corpus to ``out_dir`` (skipped when a complete one with the same seed/scale is there).

    Rendering reports ``done/total videos, elapsed, ETA`` lines every few seconds (:class:`Progress`) to the
    ``optimizer_pipeline.progress`` logger and to ``progress`` when given.
    """
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
    write_json_atomic(marker, _config(seed, scale))
    wanted = {p.name for p, _ in plans}
    for old in videos_dir.iterdir():  # stale files of another configuration or an interrupted run
        if old.suffix == ".mp4" and (old.name.startswith(".") or (old.name not in wanted and old.stem.isdigit())):
            old.unlink()
    todo = [(str(out_dir / p), plan) for p, plan in plans if not (resumable and (out_dir / p).is_file())]
    todo.sort(key=lambda t: -t[1].duration_s)  # longest first balances the workers
    meter = Progress(
        len(todo), "sample corpus", emit=progress, unit="videos", work_total=sum(p.duration_s for _, p in todo)
    )
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            for (_, plan), _ in zip(todo, pool.map(_render_task, todo, chunksize=1), strict=True):
                meter.advance(work=plan.duration_s)
    else:
        for task in todo:
            _render_task(task)
            meter.advance(work=task[1].duration_s)
    for hashtag, rows in items_by_tag.items():
        (out_dir / hashtag).mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / hashtag / "items.json", rows)
    write_json_atomic(out_dir / "ground_truth.json", truth)
    return _summary(out_dir, truth, started, regenerated=True)
