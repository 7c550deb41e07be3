"""``bucket_model`` and ``bucket_patterns`` [client_hashtag × duration_bucket]: thin wiring around
``lib/patterns/bucket_model.py`` and ``lib/patterns/evidence.py``."""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import BEATS_BASELINE, CHECKED_VALUE, ENOUGH_DATA
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import beats_baseline, enough_data
from optimizer_pipeline.lib.market.bucket_selection import STATUS_INSUFFICIENT, STATUS_OK
from optimizer_pipeline.lib.patterns.bucket_model import fit_bucket_model, model_inputs
from optimizer_pipeline.lib.patterns.evidence import (
    MIN_BUCKET_VIDEOS,
    PATTERN_COLUMNS,
    claims,
    evidence_changes,
)
from optimizer_pipeline.lib.patterns.evidence import (
    bucket_patterns as find_patterns,
)
from optimizer_pipeline.lib.patterns.model_store import save_model
from optimizer_pipeline.partitions import MARKET_PARTITIONS, by_bucket, market_key, partition_dims
from optimizer_pipeline.resources.models import ModelStore

MODEL_CODE_VERSION = "bucket-model-v2"  # v2: beats_baseline from the corrected repeated-CV t-test
PATTERNS_CODE_VERSION = "bucket-patterns-v2"  # v2: pattern families, explained-by, categorical levels
_ALL_BUCKETS_OF_HASHTAG = dg.MultiPartitionMapping(
    {
        "client_hashtag": dg.DimensionPartitionMapping("client_hashtag", dg.IdentityPartitionMapping()),
        "duration_bucket": dg.DimensionPartitionMapping("duration_bucket", dg.AllPartitionMapping()),
    }
)


