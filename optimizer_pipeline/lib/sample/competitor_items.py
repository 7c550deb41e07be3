"""Competitor profiles of the sample client: seeded posts by a TikTok handle that reuse the corpus's video files.

A competitor partition of the sample client scrapes a TikTok profile. Its items reuse the corpus' normal videos
(``localVideoPath`` points at the same mp4s, so nothing new is encoded and features cached by content hash are
reused) under their own ids, with the competitor as author, their own views and engagement, and hashtags drawn
from the competitor's seeded mix. They are written to ``<out>/@<handle>/items.json``, the replay layout of a
profile, on first use; the corpus' hashtag items and ``ground_truth.json`` are not touched.

Engagement: ER = base(competitor) × multiplier of the reused video's design (as in its source hashtag, so the
planted effects hold for competitors too) × Π(multipliers of the hashtags it uses) × exp(σ·z).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer_pipeline.lib.sample.apify_items import apify_item, created_at, engagement_rate
from optimizer_pipeline.lib.sample.corpus import write_json_atomic
from optimizer_pipeline.lib.sample.design import (
    DEFAULT_SEED,
    ER_NOISE_SIGMA,
    VIEWS_MEDIAN,
    bucket_sizes,
    seeded_rng,
    truncated_normal,
)

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
    rng = seeded_rng(seed, f"@{handle}", 0, 9)
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
    pick = seeded_rng(seed, stream, 3_000_000, 0)
    chosen: list[dict] = []
    for bucket, size in bucket_sizes(scale).items():
        pool = [v for v in normal if v["duration_bucket"] == bucket]
        order = pick.permutation(len(pool))[: min(size, len(pool))]
        chosen.extend(pool[i] for i in sorted(order))
    author_rng = seeded_rng(seed, stream, 3_000_001, 0)
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
        rng = seeded_rng(seed, stream, index, 2)
        tags = [t for t in profile.usage if rng.random() < profile.usage[t]]
        if not tags:  # every post carries at least its favourite hashtag
            tags = [max(profile.usage, key=profile.usage.__getitem__)]
        created = created_at(rng, "normal")
        views = max(1_500, int(VIEWS_MEDIAN * profile.views_factor * np.exp(0.7 * truncated_normal(rng, 3))))
        tag_multiplier = float(np.prod([profile.multipliers.get(t, 1.0) for t in tags]))
        er = profile.base_engagement_rate * float(video["multiplier"]) * tag_multiplier
        er *= float(np.exp(ER_NOISE_SIGMA * truncated_normal(rng)))
        item = apify_item(tags[0], rng, author, int(video["duration_s"]), created, views, min(er, 0.6))
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
                "engagement_rate": engagement_rate(item),
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
        write_json_atomic(path, items)
    return path
