"""Sample creative videos: the sample creatives file names videos the repository does not ship; the demo renders
them with the sample corpus renderer into the data home (``<home>/creative_videos/<client>/``, the folder
``creative_dna`` looks in when a registered path does not exist), so the autopsy has real files to measure and label
and the installed package is never written to.

Each video's cut rate reads as its creative's given pacing (medium when the pacing is left to the autopsy), so the
demo's disagreements come from the labeler, not from random cutting. Rendering is a pure function of the seed and
the creative id, so a rerun writes the same bytes; existing files (in the registry folder or the home) are left
alone.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from optimizer_pipeline.lib.sample.media import plan_video, render_video
from optimizer_pipeline.lib.testloop.creative_autopsy import home_video_path
from optimizer_pipeline.lib.testloop.creatives import is_blank, load_creatives

#: Cut rates well inside each pacing band of lib/features/dictionary.py (fast >= 0.5 cuts/s, slow < 0.2).
CUTS_PER_SECOND = {"fast": 0.8, "medium": 0.35, "slow": 0.1}
#: The pacing a video is cut for when the creative leaves it to the autopsy.
DEFAULT_PACING = "medium"
DURATION_S = 10


def creative_design(pacing: str) -> dict:
    """A sample-corpus design whose cut rate reads as ``pacing``."""
    return {
        "hook_cut_count": 0 if pacing == "slow" else 1,
        "cuts_per_second": CUTS_PER_SECOND[pacing],
        "has_text_hook": 1,
        "text_share": 0.4,
        "tempo_bpm": 120,
        "brightness_mean": 120.0,
        "colorfulness_mean": 0.5,
        "motion_mean": 2.0,
        "has_audio": 1,
        "silence_ratio": 0.0,
        "has_face": 0,
    }


def render_creative_videos(creatives_file: str | Path, home: str | Path, client: str, *, seed: int = 0) -> list[Path]:
    """Render into the home every video the creatives file names that exists neither where the file says nor in
    the home; returns the paths written (none on a rerun)."""
    written = []
    for row in load_creatives(creatives_file).accepted.to_dict("records"):
        path = row["video_path"]
        if is_blank(path) or Path(path).exists():
            continue
        target = home_video_path(home, client, path)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        pacing = row["pacing"] or DEFAULT_PACING
        rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(str(row["creative_id"]).encode())]))
        written.append(render_video(target, plan_video(creative_design(pacing), DURATION_S, rng)))
    return written
