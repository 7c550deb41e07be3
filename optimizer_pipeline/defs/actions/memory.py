"""The act loop's memory [client]: ``promotion_history``, ``winner_index``, ``compound_learning`` and
``winner_insights``, each following ``experiment_decisions`` through automation (``lib/actions``: promotion_history,
winner_index, compound_learning, winner_insights, insight_check).

``winner_index`` and ``winner_insights`` read the client's ``creative_dna`` (one row per creative, with the ad ids
that serve it) when it is stored: an experiment variant's DNA is that of the creatives of its ads
(:func:`~optimizer_pipeline.lib.actions.winner_index.creative_variant_dna`). Without it the winners are still
indexed, with empty tags and features, and the status says so. ``winner_insights`` asks Claude when the ``insights``
resource is Anthropic (``OPTIMIZER_ANTHROPIC_API_KEY``) and keeps its text only if every number in it is in the
evidence; otherwise, and by default, it holds the deterministic winner-vs-loser comparison. ``optimizer-pipeline
winners`` searches the stored index.
"""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.actions.group import GROUP, TABLE_KINDS
from optimizer_pipeline.defs.automation import PROPAGATE, propagate_with_optional
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.actions.compound_learning import (
    CUMULATIVE_COLUMNS,
    CompoundLearningError,
    compound_learning,
    compound_paragraph,
)
from optimizer_pipeline.lib.actions.promotion_history import promotion_history
from optimizer_pipeline.lib.actions.winner_index import (
    KEY_FEATURES,
    build_winner_index,
    creative_variant_dna,
    search_winners,
)
from optimizer_pipeline.lib.actions.winner_insights import CLAUDE, winner_insights
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import Verdict, foreign_rows
from optimizer_pipeline.lib.decisions.experiment_registry import Experiment, load_experiments
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.insights import WinnerInsights
from optimizer_pipeline.resources.parquet_io import load_stored, previous_table
from optimizer_pipeline.resources.registry import ClientRegistry

DNA_ASSET = "creative_dna"
DECISION_INS = {"experiment_decisions": dg.AssetIn(), "experiment_variants": dg.AssetIn()}
ISOLATION = "Compares each row's experiment_id with the client's experiments file."
INDEX_PREVIEW = ["experiment_id", "winner", "primary_metric", "lift", "ctr", "cvr", "hook", "pattern_hash",
                 "duration_bucket", "creative_ids"]  # fmt: skip


def _experiments(registry: ClientRegistry, slug: str) -> list[Experiment]:
    settings = registry.load().client(slug).decisions
    if settings.experiments_file is None:
        return []
    return load_experiments(settings.experiments_file, timezone_name=settings.timezone)


def _isolated(table: pd.DataFrame, experiments: list[Experiment]) -> Verdict:
    return foreign_rows(
        table["experiment_id"], {e.id for e in experiments}, compared="experiment_id vs the client's experiments file"
    )


def variant_dna_of(
    context: dg.AssetExecutionContext, io_manager: dg.IOManager, experiments: list[Experiment]
) -> tuple[pd.DataFrame | None, list[str], str]:
    """The client's DNA per experiment variant from its stored ``creative_dna``, the key features it carries, and
    a status (None and no features when ``creative_dna`` was never materialised for the client)."""
    creatives = load_stored(context, io_manager, DNA_ASSET, context.partition_key, CLIENT)
    if creatives is None:
        return None, [], f"no {DNA_ASSET} stored for this client: winners have no creative DNA"
    features = [
        f for f in KEY_FEATURES if f in creatives.columns and pd.api.types.is_numeric_dtype(creatives[f])
    ]  # fmt: skip
    dna = creative_variant_dna(experiments, creatives, features)
    return dna, features, f"ok ({len(creatives)} creatives in {DNA_ASSET})"


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    name="promotion_history",
    code_version="promotion-history-v1",
    dagster_type=CHECKED_VALUE,
    ins=DECISION_INS,
    check_specs=[TENANT_ISOLATION.spec("promotion_history", CLIENT, ISOLATION)],
    description="One row per promotion event of the decision trail (not per look): the winner, the deciding look's "
    "lift, repeated interval, confidence and chance to win, whether the control won, and when and why a later look "
    "reversed it (standing = never reversed).",
)
def promotion_history_asset(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    experiment_decisions: pd.DataFrame,
    experiment_variants: pd.DataFrame,
) -> dg.MaterializeResult:
    """Promotion events of the client's trail."""
    experiments = _experiments(registry, str(context.partition_key))
    table = promotion_history(experiment_decisions, experiment_variants)
    standing = table["standing"].astype(bool) if len(table) else pd.Series([], dtype=bool)
    shown = ["experiment_id", "winner", "decided_at", "lift", "lift_low", "lift_high", "standing", "reversed_at"]
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(
            {
                "promotions": len(table),
                "standing": int(standing.sum()),
                "reversed": int((~standing).sum()),
                "control_wins": int(table["winner_is_control"].fillna(False).astype(bool).sum()) if len(table) else 0,
                "preview": dg.MetadataValue.md(markdown.table(table[shown], max_rows=20)),
            }
        ),
        check_results=[TENANT_ISOLATION.result("promotion_history", _isolated(table, experiments))],
    )


