"""The "never NaN" contract of every tier comparison result, as one assertion the family test files share."""

from __future__ import annotations

import dataclasses
import math

from optimizer_pipeline.lib.patterns.binary_tests import BinaryComparison, LiftEstimate
from optimizer_pipeline.lib.patterns.categorical_tests import CategoricalComparison
from optimizer_pipeline.lib.patterns.continuous_tests import ContinuousComparison

Comparison = BinaryComparison | CategoricalComparison | ContinuousComparison | LiftEstimate


def assert_all_finite(result: Comparison) -> None:
    """Every float field is a finite float (the "never NaN" contract)."""
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, float):
            assert math.isfinite(value), f"{f.name} = {value}"
