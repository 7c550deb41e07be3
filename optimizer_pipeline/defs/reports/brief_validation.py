"""``brief_validation`` [client] (+ ``brief_validation_rejected``): the verdict of each of a client's brief tests
(did telling affiliates to use a pattern pay off?) and the patterns an affiliate brief may therefore list.
Thin wiring around ``lib/reports/brief_tests.py`` and ``lib/reports/brief_validation.py``."""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.checks import ACCOUNTING, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.reports.group import GROUP
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting, foreign_rows
from optimizer_pipeline.lib.reports.brief_tests import (
    REJECTED_COLUMNS,
    BriefTestsError,
    BriefTestsResult,
    load_brief_tests,
)
from optimizer_pipeline.lib.reports.brief_validation import (
    ADJUSTMENT,
    RESULT_COLUMNS,
    VERDICTS,
    affiliate_brief_strategies,
    evaluate_brief_tests,
)
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.registry import ClientRegistry

#: Status of a client whose registry entry has no ``reports.brief_tests_file``.
NOT_CONFIGURED = "not configured: add reports.brief_tests_file for this client in the registry"
#: The affiliate list when no pattern has a validated brief test.
NO_STRATEGY = "none validated yet"
TABLE_KINDS = {"parquet", "pandas"}
#: The columns of the Markdown preview (the full table is in the Parquet file).
PREVIEW_COLUMNS = ("test_id", "pattern_key", "hashtag", "metric", "lift", "ci_low", "ci_high", "p_adjusted", "verdict")


@dg.multi_asset(
    outs={
        "brief_validation": dg.AssetOut(
            description="One row per brief test of the client's brief-tests file (reports.brief_tests_file): the "
            "pattern the brief asked for, hashtag, metric, both arms' rates, the lift with its 95 % CI, the p-value "
            "and the p-value adjusted across the client's tests (Holm), the verdict (validated: lift > 25 % and "
            "adjusted p < 0.05; rejected: lift < 10 % or adjusted p >= 0.05; inconclusive otherwise) and why.",
            kinds=TABLE_KINDS,
        ),
        "brief_validation_rejected": dg.AssetOut(
            description="Brief-test entries that were not accepted (unknown field, unknown feature or level, too few "
            "videos per arm, a video in both arms, conversions above clicks ...), each with a reason naming the "
            "file, the entry and the field, and the raw entry.",
            kinds=TABLE_KINDS,
        ),
    },
    check_specs=[
        ACCOUNTING.spec("brief_validation", CLIENT, "Compares entries read = brief_validation + rejected rows."),
        TENANT_ISOLATION.spec(
            "brief_validation",
            CLIENT,
            "Compares each test's hashtag with this client's hashtags in the registry: a test on another client's "
            "hashtag would be evidence about someone else's audience.",
        ),
    ],
    partitions_def=CLIENT,
    group_name=GROUP,
    code_version="brief-validation-v1",
)
def brief_validation(context: dg.AssetExecutionContext, registry: ClientRegistry):
    """Every entry ends up in exactly one of the two tables (read = accepted + rejected); every accepted test gets a
    verdict, adjusted for the number of tests the client ran."""
    client = registry.load().client(str(context.partition_key))
    path = client.reports.brief_tests_file
    if path is None:
        loaded = BriefTestsResult((), pd.DataFrame(columns=list(REJECTED_COLUMNS)), 0)
        status = NOT_CONFIGURED
    else:
        try:
            loaded = load_brief_tests(path)
        except BriefTestsError as exc:
            raise dg.Failure(description=str(exc)) from exc
        status = "ok" if loaded.rejected.empty else f"ok; {len(loaded.rejected)} entries quarantined"
    results = evaluate_brief_tests(loaded.accepted) if loaded.accepted else pd.DataFrame(columns=list(RESULT_COLUMNS))
    rejected = loaded.rejected
    counted = accounting(loaded.read, {"accepted": len(results), "rejected": len(rejected)})
    isolated = foreign_rows(
        results["hashtag"].astype(object),
        [h.slug for h in client.hashtags],
        compared="each test's hashtag against this client's registry hashtags",
    )
    verdicts = results["verdict"].value_counts().reindex(VERDICTS, fill_value=0).to_dict()
    strategies = affiliate_brief_strategies(results) if len(results) else pd.DataFrame()
    affiliate = ", ".join(strategies["pattern_key"]) if len(strategies) else NO_STRATEGY
    context.log.info(
        f"{client.slug}: brief tests read {loaded.read} = accepted {len(results)} + rejected {len(rejected)}; "
        f"verdicts {verdicts}"
    )
    yield dg.MaterializeResult(
        asset_key="brief_validation",
        value=results,
        metadata=display_metadata(
            {
                "client": client.name,
                "status": status,
                "source_file": str(path) if path else "",
                "read": loaded.read,
                "accepted": len(results),
                "rejected": len(rejected),
                **{f"verdict_{key}": int(n) for key, n in verdicts.items()},
                "per_verdict": dg.MetadataValue.md(markdown.counts(verdicts, key="verdict", value="tests")),
                "multiplicity": f"{ADJUSTMENT} over {int(results['p_value'].notna().sum())} evaluable test(s)",
                "affiliate_brief": affiliate,
                "preview": dg.MetadataValue.md(markdown.table(results[list(PREVIEW_COLUMNS)], max_rows=30)),
            }
        ),
        check_results=[
            ACCOUNTING.result("brief_validation", counted),
            TENANT_ISOLATION.result("brief_validation", isolated),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="brief_validation_rejected",
        value=rejected,
        metadata=display_metadata(
            {
                "read": loaded.read,
                "rejected": len(rejected),
                "reasons": dg.MetadataValue.md(markdown.table(rejected[["entry", "test_id", "reason"]], max_rows=30)),
            }
        ),
    )
