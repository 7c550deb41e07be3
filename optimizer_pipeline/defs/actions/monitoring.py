"""``fatigue_signals`` and ``blended_scores`` [client]: per-ad readings of ``ad_performance`` that decisions and the
Thompson sampler use (``lib/actions/fatigue.py``, ``lib/actions/blended_scores.py``). Both follow every update of the
client's ad metrics through automation."""

from datetime import UTC, datetime, time

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.actions.group import GROUP, TABLE_KINDS
from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.actions.blended_scores import SCORE_COLUMNS
from optimizer_pipeline.lib.actions.blended_scores import blended_scores as score_ads
from optimizer_pipeline.lib.actions.fatigue import OUTPUT_COLUMNS
from optimizer_pipeline.lib.actions.fatigue import fatigue_signals as assess_fatigue
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import Verdict, foreign_rows
from optimizer_pipeline.lib.decisions.overdispersion import history_vif
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.registry import ClientRegistry

_OWN_ADS = "Compares each row's ad_id with the ads of the client's own ad_performance."


def _isolated(table: pd.DataFrame, ad_performance: pd.DataFrame) -> Verdict:
    own = set(ad_performance["ad_id"].astype(str)) if len(ad_performance) else set()
    return foreign_rows(table["ad_id"].astype(str), own, compared="ad_id vs ad_performance")


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    code_version="fatigue-signals-v1",
    dagster_type=CHECKED_VALUE,
    ins={"ad_performance": dg.AssetIn()},
    check_specs=[TENANT_ISOLATION.spec("fatigue_signals", CLIENT, _OWN_ADS)],
    description="Per ad: fresh / watch / fatigued with the evidence (frequency tiers, CTR decline vs its first week, "
    "CPM rise, and Page's CUSUM on daily clicks calibrated to 5 % false alarms per 30 days at the client's VIF), a "
    "recommendation (monitor / refresh creative / pause now) and the decay weight applied to fatigued patterns.",
)
def fatigue_signals(context: dg.AssetExecutionContext, ad_performance: pd.DataFrame) -> dg.MaterializeResult:
    """Fatigue of every ad with delivery, judged against its own early baseline."""
    if ad_performance.empty:
        table, vif = pd.DataFrame(columns=list(OUTPUT_COLUMNS)), None
    else:
        vif = history_vif(ad_performance)
        table = assess_fatigue(ad_performance, vif=vif.value)
    counts = table["status"].value_counts().to_dict() if len(table) else {}
    context.log.info(f"{context.partition_key}: fatigue {counts}")
    shown = ["ad_id", "status", "recommendation", "decay_weight", "ctr_decline", "cpm_rise", "evidence"]
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(
            {
                "status": "ok" if len(table) else "no ad metrics yet",
                "ads": len(table),
                "fatigued": int(counts.get("fatigued", 0)),
                "watch": int(counts.get("watch", 0)),
                "vif": vif.value if vif is not None else float("nan"),
                "preview": dg.MetadataValue.md(markdown.table(table[shown], max_rows=20)),
            }
        ),
        check_results=[TENANT_ISOLATION.result("fatigue_signals", _isolated(table, ad_performance))],
    )


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    code_version="blended-scores-v1",
    dagster_type=CHECKED_VALUE,
    ins={"ad_performance": dg.AssetIn()},
    check_specs=[TENANT_ISOLATION.spec("blended_scores", CLIENT, _OWN_ADS)],
    description="Per ad: CTR and (synthetic, from the client's sales pipeline when configured) ROAS as indices to "
    "the client's median ad, blended by ad age (mostly CTR in the first hours, 90 % ROAS after 48 h), with an "
    "explanation; for service businesses whose sales lag.",
)
def blended_scores(
    context: dg.AssetExecutionContext, registry: ClientRegistry, ad_performance: pd.DataFrame
) -> dg.MaterializeResult:
    """Scores as of the end of the newest reporting day."""
    settings = registry.load().client(str(context.partition_key)).decisions
    if ad_performance.empty:
        table, as_of = pd.DataFrame(columns=list(SCORE_COLUMNS)), None
    else:
        newest = pd.to_datetime(ad_performance["date"]).max().date()
        as_of = datetime.combine(newest, time(23, 59), tzinfo=settings.zone).astimezone(UTC)
        table = score_ads(ad_performance, settings, as_of)
    shown = ["ad_id", "age_hours", "ctr_index", "roas_index", "weight_roas", "score", "explanation"]
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(
            {
                "status": "ok" if len(table) else "no ad metrics yet",
                "as_of": as_of.isoformat() if as_of else "",
                "revenue_source": "sales pipeline (decisions.pipeline)" if settings.pipeline else "observed revenue",
                "ads": len(table),
                "preview": dg.MetadataValue.md(markdown.table(table[shown], max_rows=20)),
            }
        ),
        check_results=[TENANT_ISOLATION.result("blended_scores", _isolated(table, ad_performance))],
    )