@dg.asset(
    automation_condition=propagate_with_optional(DNA_ASSET),
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    code_version="winner-index-v1",
    dagster_type=CHECKED_VALUE,
    ins=DECISION_INS,
    deps=[DNA_ASSET],
    check_specs=[TENANT_ISOLATION.spec("winner_index", CLIENT, ISOLATION)],
    description="One row per standing variant winner: its creative DNA (hook, emotion, pacing, pain point and CTA "
    "tags, pattern hash, duration bucket, key extracted features, creative ids), the standing call's lift and the "
    "winner's counts and metrics at the latest look. Searched by similarity and filters with `optimizer-pipeline "
    "winners`.",
)
def winner_index(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    io_manager: dg.ResourceParam[dg.IOManager],
    experiment_decisions: pd.DataFrame,
    experiment_variants: pd.DataFrame,
) -> dg.MaterializeResult:
    """Standing winners with their DNA."""
    experiments = _experiments(registry, str(context.partition_key))
    dna, features, status = variant_dna_of(context, io_manager, experiments)
    table = build_winner_index(experiment_decisions, experiment_variants, dna, features)
    top = search_winners(table, k=5) if len(table) else table
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(
            {
                "status": status,
                "winners": len(table),
                "with_dna": int((table["pattern_hash"] != "").sum()) if len(table) else 0,
                "features": ", ".join(features) or "(none)",
                "preview": dg.MetadataValue.md(markdown.table(top[INDEX_PREVIEW], max_rows=5)),
            }
        ),
        check_results=[TENANT_ISOLATION.result("winner_index", _isolated(table, experiments))],
    )


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    name="compound_learning",
    code_version="compound-learning-v1",
    dagster_type=CHECKED_VALUE,
    ins=DECISION_INS,
    check_specs=[TENANT_ISOLATION.spec("compound_learning", CLIENT, ISOLATION)],
    description="What the promotions are worth: per standing variant promotion its measured lift and its lift "
    "shrunk for the winner's curse (empirical Bayes, DerSimonian-Laird prior over every experiment of the metric), "
    "and the running compound lift, raw and shrunk with its interval; the totals per metric and a paragraph in the "
    "metadata.",
)
def compound_learning_asset(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    experiment_decisions: pd.DataFrame,
    experiment_variants: pd.DataFrame,
) -> dg.MaterializeResult:
    """Lift per promotion, raw and shrunk, and compounded."""
    experiments = _experiments(registry, str(context.partition_key))
    try:
        result = compound_learning(experiment_decisions, experiment_variants)
    except CompoundLearningError as exc:
        raise dg.Failure(description=f"compound learning for {context.partition_key}: {exc}") from exc
    table = result.promotions
    shown = ["experiment_id", "winner", "lift", "lift_shrunk", "shrinkage", "cumulative_lift", "cumulative_lift_shrunk"]
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(
            {
                "promotions": len(table),
                "report": dg.MetadataValue.md(compound_paragraph(result)),
                "totals": dg.MetadataValue.md(markdown.table(result.cumulative[CUMULATIVE_COLUMNS], max_rows=None)),
                "preview": dg.MetadataValue.md(markdown.table(table[shown], max_rows=20)),
            }
        ),
        check_results=[TENANT_ISOLATION.result("compound_learning", _isolated(table, experiments))],
    )


@dg.asset(
    automation_condition=propagate_with_optional(DNA_ASSET),
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    name="winner_insights",
    code_version="winner-insights-v1",
    dagster_type=CHECKED_VALUE,
    ins={**DECISION_INS, "compound_learning": dg.AssetIn()},
    deps=[DNA_ASSET],
    check_specs=[TENANT_ISOLATION.spec("winner_insights", CLIENT, ISOLATION)],
    description="Per standing winner, why it won in words: Claude's text when an Anthropic key is configured and "
    "every number in it is in the evidence (decision tables, creative DNA, shrunk lift), else the deterministic "
    "winner-vs-loser comparison, with the rejection reason and the rejected draft.",
)
def winner_insights_asset(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    insights: WinnerInsights,
    io_manager: dg.ResourceParam[dg.IOManager],
    experiment_decisions: pd.DataFrame,
    experiment_variants: pd.DataFrame,
    compound_learning: pd.DataFrame,
) -> dg.MaterializeResult:
    """One insight per standing winner; unchanged evidence reuses the stored text without a request."""
    experiments = _experiments(registry, str(context.partition_key))
    dna, features, status = variant_dna_of(context, io_manager, experiments)
    table = winner_insights(
        experiment_decisions,
        experiment_variants,
        dna=dna,
        features=features,
        shrunk=compound_learning,
        writer=insights.writer(),
        model=insights.model_used(),
        previous=previous_table(context, io_manager, "winner_insights"),
    )
    sources = table["source"].value_counts().to_dict() if len(table) else {}
    shown = ["experiment_id", "winner", "source", "insight", "rejection_reason"]
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(
            {
                "status": status,
                "writer": insights.model_used() or "deterministic",
                "insights": len(table),
                "from_claude": int(sources.get(CLAUDE, 0)),
                "sources": dg.MetadataValue.md(markdown.counts(sources, key="source", value="winners")),
                "llm_cost_usd_recorded": float(table["cost_usd"].fillna(0).sum()) if len(table) else 0.0,
                "preview": dg.MetadataValue.md(markdown.table(table[shown], max_rows=20)),
            }
        ),
        check_results=[TENANT_ISOLATION.result("winner_insights", _isolated(table, experiments))],
    )


memory_job = dg.define_asset_job(
    name="memory_job",
    selection=dg.AssetSelection.assets("promotion_history", "winner_index", "compound_learning", "winner_insights"),
    description="One client's winner memory from its decisions: promotion history, winner index, compound learning "
    "and winner insights (run by automation).",
)
