"""``creative_reports`` [client_hashtag]: the ten creative strategy reports of one hashtag, as JSON and Markdown files
under ``<home>/reports/<client>/<hashtag>/`` and a one-row-per-report table.

Thin wiring around :mod:`optimizer_pipeline.lib.reports.creative_reports`. The hashtag's own evidence
(``bucket_patterns`` and ``bucket_videos`` of each of its buckets, its ``bucket_intelligence``) is read partition by
partition through the IO manager, so a bucket that was never materialised is a "not enough evidence" section, not a
failure; the client's ``cross_hashtag_patterns`` and ``pattern_posteriors`` [client] are read the same way (no
built-in mapping goes from a client_hashtag key to its client, so they are declared with ``AllPartitionMapping`` for
lineage, as ``client_overview`` does the other way round) and are optional: an update re-runs the reports, their
absence never blocks them. The home is the one the feature store is bound to (every resource shares one home).
"""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import propagate_with_optional
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.reports.group import GROUP, KINDS
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.atomic_files import atomic_write_text
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.reports.creative_reports import (
    ReportInputs,
    build_reports,
    cited_videos,
    report_folder,
    report_markdown,
    reports_table,
)
from optimizer_pipeline.partitions import CLIENT, CLIENT_HASHTAG, MARKET_PARTITIONS, market_key
from optimizer_pipeline.resources.features import FeatureStore
from optimizer_pipeline.resources.parquet_io import load_stored
from optimizer_pipeline.resources.registry import ClientRegistry

CODE_VERSION = "creative-reports-v1"
HASHTAG_UPSTREAM = ("bucket_patterns", "bucket_videos", "bucket_intelligence")
CLIENT_UPSTREAM = ("cross_hashtag_patterns", "pattern_posteriors")
#: The report shown as the Markdown preview in the metadata.
PREVIEW_REPORT = "viral_replication"
SUMMARY_PREVIEW = ["report_id", "title", "format", "n_recommendations", "evidence_summary"]


def _owners(reports: list[dict], own_videos: dict[str, str], own_tags: dict[str, str]) -> tuple[pd.Series, int]:
    """The client_hashtag key each cited thing belongs to: a cited video's key when it is one of this hashtag's
    bucket videos (else "unknown video <id>"), a cross-hashtag row's hashtags by the client's own tags (else the
    tag itself), each report's own key. Returns the owners and how many videos were cited."""
    owners = [r["client_hashtag"] for r in reports]
    videos = [v for r in reports for v in cited_videos(r)]
    owners += [own_videos.get(v, f"unknown video {v}") for v in videos]
    for r in reports:
        for s in r["sections"]:
            for rec in s["recommendations"]:
                for tag in str(rec.get("hashtags") or "").split(","):
                    if tag.strip():
                        owners.append(own_tags.get(tag.strip(), f"#{tag.strip()}"))
    return pd.Series(owners, dtype=object), len(videos)


