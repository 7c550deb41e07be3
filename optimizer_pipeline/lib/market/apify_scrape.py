"""Run the ``clockworks/tiktok-scraper`` actor through the real Apify SDK client and collect its dataset.

Retries of 429 / 5xx / transport errors are the client's own (exponential backoff with jitter); this module
configures them and turns whatever still fails into one readable :class:`ApifyScrapeError` that never carries
the API token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from apify_client import ApifyClient
from apify_client.errors import ApifyApiError

FAILED_STATUSES = frozenset({"FAILED", "ABORTED", "TIMED-OUT"})
_MAX_SERVER_MESSAGE = 200

log = logging.getLogger(__name__)
T = TypeVar("T")


class ApifyScrapeError(RuntimeError):
    """A scrape that cannot yield a trustworthy item list; the message names actor/run/endpoint, never the token."""


@dataclass(frozen=True)
class ApifyRunResult:
    """Items of a finished run plus the run facts worth recording as asset metadata."""

    items: list[dict]
    run_id: str
    dataset_id: str
    status: str
    item_count: int
    compute_units: float | None
    started_at: datetime | None
    finished_at: datetime | None
    pages: int


def build_run_input(
    hashtag: str,
    results_per_page: int,
    *,
    download_videos: bool = True,
    profiles: list[str] | None = None,
) -> dict:
    """Actor input for one hashtag, or for competitor ``profiles`` (which replace the hashtag, not add to it).

    Videos are stored by the actor in its key-value store (``mediaUrls``) because TikTok CDN links expire fast.
    """
    if results_per_page < 1:
        raise ValueError(f"results_per_page must be >= 1, got {results_per_page}")
    if profiles:
        handles = [p.strip().lstrip("@") for p in profiles if p and p.strip().lstrip("@")]
        if not handles:
            raise ValueError("profiles contains no usable handle")
        target: dict[str, Any] = {"profiles": handles}
    else:
        tag = hashtag.strip().lstrip("#")
        if not tag:
            raise ValueError("hashtag is empty")
        target = {"hashtags": [tag]}
    return {
        **target,
        "resultsPerPage": results_per_page,
        "shouldDownloadVideos": download_videos,
        "shouldDownloadCovers": False,
        "shouldDownloadSubtitles": False,
        "shouldDownloadSlideshowImages": False,
    }


def run_actor_and_collect(
    *,
    token: str,
    actor_id: str,
    run_input: dict,
    api_url: str | None = None,
    page_size: int = 1000,
    max_retries: int = 5,
    min_retry_delay_s: float = 1.0,
    wait_timeout_s: float | None = 3600,
) -> ApifyRunResult:
    """Start the actor, wait for a terminal status, then page through its default dataset.

    ``start`` + ``wait_for_finish`` is used instead of ``call`` so no log-streaming threads are spawned and the
    start request keeps a finite HTTP timeout. Raises :class:`ApifyScrapeError` on any failure.
    """
    if not token:
        raise ApifyScrapeError(f"no Apify token configured for actor {actor_id}")
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    kwargs: dict[str, Any] = {
        "max_retries": max_retries,
        "min_delay_between_retries": timedelta(seconds=min_retry_delay_s),
    }
    if api_url is not None:
        kwargs["api_url"] = api_url
    client = ApifyClient(token, **kwargs)
    guard = _Guard(client=client, token=token, actor_id=actor_id, max_retries=max_retries)

    started = guard("run start", lambda: client.actor(actor_id).start(run_input=run_input))
    log.info("started Apify run %s of %s", started.id, actor_id)
    wait = None if wait_timeout_s is None else timedelta(seconds=wait_timeout_s)
    run = guard("run status", lambda: client.run(started.id).wait_for_finish(wait_duration=wait))
    if run is None:
        raise ApifyScrapeError(f"Apify run {started.id} of actor {actor_id} could not be found while waiting")
    if run.status in FAILED_STATUSES:
        detail = f": {run.status_message}" if run.status_message else ""
        raise ApifyScrapeError(f"Apify run {run.id} of actor {actor_id} ended with status {run.status}{detail}")
    if run.status != "SUCCEEDED":
        raise ApifyScrapeError(
            f"Apify run {run.id} of actor {actor_id} did not finish within {wait_timeout_s}s (status {run.status})"
        )

    items, pages = _collect_items(client, guard, run.default_dataset_id, page_size)
    compute_units = run.stats.compute_units
    if compute_units is None and run.usage is not None:
        compute_units = run.usage.actor_compute_units
    log.info("Apify run %s: %d items in %d pages, %s CU", run.id, len(items), pages, compute_units)
    return ApifyRunResult(
        items=items,
        run_id=run.id,
        dataset_id=run.default_dataset_id,
        status=str(run.status),
        item_count=len(items),
        compute_units=compute_units,
        started_at=run.started_at,
        finished_at=run.finished_at,
        pages=pages,
    )


def _collect_items(client: ApifyClient, guard: _Guard, dataset_id: str, page_size: int) -> tuple[list[dict], int]:
    """Offset pagination that stops on a short page or at ``total``, so N items cost ceil(N/page_size) requests."""
    dataset = client.dataset(dataset_id)
    items: list[dict] = []
    offset = pages = 0
    while True:
        page = guard("dataset items", partial(dataset.list_items, offset=offset, limit=page_size, clean=True))
        pages += 1
        items.extend(page.items)
        offset += page.count  # rows scanned: with clean=True, items may be fewer than rows
        if page.count < page_size or offset >= page.total:
            return items, pages


@dataclass(frozen=True)
class _Guard:
    """Turns client exceptions into :class:`ApifyScrapeError` with actor, endpoint kind, status and attempts."""

    client: ApifyClient
    token: str
    actor_id: str
    max_retries: int

    def __call__(self, kind: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ApifyApiError as exc:
            message = self._describe_api_error(kind, exc)
            cause: BaseException = exc
        except Exception as exc:
            attempts = self.max_retries + 1 if self.client.http_client.is_retryable_transport_error(exc) else 1
            message = f"Apify {kind} for actor {self.actor_id} failed after {attempts} attempt(s): "
            message += f"{type(exc).__name__}: {_shorten(str(exc))}"
            cause = exc
        leaks = self.token in str(cause) or self.token in repr(getattr(cause, "data", ""))
        raise ApifyScrapeError(self._scrub(message)) from (None if leaks else cause)

    def _describe_api_error(self, kind: str, exc: ApifyApiError) -> str:
        prefix = f"Apify {kind} for actor {self.actor_id} failed with HTTP {exc.status_code}"
        suffix = f" after {exc.attempt} attempt(s)"
        if exc.status_code == 401:
            return f"{prefix}{suffix}: the API token was rejected (check APIFY_TOKEN)"
        detail = f" ({exc.type})" if exc.type else ""
        return f"{prefix}{suffix}{detail}: {_shorten(exc.message or '')}"

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text


def _shorten(text: str) -> str:
    """One line, bounded: server error bodies can be whole HTML pages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_SERVER_MESSAGE else flat[: _MAX_SERVER_MESSAGE - 1] + "…"
