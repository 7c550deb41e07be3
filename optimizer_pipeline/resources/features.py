"""Feature extraction settings and the creative labeler (rules by default, Anthropic when a key is configured)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from optimizer_pipeline.lib.features.runner import VideoJob

Labeler = Callable[[VideoJob, dict], dict]


class FeatureStore(dg.ConfigurableResource):
    """Where per-video feature results are cached (by content hash and feature version), and how many workers."""

    home: str
    workers: int = 2
    max_failure_share: float = 0.2

    def cache_dir(self) -> Path:
        return Path(self.home) / "features"


class CreativeLabeler(dg.ConfigurableResource, ABC):
    """Semantic labels (hook type, emotion, CTA, pain point) for a video."""

    @abstractmethod
    def labeler(self, cache_dir: Path) -> Labeler:
        """A callable for ``run_feature_batch``."""


class RuleLabeler(CreativeLabeler):
    """Deterministic labels from caption and hashtags: the embedded default, free and offline."""

    def labeler(self, cache_dir: Path) -> Labeler:
        from optimizer_pipeline.lib.features.labels.rules import rule_labeler

        return rule_labeler


class AnthropicCreativeLabeler(CreativeLabeler):
    """Claude labels from keyframes + caption; the key comes from ``OPTIMIZER_ANTHROPIC_API_KEY``."""

    api_key: str = Field(description="Anthropic API key (bind with EnvVar, never a literal).")
    #: Sonnet 4.6: forced tool choice works, and unlike ``claude-sonnet-4-5`` it is not past/near end of life
    #: (the SDK warns that ``claude-sonnet-4-5`` retires on 2026-11-30).
    model: str = "claude-sonnet-4-6"
    base_url: str | None = None
    max_attempts: int = 3

    def labeler(self, cache_dir: Path) -> Any:
        from optimizer_pipeline.lib.features.labels.anthropic_labels import AnthropicLabeler

        return AnthropicLabeler(
            self.api_key,
            self.model,
            self.base_url,
            cache_dir=cache_dir / "labels",
            max_attempts=self.max_attempts,
        )
