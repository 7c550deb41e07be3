"""``budget_plans`` [client] and ``budget_ledger`` [client]: promote decisions become budget plans, and the
SafeExecutor steps due plans through its limits, writing every planned and executed change to the ledger
(``lib/actions``: budget_plans, safe_executor, budget_ledger, ledger_audit).

``budget_plans`` follows ``experiment_decisions`` through automation. Only the newest plan of an experiment is
active: an earlier ready plan of the same experiment (a reversed promotion) is marked superseded and never stepped
again. Ad set budgets and learning stages come from Meta in live mode; in a dry run on export files, which carry
neither, an ad set's budget is its newest day's spend and its learning stage unknown (``adsets_from_spend``).

``budget_ledger`` is stepped by ``budget_schedule`` every 15 minutes (``budget_job``, pool ``meta_budget``: one
executor at a time), by ``optimizer-pipeline budget rollback`` and from the UI. The ledger file
``<home>/data/budget_ledger/<client>.parquet`` is appended by the executor itself before and after every call (so no
call is ever without its audit row); the asset's materialisation reports what the run wrote and re-checks every limit
from the ledger alone (``within_limits``, blocking). Dry run (the default) sends nothing and does not wait between
calls; live mode waits 3-18 s between calls.
"""

import json
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import pandas as pd

from optimizer_pipeline.defs.actions.group import GROUP, TABLE_KINDS
from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION, WITHIN_LIMITS
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.actions.budget_ledger import BudgetLedger, ledger_path
from optimizer_pipeline.lib.actions.budget_plans import (
    PLAN_COLUMNS,
    AdSetState,
    adsets_from_spend,
    plan_budgets,
    plan_from_record,
    plan_record,
)
from optimizer_pipeline.lib.actions.ledger_audit import within_limits
from optimizer_pipeline.lib.actions.safe_executor import ROLLBACK_STEP, SafeExecutor
from optimizer_pipeline.lib.ads.meta_adsets import MetaAdSetsConfig, read_adsets
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.decisions.experiment_registry import load_experiments
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.ads import MetaAdsSource
from optimizer_pipeline.resources.budgets import BudgetExecutor
from optimizer_pipeline.resources.parquet_io import previous_table, read_asset
from optimizer_pipeline.resources.registry import ClientRegistry

SUPERSEDED = "superseded"
LEDGER_PREVIEW = ["at", "adset_id", "status", "step", "before", "after", "limit", "explanation"]


def account_of(slug: str, meta_account: str | None) -> str:
    """The ad account a client's plans run in: its Meta account, else a name for its export-file account."""
    return f"act_{str(meta_account).removeprefix('act_')}" if meta_account else f"{slug}-exports"


def _adset_states(
    ad_rows: pd.DataFrame, account: str, before: object, executor: BudgetExecutor, meta: MetaAdsSource
) -> list[AdSetState]:
    """Live: budgets and learning stages read from Meta; dry run: the export-file estimate."""
    if executor.mode != "live":
        return adsets_from_spend(ad_rows, account, before)
    ids = sorted(set(ad_rows["adset_id"].dropna().astype(str)))
    config = MetaAdSetsConfig(
        account_id=account.removeprefix("act_"),
        access_token=str(meta.access_token),
        graph_url=meta.graph_url,
        api_version=meta.api_version or None,
    )
    return [
        AdSetState(s.id, account, float(s.daily_budget), s.learning_status or "SUCCESS")
        for s in read_adsets(config, ids)
        if s.daily_budget
    ]


