"""Visual measurements on the small grids of :mod:`.decode`: cuts (hard and through black), motion, colour, faces, text.

Cuts. Every frame pair gives the share of grid pixels whose |dY|+|dU|+|dV| exceeds ``CHANGE_THRESHOLD``. A hard cut
is a frame where that share is at least ``CUT_MIN_CHANGED`` and exceeds the median of its ``CUT_NEIGHBOURS`` frames
on each side by ``CUT_MIN_JUMP`` (adaptive, like PySceneDetect's AdaptiveDetector: camera shake and fast motion
raise the neighbours too); two cuts closer than ``MIN_SHOT_S`` keep the stronger. Fades: a run of near-black frames
(mean luma <= ``BLACK_LUMA``) between two pieces of content is one transition, together with the fade-out before
it and the fade-in after it (luma moving monotonically towards/away from black, up to ``FADE_MAX_S``). It is reported
at the hard cut into the black if there is one, else at the first frame after the black; every other candidate in
that span is dropped. Black at the very start/end (fade-in opening, fade-out ending) is not a transition. A cut's
frame index is the first frame of the new shot. Cross-dissolves without black are not detected.

Text: caption-like lines, found as the external contours of a horizontally closed morphological-gradient map
(strong edges, >= ``TEXT_EDGE`` levels, as outlined or boxed captions have) whose box has text-line proportions and
stroke density, on gray samples at 2 fps. Low-contrast text (white on a pale sky) is missed, and regular rows of
small bright objects can pass. OCR (tesseract) is optional: used for ``hook_text_word_count`` only when installed.

Faces: OpenCV's bundled Haar frontal-face cascade on the same gray samples (short side 360 px), every 1 s in the
hook and every 2 s after it, at most ``FACE_MAX_SAMPLES`` runs per video (a run costs 30-80 ms).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from .decode import GridFrame, MediaReader
from .errors import VideoDecodeError

CHANGE_THRESHOLD = 24
CUT_MIN_CHANGED = 0.35
CUT_MIN_JUMP = 0.25
CUT_NEIGHBOURS = 2
MIN_SHOT_S = 0.25
BLACK_LUMA = 16.0
FADE_MAX_S = 2.0
FADE_STEP_S = 0.2  # a fade zone goes on while luma moves > FADE_MIN_STEP over this time
FADE_MIN_STEP = 1.0
FACE_HOOK_INTERVAL_S = 1.0  # Haar is the costliest step (30-80 ms a run): faces every 1 s in the hook, ...
FACE_INTERVAL_S = 2.0  # ... every 2 s after it, ...
FACE_MAX_SAMPLES = 20  # ... stretched so that a long video costs at most ~20 runs
FACE_MIN_SHORT_SHARE = 0.10  # smallest face: 10 % of the frame's short side
TEXT_EDGE = 90
_K3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))


@lru_cache(maxsize=1)
def _face_cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV's haarcascade_frontalface_default.xml did not load")
    return cascade


def detect_faces(gray: np.ndarray) -> np.ndarray:
    """Face boxes (x, y, w, h) in a gray image (Haar frontal face, faces >= 10 % of the short side)."""
    ms = max(24, int(FACE_MIN_SHORT_SHARE * min(gray.shape)))
    found = _face_cascade().detectMultiScale(gray, scaleFactor=1.15, minNeighbors=5, minSize=(ms, ms))
    return np.asarray(found, dtype=np.int64).reshape(-1, 4)


def detect_text(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of caption-like text lines in a gray image."""
    h, w = gray.shape
    grad = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, _K3)
    _, edges = cv2.threshold(grad, TEXT_EDGE, 255, cv2.THRESH_BINARY)
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, w // 20), 1)))
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for contour in contours:
        x, y, bw, bh = cv2.boundingRect(contour)
        if bh < 0.025 * h or bh > 0.15 * h or bw < 2.0 * bh or bw < 0.12 * w:
            continue
        roi = edges[y : y + bh, x : x + bw] > 0
        rising_per_row = np.count_nonzero(roi[:, 1:] & ~roi[:, :-1]) / bh
        if 0.2 <= roi.mean() <= 0.95 and rising_per_row * bh / bw >= 0.5:  # strokes per line height of width
            boxes.append((int(x), int(y), int(bw), int(bh)))
    return boxes


def ocr_available() -> bool:
    """OCR is optional: it runs only where the ``tesseract`` binary is on PATH."""
    return shutil.which("tesseract") is not None


