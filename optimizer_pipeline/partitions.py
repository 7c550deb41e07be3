"""Partition definitions (one place) and the one helper that reads partition keys in every context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import dagster as dg

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS

CLIENT_HASHTAG = dg.DynamicPartitionsDefinition(name="client_hashtag")
CLIENT = dg.DynamicPartitionsDefinition(name="client")
DURATION_BUCKET = dg.StaticPartitionsDefinition(list(DURATION_BUCKETS))
#: Dimensions sort by name, so keys read ``<client>__<hashtag>|<bucket>``.
T = TypeVar("T")

MARKET_PARTITIONS = dg.MultiPartitionsDefinition({"client_hashtag": CLIENT_HASHTAG, "duration_bucket": DURATION_BUCKET})


def market_key(client_hashtag: str, bucket: str) -> dg.MultiPartitionKey:
    """The multi-partition key of one client × hashtag × duration bucket."""
    return dg.MultiPartitionKey({"client_hashtag": client_hashtag, "duration_bucket": bucket})


def market_dims(key: str | dg.MultiPartitionKey) -> dict[str, str]:
    """Dimension → key of a market partition key, given as a ``MultiPartitionKey`` or as its string form."""
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    return dict(MARKET_PARTITIONS.get_partition_key_from_str(str(key)).keys_by_dimension)


def partition_dims(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> dict[str, str]:
    """Dimension → key for a market partition; in 1.13 ``partition_key`` is sometimes a plain string."""
    return market_dims(context.partition_key)


def by_bucket(frames: Mapping[str, T]) -> dict[str, T]:
    """Re-key what the IO manager loads for several market partitions (``{"<client>__<hashtag>|<bucket>": v}``)
    by duration bucket."""
    return {market_dims(key)["duration_bucket"]: value for key, value in frames.items()}
