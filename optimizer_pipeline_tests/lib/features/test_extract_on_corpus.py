"""The extractor recovers what the sample-corpus generator plants, by the shared feature names."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer_pipeline.lib.features import analyze_video
from optimizer_pipeline.lib.sample.design import SILENCE_RANGE
from optimizer_pipeline.lib.sample.media import FPS, plan_video, render_video

DESIGNS = [
    dict(
        hook_cut_count=3,
        cuts_per_second=0.8,
        has_text_hook=1,
        text_share=0.5,
        tempo_bpm=128,
        brightness_mean=170,
        colorfulness_mean=0.9,
        motion_mean=5.5,
        has_audio=1,
        silence_ratio=0.45,  # near the top of the generator's SILENCE_RANGE
    ),
    dict(
        hook_cut_count=0,
        cuts_per_second=0.4,
        has_text_hook=0,
        text_share=0.3,
        tempo_bpm=90,
        brightness_mean=80,
        colorfulness_mean=0.1,
        motion_mean=0.5,
        has_audio=1,
        silence_ratio=0.0,
    ),
    dict(
        hook_cut_count=1,
        cuts_per_second=0.6,
        has_text_hook=1,
        text_share=0.3,
        tempo_bpm=0,
        brightness_mean=130,
        colorfulness_mean=0.5,
        motion_mean=3.0,
        has_audio=0,
        silence_ratio=0.0,
    ),
    dict(
        hook_cut_count=4,
        cuts_per_second=1.0,
        has_text_hook=0,
        text_share=0.6,
        tempo_bpm=110,
        brightness_mean=110,
        colorfulness_mean=0.3,
        motion_mean=2.0,
        has_audio=1,
        silence_ratio=0.15,
    ),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = []
    for i, design in enumerate(DESIGNS):
        plan = plan_video(design, 12, np.random.default_rng(100 + i))
        path = render_video(tmp_path_factory.mktemp("corpus") / f"v{i}.mp4", plan)
        out.append((design, plan, analyze_video(path)))
    return out


def test_designs_span_the_generator_ranges():
    silences = [d["silence_ratio"] for d in DESIGNS if d["has_audio"]]
    assert min(silences) == SILENCE_RANGE[0] and max(silences) >= 0.9 * SILENCE_RANGE[1]


def test_planted_values_are_recovered(corpus):
    for design, plan, a in corpus:
        f, truth = a.features, plan.realized()
        assert f["hook_cut_count"] == truth["hook_cut_count"]
        assert f["cuts_per_second"] == pytest.approx(truth["cuts_per_second"], abs=0.01)
        assert np.allclose(a.cut_times_s, plan.timeline()["cut_times_s"], atol=1.01 / FPS)
        assert f["has_text_hook"] == truth["has_text_hook"]
        assert f["text_share"] == pytest.approx(truth["text_share"], abs=0.06)
        assert f["has_audio"] == design["has_audio"]
        assert f["silence_ratio"] == pytest.approx(truth["silence_ratio"], abs=0.03)
        assert f["tempo_bpm"] == pytest.approx(plan.tempo_bpm, rel=0.03)
        assert f["brightness_mean"] == pytest.approx(design["brightness_mean"], abs=12)
        assert f["has_face"] == 0
        assert f["duration_s"] == pytest.approx(plan.duration_s, abs=1e-6)


def test_motion_and_colourfulness_follow_the_design(corpus):
    def order(values):
        return list(np.argsort(values))

    design_motion = [d["motion_mean"] for d, _, _ in corpus]
    assert order([a.features["motion_mean"] for _, _, a in corpus]) == order(design_motion)
    design_colour = [d["colorfulness_mean"] for d, _, _ in corpus]
    assert order([a.features["colorfulness_mean"] for _, _, a in corpus]) == order(design_colour)
