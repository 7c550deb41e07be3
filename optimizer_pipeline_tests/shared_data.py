"""Locate real datasets in ``../shared/data`` in place: skip when absent, fail when CI requires them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """``$OPTIMIZER_SHARED_DATA`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("OPTIMIZER_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path to a shared dataset; skips the test when it is missing, fails under OPTIMIZER_REQUIRE_SHARED_DATA=1."""
    path = shared_data_root().joinpath(*parts)
    if not path.exists():
        msg = f"shared dataset {path} is not available"
        if os.environ.get("OPTIMIZER_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(msg + " and OPTIMIZER_REQUIRE_SHARED_DATA=1")
        pytest.skip(msg)
    return path
