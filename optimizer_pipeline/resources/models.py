"""Where fitted bucket models are kept: ``<home>/models``, the only place models are ever loaded from."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class ModelStore(dg.ConfigurableResource):
    """Fitted per-bucket models with provenance (library versions, code version, sha256; see
    lib/patterns/model_store.py).

    ``bootstrap_rounds`` applies to buckets of 20-29 videos (grouped bootstrap), ``top_k`` is each method's vote."""

    home: str
    bootstrap_rounds: int = 50
    top_k: int = 10
    random_state: int = 0

    def root(self) -> Path:
        return Path(self.home) / "models"
