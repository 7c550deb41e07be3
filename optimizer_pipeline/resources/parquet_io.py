"""Parquet is the system of record: one file per asset partition, written atomically.

The layout ``<home>/data/<asset>/<partition>.parquet`` (a market partition is ``<client_hashtag>/<bucket>``) is what
the IO manager writes; :func:`asset_path` and :func:`read_asset` are the one way code outside an asset run (the CLI,
the demo, benchmarks) finds those files, so the layout is spelled out here only.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pandas as pd
from upath import UPath

from optimizer_pipeline.lib.core.atomic_files import write_parquet_atomic

DATA_DIR = "data"


def _partition_parts(partition_key: str | dg.MultiPartitionKey) -> list[str]:
    """Path components of a partition key, as ``UPathIOManager`` lays them out (dimensions in name order)."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        dims = partition_key.keys_by_dimension
        return [dims[name] for name in sorted(dims)]
    return [str(partition_key)]


def asset_path(home: str | Path, asset: str, partition_key: str | dg.MultiPartitionKey | None = None) -> Path:
    """Where ``asset`` (one partition of it, when partitioned) is stored under ``home``."""
    folder = Path(home) / DATA_DIR / asset
    if partition_key is None:
        return folder.parent / f"{asset}.parquet"
    *parents, name = _partition_parts(partition_key)
    return folder.joinpath(*parents, f"{name}.parquet")


def asset_partition_paths(home: str | Path, asset: str) -> list[Path]:
    """Every stored partition file of ``asset``, sorted (market assets: every hashtag and bucket)."""
    folder = Path(home) / DATA_DIR / asset
    return sorted(folder.rglob("*.parquet")) if folder.is_dir() else []


def read_asset(
    home: str | Path, asset: str, partition_key: str | dg.MultiPartitionKey | None = None
) -> pd.DataFrame | None:
    """The stored table of ``asset`` (one partition of it), or None when it was never materialised."""
    path = asset_path(home, asset, partition_key)
    return pd.read_parquet(path) if path.exists() else None


class _ParquetUPathIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()} returned {type(obj).__name__}, not a DataFrame")
        write_parquet_atomic(obj, Path(os.fspath(path)))
        context.add_output_metadata({"dagster/row_count": len(obj)})

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        return pd.read_parquet(os.fspath(path))


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores DataFrames at ``<home>/data/<asset>/<partition key(s)>.parquet`` (see :func:`asset_path`)."""

    home: str

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetUPathIOManager:
        return _ParquetUPathIOManager(base_path=UPath(self.home) / DATA_DIR)


def load_stored(
    context: dg.AssetExecutionContext,
    io_manager: dg.IOManager,
    asset: str,
    partition_key: str | dg.MultiPartitionKey,
    partitions_def: dg.PartitionsDefinition,
) -> pd.DataFrame | None:
    """One stored partition of ``asset`` read through the run's IO manager (None when never materialised): how an
    asset reads partitions no built-in mapping selects (one client's hashtags) or its own previous output."""
    input_context = dg.build_input_context(
        asset_key=dg.AssetKey(asset),
        partition_key=partition_key,
        asset_partitions_def=partitions_def,
        instance=context.instance,
    )
    try:
        return io_manager.load_input(input_context)
    except FileNotFoundError:
        return None


def previous_table(context: dg.AssetExecutionContext, io_manager: dg.IOManager, asset: str) -> pd.DataFrame | None:
    """This run's partition of ``asset`` as last materialised (None before the first run): what an asset carries
    over to keep a rerun's output identical (ciphertexts, first-seen times)."""
    return load_stored(context, io_manager, asset, context.partition_key, context.assets_def.partitions_def)
