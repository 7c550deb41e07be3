"""Frame and audio synthesis for the sample corpus: a design becomes a plan, and a plan becomes one real mp4.

A :class:`VideoPlan` fixes every creative fact of one video (cut frames, shot palettes, moving shapes, text blocks,
beat tempo, silent spans) so the corpus generator can write them to the ground truth before anything is encoded,
and :func:`render_video` turns the plan into an H.264 + AAC mp4 with PyAV. Rendering is a pure function of the plan
(the only randomness, the click noise, comes from the plan's ``audio_seed``), so any process renders the same file.

What an extractor can measure, by construction:
- **Cuts** are hard cuts with a palette jump: consecutive shots alternate above/below the design brightness by
  18-28 luma levels and their hues differ by 100-260 degrees, and no shot changes palette inside itself.
- **Brightness**: each shot's background has mean luma ``brightness_mean ± 18-28`` (alternating, so the video's
  mean stays near the design value); gradients and the lighter/darker shape pairs are symmetric around it.
- **Colourfulness**: chroma radius ``colorfulness_mean * 55`` in Cr/Cb units (BT.601), hue random per shot.
- **Motion**: four shapes per shot move at exactly ``motion_mean`` px/frame and bounce off the edges.
- **Text**: white ``FONT_HERSHEY_DUPLEX`` text with a black outline; the hook text sits in the upper half for the
  first 3 s, later caption blocks in the lower third.
- **Audio**: a kick (pitch-swept sine, 150 ms) plus a short noise click on every beat, a quiet pad
  (220/262/330 Hz, about -30 dBFS, so nothing else is silent), and digital silence (exact zeros) over the silent
  spans. No audio stream at all when ``has_audio`` is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from optimizer_pipeline.lib.core.atomic_files import atomic_output

FPS = 12
WIDTH = 144
HEIGHT = 256
SAMPLE_RATE = 22050
HOOK_S = 3.0
#: Chroma radius (Cr/Cb units) at ``colorfulness_mean`` = 1.
MAX_CHROMA = 55.0
#: Luma offset of the lighter/darker shapes relative to their shot's background.
SHAPE_CONTRAST = 45.0
_FONT = cv2.FONT_HERSHEY_DUPLEX
_HOOK_PHRASES = (
    ("EAT THIS", "NOT THAT"),
    ("STOP", "SCROLLING"),
    ("3 TIPS", "FOR YOU"),
    ("DAY 1", "MEAL PREP"),
    ("HIGH", "PROTEIN"),
    ("5 MIN", "BREAKFAST"),
    ("WAIT", "FOR IT"),
    ("DON'T", "SKIP THIS"),
)
_CAPTION_WORDS = ("oats", "protein", "greens", "macros", "snack", "prep", "batch", "fiber", "energy", "recipe")


@dataclass(frozen=True)
class Shape:
    kind: str  # "circle" | "rect"
    x0: float
    y0: float
    vx: float
    vy: float
    half: int  # radius or half-side in px
    bgr: tuple[int, int, int]


@dataclass(frozen=True)
class Shot:
    start: int  # first frame (inclusive)
    end: int  # last frame (exclusive)
    luma: float
    hue_deg: float
    pattern: str  # "solid" | "vgrad" | "hgrad" | "dgrad"
    bgr: tuple[int, int, int]
    shapes: tuple[Shape, ...]


@dataclass(frozen=True)
class TextBlock:
    start: int
    end: int
    lines: tuple[str, ...]
    hook: bool


@dataclass(frozen=True)
class VideoPlan:
    duration_s: int
    cut_frames: tuple[int, ...]
    shots: tuple[Shot, ...]
    text_blocks: tuple[TextBlock, ...]
    has_audio: bool
    tempo_bpm: float
    beat_offset_s: float
    silent_spans_s: tuple[tuple[float, float], ...]
    audio_seed: int

    @property
    def n_frames(self) -> int:
        return self.duration_s * FPS

    def realized(self) -> dict[str, float | int]:
        """The design values this plan really renders (rounding to frames/samples included)."""
        text_frames = sum(b.end - b.start for b in self.text_blocks)
        silent = sum(e - s for s, e in self.silent_spans_s)
        return {
            "hook_cut_count": sum(1 for f in self.cut_frames if f < HOOK_S * FPS),
            "cuts_per_second": round(len(self.cut_frames) / self.duration_s, 6),
            "has_text_hook": int(any(b.hook for b in self.text_blocks)),
            "text_share": round(text_frames / self.n_frames, 6),
            "silence_ratio": round(silent / self.duration_s, 6) if self.has_audio else 0.0,
        }

    def timeline(self) -> dict[str, list]:
        """Timestamps (seconds) a test or an extractor check can compare against."""
        return {
            "cut_times_s": [round(f / FPS, 4) for f in self.cut_frames],
            "text_intervals_s": [[round(b.start / FPS, 4), round(b.end / FPS, 4)] for b in self.text_blocks],
            "silent_intervals_s": [[s, e] for s, e in self.silent_spans_s],
        }


def _stratified(rng: np.random.Generator, n: int, lo: float, hi: float, jitter: float = 0.15) -> list[float]:
    """n points in [lo, hi], one per equal slot, jittered by ±jitter of a slot."""
    if n <= 0:
        return []
    slot = (hi - lo) / n
    return [lo + (k + 0.5 + rng.uniform(-jitter, jitter)) * slot for k in range(n)]


def _ycc_to_bgr(y: float, chroma: float, hue_deg: float, margin: float) -> tuple[int, int, int]:
    """BT.601 full-range YCbCr → BGR, shrinking chroma so the colour (± ``margin`` luma) stays in gamut."""
    h = math.radians(hue_deg)
    for _ in range(40):
        cr, cb = chroma * math.cos(h), chroma * math.sin(h)
        r, g, b = y + 1.403 * cr, y - 0.714 * cr - 0.344 * cb, y + 1.773 * cb
        if min(r, g, b) - margin >= 0 and max(r, g, b) + margin <= 255:
            break
        chroma *= 0.85
    return round(min(max(b, 0.0), 255.0)), round(min(max(g, 0.0), 255.0)), round(min(max(r, 0.0), 255.0))


def plan_video(design: dict, duration_s: int, rng: np.random.Generator) -> VideoPlan:
    """Lay out one video from its target design; ``VideoPlan.realized()`` gives the values actually rendered."""
    n_frames = duration_s * FPS
    hook = int(design["hook_cut_count"])
    total = max(hook, round(float(design["cuts_per_second"]) * duration_s))
    times = _stratified(rng, hook, 0.4, HOOK_S - 0.3) + _stratified(rng, total - hook, HOOK_S + 0.4, duration_s - 0.5)
    cut_frames = tuple(sorted({round(t * FPS) for t in times}))
    bounds = (0, *cut_frames, n_frames)

    chroma = float(design["colorfulness_mean"]) * MAX_CHROMA
    speed = float(design["motion_mean"])
    sign = 1.0 if rng.random() < 0.5 else -1.0
    hue = rng.uniform(0, 360)
    shots = []
    for i in range(len(bounds) - 1):
        luma = float(design["brightness_mean"]) + sign * rng.uniform(18, 28)
        sign = -sign
        hue = (hue + rng.uniform(100, 260)) % 360
        shapes = []
        for k in range(4):
            kind = "circle" if k < 2 else "rect"
            half = int(rng.integers(10, 17))
            angle = rng.uniform(0, 2 * math.pi)
            shape_luma = luma + (SHAPE_CONTRAST if k % 2 == 0 else -SHAPE_CONTRAST)
            shapes.append(
                Shape(
                    kind,
                    float(rng.uniform(half, WIDTH - half)),
                    float(rng.uniform(half, HEIGHT - half)),
                    speed * math.cos(angle),
                    speed * math.sin(angle),
                    half,
                    _ycc_to_bgr(shape_luma, chroma, (hue + rng.uniform(-40, 40)) % 360, 0),
                )
            )
        pattern = str(rng.choice(["solid", "vgrad", "hgrad", "dgrad"]))
        bgr = _ycc_to_bgr(luma, chroma, hue, 15)
        shots.append(Shot(bounds[i], bounds[i + 1], luma, hue, pattern, bgr, tuple(shapes)))

    hook_frames = int(HOOK_S * FPS)
    blocks: list[TextBlock] = []
    want = round(float(design["text_share"]) * n_frames)
    if int(design["has_text_hook"]):
        blocks.append(TextBlock(0, hook_frames, _HOOK_PHRASES[int(rng.integers(len(_HOOK_PHRASES)))], True))
        want -= hook_frames
        lo = hook_frames
    else:
        lo = hook_frames + FPS // 2  # leave half a second after the hook window free
    want = max(0, min(want, n_frames - lo))
    if want > 0:
        n_blocks = min(int(rng.integers(1, 4)), max(1, want // FPS))
        sizes = [want // n_blocks + (1 if k < want % n_blocks else 0) for k in range(n_blocks)]
        gaps = rng.multinomial(n_frames - lo - want, np.ones(n_blocks + 1) / (n_blocks + 1))
        start = lo
        for k, size in enumerate(sizes):
            start += int(gaps[k])
            words = rng.choice(_CAPTION_WORDS, size=2, replace=False)
            blocks.append(TextBlock(start, start + size, (f"{words[0]} {words[1]}",), False))
            start += size

    has_audio = bool(int(design["has_audio"]))
    spans: list[tuple[float, float]] = []
    ratio = float(design["silence_ratio"]) if has_audio else 0.0
    total_silent = round(ratio * duration_s, 2)
    if total_silent >= 0.2:
        n_spans = int(rng.integers(1, 4))
        lengths = [round(total_silent / n_spans, 2)] * n_spans
        lengths[-1] = round(total_silent - sum(lengths[:-1]), 2)
        free = duration_s - total_silent
        gaps = np.sort(rng.uniform(0, free, size=n_spans))
        t = 0.0
        prev = 0.0
        for g, length in zip(gaps, lengths, strict=True):
            t += float(g) - prev
            prev = float(g)
            spans.append((round(t, 2), round(t + length, 2)))
            t += length
    return VideoPlan(
        duration_s=duration_s,
        cut_frames=cut_frames,
        shots=tuple(shots),
        text_blocks=tuple(blocks),
        has_audio=has_audio,
        tempo_bpm=float(design["tempo_bpm"]) if has_audio else 0.0,
        beat_offset_s=round(float(rng.uniform(0.05, 0.3)), 3),
        silent_spans_s=tuple(spans),
        audio_seed=int(rng.integers(2**31)),
    )


def _background(shot: Shot) -> np.ndarray:
    img = np.empty((HEIGHT, WIDTH, 3), np.float32)
    img[:] = shot.bgr
    if shot.pattern != "solid":
        ys = np.linspace(-1, 1, HEIGHT, dtype=np.float32)[:, None]
        xs = np.linspace(-1, 1, WIDTH, dtype=np.float32)[None, :]
        ramp = {"vgrad": ys + 0 * xs, "hgrad": xs + 0 * ys, "dgrad": (xs + ys) / 2}[shot.pattern]
        img += 15.0 * ramp[:, :, None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _bounce(p: float, lo: float, hi: float) -> int:
    span = hi - lo
    if span <= 0:
        return int(lo)
    q = (p - lo) % (2 * span)
    return round(lo + (q if q <= span else 2 * span - q))


def _text_layer(lines: tuple[str, ...], hook: bool) -> tuple[int, np.ndarray, np.ndarray]:
    """Rows ``y0:y0+h`` of a text overlay: (y0, outline alpha, fill alpha), anti-aliased, rendered once per block."""
    outline = np.zeros((HEIGHT, WIDTH), np.uint8)
    fill = np.zeros((HEIGHT, WIDTH), np.uint8)
    scale0 = 0.75 if hook else 0.5
    thick = 2 if hook else 1
    line_h = 30 if hook else 20
    y = 78 if hook else 205
    for line in lines:
        scale = scale0
        while cv2.getTextSize(line, _FONT, scale, thick)[0][0] > WIDTH - 12 and scale > 0.3:
            scale -= 0.05
        (w, _), _ = cv2.getTextSize(line, _FONT, scale, thick)
        org = ((WIDTH - w) // 2, y)
        cv2.putText(outline, line, org, _FONT, scale, 255, thick + 3, cv2.LINE_AA)
        cv2.putText(fill, line, org, _FONT, scale, 255, thick, cv2.LINE_AA)
        y += line_h
    rows = np.flatnonzero(outline.any(axis=1))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    return y0, outline[y0:y1, :, None] / np.float32(255), fill[y0:y1, :, None] / np.float32(255)


def render_frames(plan: VideoPlan):
    """Yield the plan's frames as BGR uint8 arrays (HEIGHT × WIDTH × 3)."""
    text_at = np.full(plan.n_frames, -1, np.int32)
    for i, block in enumerate(plan.text_blocks):
        text_at[block.start : block.end] = i
    layers = [_text_layer(b.lines, b.hook) for b in plan.text_blocks]
    for shot in plan.shots:
        bg = _background(shot)
        for f in range(shot.start, shot.end):
            img = bg.copy()
            t = f - shot.start
            for s in shot.shapes:
                x = _bounce(s.x0 + s.vx * t, s.half, WIDTH - s.half)
                y = _bounce(s.y0 + s.vy * t, s.half, HEIGHT - s.half)
                if s.kind == "circle":
                    cv2.circle(img, (x, y), s.half, s.bgr, -1, cv2.LINE_AA)
                else:
                    cv2.rectangle(img, (x - s.half, y - s.half), (x + s.half, y + s.half), s.bgr, -1)
            if text_at[f] >= 0:
                y0, a_out, a_fill = layers[text_at[f]]
                region = img[y0 : y0 + a_out.shape[0]]
                mixed = region * (1 - a_out) * (1 - a_fill) + 255 * a_fill
                region[:] = np.rint(mixed).astype(np.uint8)
            yield img


