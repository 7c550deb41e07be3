"""The act loop on the sample ad account: the promoted winner's dry-run budget plan stepped by ``budget_job`` at
simulated times (so the 6 h and 24 h velocity caps show), the ledger printed with each step's explanation, then
fatigue and blended scores. Also ``optimizer-pipeline budget rollback``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from optimizer_pipeline.cli.materialize import RunLog, run_job
from optimizer_pipeline.lib.actions.budget_ledger import read_ledger
from optimizer_pipeline.lib.actions.budget_limits import to_cents
from optimizer_pipeline.lib.actions.safe_executor import SafeExecutor
from optimizer_pipeline.resources.parquet_io import read_asset

#: Hours after the promotion at which the demo steps the executor: the plan's 0 / 1 / 2 h steps, then the times
#: at which the 6 h and 24 h velocity caps let the rest through.
DEMO_STEP_HOURS = (0.0, 1.0, 2.0, 6.5, 13.0, 24.5, 31.0, 49.0)


def ledger_run_config(at: datetime, rollback: list[str] | None = None) -> dict:
    """Run config of one ``budget_ledger`` step at ``at`` (and the plans to roll back)."""
    return {"ops": {"budget_ledger": {"config": {"at": at.isoformat(), "rollback": rollback or []}}}}


def run_budget_demo(instance: dg.DagsterInstance, home, *, client: str, defs: dg.Definitions, log: RunLog) -> str:
    """Step the ready plans at :data:`DEMO_STEP_HOURS` after each promotion and summarise ledger, fatigue, scores."""
    plans = read_asset(home, "budget_plans", client)
    if plans is None or plans.empty:
        return f"budgets [{client}]: no budget plan (no promote decision)"
    ready = plans[plans["status"] == "ready"]
    lines = [f"budgets [{client}]: {len(plans)} plan(s): " + "; ".join(f"{r.experiment_id}: {r.status} ({r.reason})"
                                                                      for r in plans.itertuples())]  # fmt: skip
    for plan in ready.itertuples():
        decided = pd.Timestamp(plan.decided_at).to_pydatetime().astimezone(UTC)
        for hours in DEMO_STEP_HOURS:
            run_job(
                defs,
                instance,
                "budget_job",
                client,
                log,
                run_config=ledger_run_config(decided + timedelta(hours=hours)),
            )
    ledger = read_ledger(home, client)
    executed = ledger[ledger["status"] == "executed"]
    lines.append(f"  dry-run ledger: {len(ledger)} rows, {len(executed)} changes that would have been sent")
    for r in executed.itertuples():
        lines.append(f"    {str(r.at)[:16]} {r.adset_id}: {r.before:.2f} -> {r.after:.2f}  {r.explanation}")
    fatigue = read_asset(home, "fatigue_signals", client)
    if fatigue is not None and len(fatigue):
        counts = fatigue["status"].value_counts().to_dict()
        lines.append(f"  fatigue: {counts}")
    scores = read_asset(home, "blended_scores", client)
    if scores is not None and len(scores):
        best = scores.iloc[0]
        lines.append(f"  blended scores: best {best['ad_id']} score {best['score']:.2f} ({best['explanation']})")
    return "\n".join(lines)


def rollback(client: str, plan: str, at: datetime | None) -> int:
    """``optimizer-pipeline budget rollback``: one executor step that reverts ``plan`` through the limits (run it
    again, or let ``budget_schedule`` continue, until the ledger shows every ad set back at its prior budget)."""
    from optimizer_pipeline.definitions import load_definitions
    from optimizer_pipeline.defs.resources import data_home

    now = at or datetime.now(UTC)
    defs = load_definitions()
    with dg.DagsterInstance.get() as instance:
        if client not in instance.get_dynamic_partitions("client"):
            print(f"error: client {client!r} is not registered")
            return 1
        try:
            run_job(
                defs, instance, "budget_job", client, RunLog(), run_config=ledger_run_config(now, [plan]), trigger="cli"
            )
        except RuntimeError as exc:
            print(f"error: {exc} (is {plan!r} one of the client's budget plans?)")
            return 1
    ledger = read_ledger(data_home(), client)
    mine = ledger[(ledger["plan_id"] == plan) & (ledger["step"] == -1)]
    for r in mine[mine["status"] != "planned"].itertuples():
        print(f"{str(r.at)[:16]} {r.adset_id}: {r.before:.2f} -> {r.after:.2f} ({r.status}) {r.explanation}")
    done = all(
        to_cents(SafeExecutor.current_budget(ledger, a, {})) == to_cents(p)
        for a, p in SafeExecutor.priors(ledger, plan).items()
    )
    print(f"plan {plan}: {'rolled back' if done else 'rollback in progress (the limits split it; run again later)'}")
    return 0
