"""Parquet is the system of record: one file per asset partition, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pandas as pd
from upath import UPath

from optimizer_pipeline.lib.core.atomic_files import write_parquet_atomic


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
    """Stores DataFrames at ``<home>/data/<asset>/<partition key(s)>.parquet``."""

    home: str

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetUPathIOManager:
        return _ParquetUPathIOManager(base_path=UPath(self.home) / "data")
