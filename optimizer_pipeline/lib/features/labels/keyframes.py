"""Evenly spaced JPEG keyframes of a video: what the Anthropic labeler sees of the picture.

Frames are taken at the middle of ``n`` equal slices of the video (never the black first frame), decoded with
PyAV by seeking to the preceding keyframe and decoding forward, downscaled to at most ``width`` pixels wide
(never upscaled: more pixels cost more tokens and show nothing new) and JPEG-encoded with OpenCV.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

JPEG_QUALITY = 85


class KeyframeError(RuntimeError):
    """The file has no decodable video frames."""


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _frame_at(container: av.container.InputContainer, stream: av.video.stream.VideoStream, t: float) -> np.ndarray:
    """The first frame at or after ``t`` seconds (the last frame when ``t`` is past the end)."""
    offset = int(t / stream.time_base) if stream.time_base is not None else 0
    container.seek(max(offset, 0), stream=stream, backward=True, any_frame=False)
    last = None
    for frame in container.decode(stream):
        last = frame
        if frame.time is None or frame.time >= t:
            break
    if last is None:
        raise KeyframeError(f"no frame decoded near t={t:.2f}s")
    return last.to_ndarray(format="bgr24")


def _encode(image: np.ndarray, width: int) -> bytes:
    height, current = image.shape[:2]
    if current > width:
        image = cv2.resize(image, (width, max(1, round(height * width / current))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise KeyframeError("JPEG encoding failed")
    return buf.tobytes()


def keyframes_jpeg(path: str | Path, n: int = 4, width: int = 512) -> list[bytes]:
    """``n`` JPEG keyframes evenly spaced over the video; raises :class:`KeyframeError` for an undecodable file."""
    if n < 1 or width < 16:
        raise ValueError("need n >= 1 and width >= 16")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise KeyframeError(f"{Path(path).name}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            duration = _duration_s(container, stream) or 0.0
            times = [duration * (i + 0.5) / n for i in range(n)]
            return [_encode(_frame_at(container, stream, t), width) for t in times]
    except av.error.FFmpegError as exc:
        raise KeyframeError(f"{Path(path).name}: {exc}") from exc
