"""Progress lines: done/total, elapsed, ETA from the mean time per item, throttled, to the callback and the logger."""

from __future__ import annotations

import io
import logging

import pytest

from optimizer_pipeline.lib.core.progress import PROGRESS_LOGGER, Progress, format_duration, print_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_carry_counts_elapsed_and_eta_and_are_throttled() -> None:
    clock, seen = FakeClock(), []
    meter = Progress(10, "corpus", emit=seen.append, interval_s=5.0, clock=clock, unit="videos")
    clock.now += 2.0
    first = meter.advance()  # the first item is always reported
    assert first == "corpus: 1/10 videos (10%), 0m02s elapsed, ETA 0m18s"
    clock.now += 2.0
    assert meter.advance() is None  # 2 s after the last report: not due
    clock.now += 4.0
    assert meter.advance() == "corpus: 3/10 videos (30%), 0m08s elapsed, ETA 0m19s"
    clock.now += 1.0
    assert meter.advance(6) is None  # 9/10, 1 s after the last report
    clock.now += 1.0
    assert meter.advance() == "corpus: 10/10 videos (100%), 0m10s elapsed, ETA 0m00s"  # the last is always reported
    assert seen == [first, "corpus: 3/10 videos (30%), 0m08s elapsed, ETA 0m19s", seen[-1]]
    assert meter.advance() is not None and meter.done == 10  # never past the total


def test_sized_items_give_the_eta_from_work_not_from_counts() -> None:
    """Longest first: after the 60 s video of 60 + 10 + 10 s, two items remain but only 20 s of work."""
    clock = FakeClock()
    meter = Progress(3, "corpus", clock=clock, work_total=80.0, unit="videos")
    clock.now += 6.0
    assert meter.advance(work=60.0) == "corpus: 1/3 videos (33%), 0m06s elapsed, ETA 0m02s"


def test_unknown_eta_and_empty_batch() -> None:
    clock = FakeClock()
    assert Progress(4, "features", clock=clock).line() == "features: 0/4 (0%), 0m00s elapsed, ETA ?"
    assert Progress(0, "features", clock=clock).advance() == "features: 0/0, 0m00s elapsed, ETA 0m00s"
    with pytest.raises(ValueError):
        Progress(-1, "x")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0m00s"), (59.6, "1m00s"), (187, "3m07s"), (3720, "1h02m"), (float("inf"), "?"), (float("nan"), "?")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_print_progress_prints_every_reported_line_once() -> None:
    stream = io.StringIO()
    handler = print_progress(stream)
    try:
        clock = FakeClock()
        meter = Progress(2, "features", clock=clock, interval_s=60)
        meter.advance()
        meter.advance()
    finally:
        logging.getLogger(PROGRESS_LOGGER).removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "  features: 1/2 (50%), 0m00s elapsed, ETA 0m00s",
        "  features: 2/2 (100%), 0m00s elapsed, ETA 0m00s",
    ]
