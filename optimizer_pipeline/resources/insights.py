"""Who writes the winner insights: nobody by default (the deterministic winner-vs-loser text), Claude when an
Anthropic key is configured (its text is used only when every number in it is in the evidence).

The key is a secret: it is bound as an ``EnvVar`` in ``defs/resources.py``, passed only to the SDK client, and never
shown in logs or metadata (the lib writer scrubs it from error texts).
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from optimizer_pipeline.lib.actions.winner_insights import AnthropicInsightWriter, InsightWriter


class WinnerInsights(dg.ConfigurableResource):
    """The embedded default: no model, so ``winner_insights`` holds the deterministic comparison."""

    def model_used(self) -> str:
        """The model whose texts this resource asks for ("" for none)."""
        return ""

    def writer(self) -> InsightWriter | None:
        """A callable evidence → draft, or None for the deterministic text."""
        return None


class AnthropicWinnerInsights(WinnerInsights):
    """Claude writes the insights; the key comes from ``OPTIMIZER_ANTHROPIC_API_KEY``."""

    api_key: str = Field(description="Anthropic API key (bind with EnvVar, never a literal).")
    model: str = "claude-sonnet-4-6"
    base_url: str | None = None
    max_tokens: int = 600

    def model_used(self) -> str:
        return self.model

    def writer(self) -> InsightWriter | None:
        return AnthropicInsightWriter(self.api_key, self.model, self.base_url, max_tokens=self.max_tokens)
