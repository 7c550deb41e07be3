"""``display_metadata``: the floats a user reads in the Dagster UI are rounded (4 significant digits), stay numbers,
and everything else passes through."""

from __future__ import annotations

import math

import dagster as dg
import numpy as np

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.metadata import display_metadata


def test_floats_are_rounded_and_stay_numbers():
    shown = display_metadata(
        {
            "mean": 0.041234567890123456,
            "numpy": np.float64(2 / 3),
            "wrapped": dg.MetadataValue.float(4.312702920827247),
            "large": 12946.11,
            "json": dg.MetadataValue.json({"EUR": 3405.98, "shares": [0.92641234, 0.0521], "n": 3, "ok": True}),
            "plain_json": {"a": 1 / 3},
            "count": np.int64(7),
            "flag": True,
            "text": "0.041234567890123456",
            "md": dg.MetadataValue.md("| a |\n|---|\n| 0.041234567890123456 |"),
            "nan": float("nan"),
            "nan_wrapped": dg.MetadataValue.float(float("nan")),
        }
    )
    assert shown["mean"] == 0.04123 and shown["numpy"] == 0.6667 and type(shown["numpy"]) is float
    assert shown["wrapped"] == dg.MetadataValue.float(4.313) and shown["large"] == 12946.0
    assert shown["json"] == dg.MetadataValue.json({"EUR": 3406.0, "shares": [0.9264, 0.0521], "n": 3, "ok": True})
    assert shown["plain_json"] == {"a": 0.3333}
    assert shown["count"] == 7 and type(shown["count"]) is int and shown["flag"] is True
    assert shown["text"] == "0.041234567890123456" and shown["md"].value.endswith("| 0.041234567890123456 |")
    assert math.isnan(shown["nan"]) and math.isnan(shown["nan_wrapped"].value)


def test_exact_keys_keep_full_precision():
    shown = display_metadata(
        {"prior_alpha": 4.312702920827247, "prior_mean": 0.06013154132826505}, exact=["prior_alpha"]
    )
    assert shown == {"prior_alpha": 4.312702920827247, "prior_mean": 0.06013}


def test_the_materialisation_records_the_rounded_value():
    full = 0.041234567890123456

    @dg.asset
    def rates() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=display_metadata({"mean": full, "ci": dg.MetadataValue.float(full / 3)}))

    result = dg.materialize([rates])
    assert result.success
    assert materialization_metadata(result)["rates"] == {"mean": 0.04123, "ci": 0.01374}
