"""Every metadata table of every materialisation in a Dagster home, checked as a user reads it.

Each latest materialisation per asset and partition is read from the instance; every Markdown text with a table is
parsed (``markdown_tables``): the table must be well formed (no row shifted by an unescaped ``|``), and when its
header names columns of the Parquet behind it and one of them is a unique key, each shown row must equal the stored
row with that key, cell by cell (numbers to the display rounding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.resources.parquet_io import read_asset
from optimizer_pipeline_tests.markdown_tables import assert_table_matches, assert_well_formed, rendered_tables

#: Columns that identify a stored row, in the order they are tried.
KEYS = ("video_id", "pattern_hash", "utm_id", "creative_id", "feature", "duration_bucket", "handle")


@dataclass
class Audit:
    """What was checked: tables parsed, tables compared with their Parquet, and rows compared."""

    tables: int = 0
    compared: list[str] = field(default_factory=list)
    rows: int = 0


def _partition(key: str | None, partitions_def: dg.PartitionsDefinition | None) -> str | dg.MultiPartitionKey | None:
    if key is None:
        return None
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return partitions_def.get_partition_key_from_str(key)
    return key


def audit_home(home: Path, defs: dg.Definitions) -> Audit:
    """Check every metadata table of the latest materialisation of each asset partition under ``home``."""
    audit = Audit()
    graph = defs.resolve_asset_graph()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for asset_key in graph.get_all_asset_keys():
            partitions_def = graph.get(asset_key).partitions_def
            keys = sorted(instance.get_materialized_partitions(asset_key)) if partitions_def else [None]
            for key in keys:
                event = instance.get_latest_materialization_event(asset_key) if key is None else None
                if key is not None:
                    records = instance.fetch_materializations(
                        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
                    ).records
                    event = records[0].event_log_entry if records else None
                if event is None or event.asset_materialization is None:
                    continue
                stored: pd.DataFrame | None = None
                name = asset_key.to_user_string()
                for meta_key, value in event.asset_materialization.metadata.items():
                    text = value.value if isinstance(value, dg.MarkdownMetadataValue) else None
                    if not isinstance(text, str) or not rendered_tables(text):
                        continue
                    audit.tables += 1
                    assert_well_formed(text)
                    header = rendered_tables(text)[0][0]
                    if stored is None:
                        stored = read_asset(home, name, _partition(key, partitions_def))
                    if stored is None or not set(header) <= set(stored.columns):
                        continue
                    key_col = next(
                        (k for k in KEYS if k in header and stored[k].notna().all() and stored[k].is_unique), None
                    )
                    if key_col is None:
                        continue
                    try:
                        audit.rows += assert_table_matches(text, stored, key=key_col)
                    except AssertionError as err:
                        raise AssertionError(f"{name}[{key}] metadata {meta_key!r}: {err}") from err
                    audit.compared.append(f"{name}[{key}]/{meta_key}")
    return audit