def synthesize_audio(plan: VideoPlan) -> np.ndarray:
    """Mono float32 audio at SAMPLE_RATE: kicks on the beat, a quiet pad, exact zeros over the silent spans."""
    sr = SAMPLE_RATE
    n = plan.duration_s * sr
    rng = np.random.default_rng(plan.audio_seed)
    t = np.arange(sr // 2, dtype=np.float64) / sr  # 220/262/330 Hz all repeat every 0.5 s: tile one period
    pad = 0.03 * (np.sin(2 * np.pi * 220.0 * t) + np.sin(2 * np.pi * 262.0 * t) + np.sin(2 * np.pi * 330.0 * t))
    out = np.tile(pad, 2 * plan.duration_s + 1)[:n]
    kt = np.arange(int(0.15 * sr), dtype=np.float64) / sr
    freq = 50.0 + 100.0 * np.exp(-kt / 0.03)
    kick = 0.7 * np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-kt / 0.06)
    click_len = int(0.004 * sr)
    kick[:click_len] += 0.35 * rng.standard_normal(click_len) * np.linspace(1, 0, click_len)
    period = 60.0 / plan.tempo_bpm
    for beat in np.arange(plan.beat_offset_s, plan.duration_s, period):
        i = round(float(beat) * sr)
        m = min(len(kick), n - i)
        out[i : i + m] += kick[:m]
    for s, e in plan.silent_spans_s:
        out[round(s * sr) : round(e * sr)] = 0.0
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def render_video(path: str | Path, plan: VideoPlan) -> Path:
    """Encode ``plan`` to ``path`` (H.264 ultrafast yuv420p 12 fps + AAC-LC mono 22050 Hz 12 kb/s), atomically.

    One encoder thread each, so the bytes depend on the plan only (checked by the tests across processes)."""
    path = Path(path)
    cv2.setNumThreads(1)
    with atomic_output(path, prefix=f".{path.stem}.", suffix=".tmp.mp4") as pending:
        container = av.open(str(pending.path), "w", format="mp4")
        try:
            vstream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "26"})
            vstream.width, vstream.height, vstream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            vstream.codec_context.thread_count = 1
            astream = None
            if plan.has_audio:
                astream = container.add_stream("aac", rate=SAMPLE_RATE, options={"aac_coder": "fast"})
                astream.codec_context.bit_rate = 12000  # beats survive; 3x cheaper to encode than 32k
                astream.layout = "mono"
                astream.codec_context.thread_count = 1
            for i, img in enumerate(render_frames(plan)):
                # OpenCV's I420 is limited-range BT.601, what decoders assume: cheaper than swscale's bgr24 path
                frame = av.VideoFrame.from_ndarray(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
                frame.pts = i
                container.mux(vstream.encode(frame))
            container.mux(vstream.encode(None))
            if astream is not None:
                samples = synthesize_audio(plan)
                aframe = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
                aframe.sample_rate = SAMPLE_RATE
                aframe.pts = 0
                container.mux(astream.encode(aframe))
                container.mux(astream.encode(None))
        finally:
            container.close()
    return path