def ocr_word_count(gray: np.ndarray) -> int | None:
    """Words (2+ letters/digits) tesseract reads in ``gray``; ``None`` when tesseract is not installed or fails."""
    exe = shutil.which("tesseract")
    if exe is None:
        return None
    _, png = cv2.imencode(".png", gray)
    try:
        out = subprocess.run(
            [exe, "stdin", "stdout", "--psm", "6"], input=png.tobytes(), capture_output=True, timeout=20, check=False
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return sum(1 for word in out.split() if sum(ch.isalnum() for ch in word) >= 2)


def colour_stats(y: np.ndarray, u: np.ndarray, v: np.ndarray, full_range: bool) -> tuple[float, float]:
    """(Hasler-Susstrunk colourfulness, mean HSV saturation) of one grid frame, via BT.601 YCbCr -> RGB 0-255."""
    yy = y.astype(np.float32)
    cb, cr = u.astype(np.float32) - 128.0, v.astype(np.float32) - 128.0
    if not full_range:
        yy, cb, cr = (yy - 16.0) * (255 / 219), cb * (255 / 224), cr * (255 / 224)
    r = np.clip(yy + 1.402 * cr, 0, 255)
    g = np.clip(yy - 0.344136 * cb - 0.714136 * cr, 0, 255)
    b = np.clip(yy + 1.772 * cb, 0, 255)
    rg, yb = r - g, 0.5 * (r + g) - b
    m = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    mx, mn = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    sat = float(np.mean(np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)))
    return m, sat


@dataclass
class Sample:
    time_s: float
    colorfulness: float
    saturation: float
    text_area: float  # text boxes' area / frame area (0 = no text)
    faces: int = -1  # -1 = not a face sample
    face_area: float = 0.0  # largest face box area / frame area
    gray: np.ndarray | None = None  # kept for OCR in the hook only


@dataclass
class VisualResult:
    times: np.ndarray  # per decoded frame, seconds
    changed: np.ndarray  # share of changed grid pixels vs the previous decoded frame (0 for the first)
    motion: np.ndarray  # mean |dY| vs the previous decoded frame, full-range luma levels (0 for the first)
    luma: np.ndarray  # mean full-range luma
    contrast: np.ndarray  # luma std within the frame
    samples: list[Sample] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)  # positions in the decoded sequence (index into times)
    fades: list[int] = field(default_factory=list)  # the cuts that are transitions through black
    transition_frames: np.ndarray | None = None  # bool mask: cut frames and fade spans (excluded from motion)


class VisualAnalyzer:
    """Feed every :class:`GridFrame` to :meth:`add`, then call :meth:`finish`."""

    def __init__(self, hook_s: float = 3.0, keep_hook_gray: bool = False, expected_duration_s: float = 0.0) -> None:
        self.hook_s, self.keep_hook_gray = hook_s, keep_hook_gray
        hook_runs = hook_s / FACE_HOOK_INTERVAL_S
        self.face_interval = max(FACE_INTERVAL_S, (expected_duration_s - hook_s) / (FACE_MAX_SAMPLES - hook_runs))
        self.next_face = 0.0
        self.prev: GridFrame | None = None
        self.times: list[float] = []
        self.changed: list[float] = []
        self.mad: list[float] = []
        self.mean: list[float] = []
        self.std: list[float] = []
        self.samples: list[Sample] = []
        self.full_range = False

    def add(self, f: GridFrame) -> None:
        if self.prev is None:
            self.changed.append(0.0)
            self.mad.append(0.0)
        else:
            dy = cv2.absdiff(f.y, self.prev.y)
            tot = cv2.add(cv2.add(dy, cv2.absdiff(f.u, self.prev.u)), cv2.absdiff(f.v, self.prev.v))
            self.changed.append(np.count_nonzero(tot > CHANGE_THRESHOLD) / tot.size)
            self.mad.append(cv2.mean(dy)[0])
        mean, std = cv2.meanStdDev(f.y)
        self.mean.append(float(mean[0, 0]))
        self.std.append(float(std[0, 0]))
        self.times.append(f.time_s)
        if f.detail is not None:
            self._sample(f)
        self.prev = f

    def _sample(self, f: GridFrame) -> None:
        colourful, sat = colour_stats(f.y, f.u, f.v, self.full_range)
        gray = f.detail if self.full_range else cv2.convertScaleAbs(f.detail, alpha=255 / 219, beta=-16 * 255 / 219)
        area = float(gray.size)
        text = sum(w * h for _, _, w, h in detect_text(gray)) / area
        s = Sample(f.time_s, colourful, sat, min(1.0, text))
        if f.time_s + 1e-6 >= self.next_face:
            step = FACE_HOOK_INTERVAL_S if f.time_s + FACE_HOOK_INTERVAL_S < self.hook_s else self.face_interval
            self.next_face = f.time_s + step
            faces = detect_faces(gray)
            s.faces = len(faces)
            s.face_area = float((faces[:, 2] * faces[:, 3]).max() / area) if len(faces) else 0.0
        if self.keep_hook_gray and f.time_s < self.hook_s and text > 0:
            s.gray = gray
        self.samples.append(s)

    def finish(self) -> VisualResult:
        scale = 1.0 if self.full_range else 255 / 219
        offset = 0.0 if self.full_range else 16.0
        res = VisualResult(
            times=np.asarray(self.times),
            changed=np.asarray(self.changed),
            motion=np.asarray(self.mad) * scale,
            luma=np.clip((np.asarray(self.mean) - offset) * scale, 0, 255),
            contrast=np.asarray(self.std) * scale,
            samples=self.samples,
        )
        res.cuts, res.fades, res.transition_frames = find_cuts(res.changed, res.luma, res.times)
        return res


