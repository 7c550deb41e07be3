"""Duration buckets: the edges are defined here once and nowhere else.

A bucket ``"16-30s"`` holds videos whose duration ``d`` satisfies ``15 < d <= 30`` seconds, so a 15.4 s video
belongs to ``16-30s`` (the seeds' integer labels describe whole seconds; fractional durations round up into the
next bucket). Videos longer than 120 s, or with a non-positive or non-finite duration, have no bucket.
"""

from __future__ import annotations

import math

#: (label, exclusive lower edge in s, inclusive upper edge in s), in order.
BUCKET_EDGES: tuple[tuple[str, float, float], ...] = (
    ("0-15s", 0.0, 15.0),
    ("16-30s", 15.0, 30.0),
    ("31-60s", 30.0, 60.0),
    ("61-90s", 60.0, 90.0),
    ("91-120s", 90.0, 120.0),
)
DURATION_BUCKETS: tuple[str, ...] = tuple(label for label, _, _ in BUCKET_EDGES)
MAX_DURATION_S: float = BUCKET_EDGES[-1][2]


def bucket_for(duration_s: float | None) -> str | None:
    """Return the bucket label for a duration in seconds, or ``None`` when it is out of scope."""
    if duration_s is None:
        return None
    try:
        d = float(duration_s)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(d) or d <= 0:
        return None
    for label, low, high in BUCKET_EDGES:
        if low < d <= high:
            return label
    return None


def bucket_bounds(label: str) -> tuple[float, float]:
    """(exclusive low, inclusive high) edges of a bucket label; raises ``KeyError`` for unknown labels."""
    for name, low, high in BUCKET_EDGES:
        if name == label:
            return low, high
    raise KeyError(f"unknown duration bucket {label!r}; known: {', '.join(DURATION_BUCKETS)}")
