"""``ad_alerts`` [client]: performance drops, low engagement and viral outliers from ``ad_performance``, each sent
once (``lib/decisions/alerts.py`` has the rules and their false-alert rates).

The stored table is the log of every alert ever raised for the client; an alert whose ``alert_id`` (client, ad,
kind, metric, day) is already in it is never sent again, so reruns and re-dropped files send nothing new. New
alerts go to the notifier (a Slack-compatible webhook when configured) before the log is written: a failed
delivery fails the run and the alerts are sent by the next one.
"""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.decisions.group import GROUP, TABLE_KINDS
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.decisions.alerts import (
    ALERT_COLUMNS,
    alerts_markdown,
    detect_alerts,
    new_alerts,
    slack_payload,
)
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.alerts import AlertNotifier
from optimizer_pipeline.resources.parquet_io import previous_table
from optimizer_pipeline.resources.registry import ClientRegistry

#: Reporting days checked per materialisation, ending at the newest day: a week of late files is still caught.
DAYS_CHECKED = 7
LOG_COLUMNS = [*ALERT_COLUMNS, "channel"]


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    check_specs=[
        TENANT_ISOLATION.spec(
            "ad_alerts", CLIENT, "Compares each alert's ad_id with the ads of the client's own ad_performance."
        )
    ],
    group_name=GROUP,
    kinds=TABLE_KINDS,
    code_version="ad-alerts-v1",
    dagster_type=CHECKED_VALUE,
    ins={"ad_performance": dg.AssetIn()},
    description="Every ad alert raised for the client (performance drop vs the trailing 7 days with an exact test, "
    "CTR below the engagement floor, viral outliers by robust z), with severity, reason and numbers; each is sent "
    "once to the notifier (a Slack-compatible webhook when configured, else this log only).",
)
def ad_alerts(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    notifier: AlertNotifier,
    io_manager: dg.ResourceParam[dg.IOManager],
    ad_performance: pd.DataFrame,
) -> dg.MaterializeResult:
    """Detect, drop what was already sent, send the rest, append them to the log."""
    slug = str(context.partition_key)
    settings = registry.load().client(slug).decisions
    log = previous_table(context, io_manager, "ad_alerts")
    log = log if log is not None else pd.DataFrame(columns=LOG_COLUMNS)
    if len(ad_performance):
        as_of = pd.to_datetime(ad_performance["date"]).max().date()
        found = detect_alerts(ad_performance, as_of, settings, client=slug, days=DAYS_CHECKED)
    else:
        as_of, found = None, pd.DataFrame(columns=list(ALERT_COLUMNS))
    fresh = new_alerts(found, log["alert_id"])
    if len(fresh):
        notifier.send(slack_payload(fresh, title=f"Ad alerts for {slug}"))
    fresh = fresh.assign(channel=notifier.channel)
    table = pd.concat([log, fresh[LOG_COLUMNS]], ignore_index=True) if len(log) else fresh[LOG_COLUMNS]
    context.log.info(f"{slug}: {len(found)} alert(s) in the last {DAYS_CHECKED} days, {len(fresh)} new")
    counts = table["kind"].value_counts().to_dict() if len(table) else {}
    isolated = foreign_rows(
        table["ad_id"], set(ad_performance["ad_id"].astype(str)), compared="ad_id vs ad_performance"
    )
    return dg.MaterializeResult(
        value=table.reset_index(drop=True),
        metadata=display_metadata(
            {
                "status": "ok" if as_of is not None else "no ad metrics yet",
                "as_of": str(as_of or ""),
                "new_alerts": len(fresh),
                "alerts_logged": len(table),
                "channel": notifier.channel,
                "per_kind": dg.MetadataValue.md(
                    "\n".join(f"- {k}: {v}" for k, v in counts.items()) if counts else "_(none)_"
                ),
                "new": dg.MetadataValue.md(alerts_markdown(fresh, title="New alerts") if len(fresh) else "_(none)_"),
            }
        ),
        check_results=[TENANT_ISOLATION.result("ad_alerts", isolated)],
    )
