"""``influencer_status_sensor``: a change to a client's outreach status log re-materialises ``traffic_sources`` for
that client (and the posteriors and recommendations built on it, once the client has conversions).

``optimizer-pipeline influencer-status`` only appends to ``<home>/testloop/<client>/status_log.jsonl``; without this
sensor a link marked ``posted`` would stay out of the posteriors until someone materialised ``traffic_sources`` by
hand. The tick hashes each log (small files) and compares it with the cursor; it parses nothing else.
Cursor: ``{client: fingerprint of the log handed to the last run}``. Run key: the client plus that fingerprint, so
a reset cursor never starts a second run for the same log content.
"""

import json

import dagster as dg

from optimizer_pipeline.lib.testloop.influencer_status import log_fingerprint
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.influencer_status import InfluencerStatusLog

#: What a status change recomputes: the traffic sources, and what reads them.
STATUS_ASSETS = ("traffic_sources", "pattern_posteriors", "test_recommendations")
#: ``traffic_sources`` reads these; a client without them has nothing to apply the log to yet.
SETUP_INPUTS = ("creatives", "influencers")

influencer_status_job = dg.define_asset_job(
    name="influencer_status_job",
    selection=dg.AssetSelection.assets(*STATUS_ASSETS),
    description="Re-apply one client's outreach status log: traffic_sources, then pattern_posteriors and "
    "test_recommendations when the client has attributed conversions (started by influencer_status_sensor).",
)


def _materialized(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return instance.get_materialized_partitions(dg.AssetKey(asset))


@dg.sensor(
    name="influencer_status_sensor",
    job=influencer_status_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materialises traffic_sources (and the posteriors on it) for a client whose outreach status log "
    "changed (optimizer-pipeline influencer-status).",
)
def influencer_status_sensor(context: dg.SensorEvaluationContext, status_log: InfluencerStatusLog) -> dg.SensorResult:
    """One run per changed log; a client whose creatives / influencers were never materialised waits (its mark is not
    advanced, so the change is applied once they are)."""
    marks: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    clients = sorted(context.instance.get_dynamic_partitions(CLIENT.name))
    ready = set.intersection(*(_materialized(context.instance, a) for a in SETUP_INPUTS))
    with_conversions = _materialized(context.instance, "attributed_conversions")
    requests: list[dg.RunRequest] = []
    waiting: list[str] = []
    new_marks = {c: m for c, m in marks.items() if c in clients}  # deleted clients leave the cursor
    for client in clients:
        fingerprint = log_fingerprint(status_log.path(client))
        if fingerprint is None or fingerprint == marks.get(client):
            continue
        if client not in ready:
            waiting.append(client)
            continue
        assets = STATUS_ASSETS if client in with_conversions else STATUS_ASSETS[:1]
        requests.append(
            dg.RunRequest(
                run_key=f"{client}:status_log:{fingerprint[:20]}",
                partition_key=client,
                asset_selection=[dg.AssetKey(a) for a in assets],
                tags={"optimizer/trigger": "influencer_status"},
            )
        )
        new_marks[client] = fingerprint
    cursor = json.dumps(new_marks, sort_keys=True)
    if waiting:
        context.log.info(f"status log changed, waiting for creatives and influencers: {', '.join(waiting)}")
    if not requests:
        reason = "no status log changed" + (
            f"; waiting for creatives and influencers to be materialised: {', '.join(waiting)}" if waiting else ""
        )
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
