"""``extract_video_features(path)``: one file -> one fixed-schema feature row (the code path the asset uses).

One decoding pass (:mod:`.decode`) feeds the visual analyser frame by frame and collects the audio; then audio
analysis, timelines and the row. Errors: :class:`VideoDecodeError` for an empty, unreadable or non-media file, a
file without a video stream, or one where no video frame decodes. A truncated file that still yields frames
succeeds with what decoded (``truncated`` = 1, ``duration_s`` = the decoded part).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from optimizer_pipeline.lib.core.hashing import file_sha256

from .audio import analyze_audio
from .decode import MediaReader
from .dictionary import FEATURE_DICTIONARY, FEATURE_VERSION, HOOK_S, PACING_LABELS, STRING_COLUMNS, pacing_label
from .errors import VideoDecodeError
from .timelines import bin_means, event_density, timeline_features
from .visual import VisualAnalyzer, VisualResult, ocr_available, ocr_word_count

_INT_UNITS = {"cuts", "frames", "px", "fades", "words"}
TRUNCATED_SHARE = 0.9


@dataclass
class VideoAnalysis:
    """The feature row plus the per-event detail behind it (for tests, debugging and reports)."""

    path: str
    features: dict
    cut_frames: list[int] = field(default_factory=list)
    cut_times_s: list[float] = field(default_factory=list)
    fade_frames: list[int] = field(default_factory=list)
    text_times_s: list[float] = field(default_factory=list)  # sample times with text
    face_times_s: list[float] = field(default_factory=list)  # sample times with a face
    onset_times_s: list[float] = field(default_factory=list)
    timelines: dict[str, np.ndarray] = field(default_factory=dict)
    decode_note: str = ""


def extract_video_features(path: str | Path) -> dict:
    """All feature columns of :func:`.dictionary.feature_columns` for the video at ``path``."""
    return analyze_video(path).features


def analyze_video(path: str | Path, *, fast_decode: bool = True, threads: int = 1, ocr: bool = True) -> VideoAnalysis:
    """Decode ``path`` once and measure everything; ``threads`` also sets OpenCV's thread count."""
    path = Path(path)
    cv2.setNumThreads(threads)
    with MediaReader(path, fast_decode=fast_decode, threads=threads) as reader:
        analyzer = VisualAnalyzer(HOOK_S, keep_hook_gray=ocr, expected_duration_s=reader.declared_duration_s)
        try:
            for frame in reader.frames():
                analyzer.full_range = reader.full_range
                analyzer.add(frame)
        except (av.error.FFmpegError, OSError, ValueError) as exc:  # a decoder failure, not a clean end of data
            if not analyzer.times:
                raise VideoDecodeError(path, f"decoding failed ({type(exc).__name__}: {exc})") from exc
            reader.stop_reason = f"decoding stopped: {type(exc).__name__}"
    if not analyzer.times:
        raise VideoDecodeError(
            path, "no decodable video frames" + (f" ({reader.stop_reason})" if reader.stop_reason else "")
        )
    vis = analyzer.finish()
    frame_numbers = reader.frame_numbers(vis.times)
    n = max(reader.packet_count, int(frame_numbers[-1]) + 1)
    step = float(np.median(np.diff(vis.times))) if len(vis.times) > 1 else 1.0 / (reader.declared_fps or 30.0)
    step = step if step > 0 else 1.0 / (reader.declared_fps or 30.0)
    duration = max(reader.packet_duration_s(), float(vis.times[-1] + step / max(1, _frame_gap(frame_numbers))))
    fps = n / duration
    audio = reader.audio if reader.astream is not None and reader.audio is not None and reader.audio.size else None
    audio_feats, loudness_tl, onsets = analyze_audio(audio, duration)

    row: dict = {"feature_version": FEATURE_VERSION, "content_sha256": file_sha256(path)}
    truncated = bool(reader.stop_reason) or (
        reader.declared_duration_s > 0 and duration < TRUNCATED_SHARE * reader.declared_duration_s
    )
    row.update(
        duration_s=duration,
        width=reader.width,
        height=reader.height,
        aspect_ratio=reader.width / max(reader.height, 1),
        is_vertical=int(reader.height > reader.width),
        fps=fps,
        frame_count=n,
        truncated=int(truncated),
    )
    cut_times = [float(vis.times[c]) for c in vis.cuts]
    row.update(_pacing(cut_times, len(vis.fades), duration))
    motion_tl = _motion(vis, duration, row)
    row.update(
        brightness_mean=float(vis.luma.mean()),
        hook_brightness_mean=float(vis.luma[vis.times < HOOK_S].mean()),
        contrast_mean=float(vis.contrast.mean()),
    )
    row.update(_samples(vis, ocr))
    row.update(audio_feats)
    brightness_tl = bin_means(vis.times, vis.luma, duration)
    density_tl = event_density(cut_times, duration)
    timelines = {"cut_density": density_tl, "motion": motion_tl, "loudness": loudness_tl, "brightness": brightness_tl}
    for name, series in timelines.items():
        row.update(timeline_features(name, series, duration))
    return VideoAnalysis(
        path=str(path),
        features=_finalise(row),
        cut_frames=[int(frame_numbers[c]) for c in vis.cuts],
        cut_times_s=cut_times,
        fade_frames=[int(frame_numbers[c]) for c in vis.fades],
        text_times_s=[s.time_s for s in vis.samples if s.text_area > 0],
        face_times_s=[s.time_s for s in vis.samples if s.faces > 0],
        onset_times_s=onsets,
        timelines=timelines,
        decode_note=reader.stop_reason,
    )


