"""Named asset jobs, one per partitions definition of the graph, so every run says what it is.

``hashtag_refresh_schedule`` starts ``tiktok_refresh_job``; the demo runs what automation requests through these
jobs (a subset of the job per run), so its runs are listed under a name in the UI instead of
``__ASSET_JOB``/``__ephemeral_asset_job__``. The test loop's runtime jobs live beside their sensors
(``conversion_loop_job`` in ``defs/testloop/inbox.py``, ``influencer_status_job`` in ``defs/testloop/status_log.py``).
"""

import dagster as dg

tiktok_refresh_job = dg.define_asset_job(
    name="tiktok_refresh_job",
    selection=dg.AssetSelection.assets("tiktok_videos", "tiktok_videos_rejected"),
    description="Scrape one client_hashtag partition again (started by hashtag_refresh_schedule); automation then "
    "brings its buckets, features, models, patterns and rollups up to date.",
)

market_bucket_job = dg.define_asset_job(
    name="market_bucket_job",
    selection=dg.AssetSelection.assets(
        "bucket_videos",
        "bucket_videos_excluded",
        "video_features",
        "video_features_quarantine",
        "bucket_model",
        "bucket_model_importance",
        "bucket_patterns",
    ),
    description="One client_hashtag × duration_bucket partition: selected videos, features, models and patterns.",
)

hashtag_intelligence_job = dg.define_asset_job(
    name="hashtag_intelligence_job",
    selection=dg.AssetSelection.assets("bucket_intelligence", "creative_reports"),
    description="Rank the duration buckets of one client_hashtag partition and write its ten creative reports.",
)

client_rollup_job = dg.define_asset_job(
    name="client_rollup_job",
    selection=dg.AssetSelection.assets("cross_hashtag_patterns", "competitor_hashtag_strategy", "client_overview"),
    description="One client's rollups over its hashtags: cross-hashtag patterns, competitor hashtag strategy and the "
    "client overview page.",
)

testloop_setup_job = dg.define_asset_job(
    name="testloop_setup_job",
    selection=dg.AssetSelection.assets(
        "creatives",
        "creatives_rejected",
        "creative_dna",
        "creative_dna_rejected",
        "influencers",
        "influencers_rejected",
        "traffic_sources",
        "brief_validation",
        "brief_validation_rejected",
    ),
    description="One client's creatives (with their autopsy: tags derived from the videos), influencer roster, "
    "traffic sources (UTM links) and brief-test verdicts (brief_validation) from its registry files.",
)

actions_job = dg.define_asset_job(
    name="actions_job",
    selection=dg.AssetSelection.assets("budget_plans", "fatigue_signals", "blended_scores"),
    description="One client's budget plans from its decisions, fatigue signals and blended scores from its ad "
    "metrics (run by automation).",
)

#: The jobs that run what automation requests, in the order a key is looked up (first job that selects it wins);
#: ``conversion_loop_job`` (by name) covers attributed_conversions, pattern_posteriors and test_recommendations,
#: ``ad_metrics_job`` (``defs/decisions/ad_inbox.py``) covers ad_alerts, ``memory_job`` (``defs/actions/memory.py``)
#: covers promotion_history, winner_index, compound_learning and winner_insights.
AUTOMATION_JOB_NAMES = (
    "tiktok_refresh_job",
    "market_bucket_job",
    "hashtag_intelligence_job",
    "client_rollup_job",
    "testloop_setup_job",
    "conversion_loop_job",
    "ad_metrics_job",
    "actions_job",
    "memory_job",
)
