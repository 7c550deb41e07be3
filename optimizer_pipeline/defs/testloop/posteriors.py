"""``pattern_posteriors`` and ``test_recommendations`` [client]: thin wiring around ``lib/testloop/source_counts.py``,
``lib/testloop/posterior_report.py`` (posteriors, back-off predictor, Thompson picks) and ``lib/core/plots.py``."""

import math

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import CHECKED_VALUE, POSTERIOR_SANITY, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.testloop.group import GROUP
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import foreign_rows, posterior_sanity
from optimizer_pipeline.lib.core.plots import markdown_image, posterior_intervals_png
from optimizer_pipeline.lib.testloop.posterior_report import build_posteriors, build_recommendations
from optimizer_pipeline.lib.testloop.source_counts import daily_as_of, pattern_rows, pattern_summary, split_known
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.registry import ClientRegistry

KINDS = {"parquet", "pandas", "scipy"}
POSTERIOR_PREVIEW = [
    "pattern_hash",
    "clicks_observed",
    "conversions_observed",
    "clicks_immature",
    "design_effect",
    "mean",
    "ci_low",
    "ci_high",
    "p_best",
]
RECOMMENDATION_PREVIEW = ["rank", "pattern_hash", "budget_share", "win_share", "reason", "clicks", "mean"]


