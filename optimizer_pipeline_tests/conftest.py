"""Shared fixtures: a small sample corpus (built once per session) and Dagster instances with partitions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED, generate_sample_corpus

#: Small enough to build in seconds, large enough that three buckets have 20+ videos per hashtag (0-15s: 32, as many
#: as the tests' planted-effect checks had at 0.4 before generator v2 cut the default counts).
TEST_SCALE = 0.5
#: Modules that run the demo or the benchmarks end to end (minutes each): marked ``slow``. The README's test command
#: runs them; ``pytest -m "not slow"`` is the quick loop while editing.
SLOW_MODULES = ("test_demo_cli.py", "test_testloop_demo.py", "test_benchmarks_smoke.py", "test_automation.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _defs_state_storage_of_a_live_instance_only():
    """A current defs-state storage whose instance is gone reads as none, wherever it is consulted. The per-test reset
    below does not reach module-scoped fixtures (set up before it) or a stale value restored in the middle of one:
    CI once failed inside a live ``instance_for_test`` block of ``test_pattern_assets``'s module fixture with
    "Attempted to resolve undefined DagsterInstance weakref" (Dagster 1.13.27, GC- and order-dependent; not
    reproducible in isolation). The project's definitions use no state-backed components, so no storage is the
    correct answer there. Private API, hence pinned to this guard: remove both once Dagster resets it itself."""
    from dagster._core.storage.defs_state import base

    def live_storage(cls: type) -> object:
        storage = base._current_storage.get()
        ref = getattr(storage, "_instance_weakref", None)
        return storage if storage is None or (ref is not None and ref() is not None) else None

    original = base.DefsStateStorage.__dict__["get"]
    base.DefsStateStorage.get = classmethod(live_storage)
    yield
    base.DefsStateStorage.get = original


@pytest.fixture(autouse=True)
def _no_defs_state_storage_of_a_closed_instance():
    """Each test starts without a current defs-state storage. Dagster 1.13's ``DagsterInstance.__enter__`` sets a
    context variable to the instance's defs-state storage and ``__exit__`` (``dispose``) never resets it, so after a
    ``with DagsterInstance...`` block the variable points at a storage whose instance may be garbage collected; the
    next ``load_definitions`` outside an instance then fails with "Attempted to resolve undefined DagsterInstance
    weakref", depending on GC timing and test order (seen once in CI). Dagster has no public reset, hence the
    private import."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


def sample_market_resources(home: Path, sample_home: Path) -> dict[str, object]:
    """Resources of the market loop on the test corpus (scraped from ``sample_home``, written under ``home``): what a
    test that materialises buckets, features, models and patterns binds."""
    from optimizer_pipeline.resources.features import FeatureStore, RuleLabeler
    from optimizer_pipeline.resources.models import ModelStore
    from optimizer_pipeline.resources.parquet_io import ParquetIOManager
    from optimizer_pipeline.resources.registry import ClientRegistry
    from optimizer_pipeline.resources.tiktok import SampleTikTokSource
    from optimizer_pipeline.resources.videos import VideoStore

    return {
        "io_manager": ParquetIOManager(home=str(home)),
        "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
        "tiktok": SampleTikTokSource(home=str(sample_home), seed=DEFAULT_SEED, scale=TEST_SCALE),
        "video_store": VideoStore(home=str(home)),
        "feature_store": FeatureStore(home=str(home), workers=2),
        "labeler": RuleLabeler(),
        "model_store": ModelStore(home=str(home), bootstrap_rounds=20),
    }


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose ``sample/`` holds the corpus at TEST_SCALE (read-only for tests: copy before changing)."""
    home = tmp_path_factory.mktemp("sample_home")
    generate_sample_corpus(home / "sample", seed=DEFAULT_SEED, scale=TEST_SCALE, workers=2)
    return home


@pytest.fixture
def instance():
    """A real (temporary) instance with the sample registry's partitions."""
    with dg.instance_for_test() as inst:
        apply_registry(load_registry(SAMPLE_CLIENTS_FILE), inst)
        yield inst
