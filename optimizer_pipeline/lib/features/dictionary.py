"""The feature dictionary: every column of a video's feature row, its unit, how it is measured, how a report says it.

The schema is fixed: :func:`feature_columns` is the same list for every video, in this order. A thing that is absent
(no audio stream, no face, no cut, no text) gives 0 in its columns, and a ``has_*`` flag tells a real 0 from an
absent one; no column is ever missing, NaN or infinite. ``role`` tells a consumer what to do with a column:
``feature`` (numeric, comparable across videos), ``flag`` (0/1), ``label`` (a string category) and ``meta``
(identity/provenance, not a creative feature).

Constants that decide a feature (hook length, pacing thresholds, timeline layout) live here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Bump when any measurement changes meaning, so cached rows of an older extractor are recomputed.
FEATURE_VERSION = "video-features-1.1"

#: The hook is the first HOOK_S seconds of the video.
HOOK_S = 3.0
#: Pacing from the whole-video cut rate: fast >= PACING_FAST_MIN_CPS, slow < PACING_SLOW_MAX_CPS, else medium.
PACING_FAST_MIN_CPS = 0.5  # a cut at least every 2 s
PACING_SLOW_MAX_CPS = 0.2  # fewer than one cut every 5 s
PACING_LABELS = ("slow", "medium", "fast")  # pacing_score 0, 1, 2

#: Timelines: series on TIMELINE_BIN_S bins, summarised into a fixed set of columns each.
TIMELINES = ("cut_density", "motion", "loudness", "brightness")
TIMELINE_BIN_S = 0.5
TIMELINE_WINDOWS = 10
OPENING_SHARE = 0.3  # opening energy: mean over the first 30 % of the video
CLOSING_SHARE = 0.3  # closing energy: mean over the last 30 %


def pacing_label(cuts_per_second: float) -> str:
    """ "fast" / "medium" / "slow" from the cut rate, with the thresholds above."""
    if cuts_per_second >= PACING_FAST_MIN_CPS:
        return "fast"
    if cuts_per_second < PACING_SLOW_MAX_CPS:
        return "slow"
    return "medium"


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    unit: str
    measured: str  # how it is measured
    phrase: str  # how a report names it ("cuts in the first 3 seconds")
    more: str  # what a higher value means ("more cuts", "brighter"); for flags: what 1 means
    role: str = "feature"  # feature | flag | label | meta
    group: str = ""
    absent: str = ""  # the value when the thing is absent, and which flag says so


_H = f"first {HOOK_S:g} s"
# fmt: off
_SPECS: list[tuple] = [
    # name, unit, measured, phrase, more, role, group, absent
    ("feature_version", "text", "extractor version (FEATURE_VERSION)", "feature version", "newer", "meta", "meta"),
    ("content_sha256", "hex", "SHA-256 of the file bytes", "file hash", "-", "meta", "meta"),
    ("duration_s", "s", "decoded video duration: last frame time + one frame - first frame time", "video length",
     "longer video", "feature", "format"),
    ("width", "px", "displayed width (rotation metadata applied)", "width", "wider", "meta", "format"),
    ("height", "px", "displayed height (rotation metadata applied)", "height", "taller", "meta", "format"),
    ("aspect_ratio", "w/h", "displayed width / height (0.5625 = 9:16 portrait)", "aspect ratio", "wider frame",
     "feature", "format"),
    ("is_vertical", "0/1", "height > width as displayed", "vertical format", "portrait video", "flag", "format"),
    ("fps", "frames/s", "frame_count / duration_s", "frame rate", "higher frame rate", "meta", "format"),
    ("frame_count", "frames", "video frames in the readable part of the file (one per packet)", "frame count",
     "more frames", "meta", "format"),
    ("truncated", "0/1", "decoding stopped before 90 % of the container's declared duration (features cover what "
     "decoded)", "truncated file", "file is truncated", "flag", "format"),
    ("cut_count", "cuts", "hard cuts + fade-through-black transitions (one per transition)", "cuts", "more cuts",
     "feature", "pacing"),
    ("cuts_per_second", "cuts/s", "cut_count / duration_s", "cuts per second", "faster cutting", "feature", "pacing"),
    ("hook_cut_count", "cuts", f"cuts in the {_H}", f"cuts in the first {HOOK_S:g} seconds", "more cuts in the hook",
     "feature", "hook"),
    ("has_cut", "0/1", "at least one cut", "has a cut", "video has a cut", "flag", "pacing"),
    ("time_to_first_cut_s", "s", "time of the first cut", "time to the first cut", "later first cut", "feature",
     "pacing", "0 with has_cut = 0"),
    ("shot_length_mean_s", "s", "mean time between cuts (video start and end included)", "average shot length",
     "longer shots", "feature", "pacing"),
    ("shot_length_min_s", "s", "shortest shot", "shortest shot", "longer shortest shot", "feature", "pacing"),
    ("fade_count", "fades", "transitions through black (fade-out/fade-in or cut to black), each also one cut",
     "fades through black", "more fades", "feature", "pacing"),
    ("pacing_label", "label", f"fast if cuts/s >= {PACING_FAST_MIN_CPS}, slow if < {PACING_SLOW_MAX_CPS}, else medium",
     "pacing", "faster pacing", "label", "pacing"),
    ("pacing_score", "0-2", "pacing_label as a number: slow 0, medium 1, fast 2", "pacing", "faster pacing", "feature",
     "pacing"),
    ("motion_mean", "luma/frame", "mean absolute luma change (0-255) between consecutive decoded frames on the ~90-160 "
     "px analysis grid, cut and fade frames excluded, per 1/30 s (divided by the time between them x 30)",
     "motion", "more motion", "feature", "motion"),
    ("motion_max", "luma/frame", "largest 0.5 s-bin mean of the same per-frame motion", "peak motion",
     "more motion at its peak", "feature", "motion"),
    ("hook_motion_mean", "luma/frame", f"motion_mean over the {_H}", f"motion in the first {HOOK_S:g} seconds",
     "more motion in the hook", "feature", "hook"),
    ("brightness_mean", "luma 0-255", "mean full-range BT.601 luma of every frame", "brightness", "brighter", "feature",
     "colour"),
    ("hook_brightness_mean", "luma 0-255", f"brightness_mean over the {_H}", "brightness of the opening",
     "brighter hook", "feature", "hook"),
    ("contrast_mean", "luma 0-255", "mean over frames of the luma standard deviation within the frame", "contrast",
     "more contrast", "feature", "colour"),
    ("colorfulness_mean", "Hasler-Susstrunk M", "Hasler & Susstrunk (2003) colourfulness on RGB 0-255, sampled at 2 "
     "fps and averaged", "colourfulness", "more colourful", "feature", "colour"),
    ("saturation_mean", "0-1", "mean HSV saturation (max-min)/max, sampled at 2 fps", "colour saturation",
     "more saturated", "feature", "colour"),
    ("has_face", "0/1", "a frontal face >= 10 % of the short side (OpenCV Haar cascade, 360 px short side) in at "
     "least one face sample (every 1 s in the hook, then every 2 s, at most ~20 per video)", "a face on screen",
     "shows a face", "flag", "faces"),
    ("face_share", "share", "share of face samples with a detected face", "share of time with a face",
     "face on screen more of the time", "feature", "faces"),
    ("time_to_first_face_s", "s", "time of the first sample with a face", "time to the first face",
     "face appears later", "feature", "faces", "0 with has_face = 0"),
    ("face_area_mean", "share", "mean over face samples of the largest face box's area / frame area (close-up size)",
     "face close-up size", "closer close-ups", "feature", "faces", "0 with has_face = 0"),
    ("face_area_max", "share", "largest face box area / frame area over all samples", "largest close-up",
     "closer close-ups", "feature", "faces", "0 with has_face = 0"),
    ("face_count_mean", "faces", "mean faces per sample with a face", "faces per shot", "more people", "feature",
     "faces", "0 with has_face = 0"),
    ("has_face_hook", "0/1", f"a face in a sample of the {_H}", f"a face in the first {HOOK_S:g} seconds",
     "face in the hook", "flag", "hook"),
    ("has_text", "0/1", "caption-like text (high-contrast line of characters) in at least one 2 fps sample",
     "on-screen text", "shows text", "flag", "text"),
    ("text_share", "share", "share of 2 fps samples with on-screen text", "share of time with on-screen text",
     "text on screen more of the time", "feature", "text"),
    ("time_to_first_text_s", "s", "time of the first sample with text", "time to the first text", "text appears later",
     "feature", "text", "0 with has_text = 0"),
    ("text_area_mean", "share", "mean over text samples of the text boxes' area / frame area", "text size",
     "more screen covered by text", "feature", "text", "0 with has_text = 0"),
    ("has_text_hook", "0/1", f"text in at least 2 of the 2 fps samples of the {_H}",
     f"a text hook in the first {HOOK_S:g} seconds", "text hook present", "flag", "hook"),
    ("has_ocr", "0/1", "the tesseract OCR binary was available for hook_text_word_count", "OCR available", "OCR ran",
     "meta", "text"),
    ("hook_text_word_count", "words", f"words OCR'd (tesseract) from the text samples of the {_H}",
     "words in the text hook", "more words in the hook", "feature", "hook", "0 with has_ocr = 0 or no text"),
    ("has_audio", "0/1", "the file has an audio stream that decodes", "has audio", "has audio", "flag", "audio"),
    ("tempo_bpm", "BPM", "librosa beat_track tempo on the onset envelope (mono 22.05 kHz)", "tempo", "faster beat",
     "feature", "audio", "0 with has_beat = 0"),
    ("has_beat", "0/1", "at least 4 tracked beats in non-silent audio", "a beat", "has a beat", "flag", "audio"),
    ("beat_strength", "ratio", "mean onset strength on beats / mean onset strength", "beat strength",
     "more pronounced beat", "feature", "audio", "0 with has_beat = 0"),
    ("onset_rate", "onsets/s", "librosa onset_detect onsets / audio duration", "onsets per second", "busier audio",
     "feature", "audio", "0 with has_audio = 0"),
    ("loudness_mean_dbfs", "dBFS", "RMS of the whole track in dBFS, floored at -100", "loudness", "louder", "feature",
     "audio", "0 with has_audio = 0; digital silence gives -100"),
    ("loudness_peak_dbfs", "dBFS", "sample peak in dBFS, floored at -100", "peak level", "louder peaks", "feature",
     "audio", "0 with has_audio = 0"),
    ("loudness_range_db", "dB", "95th - 10th percentile of 46 ms frame RMS (dB) over non-silent frames",
     "dynamic range", "more dynamic", "feature", "audio", "0 with has_audio = 0"),
    ("silence_ratio", "share", "share of 46 ms frames below -60 dBFS RMS", "share of silence", "more silence",
     "feature", "audio", "0 with has_audio = 0"),
    ("speech_score", "0-1", "voice-like audio heuristic: ramp(300-3400 Hz energy share, 0.3-0.8) x (0.5 + 0.5 x "
     "ramp(3-8 Hz syllable-rate modulation share of that band's loudness, 0.2-0.35)); ~1 dialogue, ~0 beats/music",
     "speech-like audio", "more speech-like", "feature", "audio", "0 with has_audio = 0"),
    ("has_speech", "0/1", "speech_score >= 0.5", "speech", "speech-dominated audio", "flag", "audio"),
    ("spectral_flatness_mean", "0-1", "mean spectral flatness of non-silent frames (1 = noise, 0 = pure tone)",
     "noisiness", "noisier sound", "feature", "audio", "0 with has_audio = 0"),
    ("hook_loudness_dbfs", "dBFS", f"RMS of the {_H} of audio in dBFS, floored at -100",
     f"loudness in the first {HOOK_S:g} seconds", "louder hook", "feature", "hook", "0 with has_audio = 0"),
    ("hook_has_onset", "0/1", f"an audio onset in the {_H}", "sound starts in the hook", "audio onset in the hook",
     "flag", "hook"),
    ("hook_first_onset_s", "s", f"time of the first audio onset in the {_H}", "time to the first sound",
     "later first sound", "feature", "hook", "0 with hook_has_onset = 0"),
]
# fmt: on

_TL_PHRASE = {"cut_density": "cut density", "motion": "motion", "loudness": "loudness", "brightness": "brightness"}
_TL_UNIT = {"cut_density": "cuts/s", "motion": "luma/frame", "loudness": "dBFS", "brightness": "luma 0-255"}
_TL_HOW = {
    "cut_density": "cuts within +-1 s of each 0.5 s bin's centre, per second",
    "motion": "per-frame motion (as motion_mean) averaged per 0.5 s bin",
    "loudness": "RMS dBFS per 0.5 s bin, floored at -100 (all 0 without audio)",
    "brightness": "mean luma per 0.5 s bin",
}


def _timeline_specs(tl: str) -> list[tuple]:
    p, u, how, g = _TL_PHRASE[tl], _TL_UNIT[tl], _TL_HOW[tl], "timeline"
    pre = f"tl_{tl}"
    rows = [
        (f"{pre}_mean", u, f"mean of the series: {how}", f"average {p}", f"more {p}"),
        (f"{pre}_max", u, f"max of the series: {how}", f"peak {p}", f"higher peak {p}"),
        (f"{pre}_min", u, f"min of the series: {how}", f"lowest {p}", f"higher lowest {p}"),
        (f"{pre}_std", u, f"standard deviation of the series: {how}", f"{p} variability", f"more varied {p}"),
        (f"{pre}_range", u, "max - min of the series", f"{p} range", f"wider {p} range"),
        (f"{pre}_length_s", "s", "duration the series covers", "timeline length", "longer"),
    ]
    for k in range(TIMELINE_WINDOWS):
        lo, hi = 100 * k // TIMELINE_WINDOWS, 100 * (k + 1) // TIMELINE_WINDOWS
        rows.append(
            (
                f"{pre}_w{k + 1:02d}",
                u,
                f"mean over {lo}-{hi} % of the duration",
                f"{p} at {lo}-{hi} %",
                f"more {p} at {lo}-{hi} %",
            )
        )
    rows += [
        (f"{pre}_peak_time_s", "s", "time of the highest bin (first if tied)", f"time of peak {p}", "later peak"),
        (f"{pre}_peak_value", u, "value of the highest bin", f"peak {p}", f"higher peak {p}"),
        (f"{pre}_valley_time_s", "s", "time of the lowest bin (first if tied)", f"time of lowest {p}", "later valley"),
        (f"{pre}_valley_value", u, "value of the lowest bin", f"lowest {p}", f"higher lowest {p}"),
        (
            f"{pre}_opening_mean",
            u,
            f"mean over the first {OPENING_SHARE:.0%} of the duration",
            f"opening {p}",
            f"more {p} at the start",
        ),
        (
            f"{pre}_closing_mean",
            u,
            f"mean over the last {CLOSING_SHARE:.0%} of the duration",
            f"closing {p}",
            f"more {p} at the end",
        ),
        (
            f"{pre}_peak_time_ratio",
            "share",
            "peak time / duration",
            f"relative position of peak {p}",
            "peak later in the video",
        ),
    ]
    return [(*r, "feature", g, "0 without audio" if tl == "loudness" else "") for r in rows]


def _build() -> dict[str, FeatureSpec]:
    rows = list(_SPECS)
    for tl in TIMELINES:
        rows += _timeline_specs(tl)
    out: dict[str, FeatureSpec] = {}
    for row in rows:
        spec = FeatureSpec(*row)
        if spec.name in out:
            raise ValueError(f"duplicate feature {spec.name}")
        out[spec.name] = spec
    return out


FEATURE_DICTIONARY: dict[str, FeatureSpec] = _build()
STRING_COLUMNS = frozenset({"feature_version", "content_sha256", "pacing_label"})


def feature_columns() -> list[str]:
    """Every column of a feature row, in schema order (meta columns included)."""
    return list(FEATURE_DICTIONARY)
