"""The sample corpus's design: what it contains and what it plants, independent of files and encoding.

This is a **test oracle, not evidence about TikTok**: engagement depends on the design only through
:data:`PLANTED_EFFECTS`; every other design feature varies with no effect at all. One sample client
(:data:`SAMPLE_CLIENT`) and two hashtags (:data:`SAMPLE_HASHTAGS`).

Per hashtag at ``scale`` 1.0: :data:`BUCKET_COUNTS` normal videos per duration bucket (``max(1, round(n * scale))``,
so 91-120s stays under 20, "insufficient data", for any scale <= 4), plus 10 fixed cases (:data:`QUALITY_CASES`):
3 ``low_views`` (< 1,000 views), 3 ``low_engagement`` (ER < 2%), 2 ``outlier`` (ER 0.75-0.90, about ten times
normal) and 2 ``before_cutoff`` (created 2025-12-01, before the sample client's 2026-01-01 cutoff), and 7 bad items
that normalisation must reject (:data:`BAD_ITEM_REASONS`). Durations are whole seconds (Apify reports integers),
uniform in the cheap lower part of each bucket: :data:`DURATION_RANGES`.

Engagement: ER = base(hashtag) × Π(multipliers of the effects present) × exp(σ·z), σ = :data:`ER_NOISE_SIGMA`,
z ~ N(0, 1) truncated to [-2, 2]; views = 30k × creator-tier factor × exp(0.7·z) (>= 1,500, independent of the
design). Every random draw of video ``i`` of a hashtag comes from ``SeedSequence([seed, crc32(hashtag), i, stream])``
(:func:`seeded_rng`), so output is identical for any number of workers.
"""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime

import numpy as np

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS

SAMPLE_CLIENT = "glowfuel"
SAMPLE_HASHTAGS: tuple[str, ...] = ("nutrition", "mealprep")
DEFAULT_SEED = 20261122
#: Part of the corpus cache key: bump on any change to what the generator writes (v2: fewer, shorter videos).
GENERATOR_VERSION = "2"

#: Normal videos per hashtag and bucket at scale 1.0: the fewest (encoding and feature extraction are most of the
#: demo's first run) with which every planted effect is still recovered at recall >= 0.8 for every generator seed
#: (``test_recovery_over_generator_seeds_from_design_values``); 31-60s keeps 60 for its weaker silence effect.
BUCKET_COUNTS: dict[str, int] = {"0-15s": 64, "16-30s": 56, "31-60s": 60, "61-90s": 32, "91-120s": 4}
#: Whole-second durations, inclusive, uniform: the lower part of each bucket keeps encoding cheap.
DURATION_RANGES: dict[str, tuple[int, int]] = {
    "0-15s": (10, 15),
    "16-30s": (16, 20),
    "31-60s": (31, 36),
    "61-90s": (61, 64),
    "91-120s": (91, 94),
}
#: Whole-video cut rate ranges; the lower edge keeps ``round(rate × duration) ≥ 4`` so the rate is independent
#: of ``hook_cut_count`` (the hook's cuts are part of the total).
CUT_RATE_RANGES: dict[str, tuple[float, float]] = {"0-15s": (0.4, 1.0)} | {b: (0.25, 1.2) for b in DURATION_BUCKETS[1:]}
#: No tempo within 5% of the 120 BPM threshold, so a measured tempo falls on the planted side of it.
TEMPOS: tuple[int, ...] = (80, 90, 100, 110, 126, 132, 140)
#: Half the videos with audio are silent >= 25 % of the time: balanced groups make the silence effect testable.
SILENCE_RANGE = (0.0, 0.5)
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


def seeded_rng(seed: int, hashtag: str, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(hashtag.encode()), index, stream]))


def truncated_normal(rng: np.random.Generator, limit: float = 2.0) -> float:
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
