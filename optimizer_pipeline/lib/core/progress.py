"""Progress of a long batch as plain text lines: ``label done/total (pct), elapsed, ETA``, at most one per interval.

Why a shared meter: the first run of the demo renders the sample corpus and extracts features for minutes, and a
silent terminal looks hung. Every line goes to the ``optimizer_pipeline.progress`` logger (INFO) and to an optional
callback, so a caller that cannot pass a callback (the demo, whose feature extraction runs inside Dagster assets)
sees the same lines by attaching a handler (:func:`print_progress`). Lines are throttled to one per ``interval_s``
(the first item done and the last are always reported), so a log is readable at any batch size.

The ETA is the remaining work times the mean time per unit of work so far. Work is the item count unless the caller
gives each item a size (``work_total`` and ``advance(work=...)``, e.g. video seconds): a batch sorted longest first
would otherwise report an ETA far too long at the start.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

PROGRESS_LOGGER = "optimizer_pipeline.progress"
DEFAULT_INTERVAL_S = 5.0

log = logging.getLogger(PROGRESS_LOGGER)


def format_duration(seconds: float) -> str:
    """``1h02m``, ``3m07s`` or ``?`` (unknown): minutes are what a person waiting reads."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    minutes, secs = divmod(round(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    """Counts finished items of a batch of ``total`` and reports ``label done/total, elapsed, ETA`` lines.

    ``clock`` is injectable (seconds, monotonic) so tests need no sleeping; ``emit`` receives every reported line
    in addition to the logger.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        emit: Callable[[str], None] | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        unit: str = "",
        work_total: float | None = None,
    ) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        self.total, self.label, self.unit = total, label, unit
        self.emit, self.interval_s, self.clock = emit, interval_s, clock
        self.done = 0
        self.work_total, self.work_done = work_total, 0.0
        self.started = clock()
        self._last_report: float | None = None

    def line(self) -> str:
        """The current state as one line (whether or not it is due)."""
        elapsed = self.clock() - self.started
        done, total = (self.work_done, self.work_total) if self.work_total is not None else (self.done, self.total)
        remaining = max(total - done, 0.0) if self.done < self.total else 0.0
        eta = 0.0 if remaining == 0 else (elapsed / done * remaining if done > 0 else float("nan"))
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"{self.label}: {self.done}/{self.total}{unit}{pct}, "
            f"{format_duration(elapsed)} elapsed, ETA {format_duration(eta)}"
        )

    def advance(self, n: int = 1, work: float | None = None) -> str | None:
        """Count ``n`` more finished items (of size ``work``, when sized); returns the line when one was reported
        (the first, the last, or when the interval is due)."""
        self.done = min(self.total, self.done + n)
        self.work_done += float(n if work is None else work)
        now = self.clock()
        due = self._last_report is None or now - self._last_report >= self.interval_s or self.done >= self.total
        if not due:
            return None
        self._last_report = now
        text = self.line()
        log.info(text)
        if self.emit is not None:
            self.emit(text)
        return text


def print_progress(stream: TextIO | None = None) -> logging.Handler:
    """Print every progress line (of any :class:`Progress`) to ``stream`` (stdout), one plain line each.

    The lines stop propagating to the root logger, so a handler someone else put there does not print them twice.
    Returns the handler so the caller can remove it (``logging.getLogger(PROGRESS_LOGGER).removeHandler(h)``).
    """
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler
