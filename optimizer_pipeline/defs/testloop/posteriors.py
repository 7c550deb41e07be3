"""``pattern_posteriors`` and ``test_recommendations`` [client]: thin wiring around ``lib/testloop/source_counts.py``,
``lib/testloop/posterior_report.py`` (posteriors, back-off predictor, Thompson picks), ``lib/testloop/market_prior.py``
(warm start of never-tested patterns), ``lib/testloop/fatigue_weights.py`` (fatigue discount) and ``lib/core/plots.py``.

Cross-partition reads, the way ``cross_hashtag_patterns`` and ``client_overview`` do them: ``bucket_patterns`` is
partitioned by client_hashtag × duration_bucket and no built-in mapping selects one client's hashtag keys, so it is a
dependency with ``AllPartitionMapping`` (lineage) and only the client's hashtag × bucket partitions are loaded through
the IO manager; what is missing is listed in the metadata, never a failure. It is ignored by the automation condition
(``eager`` would otherwise wait for every client's market partitions): the warm start is picked up at the next
posterior run. ``fatigue_signals`` (same client partition, actions group) and ``creatives`` are read the same way
(dependencies for lineage, loaded through the IO manager), because a client without ad metrics has no fatigue table:
absent or empty means weight 1 for every pattern, and its absence never blocks ``test_recommendations``.
"""

import math

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import propagate_ignoring, propagate_with_optional
from optimizer_pipeline.defs.checks import CHECKED_VALUE, POSTERIOR_SANITY, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.testloop.group import GROUP
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import foreign_rows, posterior_sanity
from optimizer_pipeline.lib.core.plots import markdown_image, posterior_intervals_png
from optimizer_pipeline.lib.testloop.creative_autopsy import with_autopsy_tags
from optimizer_pipeline.lib.testloop.fatigue_weights import pattern_decay_weights
from optimizer_pipeline.lib.testloop.market_prior import market_scores, warm_start
from optimizer_pipeline.lib.testloop.posterior_report import build_posteriors, build_recommendations
from optimizer_pipeline.lib.testloop.posteriors import DEFAULT_P_BEST_DRAWS
from optimizer_pipeline.lib.testloop.source_counts import daily_as_of, pattern_rows, pattern_summary, split_known
from optimizer_pipeline.partitions import CLIENT, CLIENT_HASHTAG, MARKET_PARTITIONS, market_key
from optimizer_pipeline.resources.parquet_io import load_stored
from optimizer_pipeline.resources.registry import ClientRegistry

MARKET = "bucket_patterns"
FATIGUE = "fatigue_signals"
CREATIVES = "creatives"
DNA = "creative_dna"

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
RECOMMENDATION_PREVIEW = ["rank", "pattern_hash", "budget_share", "win_share", "decay_weight", "reason", "clicks"]
RECOMMENDATION_PREVIEW += ["mean"]
WARM_PREVIEW = ["pattern_hash", "market_factor", "prior_mean", "mean", "market_evidence"]


def _market_tables(
    context: dg.AssetExecutionContext, io_manager: dg.IOManager, client
) -> tuple[dict[str, pd.DataFrame | None], list[str]]:
    """The client's own hashtags' bucket_patterns (competitor profiles are not the client's market), keyed
    ``<client_hashtag>|<bucket>``, and the keys that are not registered or not materialised."""
    tables: dict[str, pd.DataFrame | None] = {}
    missing: list[str] = []
    for settings in client.hashtags:
        key = client.key_for(settings)
        registered = context.instance.has_dynamic_partition(CLIENT_HASHTAG.name, key)
        for bucket in settings.buckets:
            label = f"{key}|{bucket}"
            df = (
                load_stored(context, io_manager, MARKET, market_key(key, bucket), MARKET_PARTITIONS)
                if registered
                else None
            )
            tables[label] = df
            if df is None:
                missing.append(label)
    return tables, missing


def _number(x: float) -> dg.MetadataValue:
    """Float metadata; NaN (e.g. no pattern to hold out) is shown as text instead."""
    return dg.MetadataValue.text("n/a") if x is None or math.isnan(x) else dg.MetadataValue.float(float(x))