def _with_superseded(plans: pd.DataFrame) -> pd.DataFrame:
    """Every ready plan but the newest of its experiment becomes superseded."""
    if plans.empty:
        return plans
    ordered = plans.sort_values("decided_at", kind="mergesort")
    newest = ordered.groupby("experiment_id")["plan_id"].transform("last").reindex(plans.index)
    old_ready = (plans["plan_id"] != newest) & (plans["status"] == "ready")
    return plans.assign(status=plans["status"].where(~old_ready, SUPERSEDED))


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    code_version="budget-plans-v1",
    dagster_type=CHECKED_VALUE,
    ins={"experiment_decisions": dg.AssetIn(), "ad_performance": dg.AssetIn()},
    check_specs=[
        TENANT_ISOLATION.spec(
            "budget_plans", CLIENT, "Compares each plan's experiment_id with the client's experiments file."
        )
    ],
    description="One row per budget plan: a promote decision's target daily budgets per ad set (60/40 now, 70/30 "
    "after 1 h, 80/20 after 2 h), or why money does not move yet (observe: a young or low-spend winner; held: an ad "
    "set learning, SRM or a guardrail); superseded when a newer decision of the experiment replaced it.",
)
def budget_plans(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    executor: BudgetExecutor,
    meta_ads: MetaAdsSource,
    io_manager: dg.ResourceParam[dg.IOManager],
    experiment_decisions: pd.DataFrame,
    ad_performance: pd.DataFrame,
) -> dg.MaterializeResult:
    """Plans for the latest decision of every experiment, kept beside the earlier plans."""
    slug = str(context.partition_key)
    settings = registry.load().client(slug).decisions
    experiments = (
        {e.id: e for e in load_experiments(settings.experiments_file, timezone_name=settings.timezone)}
        if settings.experiments_file
        else {}
    )
    account = account_of(slug, settings.meta_ad_account_id)
    latest = (
        experiment_decisions.sort_values(["look_at", "look_index"], kind="mergesort").groupby("experiment_id").tail(1)
        if len(experiment_decisions)
        else experiment_decisions
    )
    records = []
    for row in latest.to_dict("records"):
        exp = experiments.get(str(row["experiment_id"]))
        if exp is None or row["decision"] not in ("promote", "blocked-srm", "blocked-guardrail"):
            continue
        decided = pd.Timestamp(str(row.get("decided_at") or row["look_at"])).date()
        states = _adset_states(ad_performance, account, decided, executor, meta_ads)
        plan = plan_budgets(slug, row, exp, ad_performance, states)
        if plan is not None:
            records.append(plan_record(plan))
    previous = previous_table(context, io_manager, "budget_plans")
    fresh = pd.DataFrame(records, columns=list(PLAN_COLUMNS))
    table = fresh if previous is None or previous.empty else pd.concat([previous, fresh], ignore_index=True)
    table = _with_superseded(table.drop_duplicates("plan_id", keep="last").reset_index(drop=True))
    isolated = foreign_rows(table["experiment_id"], set(experiments), compared="experiment_id vs experiments file")
    counts = table["status"].value_counts().to_dict() if len(table) else {}
    shown = ["plan_id", "experiment_id", "winner", "status", "reason"]
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(
            {
                "status": "ok" if settings.experiments_file else "no experiments file configured",
                "plans": len(table),
                "ready": int(counts.get("ready", 0)),
                "account": account,
                "budget_source": "Meta ad sets" if executor.mode == "live" else "newest day's spend (dry run)",
                "preview": dg.MetadataValue.md(markdown.table(table[shown], max_rows=20)),
            }
        ),
        check_results=[TENANT_ISOLATION.result("budget_plans", isolated)],
    )


class LedgerRun(dg.Config):
    """``at``: the executor's clock for this run (ISO 8601; default now; the demo and tests replay time).
    ``rollback``: plan ids to roll back (through the same limits; later runs finish what one run cannot)."""

    at: str | None = None
    rollback: list[str] | None = None