@dg.asset(
    automation_condition=propagate_with_optional(*CLIENT_UPSTREAM),
    partitions_def=CLIENT_HASHTAG,
    check_specs=[
        TENANT_ISOLATION.spec(
            "creative_reports",
            CLIENT_HASHTAG,
            "Every report names this client_hashtag, every example video is one of this hashtag's own bucket videos "
            "and every hashtag a trend-jacking pattern cites is one of the client's own hashtags.",
        )
    ],
    dagster_type=CHECKED_VALUE,
    deps=[
        dg.AssetDep("bucket_patterns"),
        dg.AssetDep("bucket_videos"),
        dg.AssetDep("bucket_intelligence"),
        *(dg.AssetDep(asset, partition_mapping=dg.AllPartitionMapping()) for asset in CLIENT_UPSTREAM),
    ],
    group_name=GROUP,
    kinds=KINDS,
    code_version=CODE_VERSION,
    description="The seed's ten creative strategy reports of one hashtag (hook, CTA, pacing & rhythm, visual "
    "elements, emotional journey, text overlay, trend-jacking, duration-specific tactics, engagement acceleration, "
    "viral replication), per duration bucket, in creator words: one recommendation per pattern family with its "
    "evidence label, top/bottom shares, lift and q-value, do's and don'ts (anti-patterns), examples from top "
    "performers, the test loop's verdict or 'not yet tested', and 'not enough evidence' where there is none. "
    "Written as JSON and Markdown under <home>/reports/<client>/<hashtag>/; one row per report.",
)
def creative_reports(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    feature_store: FeatureStore,
    io_manager: dg.ResourceParam[dg.IOManager],
) -> dg.MaterializeResult:
    """Restates the evidence tables; computes no statistic (rules: ``lib/reports/creative_reports.py``)."""
    key = str(context.partition_key)
    client, settings = registry.load().lookup(key)
    patterns, videos, missing = {}, {}, []
    for bucket in settings.buckets:
        for asset, store in (("bucket_patterns", patterns), ("bucket_videos", videos)):
            store[bucket] = load_stored(context, io_manager, asset, market_key(key, bucket), MARKET_PARTITIONS)
            if store[bucket] is None:
                missing.append(f"{asset} {bucket}")
    intelligence = load_stored(context, io_manager, "bucket_intelligence", key, CLIENT_HASHTAG)
    registered = context.instance.has_dynamic_partition(CLIENT.name, client.slug)
    cross, posteriors = (
        load_stored(context, io_manager, a, client.slug, CLIENT) if registered else None for a in CLIENT_UPSTREAM
    )
    optional = zip(("bucket_intelligence", *CLIENT_UPSTREAM), (intelligence, cross, posteriors), strict=True)
    missing += [asset for asset, df in optional if df is None]
    inputs = ReportInputs(
        client=client.slug,
        hashtag=settings.slug,
        label=settings.label,
        client_hashtag=key,
        buckets=tuple(settings.buckets),
        patterns=patterns,
        videos=videos,
        intelligence=intelligence,
        cross=cross,
        posteriors=posteriors,
    )
    reports = build_reports(inputs)
    table = reports_table(reports)
    folder = report_folder(feature_store.home, client.slug, settings.slug)
    files = []
    for r, row in zip(reports, table.itertuples(), strict=True):
        for path, text in (
            (folder / f"{r['report_id']}.md", row.markdown),
            (folder / f"{r['report_id']}.json", row.json),
        ):
            atomic_write_text(path, text)
            files.append(str(path))

    own_videos = {str(v): key for df in videos.values() if df is not None for v in df.get("video_id", [])}
    own_tags = {h.tag: client.key_for(h) for h in client.hashtags}
    owners, n_cited = _owners(reports, own_videos, own_tags)
    isolated = foreign_rows(owners, [client.key_for(h) for h in client.sources], compared="cited videos and hashtags")
    preview = next(r for r in reports if r["report_id"] == PREVIEW_REPORT)
    with_advice = int((table["n_recommendations"] > 0).sum())
    context.log.info(f"{key}: {with_advice} of {len(table)} reports with advice; missing: {missing or 'none'}")
    metadata = {
        "client": client.name,
        "hashtag": settings.label,
        "reports": len(table),
        "reports_with_advice": with_advice,
        "recommendations": int(table["n_recommendations"].sum()),
        "videos_cited": n_cited,
        "not_materialised": ", ".join(missing) or "none",
        "folder": dg.MetadataValue.path(str(folder)),
        "files": dg.MetadataValue.json(files),
        "summary": dg.MetadataValue.md(markdown.table(table[SUMMARY_PREVIEW], max_rows=None)),
        "preview": dg.MetadataValue.md(report_markdown(preview)),
    }
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(metadata),
        check_results=[TENANT_ISOLATION.result("creative_reports", isolated)],
    )