@dg.asset(
    automation_condition=propagate_ignoring(MARKET),
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
    code_version="pattern-posteriors-v3",
    ins={"attributed_conversions": dg.AssetIn(), "traffic_sources": dg.AssetIn()},
    deps=[dg.AssetDep(MARKET, partition_mapping=dg.AllPartitionMapping())],
    description="Beta-Binomial posterior per creative pattern: alpha = alpha0 + conversions / deff, beta = beta0 + "
    "(clicks - conversions) / deff, deff = the pattern's Kish design effect over its traffic sources (influencers are "
    "clusters of clicks; intra-class correlation rho estimated once per client, ANOVA moment estimator pooled over "
    "its patterns), so the interval is about the pattern's rate across influencers (alpha0, beta0 fitted to the "
    "client's own patterns' effective counts, empirical Bayes within bounds; Jeffreys Beta(1/2, 1/2) when nothing "
    "can be fitted), mean, 95% "
    "credible interval, P(best); optional decay of old days (test_loop.decay); the back-off predictor's estimate "
    "(exact / partial:<parent> / prior) for every pattern, including ones never clicked. utm_ids that are not "
    "traffic sources are counted as unknown in the metadata. Never-tested patterns (no clicks) get a warm-start "
    "prior: mean times a bounded factor (1/2 to 2) from the market evidence (bucket_patterns) of the client's "
    "hashtags on their hook / emotion / pacing / pain point / CTA, strength at most 20 (market_factor, prior_mean, "
    "market_evidence columns); patterns with clicks are untouched.",
)
def pattern_posteriors(
    context: dg.AssetExecutionContext,
    attributed_conversions: pd.DataFrame,
    traffic_sources: pd.DataFrame,
    registry: ClientRegistry,
    io_manager: dg.ResourceParam[dg.IOManager],
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
    prior = report.prior
    market_tables, market_missing = _market_tables(context, io_manager, client)
    market = market_scores(market_tables)
    table = warm_start(report.table, prior, market, seed=settings.seed, p_best_draws=DEFAULT_P_BEST_DRAWS)
    warmed = table[table["market_factor"] != 1.0]
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
        "market_tables_read": dg.MetadataValue.json(sorted(k for k, v in market_tables.items() if v is not None)),
        "market_tables_missing": dg.MetadataValue.json(market_missing),
        "market_tables_analysed": market.tables,
        "market_levels_with_evidence": len(market.scores),
        "warm_started_patterns": len(warmed),
        "warm_start": dg.MetadataValue.md(
            markdown.table(warmed[WARM_PREVIEW], max_rows=20)
            if len(warmed)
            else "no never-tested pattern with market evidence (or the prior is the Jeffreys fallback)"
        ),
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
    automation_condition=propagate_with_optional(FATIGUE, CREATIVES, DNA),
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
    code_version="test-recommendations-v4",
    ins={"pattern_posteriors": dg.AssetIn()},
    deps=[dg.AssetDep(FATIGUE), dg.AssetDep(CREATIVES), dg.AssetDep(DNA)],
    description="The next test: top test_loop.top_n patterns by Thompson sampling (share of seeded joint posterior "
    "draws each wins) plus every pattern still in the ignorance zone (fewer than min_clicks clicks or min_days days "
    "of testing: not droppable yet), a reason per pattern, and a suggested split of the next test budget. The seed "
    "is recorded, so the recommendation reproduces. Fatigued patterns are discounted, never removed: a pattern's "
    "decay_weight (mean of its ads' fatigue_signals weights, ads joined through creatives.ad_ids; 1 without a "
    "fatigued ad or without fatigue_signals) multiplies its posterior draws in every Thompson decision, and the "
    "reason names the fatigued ads. Optional posterior reshaping (test_loop.sharpness kappa, default 1 = plain "
    "Thompson sampling; the benchmarked policy uses 8): win and budget shares come from Beta(kappa alpha, kappa beta) "
    "draws, same means, less spread; p_best stays the plain posterior probability; kappa is in the sharpness column.",
)
def test_recommendations(
    context: dg.AssetExecutionContext,
    pattern_posteriors: pd.DataFrame,
    registry: ClientRegistry,
    io_manager: dg.ResourceParam[dg.IOManager],
) -> dg.MaterializeResult:
    """Reproducible: the seed comes from the registry and "today" from the posteriors' ``as_of``."""
    client = registry.load().client(str(context.partition_key))
    s = client.test_loop
    fatigue_table = load_stored(context, io_manager, FATIGUE, client.slug, CLIENT)
    creatives = with_autopsy_tags(
        load_stored(context, io_manager, CREATIVES, client.slug, CLIENT),
        load_stored(context, io_manager, DNA, client.slug, CLIENT),
    )
    fatigue = pattern_decay_weights(fatigue_table, creatives)
    patterns = pattern_posteriors["pattern_hash"].astype(str)
    weighted = pattern_posteriors.assign(
        decay_weight=fatigue.weight_of(patterns), fatigue_reason=fatigue.reason_of(patterns)
    )
    rec = build_recommendations(
        weighted,
        top_n=s.top_n,
        seed=s.seed,
        min_clicks=s.min_clicks,
        min_days=s.min_days,
        sharpness=s.sharpness,
    )
    rec["decay_weight"] = fatigue.weight_of(rec["pattern_hash"].astype(str))
    discounted = rec[rec["decay_weight"] < 1]
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
                "sharpness": s.sharpness,
                "fatigue_signals": "not materialised: weight 1 for all"
                if fatigue_table is None
                else f"{fatigue.assessed_ads} ads assessed",
                "fatigue_discounted": len(discounted),
                "fatigue_ads_set_aside": len(fatigue.set_aside),
                "fatigue_set_aside": dg.MetadataValue.md(markdown.table(fatigue.set_aside, max_rows=20)),
                "fatigue_weights": dg.MetadataValue.json(
                    {str(r.pattern_hash): round(float(r.decay_weight), 4) for r in fatigue.table.itertuples()}
                ),
                "budget_split": dg.MetadataValue.json(split),
                "recommendations": dg.MetadataValue.md(markdown.table(rec[RECOMMENDATION_PREVIEW], max_rows=50)),
            }
        ),
    )
