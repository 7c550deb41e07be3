"""Checks of a valid registry against the world outside the file: the files it names, the data its source has.

Parsing (:mod:`optimizer_pipeline.lib.registry.clients`) proves a file is well-formed; these checks catch what only
fails later, inside a run: a ``test_loop`` file that is not where the registry says (paths are relative to that
``clients.yaml``), or a hashtag the active TikTok source cannot deliver (the sample corpus has two). Each problem
names the file, the client and the field, like registry errors, and is reported by ``registry sync`` and by the
``client_registry_sensor`` without blocking the partitions of every other entry.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from optimizer_pipeline.lib.registry.clients import Registry

#: The ``test_loop`` fields that name a file.
FILE_FIELDS: tuple[str, ...] = ("creatives_file", "influencers_file")


@dataclass(frozen=True)
class RegistryProblem:
    """One thing a registry entry names that is not there."""

    path: str  # the registry file
    client: str  # client slug
    field: str  # e.g. ``test_loop.creatives_file`` or ``hashtags``
    message: str

    def __str__(self) -> str:
        return f"{self.path}: client {self.client!r}: {self.field}: {self.message}"


@dataclass(frozen=True)
class SourceCatalog:
    """What a TikTok source can deliver: hashtag slugs and competitor handles; ``None`` means anything."""

    source: str
    hashtags: frozenset[str] | None = None
    handles: frozenset[str] | None = None


def named_files(registry: Registry) -> list[tuple[str, str, Path]]:
    """(client slug, field, resolved path) of every file the registry names, in registry order.

    Paths were resolved against the registry file's folder when it was loaded, so this is where the runs look.
    """
    out = []
    for client in registry.clients:
        for name in FILE_FIELDS:
            path = getattr(client.test_loop, name)
            if path is not None:
                out.append((client.slug, f"test_loop.{name}", Path(path)))
    return out


def missing_files(registry: Registry) -> list[RegistryProblem]:
    """Every named file that does not exist (or is not a file)."""
    return [
        RegistryProblem(
            registry.path, client, field, f"file {str(path)!r} does not exist (paths are relative to the registry file)"
        )
        for client, field, path in named_files(registry)
        if not path.is_file()
    ]


def unavailable_sources(registry: Registry, catalog: SourceCatalog) -> list[RegistryProblem]:
    """Hashtags (and competitor handles) the source cannot deliver, each listing what the source has."""
    problems = []
    for client in registry.clients:
        if catalog.hashtags is not None:
            for h in client.hashtags:
                if h.slug not in catalog.hashtags:
                    problems.append(
                        RegistryProblem(
                            registry.path,
                            client.slug,
                            "hashtags",
                            f"#{h.tag} is not in the {catalog.source} source, which has "
                            f"{_listing('#', catalog.hashtags)}; its partition {client.key_for(h)} will fail to scrape",
                        )
                    )
        if catalog.handles is not None:
            for p in client.competitor_profiles:
                if (p.handle or p.tag) not in catalog.handles:
                    problems.append(
                        RegistryProblem(
                            registry.path,
                            client.slug,
                            "competitors",
                            f"@{p.handle or p.tag} is not in the {catalog.source} source, which has "
                            f"{_listing('@', catalog.handles)}; its partition {client.key_for(p)} will fail to scrape",
                        )
                    )
    return problems


def check_registry(registry: Registry, catalog: SourceCatalog | None = None) -> list[RegistryProblem]:
    """Every problem of a parsed registry: missing files, then what the source (when given) does not have."""
    return missing_files(registry) + (unavailable_sources(registry, catalog) if catalog is not None else [])


def _listing(prefix: str, names: Collection[str]) -> str:
    return ", ".join(f"{prefix}{n}" for n in sorted(names)) if names else "nothing"