def _clock(config: LedgerRun) -> datetime:
    if not config.at:
        return datetime.now(UTC)
    t = datetime.fromisoformat(config.at)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dg.asset(
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds={"parquet"},
    pool="meta_budget",
    code_version="budget-ledger-v1",
    deps=["budget_plans"],
    check_specs=[
        WITHIN_LIMITS.spec("budget_ledger", CLIENT),
        TENANT_ISOLATION.spec("budget_ledger", CLIENT, "Compares each ledger row's client column with the partition."),
    ],
    description="The SafeExecutor's append-only ledger <home>/data/budget_ledger/<client>.parquet: every planned, "
    "executed, deferred, failed and rolled-back budget change with before / after, the limit that shaped it, its "
    "explanation and the decision it serves. Dry run by default (OPTIMIZER_BUDGET_MODE=live sends through Meta).",
)
def budget_ledger(
    context: dg.AssetExecutionContext,
    config: LedgerRun,
    registry: ClientRegistry,
    executor: BudgetExecutor,
    meta_ads: MetaAdsSource,
) -> dg.MaterializeResult:
    """Step every due plan (and every rollback asked for or still in progress) once, within the limits."""
    slug = str(context.partition_key)
    settings = registry.load().client(slug).decisions
    account = account_of(slug, settings.meta_ad_account_id)
    plans_table = _stored_plans(executor.home, slug)
    plans = [plan_from_record(r) for r in plans_table.to_dict("records")]
    by_id = {p.plan_id: p for p in plans}
    requested = set(config.rollback or [])
    unknown = sorted(requested - set(by_id))
    if unknown:
        raise dg.Failure(description=f"no budget plan {unknown} for client {slug!r}")
    now = _clock(config)
    ledger = BudgetLedger(ledger_path(executor.home, slug))
    rng = np.random.default_rng([executor.seed, int(now.timestamp())])
    waits = {"sleep": lambda _seconds: None} if executor.mode == "dry_run" else {}
    safe = SafeExecutor(executor.limits(), lambda: now, rng, executor.sender(meta_ads, account), **waits)
    budgets = {a: b for p in plans for a, b in p.before.items()}
    start = len(ledger.rows())
    history = ledger.rows()
    rolling = requested | set(history.loc[history["step"] == ROLLBACK_STEP, "plan_id"])
    # a plan being rolled back is never stepped forward again; then every due step, then every unfinished rollback
    safe.run(ledger, [p for p in plans if p.plan_id not in rolling], budgets)
    for plan_id in sorted(rolling):
        if not safe.rolled_back(ledger, plan_id) or plan_id in requested:
            safe.rollback(ledger, by_id[plan_id], budgets)
    rows = ledger.rows()
    written = rows.iloc[start:]
    verdict = within_limits(rows, executor.limits())
    counts = written["status"].value_counts().to_dict() if len(written) else {}
    return dg.MaterializeResult(
        metadata=display_metadata(
            {
                "mode": executor.mode,
                "at": now.isoformat(),
                "ledger": dg.MetadataValue.path(str(ledger_path(executor.home, slug))),
                "rows_written": len(written),
                "ledger_rows": len(rows),
                "written": json.dumps(counts, sort_keys=True),
                "plans_ready": sum(p.status == "ready" for p in plans),
                "preview": dg.MetadataValue.md(markdown.table(written[LEDGER_PREVIEW], max_rows=20)),
            }
        ),
        check_results=[
            WITHIN_LIMITS.result("budget_ledger", verdict),
            TENANT_ISOLATION.result("budget_ledger", foreign_rows(rows["client"], [slug], compared="client column")),
        ],
    )


def _stored_plans(home: str, slug: str) -> pd.DataFrame:
    """The client's stored ``budget_plans`` (empty before the first plan)."""
    table = read_asset(home, "budget_plans", slug)
    return table if table is not None else pd.DataFrame(columns=list(PLAN_COLUMNS))


budget_job = dg.define_asset_job(
    name="budget_job",
    selection=dg.AssetSelection.assets("budget_ledger"),
    description="Step one client's due budget plans and rollbacks through the SafeExecutor (dry run by default).",
)


@dg.schedule(
    name="budget_schedule",
    cron_schedule="*/15 * * * *",
    job=budget_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 15 minutes: step each client's due budget plans (run key = client + tick).",
)
def budget_schedule(context: dg.ScheduleEvaluationContext, registry: ClientRegistry) -> dg.SkipReason | list:
    when = context.scheduled_execution_time
    clients = {c.slug for c in registry.load().clients if c.decisions.experiments_file is not None}
    due = sorted(clients & set(context.instance.get_dynamic_partitions(CLIENT.name)))
    if not due:
        return dg.SkipReason("no client with an experiments file")
    return [
        dg.RunRequest(
            run_key=f"{slug}:{when.isoformat()}",
            partition_key=slug,
            run_config={"ops": {"budget_ledger": {"config": {"at": when.isoformat()}}}},
            tags={"optimizer/trigger": "budget_schedule"},
        )
        for slug in due
    ]
