"""``creative_dna`` [client] (+ ``creative_dna_rejected``): the creative autopsy. Every creative with a video is
measured by the market loop's feature extractor and labeled by its labeler (same cache, same feature version), so
missing tags are filled and hand tags the video contradicts are flagged. Thin wiring around
``lib/testloop/creative_autopsy.py``; the batch runner (``lib/features/runner.py``) sets unusable videos aside."""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import ACCOUNTING, CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.testloop.group import GROUP, TABLE_KINDS
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting, foreign_rows
from optimizer_pipeline.lib.features import FEATURE_VERSION, extract_video_features
from optimizer_pipeline.lib.features.runner import run_feature_batch
from optimizer_pipeline.lib.testloop.creative_autopsy import autopsy, batch_evidence, video_jobs, with_home_videos
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.features import CreativeLabeler, FeatureStore

PREVIEW_COLUMNS = [
    "creative_id",
    "video_status",
    "pattern_hash",
    "tags_filled",
    "disagreements",
    "ad_ids",
    "duration_s",
    "cuts_per_second",
]
#: Every failure is a creative set aside, never a failed run: a client's few creatives are no statistical batch.
NEVER_FAIL_BATCH = 1.0


@dg.multi_asset(
    outs={
        "creative_dna": dg.AssetOut(
            automation_condition=PROPAGATE,
            dagster_type=CHECKED_VALUE,
            description="One row per creative: final tags (a given tag wins, a missing one is derived from the "
            "video: pacing from the cut rate, the rest from the labeler) with each field's source (given / derived "
            "/ missing), the derived tags, disagreements between given and derived tags, pattern_hash of the final "
            "tags (null while one is missing), ad_ids, and the market loop's numeric video features (NaN when the "
            "video was not analysed; video_status analysed / set_aside / no_video). A registered video_path that does "
            "not exist is looked up by file name in <home>/creative_videos/<client>/ (the data home of the "
            "feature_store resource); video_path is the file actually read.",
            kinds=TABLE_KINDS | {"opencv"},
        ),
        "creative_dna_rejected": dg.AssetOut(
            automation_condition=PROPAGATE,
            dagster_type=CHECKED_VALUE,
            description="Creative videos set aside (missing, empty or unreadable file, extractor or labeler "
            "failure), with the reason; the creative keeps its given tags in creative_dna.",
            kinds=TABLE_KINDS,
        ),
    },
    ins={"creatives": dg.AssetIn()},
    check_specs=[
        ACCOUNTING.spec(
            "creative_dna", CLIENT, "Compares creatives rows = videos analysed + set aside + creatives without video."
        ),
        TENANT_ISOLATION.spec(
            "creative_dna",
            CLIENT,
            "The table has no client column: compares each row's creative_id with this client's creatives (the "
            "creatives partition read, itself checked against the registry).",
        ),
    ],
    partitions_def=CLIENT,
    group_name=GROUP,
    pool="feature_extraction",
    code_version=f"creative-dna-v1+{FEATURE_VERSION}",
)
def creative_dna(
    context: dg.AssetExecutionContext,
    creatives: pd.DataFrame,
    feature_store: FeatureStore,
    labeler: CreativeLabeler,
):
    """Features come from the shared feature cache when the same bytes were measured before (rerun: nothing new)."""
    client = str(context.partition_key)
    creatives = with_home_videos(creatives, feature_store.home, client)
    jobs = video_jobs(creatives, client)
    cache_dir = feature_store.cache_dir()
    batch = run_feature_batch(
        list(jobs.values()),
        extractor=extract_video_features,
        cache_dir=cache_dir,
        feature_version=FEATURE_VERSION,
        labeler=labeler.labeler(cache_dir),
        progress=context.log.info,
        max_failure_share=NEVER_FAIL_BATCH,
        workers=feature_store.workers,
    )
    evidence, reasons = batch_evidence(jobs, batch.rows, batch.quarantined)
    result = autopsy(creatives, evidence, reasons)
    dna, counts = result.dna, result.counts
    counted = accounting(
        len(creatives),
        {"analysed": counts["analysed"], "set_aside": counts["set_aside"], "no_video": counts["no_video"]},
    )
    isolated = foreign_rows(
        dna["creative_id"], set(creatives["creative_id"].astype(str)), compared="creative_id vs this client's creatives"
    )
    context.log.info(
        f"{client}: creatives {counts['read']}: {counts['analysed']} analysed, {counts['set_aside']} set aside, "
        f"{counts['no_video']} without video; {counts['tags_filled']} tags filled, "
        f"{counts['disagreements']} disagreements"
    )
    sources = dna["label_source"].dropna().value_counts().to_dict()
    yield dg.MaterializeResult(
        asset_key="creative_dna",
        value=dna,
        metadata=display_metadata(
            {
                **counts,
                "computed": batch.computed,
                "from_cache": batch.cached,
                "feature_version": FEATURE_VERSION,
                "label_sources": dg.MetadataValue.md(markdown.counts(sources, key="labeler", value="creatives")),
                "preview": dg.MetadataValue.md(markdown.table(dna[PREVIEW_COLUMNS], max_rows=30)),
                "disagreement_list": dg.MetadataValue.md(markdown.table(result.disagreements, max_rows=30)),
            }
        ),
        check_results=[
            ACCOUNTING.result("creative_dna", counted),
            TENANT_ISOLATION.result("creative_dna", isolated),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="creative_dna_rejected",
        value=result.set_aside,
        metadata=display_metadata(
            {
                "set_aside": len(result.set_aside),
                "reasons": dg.MetadataValue.md(markdown.table(result.set_aside, max_rows=30)),
            }
        ),
    )
