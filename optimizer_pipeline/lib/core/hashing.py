"""Content hashes of files: the identity of a video everywhere (caches, labels, feature rows)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_sha256_hex(text: object) -> bool:
    """True for a digest as :func:`file_sha256` writes it (64 lower-case hex digits): anything else used as a
    content key (a cache file name, an object path) could escape its folder or collide."""
    return isinstance(text, str) and _SHA256_HEX.fullmatch(text) is not None
