"""One PyAV pass over a file: video frames shrunk to small analysis grids, audio as mono float32 at 22.05 kHz.

Video: for 4:2:0/4:2:2/4:4:4 YUV (nearly every H.264/H.265/VP8/VP9/AV1 file) the decoder's planes are read in
place (no pixel-format conversion) and shrunk by exact 2x2 averaging (``cv2.resize`` INTER_LINEAR at a factor of 2)
until the short side would drop below ``GRID_MIN_SHORT`` px: 720x1280 -> 90x160, 1080x1920 -> 135x240, 144x256 stays.
The chroma planes are shrunk to the same grid, so every frame gives Y, U, V of one small size. Other pixel formats go
through one persistent swscale reformatter. A gray "detail" image (short side ``DETAIL_SHORT`` px, no upscaling) is
made only at ``detail_fps`` sample times, for faces and text. Rotation metadata is applied to every output.

With ``fast_decode`` (the default) the decoder skips the in-loop deblocking filter (``skip_loop_filter=all``):
H.264 decodes ~25-35 % faster and the blocking it leaves is far below what a 90-160 px grid can see. It also skips
non-reference frames (``skip_frame=NONREF``: the B-frames nothing else is predicted from, about half the frames of
a typical x264/TikTok file), which halves decoding. What this costs is bounded: a cut is reported on the first
decoded frame of the new shot, which is its exact frame when the cut frame is an I- or P-frame (x264's scenecut puts
real scene changes there) and otherwise at most one frame late (x264's default 3-B-frame pyramid decodes every
second frame); motion is normalised by the time between the decoded frames. ``fast_decode=False`` decodes every
frame and gives frame-exact cuts. Files without B-frames decode every frame either way.

Frame numbers are exact either way: every video packet is one frame, so a decoded frame's number is the rank of its
timestamp among all packet timestamps (:meth:`MediaReader.frame_numbers`), which also holds for variable frame rate.

A file whose container or packets break part-way (truncated download) yields the frames that decoded;
:attr:`MediaReader.stop_reason` says why decoding stopped early.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from .errors import VideoDecodeError

GRID_MIN_SHORT = 90
DETAIL_SHORT = 360
AUDIO_RATE = 22050
_FAST_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}
_AVCOL_RANGE_JPEG = 2


@dataclass(frozen=True)
class GridFrame:
    """One decoded frame: ``y``/``u``/``v`` uint8 on the analysis grid, ``detail`` gray only at sample times."""

    index: int  # position among the decoded frames (see MediaReader.frame_numbers for the file's frame number)
    time_s: float
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    detail: np.ndarray | None


def grid_size(width: int, height: int, min_short: int = GRID_MIN_SHORT) -> tuple[int, int]:
    """(w, h) after halving while the short side stays >= ``min_short``."""
    while min(width, height) // 2 >= min_short:
        width, height = width // 2, height // 2
    return width, height


def detail_size(width: int, height: int, short: int = DETAIL_SHORT) -> tuple[int, int]:
    scale = min(1.0, short / max(1, min(width, height)))
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrink(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Exact 2x2 box halvings while possible, then one INTER_AREA resize to exactly (width, height).

    Always returns a new array: the input may be a view into a decoder buffer that is reused.
    """
    if a.shape[1] == width and a.shape[0] == height:
        return a.copy()
    while a.shape[1] >= 2 * width and a.shape[0] >= 2 * height:
        a = cv2.resize(a, (a.shape[1] // 2, a.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    if a.shape[1] != width or a.shape[0] != height:
        a = cv2.resize(a, (width, height), interpolation=cv2.INTER_AREA)
    return a


def _plane(plane) -> np.ndarray:
    """A decoder plane as a (height, width) uint8 view, no copy."""
    buf = np.frombuffer(plane, np.uint8)
    if buf.size >= plane.line_size * plane.height:
        return buf[: plane.line_size * plane.height].reshape(plane.height, plane.line_size)[:, : plane.width]
    rows = np.lib.stride_tricks.as_strided(buf, (plane.height, plane.width), (plane.line_size, 1), writeable=False)
    return rows


def _open(path: Path):
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise VideoDecodeError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        return av.open(str(path), "r")
    except av.error.FFmpegError as exc:
        detail = exc.strerror or type(exc).__name__
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[4:8] == b"ftyp":
            reason = f"MP4/MOV without a readable index (moov box): truncated or corrupt file ({detail})"
        else:
            reason = f"not a media container FFmpeg can read ({detail})"
        raise VideoDecodeError(path, reason) from exc


class MediaReader:
    """Iterate :meth:`frames` once; afterwards :attr:`audio` holds the decoded mono track (or ``None``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        detail_fps: float = 2.0,
        audio: bool = True,
        fast_decode: bool = True,
        threads: int = 1,
    ) -> None:
        self.path = Path(path)
        self.container = _open(self.path)
        if not self.container.streams.video:
            self.container.close()
            raise VideoDecodeError(self.path, "no video stream")
        self.vstream = self.container.streams.video[0]
        ctx = self.vstream.codec_context
        ctx.thread_count = threads
        if fast_decode:
            ctx.options = {**ctx.options, "skip_loop_filter": "all"}
            ctx.skip_frame = "NONREF"
        self.astream = self.container.streams.audio[0] if (audio and self.container.streams.audio) else None
        self.has_audio_stream = bool(self.container.streams.audio)
        rate = self.vstream.average_rate or self.vstream.guessed_rate
        self.declared_fps = float(rate) if rate else 0.0
        self.declared_duration_s = self._declared_duration()
        self.detail_fps = detail_fps
        self.full_range = False
        self.rotation = 0  # counter-clockwise quarter turns applied to every output
        self.width = self.height = 0  # displayed size
        self.audio: np.ndarray | None = None
        self.stop_reason = ""
        self.video_errors = 0
        self.audio_errors = 0
        self.t0: float | None = None  # timestamp (s) of the first decoded frame; GridFrame.time_s is relative to it
        self._packet_times: list[float] = []  # every video packet's presentation time (s), decoded or skipped
        self._packet_end = 0.0  # largest packet pts + duration (s)

    def _declared_duration(self) -> float:
        s = self.vstream
        if s.duration is not None and s.time_base is not None:
            return float(s.duration * s.time_base)
        if self.container.duration is not None:
            return self.container.duration / av.time_base
        return 0.0

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> MediaReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def frames(self) -> Iterator[GridFrame]:
        streams = [self.vstream] + ([self.astream] if self.astream is not None else [])
        audio = _AudioCollector() if self.astream is not None else None
        state = _GridState(self)
        packets = self.container.demux(*streams)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.error.FFmpegError, OSError) as exc:  # truncated/corrupt container: keep what decoded
                self.stop_reason = f"demuxing stopped: {getattr(exc, 'strerror', None) or type(exc).__name__}"
                try:  # frames still held by the decoder (B-frame reordering)
                    for frame in self.vstream.codec_context.decode(None):
                        yield state.grid(frame)
                except av.error.FFmpegError:
                    pass
                break
            if packet.stream.type == "video":
                self._note_packet(packet)
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError:
                    self.video_errors += 1
                    continue
                for frame in decoded:
                    yield state.grid(frame)
            elif audio is not None:
                try:
                    for frame in packet.decode():
                        audio.add(frame)
                except (av.error.FFmpegError, ValueError):
                    self.audio_errors += 1
        if audio is not None:
            self.audio = audio.result()

    def _note_packet(self, packet) -> None:
        if packet.size and packet.pts is not None and packet.time_base is not None:
            t = float(packet.pts * packet.time_base)
            self._packet_times.append(t)
            end = t + float((packet.duration or 0) * packet.time_base)
            self._packet_end = max(self._packet_end, end)

    @property
    def packet_count(self) -> int:
        """Video packets demuxed (= frames in the file, or in its readable part), whether decoded or skipped."""
        return len(self._packet_times)

    def frame_numbers(self, times_s: np.ndarray) -> np.ndarray:
        """The file's frame number of each decoded frame, from its time (as in :attr:`GridFrame.time_s`).

        Falls back to time x declared fps when the container gives packets no timestamps."""
        times_s = np.asarray(times_s, dtype=float)
        if not self._packet_times or self.t0 is None:
            return np.rint(times_s * (self.declared_fps or 30.0)).astype(np.int64)
        pts = np.sort(np.asarray(self._packet_times)) - self.t0
        half = 0.5 * float(np.median(np.diff(pts))) if pts.size > 1 else 1e-3
        return np.searchsorted(pts, times_s - half, side="left").astype(np.int64)

    def packet_duration_s(self) -> float:
        """Presentation span of the demuxed video packets (s from the first decoded frame), 0 when unknown."""
        if not self._packet_times or self.t0 is None:
            return 0.0
        return max(0.0, self._packet_end - self.t0)


_SAMPLE_TYPES = {
    "flt": (np.float32, 1.0),
    "dbl": (np.float64, 1.0),
    "s16": (np.int16, 1 / 32768),
    "s32": (np.int32, 1 / 2**31),
}


class _AudioCollector:
    """Audio frames -> mono float32 at AUDIO_RATE. Common sample formats are read straight from the frame planes
    and resampled once at the end (soxr, through librosa); anything else goes through PyAV's resampler."""

    def __init__(self) -> None:
        self.segments: list[tuple[int, list[np.ndarray]]] = []  # (sample rate, mono chunks)
        self.resampler: av.AudioResampler | None = None

    def _chunks(self, rate: int) -> list[np.ndarray]:
        if not self.segments or self.segments[-1][0] != rate:
            self.segments.append((rate, []))
        return self.segments[-1][1]

    def add(self, frame) -> None:
        fmt = frame.format
        kind = _SAMPLE_TYPES.get(fmt.name.rstrip("p"))
        channels = len(frame.layout.channels)
        if kind is None or channels == 0 or not frame.sample_rate:
            if self.resampler is None:
                self.resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            self._chunks(AUDIO_RATE).extend(f.to_ndarray().reshape(-1) for f in self.resampler.resample(frame))
            return
        dtype, scale = kind
        n = frame.samples
        if fmt.is_planar:
            mono = np.frombuffer(frame.planes[0], dtype, count=n).astype(np.float32)
            for plane in frame.planes[1:channels]:
                mono += np.frombuffer(plane, dtype, count=n)
        else:
            mono = (
                np.frombuffer(frame.planes[0], dtype, count=n * channels)
                .reshape(n, channels)
                .sum(axis=1, dtype=np.float32)
            )
        self._chunks(frame.sample_rate).append(mono * np.float32(scale / channels))

    def result(self) -> np.ndarray:
        if self.resampler is not None:
            self._chunks(AUDIO_RATE).extend(f.to_ndarray().reshape(-1) for f in self.resampler.resample(None))
        out = []
        for rate, chunks in self.segments:
            if not chunks:
                continue
            y = np.concatenate(chunks)
            if rate != AUDIO_RATE and y.size:
                import librosa

                y = librosa.resample(y, orig_sr=rate, target_sr=AUDIO_RATE, res_type="soxr_hq")
            out.append(y.astype(np.float32, copy=False))
        return np.concatenate(out) if out else np.zeros(0, np.float32)


class _GridState:
    """Per-file shrinking state, fixed by the first frame."""

    def __init__(self, reader: MediaReader) -> None:
        self.reader = reader
        self.index = 0
        self.t0: float | None = None
        self.next_detail = 0.0
        self.reformatter: VideoReformatter | None = None

    def _setup(self, frame) -> None:
        r = self.reader
        r.rotation = round((frame.rotation or 0) / 90) % 4
        r.full_range = frame.color_range == _AVCOL_RANGE_JPEG or frame.format.name.startswith("yuvj")
        w, h = frame.width, frame.height
        self.grid_wh = grid_size(w, h)
        self.detail_wh = detail_size(w, h)
        r.width, r.height = (h, w) if r.rotation % 2 else (w, h)
        self.fast = frame.format.name in _FAST_FORMATS
        if not self.fast:
            self.reformatter = VideoReformatter()
            r.full_range = False  # swscale outputs limited-range yuv444p

    def _rot(self, a: np.ndarray) -> np.ndarray:
        k = self.reader.rotation
        return np.ascontiguousarray(np.rot90(a, k)) if k else a

    def grid(self, frame) -> GridFrame:
        if self.index == 0:
            self._setup(frame)
        gw, gh = self.grid_wh
        t = frame.time
        if t is None:
            fps = self.reader.declared_fps or 30.0
            t = self.index / fps + (self.t0 or 0.0)
        if self.t0 is None:
            self.t0 = t
            self.reader.t0 = float(t)
        t -= self.t0
        want_detail = self.reader.detail_fps > 0 and t + 1e-6 >= self.next_detail
        if want_detail:
            self.next_detail += 1.0 / self.reader.detail_fps
        if self.fast:
            planes = [_plane(p) for p in frame.planes[:3]]
            y = shrink(planes[0], gw, gh)
            u = shrink(planes[1], gw, gh)
            v = shrink(planes[2], gw, gh)
            detail = shrink(planes[0], *self.detail_wh) if want_detail else None
        else:
            small = self.reformatter.reformat(frame, width=gw, height=gh, format="yuv444p", interpolation="AREA")
            y, u, v = (np.array(_plane(p)) for p in small.planes[:3])
            detail = None
            if want_detail:
                dw, dh = self.detail_wh
                g = self.reformatter.reformat(frame, width=dw, height=dh, format="gray", interpolation="AREA")
                detail = np.array(_plane(g.planes[0]))
        out = GridFrame(
            self.index,
            max(0.0, float(t)),
            self._rot(y),
            self._rot(u),
            self._rot(v),
            self._rot(detail) if detail is not None else None,
        )
        self.index += 1
        return out


def set_single_thread() -> None:
    """Pin OpenCV (and, for child libraries that read it, OpenMP) to one thread for this process."""
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
