"""Video feature extraction on real clips (shared data) and on videos generated here with planted facts."""

from __future__ import annotations

import math

import av
import cv2
import numpy as np
import pytest

from optimizer_pipeline.lib.features import (
    VideoDecodeError,
    analyze_video,
    detect_cuts,
    extract_video_features,
    feature_columns,
    warm_up,
)
from optimizer_pipeline.lib.features.dictionary import STRING_COLUMNS
from optimizer_pipeline_tests.shared_data import shared_data

GOLDEN_TESTVIDEO_CUTS = [30, 180, 394]  # PySceneDetect ContentDetector goldens
REAL_CLIPS = [
    "moviepy/big_buck_bunny_0_30.webm",
    "mdn_cc0/flower.mp4",
    "mdn_cc0/friday.mp4",
    "pyscenedetect/testvideo.mp4",
]


@pytest.fixture(scope="module", autouse=True)
def _librosa_compiled():
    warm_up()  # numba compilation once per test process


_cache: dict[str, object] = {}


def real(name: str):
    """Analysis of one shared clip, computed once per test session."""
    path = shared_data("short_videos", *name.split("/"))
    if name not in _cache:
        _cache[name] = analyze_video(path)
    return _cache[name]


def match(found: list[int], golden: list[int], tol: int) -> tuple[float, float]:
    recall = sum(any(abs(g - f) <= tol for f in found) for g in golden) / len(golden)
    precision = sum(any(abs(g - f) <= tol for g in golden) for f in found) / len(found) if found else 1.0
    return recall, precision


def assert_fixed_schema(features: dict) -> None:
    assert list(features) == feature_columns()
    for name, value in features.items():
        if name in STRING_COLUMNS:
            assert isinstance(value, str) and value, name
        else:
            assert isinstance(value, int | float) and math.isfinite(value), (name, value)


# ---------------------------------------------------------------- generated media


