"""``competitor_hashtag_strategy`` [client]: which hashtags each of a client's competitors uses, how often, how well.

It reads the ``tiktok_videos`` partitions of the client's competitor profiles (``<client>__at-<handle>``). Those
partitions belong to another partitions definition (``client_hashtag``) and no built-in partition mapping selects
"this client's competitor keys", so the dependency is declared with ``AllPartitionMapping`` (lineage; a slight
over-approximation) and the asset loads exactly the keys the registry names through the IO manager itself: the
same storage, no path built by hand, and no loading of other clients' partitions (see DAGSTER_NOTES P13).
"""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import client_rollup
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.market.competitors import competitor_summary, hashtag_strategy, top_hashtags
from optimizer_pipeline.partitions import CLIENT, CLIENT_HASHTAG
from optimizer_pipeline.resources.parquet_io import load_stored
from optimizer_pipeline.resources.registry import ClientRegistry

TOP_PER_COMPETITOR = 5
PREVIEW_COLUMNS = ["competitor", "hashtag", "videos", "share_of_videos", "median_engagement_rate"]
PREVIEW_COLUMNS += ["engagement_vs_competitor_median"]


def _load_videos(
    context: dg.AssetExecutionContext, io_manager: dg.IOManager, key: str
) -> tuple[pd.DataFrame | None, str]:
    """(the ``tiktok_videos`` partition, "ok") or (None, why it is not there)."""
    if not context.instance.has_dynamic_partition(CLIENT_HASHTAG.name, key):
        return None, f"partition {key} is not registered (run `optimizer-pipeline registry sync` or the sensor)"
    videos = load_stored(context, io_manager, "tiktok_videos", key, CLIENT_HASHTAG)
    return (videos, "ok") if videos is not None else (None, f"tiktok_videos[{key}] is not materialised yet")


def _preview(table: pd.DataFrame) -> pd.DataFrame:
    """The top hashtags of each competitor, written as people write them (``@handle``, ``#hashtag``)."""
    top = top_hashtags(table, TOP_PER_COMPETITOR)[PREVIEW_COLUMNS].copy()
    top["competitor"] = "@" + top["competitor"].astype(str)
    top["hashtag"] = "#" + top["hashtag"].astype(str)
    return top


@dg.asset(
    automation_condition=client_rollup("tiktok_videos"),
    partitions_def=CLIENT,
    check_specs=[
        TENANT_ISOLATION.spec(
            "competitor_hashtag_strategy",
            CLIENT,
            "The table has no client column: compares each row's competitor with the competitor handles the "
            "registry lists for this client.",
        )
    ],
    dagster_type=CHECKED_VALUE,
    deps=[dg.AssetDep("tiktok_videos", partition_mapping=dg.AllPartitionMapping())],
    group_name="market",
    kinds={"parquet", "pandas"},
    code_version="competitor-hashtag-strategy-v1",
    description="One row per (competitor, hashtag) of a client's competitor profiles: videos using the hashtag, "
    "share of the competitor's videos, median/mean engagement rate, ratio to the competitor's median, first/last "
    "seen. Reads the tiktok_videos partitions <client>__at-<handle>.",
)
def competitor_hashtag_strategy(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    io_manager: dg.ResourceParam[dg.IOManager],
) -> dg.MaterializeResult:
    """A client without competitors, or a competitor not scraped yet, is a status in the metadata, not a failure."""
    client = registry.load().client(str(context.partition_key))
    videos: dict[str, pd.DataFrame] = {}
    per_competitor: dict[str, str] = {}
    for handle, key in client.competitor_keys().items():
        df, why = _load_videos(context, io_manager, key)
        per_competitor[f"@{handle}"] = why if df is None else f"ok ({len(df)} videos)"
        if df is not None:
            videos[handle] = df
    table = hashtag_strategy(videos)
    missing = len(per_competitor) - len(videos)
    if not per_competitor:
        status = "no competitors in the registry"
    elif not videos:
        status = "no competitor data: materialise tiktok_videos for " + ", ".join(client.competitor_keys().values())
    elif missing:
        status = f"partial: {missing} of {len(per_competitor)} competitor(s) without data"
    else:
        status = "ok"
    if missing:
        context.log.warning(f"{client.slug}: {status}")
    summary = competitor_summary(videos, table)
    isolated = foreign_rows(table["competitor"], client.competitor_keys(), compared="competitor vs registry")
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(
            {
                "client": client.name,
                "status": status,
                "competitors": len(per_competitor),
                "rows": len(table),
                "per_competitor": dg.MetadataValue.md(markdown.counts(per_competitor, key="competitor", value="data")),
                "summary": dg.MetadataValue.md(markdown.table(summary)),
                "preview": dg.MetadataValue.md(markdown.table(_preview(table), max_rows=50)),
            }
        ),
        check_results=[TENANT_ISOLATION.result("competitor_hashtag_strategy", isolated)],
    )