def _pacing(cut_times: list[float], fades: int, duration: float) -> dict:
    bounds = np.array([0.0, *cut_times, duration])
    shots = np.diff(bounds)
    cps = len(cut_times) / duration
    label = pacing_label(cps)
    return {
        "cut_count": len(cut_times),
        "cuts_per_second": cps,
        "hook_cut_count": sum(1 for t in cut_times if t < HOOK_S),
        "has_cut": int(bool(cut_times)),
        "time_to_first_cut_s": cut_times[0] if cut_times else 0.0,
        "shot_length_mean_s": float(shots.mean()),
        "shot_length_min_s": float(shots.min()),
        "fade_count": fades,
        "pacing_label": label,
        "pacing_score": PACING_LABELS.index(label),
    }


def _frame_gap(frame_numbers: np.ndarray) -> int:
    """Typical step between decoded frames in file frames (1 without B-frame skipping, ~2 with it)."""
    return int(np.median(np.diff(frame_numbers))) if len(frame_numbers) > 1 else 1


def _motion(vis: VisualResult, duration: float, row: dict) -> np.ndarray:
    """Motion per 1/30 s (cut/fade frames and the first frame excluded): each decoded frame's mean |dY| against
    the previous decoded one, divided by the time between them in 30 fps steps; returns its timeline."""
    dt = np.diff(vis.times, prepend=vis.times[0])
    valid = ~vis.transition_frames & (dt > 0)
    valid[0] = False
    per_frame = vis.motion * np.divide(1 / 30.0, dt, out=np.zeros_like(dt), where=dt > 0)
    per_frame = np.where(valid, per_frame, np.nan)
    tl = bin_means(vis.times, per_frame, duration)
    hook = per_frame[vis.times < HOOK_S]
    row["motion_mean"] = float(np.nanmean(per_frame)) if valid.any() else 0.0
    row["motion_max"] = float(tl.max())
    row["hook_motion_mean"] = float(np.nanmean(hook)) if np.isfinite(hook).any() else 0.0
    return tl


def _samples(vis: VisualResult, ocr: bool) -> dict:
    samples = vis.samples
    out: dict = {
        "colorfulness_mean": float(np.mean([s.colorfulness for s in samples])) if samples else 0.0,
        "saturation_mean": float(np.mean([s.saturation for s in samples])) if samples else 0.0,
    }
    faces = [s for s in samples if s.faces >= 0]
    with_face = [s for s in faces if s.faces > 0]
    out.update(
        has_face=int(bool(with_face)),
        face_share=len(with_face) / len(faces) if faces else 0.0,
        time_to_first_face_s=with_face[0].time_s if with_face else 0.0,
        face_area_mean=float(np.mean([s.face_area for s in with_face])) if with_face else 0.0,
        face_area_max=max((s.face_area for s in with_face), default=0.0),
        face_count_mean=float(np.mean([s.faces for s in with_face])) if with_face else 0.0,
        has_face_hook=int(any(s.time_s < HOOK_S for s in with_face)),
    )
    texts = [s for s in samples if s.text_area > 0]
    hook_samples = [s for s in samples if s.time_s < HOOK_S]
    hook_texts = [s for s in hook_samples if s.text_area > 0]
    has_ocr = int(ocr and ocr_available())
    words = 0
    if has_ocr and hook_texts:
        words = max((ocr_word_count(s.gray) or 0 for s in hook_texts[:2] if s.gray is not None), default=0)
    out.update(
        has_text=int(bool(texts)),
        text_share=len(texts) / len(samples) if samples else 0.0,
        time_to_first_text_s=texts[0].time_s if texts else 0.0,
        text_area_mean=float(np.mean([s.text_area for s in texts])) if texts else 0.0,
        has_text_hook=int(bool(hook_texts) and len(hook_texts) >= min(2, len(hook_samples))),
        has_ocr=has_ocr,
        hook_text_word_count=words,
    )
    return out


def _finalise(row: dict) -> dict:
    """Schema order, types, and the no-NaN/no-inf guarantee."""
    missing = set(FEATURE_DICTIONARY) - set(row)
    extra = set(row) - set(FEATURE_DICTIONARY)
    if missing or extra:
        raise RuntimeError(
            f"feature row does not match the dictionary: missing {sorted(missing)}, extra {sorted(extra)}"
        )
    out: dict = {}
    for name, spec in FEATURE_DICTIONARY.items():
        value = row[name]
        if name in STRING_COLUMNS:
            out[name] = str(value)
            continue
        value = float(value)
        if not np.isfinite(value):
            value = 0.0
        out[name] = round(value) if spec.role == "flag" or spec.unit in _INT_UNITS else value
    return out
