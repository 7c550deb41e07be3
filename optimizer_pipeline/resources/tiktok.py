"""Where TikTok items come from: Apify, exported files, or the generated sample corpus.

Three interchangeable ``TikTokSource`` resources; ``defs/resources.py`` picks one from configuration, so asset code
never branches on the environment. Each fetches a hashtag or, for a competitor partition (``settings.is_profile``),
the competitor's TikTok profile.
"""

from __future__ import annotations

import glob
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from optimizer_pipeline.lib.registry.clients import HashtagSettings
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED

#: The sample corpus is a fixed snapshot; a fixed scrape time keeps reruns byte-identical.
SAMPLE_SCRAPED_AT = pd.Timestamp("2026-11-01T00:00:00Z")
REPLAY_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".csv.gz")


@dataclass
class ScrapeBatch:
    """Raw items of one hashtag (or profile) scrape plus what the UI should show about the scrape itself."""

    items: list[dict[str, Any]]
    source: str
    scraped_at: pd.Timestamp
    metadata: dict[str, Any] = field(default_factory=dict)


class TikTokSource(dg.ConfigurableResource, ABC):
    """Fetches the raw items of one hashtag or competitor profile (as many as ``settings.over_collection`` asks for)."""

    @abstractmethod
    def fetch(self, settings: HashtagSettings) -> ScrapeBatch:
        """Return the raw scraped items for ``settings.tag``, or for the profile ``settings.handle``."""


class ApifyTikTokSource(TikTokSource):
    """The real Apify actor through ``apify-client``; the token comes from ``OPTIMIZER_APIFY_TOKEN``."""

    token: str = Field(description="Apify API token (bind with EnvVar, never a literal).")
    actor_id: str = "clockworks/tiktok-scraper"
    api_url: str = "https://api.apify.com"
    page_size: int = 1000
    max_retries: int = 5
    min_retry_delay_s: float = 1.0
    wait_timeout_s: float = 3600.0

    def fetch(self, settings: HashtagSettings) -> ScrapeBatch:
        from optimizer_pipeline.lib.market.apify_scrape import build_run_input, run_actor_and_collect

        result = run_actor_and_collect(
            token=self.token,
            actor_id=self.actor_id,
            run_input=build_run_input(
                settings.tag,
                settings.over_collection,
                profiles=[settings.handle or settings.tag] if settings.is_profile else None,
            ),
            api_url=self.api_url,
            page_size=self.page_size,
            max_retries=self.max_retries,
            min_retry_delay_s=self.min_retry_delay_s,
            wait_timeout_s=self.wait_timeout_s,
        )
        finished = pd.Timestamp(result.finished_at) if result.finished_at else pd.Timestamp.now(tz="UTC")
        return ScrapeBatch(
            items=result.items,
            source="apify",
            scraped_at=finished.tz_convert("UTC") if finished.tzinfo else finished.tz_localize("UTC"),
            metadata={
                "apify_actor": self.actor_id,
                "apify_run_id": result.run_id,
                "apify_dataset_id": result.dataset_id,
                "apify_item_count": result.item_count,
                "apify_compute_units": float(result.compute_units or 0.0),
                "apify_pages": result.pages,
            },
        )


class ReplayTikTokSource(TikTokSource):
    """Exported scrape files: ``<folder>/<hashtag slug>/*`` for a hashtag, ``<folder>/@<handle>/*`` for a competitor
    profile (JSON, JSONL, CSV, optionally gzipped; a single ``<folder>/<name>.json`` file works too)."""

    folder: str

    @staticmethod
    def folder_name(settings: HashtagSettings) -> str:
        """``nutrition`` for a hashtag, ``@greenbites`` for a competitor profile."""
        return f"@{settings.handle or settings.tag}" if settings.is_profile else settings.slug

    def files_for(self, settings: HashtagSettings) -> list[Path]:
        root = Path(self.folder)
        name = self.folder_name(settings)
        sub = root / name
        candidates = sorted(sub.iterdir()) if sub.is_dir() else sorted(root.glob(f"{glob.escape(name)}.*"))
        return [p for p in candidates if p.is_file() and p.name.lower().endswith(REPLAY_SUFFIXES)]

    def fetch(self, settings: HashtagSettings) -> ScrapeBatch:
        from optimizer_pipeline.lib.market.replay import read_export

        files = self.files_for(settings)
        if not files:
            what = "competitor profile" if settings.is_profile else "hashtag"
            raise FileNotFoundError(
                f"no replay files for {what} {settings.label!r}: expected "
                f"{Path(self.folder) / self.folder_name(settings)}/*.json (or .jsonl/.csv, optionally .gz)"
            )
        items: list[dict[str, Any]] = []
        for path in files:
            items.extend(read_export(path))
        newest = max(p.stat().st_mtime for p in files)
        return ScrapeBatch(
            items=items,
            source="replay",
            scraped_at=pd.Timestamp(int(newest), unit="s", tz="UTC"),
            metadata={"replay_files": dg.MetadataValue.md("\n".join(f"- `{p.name}`" for p in files))},
        )


class SampleTikTokSource(TikTokSource):
    """The seeded sample corpus under ``<home>/sample`` (generated on first use, reused afterwards)."""

    home: str
    seed: int = DEFAULT_SEED
    scale: float = 1.0

    def corpus_dir(self) -> Path:
        return Path(self.home) / "sample"

    def fetch(self, settings: HashtagSettings) -> ScrapeBatch:
        from optimizer_pipeline.lib.market.replay import read_export
        from optimizer_pipeline.lib.sample.competitor_items import write_competitor_items
        from optimizer_pipeline.lib.sample.corpus import generate_sample_corpus

        summary = generate_sample_corpus(self.corpus_dir(), seed=self.seed, scale=self.scale, workers=2)
        if settings.is_profile:
            # competitor items reuse the corpus' video files: generated from its ground truth, no encoding
            items_file = write_competitor_items(self.corpus_dir(), settings.handle or settings.tag)
        else:
            items_file = self.corpus_dir() / settings.slug / "items.json"
        if not items_file.exists():
            raise FileNotFoundError(f"the sample corpus has no hashtag {settings.tag!r} ({items_file} is missing)")
        return ScrapeBatch(
            items=read_export(items_file),
            source="sample",
            scraped_at=SAMPLE_SCRAPED_AT,
            metadata={
                "sample_seed": self.seed,
                "sample_scale": self.scale,
                "sample_regenerated": bool(summary.regenerated),
            },
        )
