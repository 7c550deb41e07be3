"""Apify ``clockworks/tiktok-scraper`` items for the sample corpus: creators, captions, counts, TikTok-like ids.

Shared by the hashtag corpus (:mod:`optimizer_pipeline.lib.sample.corpus`) and the competitor profiles
(:mod:`optimizer_pipeline.lib.sample.competitor_items`), so both write exactly the item schema the replay reader
and the normaliser accept.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from optimizer_pipeline.lib.sample.design import BEFORE_CUTOFF_DAY, SAMPLE_CLIENT, WINDOW
from optimizer_pipeline.lib.sample.media import HEIGHT, WIDTH


def creator_pool(seed: int) -> list[dict]:
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


def apify_item(
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


def engagement_rate(item: dict) -> float:
    return (item["diggCount"] + item["commentCount"] + item["shareCount"]) / item["playCount"]


def created_at(rng: np.random.Generator, role: str) -> int:
    if role == "before_cutoff":
        return int(BEFORE_CUTOFF_DAY.timestamp()) + int(rng.integers(0, 86_400))
    lo, hi = (int(d.timestamp()) for d in WINDOW)
    return int(rng.integers(lo, hi))
