"""Console script ``optimizer-pipeline`` (also ``python -m optimizer_pipeline``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="optimizer-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED

    demo = sub.add_parser("demo", help="build the sample corpus and materialise every asset for the sample client")
    demo.add_argument("--home", type=Path, default=None, help="DAGSTER_HOME and data root (default: ./.dagster_home)")
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"sample corpus seed (default {DEFAULT_SEED})")
    demo.add_argument("--scale", type=float, default=1.0, help="sample corpus size factor (default 1.0; <1 is quicker)")

    registry = sub.add_parser("registry", help="client registry commands")
    reg_sub = registry.add_subparsers(dest="registry_command", required=True)
    sync = reg_sub.add_parser("sync", help="apply clients.yaml to the instance's dynamic partitions (no daemon)")
    sync.add_argument("--clients", type=Path, default=None, help="registry file (default: $OPTIMIZER_CLIENTS_FILE)")

    status = sub.add_parser(
        "influencer-status", help="record an influencer's outreach status change (validated, appended to the log)"
    )
    status.add_argument("--client", required=True, help="client slug, e.g. glowfuel")
    status.add_argument("--handle", required=True, help="TikTok handle, with or without '@'")
    status.add_argument("--creative", required=True, help="creative id assigned to the influencer")
    status.add_argument("--status", required=True, help="potential | contacted | agreed | posted | rejected")
    status.add_argument("--note", default="", help="free text kept with the entry (no e-mail addresses, please)")
    status.add_argument("--home", type=Path, default=None, help="data home (default: $OPTIMIZER_HOME, $DAGSTER_HOME)")
    status.add_argument("--clients", type=Path, default=None, help="registry file (default: $OPTIMIZER_CLIENTS_FILE)")

    decide = sub.add_parser("decide", help="one look at a client's A/B tests of ads now (or --at), printed")
    decide.add_argument("--client", required=True, help="client slug, e.g. glowfuel")
    decide.add_argument("--experiment", default=None, help="print only this experiment's decision")
    decide.add_argument("--at", default=None, help="the look's time, ISO 8601 (default: now; without offset: UTC)")

    budget = sub.add_parser("budget", help="budget plans and the SafeExecutor's ledger")
    budget_sub = budget.add_subparsers(dest="budget_command", required=True)
    rollback = budget_sub.add_parser("rollback", help="revert a budget plan through the same limits (one step)")
    rollback.add_argument("--client", required=True, help="client slug, e.g. glowfuel")
    rollback.add_argument("--plan", required=True, help="plan id (budget_plans.plan_id, e.g. bp-1a2b...)")
    rollback.add_argument("--at", default=None, help="the executor's clock, ISO 8601 (default: now)")

    winners = sub.add_parser("winners", help="search a client's stored winner index (filters, similarity)")
    winners.add_argument("--client", required=True, help="client slug, e.g. glowfuel")
    winners.add_argument("--home", type=Path, default=None, help="data home (default: $OPTIMIZER_HOME, $DAGSTER_HOME)")
    winners.add_argument(
        "--where",
        action="append",
        default=[],
        help="filter, repeatable: column=value (a,b: either), column>=x, column<=x, e.g. hook=question 'ctr>=0.02'",
    )
    winners.add_argument("--like", default=None, help="rank by similarity to this experiment's winner")
    winners.add_argument("--top", type=int, default=5, help="how many winners to print (default 5)")

    args = parser.parse_args(argv)
    if args.command == "demo":
        from optimizer_pipeline.cli.demo import DEFAULT_HOME, run_demo

        run_demo(args.home or DEFAULT_HOME, args.seed, args.scale)
        return 0
    if args.command == "registry" and args.registry_command == "sync":
        return _registry_sync(args.clients)
    if args.command == "influencer-status":
        from optimizer_pipeline.cli.influencer_status import influencer_status

        return influencer_status(args)
    if args.command == "decide":
        from optimizer_pipeline.cli.decisions_demo import decide as run_decide
        from optimizer_pipeline.defs.decisions.experiment_decisions import parse_look

        return run_decide(args.client, parse_look(args.at) if args.at else None, args.experiment)
    if args.command == "budget" and args.budget_command == "rollback":
        from optimizer_pipeline.cli.budget_demo import rollback as run_rollback
        from optimizer_pipeline.defs.decisions.experiment_decisions import parse_look

        return run_rollback(args.client, args.plan, parse_look(args.at) if args.at else None)
    if args.command == "winners":
        from optimizer_pipeline.cli.winners import winners as run_winners

        return run_winners(args)
    parser.error("unknown command")
    return 2


def _registry_sync(clients: Path | None) -> int:
    import dagster as dg

    from optimizer_pipeline.defs.registry.sync import apply_registry, registry_report
    from optimizer_pipeline.defs.resources import clients_file, tiktok_source_catalog
    from optimizer_pipeline.lib.registry.checks import check_registry
    from optimizer_pipeline.lib.registry.clients import RegistryError, load_registry

    path = clients or clients_file()
    try:
        registry = load_registry(path)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with dg.DagsterInstance.get() as instance:
        diff = apply_registry(registry, instance)
    problems = check_registry(registry, tiktok_source_catalog())
    print(registry_report(registry, diff, problems))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
