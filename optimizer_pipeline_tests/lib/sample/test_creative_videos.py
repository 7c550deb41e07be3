"""Sample creative videos: rendered into ``<home>/creative_videos/<client>/`` (never next to the creatives file),
cut so the extractor reads each creative's given pacing, the same bytes for the same seed, existing files left alone;
and the creative autopsy's lookup finding them there."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from optimizer_pipeline.lib.features import extract_video_features
from optimizer_pipeline.lib.sample.creative_videos import DEFAULT_PACING, render_creative_videos
from optimizer_pipeline.lib.testloop.creative_autopsy import home_video_path, resolve_video_path, with_home_videos

CREATIVES = """
creatives:
  - id: slow-one
    name: A slow one
    video_path: v/slow-one.mp4
    status: active
    tags: {hook_type: story, emotion: calm, pacing: slow, pain_point: budget, cta_type: save}
  - id: untagged
    name: Tags left to the autopsy
    video_path: v/untagged.mp4
    status: draft
  - id: shipped
    name: Its video is in the registry folder
    video_path: v/shipped.mp4
    status: active
    tags: {hook_type: pov, emotion: humor, pacing: fast, pain_point: no_time, cta_type: follow}
  - id: paid
    name: No video
    status: paused
    tags: {hook_type: story, emotion: trust, pacing: slow, pain_point: budget, cta_type: buy_now}
"""


def registry_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "reg"
    (folder / "v").mkdir(parents=True)
    (folder / "v" / "shipped.mp4").write_bytes(b"not touched")
    (folder / "creatives.yaml").write_text(CREATIVES)
    return folder


def digests(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_videos_go_to_the_home_cut_to_the_given_pacing_and_reruns_write_nothing(tmp_path):
    folder = registry_folder(tmp_path)
    home = tmp_path / "home"
    written = render_creative_videos(folder / "creatives.yaml", home, "acme", seed=3)
    assert sorted(p.name for p in written) == ["slow-one.mp4", "untagged.mp4"]
    assert all(p.parent == home / "creative_videos" / "acme" for p in written)
    assert sorted(p.name for p in (folder / "v").iterdir()) == ["shipped.mp4"]  # registry folder untouched
    assert (folder / "v" / "shipped.mp4").read_bytes() == b"not touched"
    paces = {p.stem: extract_video_features(p)["pacing_label"] for p in written}
    assert paces == {"slow-one": "slow", "untagged": DEFAULT_PACING}

    before = digests(written)
    assert render_creative_videos(folder / "creatives.yaml", home, "acme", seed=3) == []
    assert digests(written) == before
    other = render_creative_videos(folder / "creatives.yaml", tmp_path / "home2", "acme", seed=3)
    assert digests(other) == before  # same seed, same bytes
    changed = render_creative_videos(folder / "creatives.yaml", tmp_path / "home3", "acme", seed=4)
    assert digests(changed) != before


def test_the_autopsy_reads_the_registered_file_first_then_the_home_copy(tmp_path):
    folder = registry_folder(tmp_path)
    home = tmp_path / "home"
    render_creative_videos(folder / "creatives.yaml", home, "acme")
    registered = {name: str(folder / "v" / f"{name}.mp4") for name in ("slow-one", "shipped", "lost")}
    assert resolve_video_path(registered["shipped"], home, "acme") == registered["shipped"]
    assert resolve_video_path(registered["slow-one"], home, "acme") == str(
        home_video_path(home, "acme", "slow-one.mp4")
    )
    assert resolve_video_path(registered["slow-one"], home, "globex") == registered["slow-one"]  # another client's
    assert resolve_video_path(registered["lost"], home, "acme") == registered["lost"]  # set aside as missing
    assert resolve_video_path(registered["slow-one"], None, "acme") == registered["slow-one"]

    table = pd.DataFrame({"creative_id": ["a", "b", "c"], "video_path": [registered["slow-one"], None, ""]})
    resolved = with_home_videos(table, home, "acme")
    assert resolved["video_path"].iloc[0] == str(home / "creative_videos" / "acme" / "slow-one.mp4")
    assert resolved["video_path"].iloc[1:].isna().tolist() == [True, False]  # blank paths kept as they were
    assert table["video_path"].iloc[0] == registered["slow-one"]  # a copy