def _median_fps(times: np.ndarray) -> float:
    d = np.diff(times)
    d = d[d > 0]
    return float(1.0 / np.median(d)) if d.size else 30.0


def find_cuts(changed: np.ndarray, luma: np.ndarray, times: np.ndarray) -> tuple[list[int], list[int], np.ndarray]:
    """(cut frame indices, the subset that are fades through black, bool mask of transition frames)."""
    n = len(changed)
    fps = _median_fps(times)
    cand: dict[int, float] = {}
    for i in range(1, n):
        c = changed[i]
        if c < CUT_MIN_CHANGED:
            continue
        neigh = np.r_[changed[max(1, i - CUT_NEIGHBOURS) : i], changed[i + 1 : i + 1 + CUT_NEIGHBOURS]]
        if c - (np.median(neigh) if neigh.size else 0.0) >= CUT_MIN_JUMP:
            cand[i] = c
    kept: list[int] = []
    for i in sorted(cand):  # minimum shot length: keep the stronger of two close cuts
        if kept and times[i] - times[kept[-1]] < MIN_SHOT_S:
            if cand[i] > cand[kept[-1]]:
                kept[-1] = i
            continue
        kept.append(i)
    mask = np.zeros(n, dtype=bool)
    cuts, fades = set(kept), set()
    max_fade, k = max(1, round(FADE_MAX_S * fps)), max(1, round(FADE_STEP_S * fps))
    black = luma <= BLACK_LUMA
    i = 0
    while i < n:
        if not black[i]:
            i += 1
            continue
        a = i
        while i < n and black[i]:
            i += 1
        b = i  # black run [a, b)
        floor = luma[a:b].min() + 1.0
        rise = a + int(np.flatnonzero(luma[a:b] <= floor)[-1]) + 1  # first frame of the fade-in
        lo = a  # fade-out: luma still falling over the next FADE_STEP_S
        while lo > 0 and a - lo < max_fade and luma[max(0, lo - 1 - k)] - luma[lo - 1] > FADE_MIN_STEP:
            lo -= 1
        hi = b  # fade-in: luma still rising over the next FADE_STEP_S
        while hi < n - 1 and hi - b < max_fade and luma[min(n - 1, hi + k)] - luma[hi] > FADE_MIN_STEP:
            hi += 1
        leading, trailing = a == 0, b == n
        near_a = [c for c in sorted(cuts) if abs(c - a) <= 2]
        near_b = [c for c in sorted(cuts) if rise - 2 <= c <= b + 2]
        if leading or trailing:  # fade-in opening / fade-out ending: keep only a hard cut out of / into the black
            keep = near_b[:1] if leading else near_a[:1]
        else:
            keep = near_a[:1] or near_b[:1] or [rise]
            fades.add(keep[0])
        span_lo, span_hi = (a if leading else lo), (b if trailing else hi)
        cuts = {c for c in cuts if not span_lo <= c <= span_hi} | set(keep)
        mask[span_lo : span_hi + 1] = True
    out = sorted(cuts)
    mask[out] = True
    return out, sorted(fades & set(out)), mask


def detect_cuts(path, *, fast_decode: bool = True) -> list[int]:
    """Cut frame numbers (first frame of each new shot) of the video at ``path``; video only, no detail samples."""
    with MediaReader(path, detail_fps=0, audio=False, fast_decode=fast_decode) as reader:
        analyzer = VisualAnalyzer()
        for f in reader.frames():
            analyzer.full_range = reader.full_range
            analyzer.add(f)
    if not analyzer.times:
        raise VideoDecodeError(path, "no decodable video frames")
    res = analyzer.finish()
    return [int(n) for n in reader.frame_numbers(res.times)[res.cuts]]
