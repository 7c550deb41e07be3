"""Declarative automation: the asset graph keeps itself fresh once ``tiktok_videos`` or the conversions change.

A new or re-scraped ``tiktok_videos`` partition (the registry sensor adds it, ``hashtag_refresh_schedule`` re-scrapes
it) flows through the duration buckets, features, models, patterns and bucket intelligence of that hashtag only, then
into its client's cross-hashtag patterns and competitor strategy; a new conversion-events run flows to the posteriors
and recommendations. The conditions live here, once; the asset decorators name them.

``automation_sensor`` evaluates them. Dagster 1.13 creates a ``default_automation_condition_sensor`` on its own, but
with ``DefaultSensorStatus.STOPPED`` (``AutomationConditionSensorDefinition``'s default; the daemon only ticks running
sensors, ``_daemon/asset_daemon.py``), so nothing would happen until someone switched it on in the UI. Declaring our
own sensor over every asset replaces the default one and starts running with the daemon.
"""

import dagster as dg

#: One partition re-runs when an input partition it reads was updated (or it newly went missing, e.g. a new
#: hashtag), once none of its inputs is missing or running, and never past a failed blocking (ERROR) check upstream.
#: Partition mappings keep it narrow: a new ``glowfuel__nutrition`` reaches the buckets of ``glowfuel__nutrition``
#: only (``bucket_patterns`` reads every bucket of its hashtag, so all five of that hashtag re-run, no other).
PROPAGATE = (dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()).with_label(
    "eager and upstream blocking checks passed"
)


def client_rollup(on: str) -> dg.AutomationCondition:
    """For a [client] asset that reads ``on`` through ``AllPartitionMapping`` (no built-in mapping selects one
    client's client_hashtag keys).

    ``eager()`` does the wrong thing there: ``any_deps_missing`` and the blocking-check test would look at *every*
    client's partitions, so one never-scraped hashtag or one failed check anywhere would stop every client's rollup
    for good. This condition instead fires when ``on`` has newly updated partitions (not merely requested in this
    tick: those runs could finish after ours) and none is in progress, so a wave of bucket runs ends in one rollup
    run. Missing partitions do not block: the asset reads what is stored and names what is missing in its status.
    The cost of the ``AllPartitionMapping`` remains: an update for one client also re-runs the other clients'
    rollups, each a cheap read of a few Parquet files.
    """
    updated = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).allow(
        dg.AssetSelection.assets(on)
    )
    return (
        updated.since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"{on} updated and none in progress")


def propagate_ignoring(*assets: str) -> dg.AutomationCondition:
    """PROPAGATE for an asset that reads ``assets`` only when they are stored (through ``load_stored``, e.g. another
    partitions definition or an optional input): they never block it and their updates alone do not re-run it; the
    asset picks them up at its next run."""
    return PROPAGATE.ignore(dg.AssetSelection.assets(*assets)).with_label(
        f"eager and upstream blocking checks passed ({', '.join(assets)} ignored)"
    )


def propagate_with_optional(*assets: str) -> dg.AutomationCondition:
    """PROPAGATE, plus optional inputs ``assets``: an update of one re-runs the asset, their absence never blocks it
    (``test_recommendations`` follows ``fatigue_signals``, ``creatives`` and ``creative_dna`` this way; plain
    PROPAGATE would stay blocked while a client has no fatigue signals)."""
    optional = dg.AssetSelection.assets(*assets)
    optional_updated = (
        dg.AutomationCondition.any_deps_updated().allow(optional).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing().ignore(optional)
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    )
    return (PROPAGATE.ignore(optional) | optional_updated).with_label(
        f"eager and upstream blocking checks passed ({', '.join(assets)} optional)"
    )


automation_sensor = dg.AutomationConditionSensorDefinition(
    name="automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition (defs/automation.py) and requests what is due: the "
    "downstream of a new tiktok_videos partition, of new conversion events and of changed traffic sources.",
)