def write_video(
    path, frames, fps: int = 12, audio: np.ndarray | None = None, sr: int = 22050, preset: str = "ultrafast"
) -> str:
    """Encode BGR frames (and optional mono float32 audio) as H.264 (+ AAC) with PyAV. ``ultrafast`` has no
    B-frames; ``medium`` (x264's default) has 3 with a pyramid, like most uploaded files."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps, options={"preset": preset, "crf": "18"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        aus = None
        if audio is not None:
            aus = out.add_stream("aac", rate=sr)
            aus.layout = "mono"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if aus is not None:
            af = av.AudioFrame.from_ndarray(audio.astype(np.float32)[None, :], format="fltp", layout="mono")
            af.sample_rate, af.pts = sr, 0
            out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return str(path)


PALETTE = [(40, 90, 200), (200, 160, 30), (60, 200, 90), (170, 40, 160), (230, 230, 230), (20, 60, 110)]


def shots(cut_frames: list[int], n: int, w: int = 144, h: int = 256, speed: float = 3.0):
    """Solid-colour shots changing at ``cut_frames``, each with a moving square."""
    bounds = [0, *cut_frames, n]
    for k in range(len(bounds) - 1):
        for f in range(bounds[k], bounds[k + 1]):
            img = np.empty((h, w, 3), np.uint8)
            img[:] = PALETTE[k % len(PALETTE)]
            x = int(10 + (speed * (f - bounds[k])) % (w - 40))
            cv2.rectangle(img, (x, h // 3), (x + 24, h // 3 + 24), PALETTE[(k + 3) % len(PALETTE)], -1)
            yield img


def clicks(bpm: float, seconds: float, sr: int = 22050, offset: float = 0.1) -> np.ndarray:
    y = np.zeros(int(seconds * sr), np.float32)
    t = np.arange(int(0.05 * sr)) / sr
    click = (0.8 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.01)).astype(np.float32)
    for beat in np.arange(offset, seconds - 0.06, 60.0 / bpm):
        i = int(beat * sr)
        y[i : i + click.size] += click
    return y


# ---------------------------------------------------------------- real clips


def test_testvideo_golden_cuts():
    path = shared_data("short_videos", "pyscenedetect", "testvideo.mp4")
    cuts = detect_cuts(path)
    recall, precision = match(cuts, GOLDEN_TESTVIDEO_CUTS, tol=2)
    assert recall == 1.0 and precision >= 0.9, cuts
    assert real("pyscenedetect/testvideo.mp4").cut_frames == cuts  # the same detector inside the extractor


def test_big_buck_bunny_hard_cuts_and_tempo():
    a = real("moviepy/big_buck_bunny_0_30.webm")
    # The opening fade-in from black is not a cut; the three hard cuts were checked by eye.
    assert match(a.cut_frames, [283, 376, 551], tol=2) == (1.0, 1.0), a.cut_frames
    assert a.features["tempo_bpm"] == pytest.approx(112, rel=0.05)
    assert a.features["has_audio"] == 1 and a.features["speech_score"] < 0.5


def test_flower_digital_silence():
    f = real("mdn_cc0/flower.mp4").features
    assert f["has_audio"] == 1
    assert f["silence_ratio"] == pytest.approx(1.0, abs=0.01)
    assert f["loudness_mean_dbfs"] == -100.0 and f["loudness_peak_dbfs"] == -100.0
    assert f["tempo_bpm"] == 0 and f["has_beat"] == 0 and f["onset_rate"] == 0
    assert f["tl_loudness_max"] == -100.0


def test_testvideo_has_no_audio_stream():
    f = real("pyscenedetect/testvideo.mp4").features
    assert f["has_audio"] == 0
    for name in ("tempo_bpm", "silence_ratio", "loudness_mean_dbfs", "onset_rate", "speech_score", "tl_loudness_mean"):
        assert f[name] == 0, name
    assert f["fade_count"] == 2  # 180 (cut to black, then fade-in) and 394 (fade-out, black, fade-in)


def test_friday_faces_and_speech():
    a = real("mdn_cc0/friday.mp4")
    assert a.features["has_face"] == 1 and a.features["face_share"] > 0
    assert 0 < a.features["face_area_mean"] < 0.2
    assert a.features["speech_score"] >= 0.5  # dialogue


@pytest.mark.parametrize("name", REAL_CLIPS)
def test_real_clips_fixed_schema(name):
    f = real(name).features
    assert_fixed_schema(f)
    assert f["duration_s"] > 4 and f["truncated"] == 0
    assert f["pacing_label"] in ("slow", "medium", "fast")


def test_same_row_twice():
    path = shared_data("short_videos", "mdn_cc0", "friday.mp4")
    assert extract_video_features(path) == real("mdn_cc0/friday.mp4").features


# ---------------------------------------------------------------- generated: cuts, tempo, text, fades


def test_planted_hard_cuts_rate_and_hook(tmp_path):
    planted = [7, 20, 30, 55, 80, 100, 130]  # 12 fps: 3 cuts in the first 3 s (frames < 36)
    path = write_video(tmp_path / "cuts.mp4", shots(planted, 144), fps=12)
    a = analyze_video(path)
    assert a.cut_frames == planted
    f = a.features
    assert f["cut_count"] == 7 and f["hook_cut_count"] == 3
    assert f["cuts_per_second"] == pytest.approx(7 / 12, abs=1e-6)
    assert f["time_to_first_cut_s"] == pytest.approx(7 / 12, abs=1e-3)
    assert f["shot_length_min_s"] == pytest.approx(7 / 12, abs=1e-3)  # the opening shot, frames 0-6
    assert f["pacing_label"] == "fast" and f["has_audio"] == 0
    assert f["motion_mean"] > 0
    assert_fixed_schema(f)


def test_skipping_b_frames_keeps_exact_cut_frames_and_counts(tmp_path):
    """The fast decode skips non-reference B-frames. A full decode finds every planted cut on its exact frame; the
    fast one finds the same cuts, each on its exact frame or (when the cut frame is a skipped B-frame) on the next
    decoded frame, at most one frame late with x264's default 3-B-frame pyramid. Frame count, duration and fps are
    exact either way, and motion agrees."""
    planted = [9, 31, 47, 80, 101, 150, 173]
    path = write_video(tmp_path / "bframes.mp4", shots(planted, 200, w=288, h=512, speed=4.0), fps=25, preset="medium")
    with av.open(path) as c:
        types = {int(f.pict_type) for f in c.decode(video=0)}
    assert int(av.video.frame.PictureType.B) in types  # the file really has B-frames
    fast, full = analyze_video(path), analyze_video(path, fast_decode=False)
    assert full.cut_frames == planted
    assert len(fast.cut_frames) == len(planted)
    assert all(0 <= f - p <= 1 for f, p in zip(fast.cut_frames, planted, strict=True)), fast.cut_frames
    assert fast.features["frame_count"] == full.features["frame_count"] == 200
    assert fast.features["duration_s"] == pytest.approx(8.0, abs=1e-6)
    assert fast.features["fps"] == pytest.approx(25.0, abs=1e-6)
    assert fast.features["motion_mean"] == pytest.approx(full.features["motion_mean"], rel=0.15)
    assert detect_cuts(path) == fast.cut_frames
    assert detect_cuts(path, fast_decode=False) == planted


@pytest.mark.parametrize("bpm", [90, 128])
def test_planted_click_tempo(tmp_path, bpm):
    path = write_video(tmp_path / f"click{bpm}.mp4", shots([], 96), fps=12, audio=clicks(bpm, 8.0))
    f = extract_video_features(path)
    assert f["has_audio"] == 1 and f["has_beat"] == 1
    assert f["tempo_bpm"] == pytest.approx(bpm, rel=0.03)
    assert f["onset_rate"] == pytest.approx(bpm / 60, rel=0.2)
    assert f["hook_has_onset"] == 1 and f["hook_first_onset_s"] < 0.3
    assert 0.5 < f["silence_ratio"] < 1.0  # clicks of 50 ms in digital silence


def _captioned(n: int, fps: int, text_from: float, text_to: float, w: int = 360, h: int = 640):
    for f, img in enumerate(shots([n // 2], n, w, h, speed=4)):
        if text_from <= f / fps < text_to:
            for colour, thick in (((0, 0, 0), 9), ((255, 255, 255), 3)):
                cv2.putText(img, "EAT THIS", (40, 520), cv2.FONT_HERSHEY_DUPLEX, 1.6, colour, thick, cv2.LINE_AA)
        yield img


def test_planted_text_onset_and_share(tmp_path):
    fps, n = 30, 300  # 10 s, caption from 4.0 s to 8.0 s
    path = write_video(tmp_path / "text.mp4", _captioned(n, fps, 4.0, 8.0), fps=fps)
    a = analyze_video(path)
    f = a.features
    assert f["has_text"] == 1 and f["has_text_hook"] == 0
    assert 4.0 <= f["time_to_first_text_s"] <= 4.5
    assert f["text_share"] == pytest.approx(0.4, abs=0.06)
    assert all(4.0 <= t < 8.0 for t in a.text_times_s), a.text_times_s


def test_planted_text_hook(tmp_path):
    path = write_video(tmp_path / "hook.mp4", _captioned(120, 30, 0.0, 3.0), fps=30)
    f = extract_video_features(path)
    assert f["has_text_hook"] == 1 and f["time_to_first_text_s"] == 0.0
    assert f["text_share"] == pytest.approx(0.75, abs=0.1)


def _fade_video(fps: int = 30, w: int = 360, h: int = 640):
    """A 2 s | fade-out 15 f | black 3 f | fade-in 15 f | B 2 s | hard cut | C 1 s. Returns frames, cut frames."""
    a, b, c = (np.full((h, w, 3), col, np.uint8) for col in ((30, 140, 240), (220, 120, 40), (60, 200, 60)))
    frames = [a] * (2 * fps)
    frames += [(a * (1 - (k + 1) / 15)).astype(np.uint8) for k in range(15)]
    frames += [np.zeros_like(a)] * 3
    fade_in_start = len(frames)
    frames += [(b * ((k + 1) / 15)).astype(np.uint8) for k in range(15)]
    frames += [b] * (2 * fps)
    hard = len(frames)
    frames += [c] * fps
    return frames, [fade_in_start, hard]


def test_fade_out_fade_in_is_one_cut(tmp_path):
    frames, planted = _fade_video()
    a = analyze_video(write_video(tmp_path / "fade.mp4", frames, fps=30))
    assert len(a.cut_frames) == 2, a.cut_frames
    assert abs(a.cut_frames[0] - planted[0]) <= 2 and a.cut_frames[1] == planted[1]
    assert a.fade_frames == a.cut_frames[:1] and a.features["fade_count"] == 1


def test_fade_in_opening_and_fade_out_ending_are_not_cuts(tmp_path):
    base = np.full((256, 144, 3), (200, 180, 60), np.uint8)
    ramp = [(base * (k / 12)).astype(np.uint8) for k in range(13)]
    frames = [np.zeros_like(base)] * 6 + ramp + [base] * 30 + ramp[::-1] + [np.zeros_like(base)] * 6
    a = analyze_video(write_video(tmp_path / "open_close.mp4", frames, fps=12))
    assert a.cut_frames == [] and a.features["has_cut"] == 0 and a.features["time_to_first_cut_s"] == 0


def test_tiny_black_and_silent_generated_videos_keep_the_schema(tmp_path):
    one = write_video(tmp_path / "one.mp4", list(shots([], 1)), fps=12)
    short = write_video(tmp_path / "short.mp4", list(shots([3], 6)), fps=12, audio=np.zeros(11025, np.float32))
    black = write_video(tmp_path / "black.mp4", [np.zeros((256, 144, 3), np.uint8)] * 24, fps=12)
    for path in (one, short, black):
        assert_fixed_schema(extract_video_features(path))
    f = extract_video_features(short)
    assert f["has_audio"] == 1 and f["silence_ratio"] == pytest.approx(1.0) and f["loudness_mean_dbfs"] == -100
    f = extract_video_features(black)
    assert f["cut_count"] == 0 and f["brightness_mean"] < 2 and f["motion_mean"] == 0


def test_rotation_metadata_is_applied(tmp_path):
    path = tmp_path / "rot.mp4"
    frames = list(shots([12], 24, w=256, h=144))
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=12, options={"preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = 256, 144, "yuv420p"
        vs.set_display_rotation(90)
        for i, img in enumerate(frames):
            fr = av.VideoFrame.from_ndarray(img, format="bgr24")
            fr.pts = i
            out.mux(vs.encode(fr))
        out.mux(vs.encode(None))
    f = extract_video_features(path)
    assert (f["width"], f["height"], f["is_vertical"]) == (144, 256, 1)


# ---------------------------------------------------------------- unusable files


def test_zero_length_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty file") as err:
        extract_video_features(path)
    assert err.value.path == str(path) and err.value.reason == "empty file (0 bytes)"


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoDecodeError, match="not a media container"):
        extract_video_features(path)


def test_missing_file_and_audio_only(tmp_path):
    with pytest.raises(VideoDecodeError, match="cannot read file"):
        extract_video_features(tmp_path / "nope.mp4")
    m4a = tmp_path / "audio.m4a"
    with av.open(str(m4a), "w", format="mp4") as out:
        s = out.add_stream("aac", rate=22050)
        s.layout = "mono"
        af = av.AudioFrame.from_ndarray(clicks(100, 2.0)[None, :], format="fltp", layout="mono")
        af.sample_rate, af.pts = 22050, 0
        out.mux(s.encode(af))
        out.mux(s.encode(None))
    with pytest.raises(VideoDecodeError, match="no video stream"):
        extract_video_features(m4a)


def test_truncated_mp4_index_at_end_is_an_error(tmp_path):
    data = shared_data("short_videos", "pyscenedetect", "testvideo.mp4").read_bytes()  # moov after mdat
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: int(0.3 * len(data))])
    with pytest.raises(VideoDecodeError, match="moov"):
        extract_video_features(path)


def test_truncated_faststart_mp4_keeps_what_decodes(tmp_path):
    data = shared_data("short_videos", "mdn_cc0", "friday.mp4").read_bytes()  # moov first
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: int(0.3 * len(data))])
    f = extract_video_features(path)
    assert_fixed_schema(f)
    assert f["truncated"] == 1 and 0.5 < f["duration_s"] < 0.6 * 6.17
    assert f["content_sha256"] != real("mdn_cc0/friday.mp4").features["content_sha256"]
