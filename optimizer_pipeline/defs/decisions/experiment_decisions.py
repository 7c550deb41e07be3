"""``experiment_decisions`` / ``experiment_variants`` [client]: the decision trail of the client's A/B tests of ads.

Thin wiring around ``lib/decisions/experiment_decision.py``. A materialisation decides one or more *looks* (the
6-hourly schedule passes its tick's time; ``optimizer-pipeline decide`` and a UI materialisation use the current
hour; the demo replays the simulated days' looks in one run). The stored table is the whole trail: earlier looks are
kept, and deciding a look again (a rerun) replaces that look and every later one, recomputed from the state stored
before it, so reruns write identical rows. Each look uses only complete days before it, and the over-dispersion
factor (VIF) is re-estimated from the client's own history before that look (``history_vif``): the daily pairs of
its A/A experiments (``aa: true``) when there are at least 10, else the between-day dispersion of its ads.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.checks import DECISION_VALIDITY, TENANT_ISOLATION
from optimizer_pipeline.defs.decisions.group import GROUP, TABLE_KINDS
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.decisions.decision_checks import decision_validity
from optimizer_pipeline.lib.decisions.decision_rules import DECISION_COLUMNS, DECISIONS, VARIANT_COLUMNS
from optimizer_pipeline.lib.decisions.experiment_decision import aa_daily_pairs, decide_look
from optimizer_pipeline.lib.decisions.experiment_registry import ExperimentRegistryError, load_experiments
from optimizer_pipeline.lib.decisions.overdispersion import history_vif
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.parquet_io import previous_table
from optimizer_pipeline.resources.registry import ClientRegistry

SCHEDULED_TIME_TAG = "dagster/scheduled_execution_time"
PREVIEW_COLUMNS = ["experiment_id", "decision", "winner", "variant", "lift", "lift_low", "lift_high", "reason"]


class DecisionLooks(dg.Config):
    """The looks to decide (ISO 8601 times; without an offset: UTC). Unset: the schedule tick's time, else the
    current hour."""

    looks: list[str] | None = None


def parse_look(text: str) -> datetime:
    """An ISO time as an aware datetime (UTC when it has no offset)."""
    t = datetime.fromisoformat(text)
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def run_looks(context: dg.AssetExecutionContext, config: DecisionLooks) -> list[datetime]:
    """The looks this run decides, oldest first."""
    if config.looks:
        return sorted({parse_look(t) for t in config.looks})
    scheduled = context.run.tags.get(SCHEDULED_TIME_TAG)
    if scheduled:
        return [parse_look(scheduled)]
    return [datetime.now(UTC).replace(minute=0, second=0, microsecond=0)]


def _before(table: pd.DataFrame | None, first: datetime, columns: list[str]) -> pd.DataFrame:
    """The stored rows of looks before ``first`` (a rerun replaces ``first`` and every later look)."""
    if table is None or table.empty:
        return pd.DataFrame(columns=columns)
    at = pd.to_datetime(table["look_at"], utc=True)
    return table[at < pd.Timestamp(first)].reset_index(drop=True)


def _latest(decisions: pd.DataFrame) -> pd.DataFrame:
    if decisions.empty:
        return decisions
    return decisions.sort_values(["look_at", "look_index"], kind="mergesort").drop_duplicates(
        "experiment_id", keep="last"
    )


@dg.multi_asset(
    outs={
        "experiment_decisions": dg.AssetOut(
            description="One row per running experiment and look: continue, promote, stop-no-difference, "
            "blocked-srm, blocked-guardrail or insufficient-data, with the reason, a plain-words explanation, the "
            "confidence, the lift and its repeated interval, SRM p-values, the VIF, guardrails and the Bayesian "
            "chance to win (shown, never deciding). The whole trail; the state column carries what the next look "
            "needs.",
            kinds=TABLE_KINDS,
        ),
        "experiment_variants": dg.AssetOut(
            description="One row per experiment, look and variant: counts, metric, lift and repeated interval, "
            "boundary, Holm level and guardrail changes.",
            kinds=TABLE_KINDS,
        ),
    },
    ins={"ad_performance": dg.AssetIn()},
    check_specs=[
        DECISION_VALIDITY.spec("experiment_decisions", CLIENT),
        TENANT_ISOLATION.spec(
            "experiment_decisions", CLIENT, "Compares each row's experiment_id with the client's experiments file."
        ),
        TENANT_ISOLATION.spec(
            "experiment_variants", CLIENT, "Compares each row's experiment_id with the client's experiments file."
        ),
    ],
    partitions_def=CLIENT,
    group_name=GROUP,
    code_version="experiment-decisions-v2",
)
def experiment_decisions(
    context: dg.AssetExecutionContext,
    config: DecisionLooks,
    registry: ClientRegistry,
    io_manager: dg.ResourceParam[dg.IOManager],
    ad_performance: pd.DataFrame,
) -> Iterator[dg.MaterializeResult]:
    """Decide the run's looks after the stored trail; earlier looks are kept as they are."""
    slug = str(context.partition_key)
    settings = registry.load().client(slug).decisions
    looks = run_looks(context, config)
    stored = previous_table(context, io_manager, "experiment_decisions")
    stored_variants = previous_table(context, io_manager, "experiment_variants")
    kept = _before(stored, looks[0], DECISION_COLUMNS)
    kept_variants = _before(stored_variants, looks[0], VARIANT_COLUMNS)
    new_rows, new_variants, vif = [], [], None
    running: list[str] = []
    declared: set[str] = set()
    if settings.experiments_file is None:
        status = "no experiments: add decisions.experiments_file for this client in the registry"
    else:
        try:
            experiments = load_experiments(settings.experiments_file, timezone_name=settings.timezone)
        except ExperimentRegistryError as exc:
            raise dg.Failure(description=str(exc)) from exc
        running = [e.id for e in experiments if e.status == "running" and e.start is not None]
        declared = {e.id for e in experiments}
        latest = _latest(kept)
        days = pd.to_datetime(ad_performance["date"]).dt.date if len(ad_performance) else pd.Series([], dtype=object)
        for look in looks:
            local_day = look.astimezone(settings.zone).date()
            vif = history_vif(
                ad_performance[(days < local_day).to_numpy()],
                aa_daily_pairs(experiments, ad_performance, before=local_day),
            )
            result = decide_look(
                experiments, ad_performance, look, vif, latest, timezone=settings.timezone, pipeline=settings.pipeline
            )
            new_rows.append(result.decisions)
            new_variants.append(result.variants)
            latest = _latest(pd.concat([latest, result.decisions], ignore_index=True))
        status = "ok" if running else "no running experiment"
    decided = pd.concat(new_rows, ignore_index=True) if new_rows else pd.DataFrame(columns=DECISION_COLUMNS)
    trail = pd.concat([kept, decided], ignore_index=True) if len(kept) else decided
    variants_new = pd.concat(new_variants, ignore_index=True) if new_variants else pd.DataFrame(columns=VARIANT_COLUMNS)
    variant_trail = pd.concat([kept_variants, variants_new], ignore_index=True) if len(kept_variants) else variants_new
    verdict = decision_validity(decided, running)
    compared = "experiment_id vs the client's experiments file"
    isolated = foreign_rows(trail["experiment_id"], declared, compared=compared)
    isolated_variants = foreign_rows(variant_trail["experiment_id"], declared, compared=compared)
    now = _latest(trail)
    counts = {d: int((now["decision"] == d).sum()) for d in DECISIONS if len(now) and (now["decision"] == d).any()}
    context.log.info(f"{slug}: decided {len(looks)} look(s), {len(decided)} rows; latest: {counts}")
    yield dg.MaterializeResult(
        asset_key="experiment_decisions",
        value=trail.reset_index(drop=True),
        metadata=display_metadata(
            {
                "status": status,
                "looks_decided": len(looks),
                "first_look": looks[0].isoformat(),
                "last_look": looks[-1].isoformat(),
                "running_experiments": len(running),
                "rows": len(trail),
                "vif": vif.value if vif is not None else float("nan"),
                "vif_source": vif.detail if vif is not None else "",
                "latest_decisions": dg.MetadataValue.md(markdown.counts(counts, key="decision", value="experiments")),
                "preview": dg.MetadataValue.md(markdown.table(now[PREVIEW_COLUMNS], max_rows=20)),
            }
        ),
        check_results=[
            DECISION_VALIDITY.result("experiment_decisions", verdict),
            TENANT_ISOLATION.result("experiment_decisions", isolated),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="experiment_variants",
        value=variant_trail.reset_index(drop=True),
        metadata=display_metadata({"rows": len(variant_trail), "looks_decided": len(looks)}),
        check_results=[TENANT_ISOLATION.result("experiment_variants", isolated_variants)],
    )
