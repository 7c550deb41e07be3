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
