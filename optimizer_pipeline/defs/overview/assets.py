"""``client_overview`` [client]: one Markdown page per client, so the UI opens on results, not on an empty bucket.

Thin wiring around :mod:`optimizer_pipeline.lib.overview.client_page`. It reads what is stored (``bucket_intelligence``
of each of the client's hashtags and competitors, the client's ``pattern_posteriors`` and ``test_recommendations``)
partition by partition through the IO manager, the way ``cross_hashtag_patterns`` does: no built-in partition mapping
selects one client's client_hashtag keys, so the dependency is declared with ``AllPartitionMapping`` for lineage and
only this client's keys are loaded. What is not materialised yet is a status on the page, never a failure.
"""

import dagster as dg

from optimizer_pipeline.defs.automation import client_rollup
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.overview.client_page import (
    NOT_ANALYSED,
    SourceResults,
    overview_markdown,
    overview_rows,
    summarise_test_loop,
)
from optimizer_pipeline.partitions import CLIENT, CLIENT_HASHTAG
from optimizer_pipeline.resources.parquet_io import load_stored
from optimizer_pipeline.resources.registry import ClientRegistry

CODE_VERSION = "client-overview-v1"
MARKET_UPSTREAM = "bucket_intelligence"
TESTLOOP_UPSTREAM = ("pattern_posteriors", "test_recommendations")


@dg.asset(
    partitions_def=CLIENT,
    check_specs=[
        TENANT_ISOLATION.spec(
            "client_overview",
            CLIENT,
            "Compares each row's client_hashtag with the keys of the client's own hashtags and competitors.",
        )
    ],
    dagster_type=CHECKED_VALUE,
    deps=[
        dg.AssetDep(MARKET_UPSTREAM, partition_mapping=dg.AllPartitionMapping()),
        *(dg.AssetDep(asset) for asset in TESTLOOP_UPSTREAM),
    ],
    automation_condition=client_rollup(MARKET_UPSTREAM) | client_rollup("test_recommendations"),
    group_name="overview",
    kinds={"parquet", "pandas"},
    code_version=CODE_VERSION,
    description="Start here: one page per client. Per hashtag and competitor, per duration bucket: videos selected, "
    "status (ok / insufficient data / not analysed), claims and the top claim's sentence; then the test loop "
    "(patterns, clicks, best pattern). Restates bucket_intelligence and the test loop; computes no statistics.",
)
def client_overview(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    io_manager: dg.ResourceParam[dg.IOManager],
) -> dg.MaterializeResult:
    """The table has one row per source × bucket; the metadata's ``overview`` is the page."""
    client = registry.load().client(str(context.partition_key))
    sources = [
        SourceResults(
            label=settings.label,
            kind=settings.kind,
            key=client.key_for(settings),
            buckets=tuple(settings.buckets),
            intelligence=load_stored(context, io_manager, MARKET_UPSTREAM, client.key_for(settings), CLIENT_HASHTAG),
        )
        for settings in client.sources
    ]
    rows = overview_rows(sources)
    posteriors, recommendations = (
        load_stored(context, io_manager, asset, client.slug, CLIENT) for asset in TESTLOOP_UPSTREAM
    )
    testloop = summarise_test_loop(posteriors, recommendations)
    analysed = rows[rows["status"] != NOT_ANALYSED]
    not_stored = [s.key for s in sources if s.intelligence is None]
    own_keys = [client.key_for(settings) for settings in client.sources]
    isolated = foreign_rows(rows["client_hashtag"], own_keys, compared="client_hashtag vs the client's sources")
    return dg.MaterializeResult(
        value=rows,
        check_results=[TENANT_ISOLATION.result("client_overview", isolated)],
        metadata=display_metadata(
            {
                "overview": dg.MetadataValue.md(overview_markdown(client.name, client.slug, rows, testloop)),
                "sources": len(sources),
                "buckets_analysed": len(analysed),
                "buckets_with_claims": int((analysed["claims"].fillna(0) > 0).sum()),
                "claims": int(analysed["claims"].fillna(0).sum()),
                "test_loop": "not materialised" if testloop is None else f"{testloop.patterns} patterns",
                "not_materialised": ", ".join(not_stored) or "none",
            }
        ),
    )
