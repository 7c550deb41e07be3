"""The code location, and the one place that assembles it: everything under ``optimizer_pipeline/defs`` plus the
resources bound in ``defs/resources.py``.

``dagster dev`` / ``dg`` load :func:`defs` (resources from the environment); the demo and tests call
:func:`load_definitions` with resources of their own (e.g. the demo's home) instead of rewriting the environment.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from optimizer_pipeline.defs.resources import build_resources

#: The code location's name in ``workspace.yaml`` and ``[tool.dg.project]``: sensor state is stored under it.
CODE_LOCATION = "optimizer_pipeline"


def load_definitions(resources: Mapping[str, Any] | None = None) -> dg.Definitions:
    """Every definition under ``defs/``, bound to ``resources`` (default: :func:`build_resources` from the
    environment)."""
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions.merge(loaded, dg.Definitions(resources=dict(resources or build_resources())))


@dg.definitions
def defs() -> dg.Definitions:
    return load_definitions()
