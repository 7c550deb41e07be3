"""What a labeling call costs: Anthropic list prices per model and the tokens a call spent.

Prices are data that change on their own schedule (a new model, a price cut), apart from how the labeler talks to
the API, so they live here; the labeler takes ``prices=`` to override or extend the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelPrice:
    """List price in USD per million tokens."""

    input: float
    output: float


#: Configurable price table (USD per million input/output tokens, Anthropic list prices, standard tier, late 2026).
#: Cache-write and cache-read tokens (this labeler sets no cache breakpoints) are charged at the input price,
#: an upper bound. Pass ``prices=`` to the labeler to override or extend it.
PRICES_USD_PER_MTOK: Mapping[str, ModelPrice] = {
    "claude-haiku-4-5": ModelPrice(1.0, 5.0),
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0),
    "claude-sonnet-4-6": ModelPrice(3.0, 15.0),
    "claude-sonnet-5": ModelPrice(2.0, 10.0),
    "claude-sonnet-5-5": ModelPrice(2.0, 10.0),
    "claude-opus-4-5": ModelPrice(5.0, 25.0),
    "claude-opus-5": ModelPrice(5.0, 25.0),
    "claude-opus-5-5": ModelPrice(4.0, 20.0),
    "claude-fable-5-1": ModelPrice(10.0, 50.0),
}


@dataclass
class TokenSpend:
    """Tokens summed over the attempts of one label() call."""

    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 0

    def add(self, usage: Any) -> None:
        """Add one response's ``usage``; cache-write and cache-read tokens count as input (an upper bound)."""
        if usage is None:
            return
        cache = (getattr(usage, "cache_creation_input_tokens", 0) or 0) + (
            getattr(usage, "cache_read_input_tokens", 0) or 0
        )
        self.input_tokens += (getattr(usage, "input_tokens", 0) or 0) + cache
        self.output_tokens += getattr(usage, "output_tokens", 0) or 0

    def cost_usd(self, price: ModelPrice | None) -> float | None:
        """Cost of the tokens at ``price``; ``None`` for a model without a price, never a made-up number."""
        if price is None:
            return None
        return round((self.input_tokens * price.input + self.output_tokens * price.output) / 1e6, 8)