def _number(x: float) -> dg.MetadataValue:
    """Float metadata; NaN (e.g. no pattern to hold out) is shown as text instead."""
    return dg.MetadataValue.text("n/a") if x is None or math.isnan(x) else dg.MetadataValue.float(float(x))


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    check_specs=[
        POSTERIOR_SANITY.spec("pattern_posteriors", CLIENT),
        TENANT_ISOLATION.spec(
            "pattern_posteriors",
            CLIENT,
            "The table has no client column: compares each row's pattern_hash with the pattern hashes of this "
            "client's traffic_sources (utm_ids of other clients are counted as unknown, never as a pattern).",
        ),
    ],
    dagster_type=CHECKED_VALUE,
    group_name=GROUP,
    kinds=KINDS,
    code_version="pattern-posteriors-v2",
    ins={"attributed_conversions": dg.AssetIn(), "traffic_sources": dg.AssetIn()},
    description="Beta-Binomial posterior per creative pattern: alpha = alpha0 + conversions / deff, beta = beta0 + "
    "(clicks - conversions) / deff, deff = the pattern's Kish design effect over its traffic sources (influencers are "
    "clusters of clicks; intra-class correlation rho estimated once per client, ANOVA moment estimator pooled over "
    "its patterns), so the interval is about the pattern's rate across influencers (alpha0, beta0 fitted to the "
    "client's own patterns' effective counts, empirical Bayes within bounds; Jeffreys Beta(1/2, 1/2) when nothing "
    "can be fitted), mean, 95% "
    "credible interval, P(best); optional decay of old days (test_loop.decay); the back-off predictor's estimate "
    "(exact / partial:<parent> / prior) for every pattern, including ones never clicked. utm_ids that are not "
    "traffic sources are counted as unknown in the metadata.",
)
def pattern_posteriors(
    context: dg.AssetExecutionContext,
    attributed_conversions: pd.DataFrame,
    traffic_sources: pd.DataFrame,
    registry: ClientRegistry,
) -> dg.MaterializeResult:
    """As of the newest event in the inbox (not the wall clock), so the same inbox always gives the same file."""
    client = registry.load().client(str(context.partition_key))
    settings = client.test_loop
    known, unknown = split_known(attributed_conversions, traffic_sources)
    as_of = daily_as_of(attributed_conversions)  # the newest event: clicks older than the window are mature
    rows = pattern_rows(known, traffic_sources, as_of)
    report = build_posteriors(
        rows,
        pattern_summary(known, traffic_sources),
        decay=settings.decay,
        seed=settings.seed,
        as_of=as_of,
        loo_min_clicks=settings.min_clicks,
    )
    table, prior = report.table, report.prior
    if traffic_sources.empty:
        status = "no traffic sources: materialise creatives, influencers and traffic_sources first"
    elif table["clicks_observed"].sum() == 0:
        status = "no clicks yet: every posterior is the prior"
    else:
        status = "ok"
    if len(unknown):
        status += f"; {len(unknown)} unknown utm_id(s)"
        names = ", ".join(unknown["utm_id"].astype(str).head(5))
        context.log.warning(f"{client.slug}: {len(unknown)} utm_ids are not traffic sources, e.g. {names}")
    methods = table["prediction_method"].str.split(":").str[0].value_counts().to_dict() if len(table) else {}
    metadata = {
        "status": status,
        "patterns": len(table),
        "patterns_with_clicks": int((table["clicks_observed"] > 0).sum()),
        "clicks": int(table["clicks_observed"].sum()),
        "conversions": int(table["conversions_observed"].sum()),
        "as_of": str(as_of) if as_of is not None else "",
        "immature_clicks": int(table["clicks_immature"].sum()),
        "immature_conversions": int(table["conversions_immature"].sum()),
        "maturity": f"only clicks whose {settings.attribution_window_days}-day attribution window closed by as_of "
        "enter the posterior (with their conversions); the immature ones are in clicks_immature / "
        "conversions_immature",
        "prior_alpha": prior.alpha,
        "prior_beta": prior.beta,
        "prior_mean": prior.mean,
        "prior_strength": prior.strength,
        "prior_method": prior.method,
        "prior_note": prior.note,
        "source_icc_rho": report.dispersion.rho,
        "source_icc_method": report.dispersion.method,
        "source_icc_note": report.dispersion.note,
        "source_icc_patterns": report.dispersion.patterns,
        "design_effect_max": _number(float(table["design_effect"].max()) if len(table) else float("nan")),
        "design_effects": dg.MetadataValue.json(
            {
                str(r.pattern_hash): {
                    "design_effect": round(float(r.design_effect), 3),
                    "effective_clicks": round(float(r.effective_clicks), 1),
                }
                for r in table.itertuples()
            }
        ),
        "decay_per_day": _number(settings.decay if settings.decay is not None else float("nan")),
        "seed": settings.seed,
        "loo_mae": _number(report.loo.mae),
        "loo_hit_rate": _number(report.loo.hit_rate),
        "loo_patterns": report.loo_patterns,
        "prediction_methods": dg.MetadataValue.json(methods),
        "unknown_utm_ids": len(unknown),
        "unknown_clicks": int(unknown["clicks"].sum()),
        "unknown_conversions": int(unknown["converters"].sum()),
        "unknown_sources": dg.MetadataValue.md(markdown.table(unknown, max_rows=20)),
        "preview": dg.MetadataValue.md(
            markdown.table(table.sort_values("mean", ascending=False)[POSTERIOR_PREVIEW], max_rows=20)
        ),
        "posterior_plot": dg.MetadataValue.md(
            markdown_image(posterior_intervals_png(table), "posterior means with 95% credible intervals")
        ),
    }
    context.log.info(f"{client.slug}: {len(table)} patterns; prior {prior.method} {prior.alpha:.3g}/{prior.beta:.3g}")
    isolated = foreign_rows(
        table["pattern_hash"], set(traffic_sources["pattern_hash"]), compared="pattern_hash vs traffic_sources"
    )
    checks = [
        POSTERIOR_SANITY.result("pattern_posteriors", posterior_sanity(table)),
        TENANT_ISOLATION.result("pattern_posteriors", isolated),
    ]
    return dg.MaterializeResult(value=table, metadata=display_metadata(metadata), check_results=checks)


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    check_specs=[
        TENANT_ISOLATION.spec(
            "test_recommendations",
            CLIENT,
            "The table has no client column: compares each recommended pattern_hash with the pattern hashes of "
            "this client's pattern_posteriors.",
        )
    ],
    dagster_type=CHECKED_VALUE,
    group_name=GROUP,
    kinds={"parquet", "pandas"},
    code_version="test-recommendations-v2",
    ins={"pattern_posteriors": dg.AssetIn()},
    description="The next test: top test_loop.top_n patterns by Thompson sampling (share of seeded joint posterior "
    "draws each wins) plus every pattern still in the ignorance zone (fewer than min_clicks clicks or min_days days "
    "of testing: not droppable yet), a reason per pattern, and a suggested split of the next test budget. The seed "
    "is recorded, so the recommendation reproduces.",
)
def test_recommendations(
    context: dg.AssetExecutionContext, pattern_posteriors: pd.DataFrame, registry: ClientRegistry
) -> dg.MaterializeResult:
    """Reproducible: the seed comes from the registry and "today" from the posteriors' ``as_of``."""
    client = registry.load().client(str(context.partition_key))
    s = client.test_loop
    rec = build_recommendations(
        pattern_posteriors, top_n=s.top_n, seed=s.seed, min_clicks=s.min_clicks, min_days=s.min_days
    )
    zone = rec[rec["in_ignorance_zone"].astype(bool)]
    split = {str(r.pattern_hash): round(float(r.budget_share), 4) for r in rec.itertuples()}
    status = "no patterns to recommend (no traffic sources)" if rec.empty else "ok"
    context.log.info(f"{client.slug}: {len(rec)} patterns recommended, {len(zone)} in the ignorance zone")
    isolated = foreign_rows(
        rec["pattern_hash"], set(pattern_posteriors["pattern_hash"]), compared="pattern_hash vs pattern_posteriors"
    )
    return dg.MaterializeResult(
        check_results=[TENANT_ISOLATION.result("test_recommendations", isolated)],
        value=rec,
        metadata=display_metadata(
            {
                "status": status,
                "recommended": len(rec),
                "top_n": s.top_n,
                "in_ignorance_zone": len(zone),
                "ignorance_zone": (
                    f"a pattern is not dropped before {s.min_clicks} clicks with a closed attribution window and "
                    f"{s.min_days} days of testing"
                ),
                "seed": s.seed,
                "budget_split": dg.MetadataValue.json(split),
                "recommendations": dg.MetadataValue.md(markdown.table(rec[RECOMMENDATION_PREVIEW], max_rows=50)),
            }
        ),
    )
