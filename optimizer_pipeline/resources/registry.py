"""The client registry as a resource, so its path is configuration and its errors are visible in the UI."""

from __future__ import annotations

import dagster as dg

from optimizer_pipeline.lib.registry.clients import Registry, load_registry


class ClientRegistry(dg.ConfigurableResource):
    """Reads ``clients.yaml`` on every use: an edited file takes effect at the next run, no reload needed."""

    path: str

    def load(self) -> Registry:
        return load_registry(self.path)