@dg.multi_asset(
    outs={
        "bucket_model": dg.AssetOut(
            automation_condition=PROPAGATE,
            description="Engagement model ensemble of one bucket (random forest, tree, ridge, KMeans) with "
            "creator-grouped cross-validation: one row per model with held-out metrics next to a mean baseline.",
            kinds={"parquet", "scikitlearn"},
        ),
        "bucket_model_importance": dg.AssetOut(
            automation_condition=PROPAGATE,
            description="One row per feature: each method's importance, held-out permutation importance, votes, "
            "consensus driver flag and direction.",
            kinds={"parquet", "scikitlearn"},
        ),
    },
    check_specs=[
        ENOUGH_DATA.spec(
            "bucket_model", MARKET_PARTITIONS, "Fails (WARN) when too few videos or creators leave no model fitted."
        ),
        BEATS_BASELINE.spec("bucket_model", MARKET_PARTITIONS),
    ],
    partitions_def=MARKET_PARTITIONS,
    group_name="patterns",
    code_version=MODEL_CODE_VERSION,
)
def bucket_model(context: dg.AssetExecutionContext, video_features: pd.DataFrame, model_store: ModelStore):
    """Too few videos or creators is a status ("insufficient data"), not a failure."""
    dims = partition_dims(context)
    x, er, creators, weights = model_inputs(video_features)
    result = fit_bucket_model(
        x,
        er,
        groups=creators,
        sample_weight=weights,
        random_state=model_store.random_state,
        top_k=model_store.top_k,
        n_boot_rounds=model_store.bootstrap_rounds,
    )
    metrics = result.metrics.copy()
    summary = {
        "status": result.status,
        "reason": result.reason,
        "cv_scheme": result.cv_scheme,
        "n_rows": result.n_rows,
        "n_groups": result.n_groups,
        "silhouette": float(result.silhouette),
        "beats_baseline": bool(result.beats_baseline),
        "random_state": int(result.random_state),
        "drivers": ", ".join(result.drivers),
    }
    if metrics.empty:
        metrics = pd.DataFrame([summary])
    else:
        for key, value in summary.items():
            metrics[key] = value
    metadata: dict = {k: v for k, v in summary.items() if k != "drivers"}
    metadata["target"] = result.target
    metadata["drivers"] = dg.MetadataValue.md(", ".join(f"`{d}`" for d in result.drivers) or "none")
    if result.status == "ok":
        test = result.baseline_test
        metadata["beats_baseline_test"] = test["test"]
        metadata["beats_baseline_alpha"] = test["alpha"]
        metadata["beats_baseline_best_model"] = test["best_model"]
        metadata["beats_baseline_t"] = round(test["t_corrected"], 3)
        metadata["beats_baseline_df"] = test["df"]
        metadata["beats_baseline_p_holm"] = round(test["p_holm"], 4)
        key = f"{dims['client_hashtag']}/{dims['duration_bucket']}"
        path = save_model(
            model_store.root(),
            key,
            result.estimators,
            feature_names=result.feature_names,
            code_version=MODEL_CODE_VERSION,
            extra={
                "cv_scheme": result.cv_scheme,
                "target": result.target,
                "random_state": int(result.random_state),
                "beats_baseline": bool(result.beats_baseline),
                "baseline_test": result.baseline_test,
            },
        )
        metadata["model_file"] = dg.MetadataValue.path(str(path))
        metadata["metrics"] = dg.MetadataValue.md(markdown.table(result.metrics))
        if result.notes:
            metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in result.notes))
    context.log.info(f"{dims}: {result.status} ({result.reason or result.cv_scheme}); drivers: {summary['drivers']}")
    counts = {"videos": result.n_rows, "creators": result.n_groups}
    enough = enough_data(result.status, counts, insufficient=STATUS_INSUFFICIENT)
    beats = beats_baseline(result.status, result.beats_baseline, result.metrics, ok_status=STATUS_OK)
    checks = [ENOUGH_DATA.result("bucket_model", enough), BEATS_BASELINE.result("bucket_model", beats)]
    yield dg.MaterializeResult(
        asset_key="bucket_model", value=metrics, metadata=display_metadata(metadata), check_results=checks
    )
    importance = result.importance
    top = (
        importance.sort_values(["votes", "perm_importance_mean"], ascending=False).head(15)
        if len(importance)
        else importance
    )
    yield dg.MaterializeResult(
        asset_key="bucket_model_importance",
        value=importance,
        metadata=display_metadata(
            {
                "features": len(importance),
                "drivers": len(result.drivers),
                "top": dg.MetadataValue.md(markdown.table(top)),
            }
        ),
    )


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=MARKET_PARTITIONS,
    check_specs=[
        ENOUGH_DATA.spec(
            "bucket_patterns", MARKET_PARTITIONS, "Fails (WARN) when the bucket has too few videos to test patterns."
        )
    ],
    dagster_type=CHECKED_VALUE,
    group_name="patterns",
    code_version=PATTERNS_CODE_VERSION,
    kinds={"parquet", "pandas", "scipy"},
    ins={
        "video_features": dg.AssetIn(partition_mapping=_ALL_BUCKETS_OF_HASHTAG),
        "bucket_model_importance": dg.AssetIn(),
    },
)
def bucket_patterns(
    context: dg.AssetExecutionContext, video_features: dict[str, pd.DataFrame], bucket_model_importance: pd.DataFrame
) -> dg.MaterializeResult:
    """One row per tested feature: tier comparison (top 10 % / middle 40 % / bottom 30 %), trend test, BH q-value,
    effect size with CI, lift, five evidence signals, STRONG / MODERATE / EMERGING label and the report sentence.
    Correlated features form families (``family``, ``family_role``): only a family's lead carries a label, and a
    lead explained by a stronger claim is not claimed (``explained_by``); ``claims_json`` holds the leads' labels.

    Reads every bucket of the hashtag, because one of the five signals is consistency across buckets."""
    dims = partition_dims(context)
    bucket = dims["duration_bucket"]
    frames = {b: t if len(t) >= MIN_BUCKET_VIDEOS else None for b, t in by_bucket(video_features).items()}
    drivers = {}
    if len(bucket_model_importance) and "is_driver" in bucket_model_importance:
        drivers[bucket] = dict(
            zip(bucket_model_importance["feature"], bucket_model_importance["is_driver"], strict=True)
        )
    n = len(video_features.get(str(market_key(dims["client_hashtag"], bucket)), pd.DataFrame()))
    if frames.get(bucket) is None:
        rows = pd.DataFrame(columns=list(PATTERN_COLUMNS))
        status = f"insufficient data: {n} videos (patterns need >= {MIN_BUCKET_VIDEOS})"
    else:
        rows = find_patterns(frames, drivers=drivers, only=[bucket])[bucket]
        status = "ok"
    current = claims(rows)
    previous = _previous_claims(context)
    changes = evidence_changes(previous, current) if previous is not None else None
    counts = rows["evidence"].value_counts().to_dict() if len(rows) else {}
    shown = rows[rows["evidence"] != "none"] if len(rows) else rows
    metadata = {
        "status": status,
        "videos": n,
        "features_tested": len(rows),
        "strong": int(counts.get("STRONG", 0)),
        "moderate": int(counts.get("MODERATE", 0)),
        "emerging": int(counts.get("EMERGING", 0)),
        "families": int((rows["family_role"] == "lead").sum()) if len(rows) else 0,
        "proxies": int((rows["family_role"] == "member").sum()) if len(rows) else 0,
        "explained": int((rows["explained_by"] != "").sum()) if len(rows) else 0,
        "claims_json": dg.MetadataValue.json(current),
        "patterns": dg.MetadataValue.md(
            "\n".join(f"- **{r.evidence}** {markdown.escape(r.sentence)}" for r in shown.head(20).itertuples())
            or "no claims"
        ),
        "preview": dg.MetadataValue.md(
            markdown.table(
                shown[
                    [
                        "feature",
                        "evidence",
                        "family",
                        "family_role",
                        "explained_by",
                        "direction",
                        "q_value",
                        "lift",
                        "effect_name",
                        "effect_from",
                        "effect",
                        "ci_low",
                        "ci_high",
                    ]
                ].head(20)
            )
            if len(shown)
            else "no claims"
        ),
    }
    if changes is None:
        metadata["changes"] = dg.MetadataValue.md("first materialisation of this partition")
    else:
        lines = [f"- {kind}: {', '.join(items)}" for kind, items in changes.items() if items]
        metadata["changes"] = dg.MetadataValue.md("\n".join(lines) or "no pattern changed its label")
        metadata["patterns_changed"] = sum(len(v) for v in changes.values())
    context.log.info(f"{dims}: {status}; {counts}")
    enough = enough_data(status, {"videos": n, "features_tested": len(rows)}, insufficient=STATUS_INSUFFICIENT)
    return dg.MaterializeResult(
        value=rows,
        metadata=display_metadata(metadata),
        check_results=[ENOUGH_DATA.result("bucket_patterns", enough)],
    )


def _previous_claims(context: dg.AssetExecutionContext) -> dict[str, str] | None:
    """The claims recorded by this partition's previous materialisation (``claims_json``), None if there is none."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[context.partition_key]), limit=1
    ).records
    if not records:
        return None
    materialization = records[0].asset_materialization
    value = materialization.metadata.get("claims_json") if materialization else None
    return dict(value.value) if value is not None else {}
