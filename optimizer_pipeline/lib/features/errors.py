"""The one error feature extraction raises for a file it cannot use."""

from __future__ import annotations

from pathlib import Path


class VideoDecodeError(Exception):
    """``path`` is not a usable video: empty, not a media file, no video stream, or no decodable frame.

    ``reason`` is a short human sentence ("empty file (0 bytes)", "no video stream", ...) that a report or a
    failed-asset log can show as is.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot extract features from {self.path}: {reason}")

    def __reduce__(self):  # keep (path, reason) across process pools
        return (type(self), (self.path, self.reason))
