"""``bucket_model`` and ``bucket_patterns`` through ``dagster.materialize`` on the sample corpus."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.features.assets import video_features
from optimizer_pipeline.defs.market.buckets import bucket_videos
from optimizer_pipeline.defs.market.scrape import tiktok_videos
from optimizer_pipeline.defs.patterns.assets import MODEL_CODE_VERSION, bucket_model, bucket_patterns
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.patterns.bucket_model import predict_log_er
from optimizer_pipeline.lib.patterns.evidence import PATTERN_COLUMNS
from optimizer_pipeline.lib.patterns.model_store import ModelStoreError, load_model
from optimizer_pipeline.partitions import market_key
from optimizer_pipeline_tests.conftest import sample_market_resources

ASSETS = [tiktok_videos, bucket_videos, video_features, bucket_model, bucket_patterns]
CH = "glowfuel__mealprep"
UPSTREAM = ["bucket_videos", "bucket_videos_excluded", "video_features", "video_features_quarantine"]


@pytest.fixture(scope="module")
def home(sample_home, tmp_path_factory):
    """Every bucket of one hashtag materialised up to bucket_patterns."""
    data_home = tmp_path_factory.mktemp("pattern_home")
    res = sample_market_resources(data_home, sample_home)
    meta: dict[str, dict] = {}
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client_hashtag", [CH])
        sel = ["tiktok_videos", "tiktok_videos_rejected"]
        assert dg.materialize(ASSETS, selection=sel, partition_key=CH, instance=inst, resources=res).success
        for stage in (UPSTREAM, ["bucket_model", "bucket_model_importance"], ["bucket_patterns"]):
            for bucket in DURATION_BUCKETS:
                r = dg.materialize(
                    ASSETS, selection=stage, partition_key=market_key(CH, bucket), instance=inst, resources=res
                )
                assert r.success
                for asset, m in materialization_metadata(r).items():
                    meta[f"{asset}/{bucket}"] = m
        yield data_home, meta, inst, res


def test_models_have_grouped_cv_metrics_and_a_verified_store(home):
    data_home, meta, _, _ = home
    n = len(pd.read_parquet(data_home / "data" / "video_features" / CH / "0-15s.parquet"))
    assert n >= 30
    m = meta["bucket_model/0-15s"]
    assert m["status"] == "ok" and m["cv_scheme"] == "group 3-fold" and m["n_rows"] == n
    metrics = pd.read_parquet(data_home / "data" / "bucket_model" / CH / "0-15s.parquet")
    assert set(metrics["model"]) == {"random_forest", "decision_tree", "linear"}
    assert metrics[["r2", "rmse", "spearman", "baseline_r2", "baseline_rmse"]].notna().all().all()
    estimators, info = load_model(data_home / "models", f"{CH}/0-15s", code_version=MODEL_CODE_VERSION)
    # The seed and the baseline test are recorded next to the model and in the asset metadata.
    assert m["random_state"] == 0 and info["extra"]["random_state"] == 0
    assert info["extra"]["beats_baseline"] == m["beats_baseline"]
    assert info["extra"]["baseline_test"]["p_holm"] == metrics["p_holm"].min()
    assert m["beats_baseline_alpha"] == 0.05 and "Nadeau-Bengio" in m["beats_baseline_test"]
    assert m["beats_baseline_p_holm"] == round(float(metrics["p_holm"].min()), 4)
    assert (metrics["random_state"] == 0).all() and metrics["significant"].dtype == bool
    features = pd.read_parquet(data_home / "data" / "video_features" / CH / "0-15s.parquet")
    pred = predict_log_er(estimators, features[info["feature_names"]], info["feature_names"])
    assert len(pred) == n and pd.Series(pred).notna().all()
    importance = pd.read_parquet(data_home / "data" / "bucket_model_importance" / CH / "0-15s.parquet")
    assert {"feature", "votes", "is_driver", "perm_importance_mean"} <= set(importance.columns)


def test_small_buckets_are_statuses_not_failures(home):
    data_home, meta, _, _ = home
    assert meta["bucket_model/91-120s"]["status"] == "insufficient data"
    assert meta["bucket_model/91-120s"]["random_state"] == 0
    assert meta["bucket_patterns/91-120s"]["status"].startswith("insufficient data")
    rows = pd.read_parquet(data_home / "data" / "bucket_patterns" / CH / "91-120s.parquet")
    assert rows.empty and list(rows.columns) == list(PATTERN_COLUMNS)


def test_patterns_table_contract_and_planted_hook_cuts(home):
    """The interface columns exist with ground-truth feature names; the strongest planted effect of the bucket
    (two or more cuts in the first 3 s double engagement in 0-15s) is found even at the test corpus's size."""
    data_home, meta, _, _ = home
    rows = pd.read_parquet(data_home / "data" / "bucket_patterns" / CH / "0-15s.parquet")
    assert {"feature", "duration_bucket", "evidence", "q_value", "lift", "sentence"} <= set(rows.columns)
    assert (rows["duration_bucket"] == "0-15s").all() and rows["q_value"].between(0, 1).all()
    by = rows.set_index("feature")
    hook = by.loc["hook_cut_count"]
    # found through its pattern family: the family's lead is claimed, in the direction hook cuts point to
    lead = by.loc[hook.family]
    assert lead.family_role == "lead" and lead.q_value < 0.1 and lead.evidence in ("STRONG", "MODERATE")
    assert lead.direction == ("higher" if hook.family_rho > 0 else "lower")
    if hook.family_role == "lead":
        assert "Cuts in the first 3 seconds" in hook.sentence
    else:
        assert hook.evidence == "none" and "a proxy of" in hook.sentence
    claimed = rows[rows["evidence"] != "none"]
    assert (claimed["family_role"] == "lead").all() and set(meta["bucket_patterns/0-15s"]["claims_json"]) == set(
        claimed["feature"]
    )
    assert meta["bucket_patterns/0-15s"]["changes"] == "first materialisation of this partition"


def test_rerun_is_identical_and_lineage_reports_label_changes(home):
    data_home, _, inst, res = home
    path = data_home / "data" / "bucket_patterns" / CH / "0-15s.parquet"
    before = pd.read_parquet(path)
    key = market_key(CH, "0-15s")
    r = dg.materialize(ASSETS, selection=["bucket_patterns"], partition_key=key, instance=inst, resources=res)
    m = materialization_metadata(r)["bucket_patterns"]
    assert m["changes"] == "no pattern changed its label" and m["patterns_changed"] == 0
    pd.testing.assert_frame_equal(before, pd.read_parquet(path))
    # a previous materialisation that claimed other things: the next one lists what appeared/disappeared/changed
    claims = dict(m["claims_json"])
    feature = next(iter(claims))
    previous = {f: e for f, e in claims.items() if f != feature} | {"made_up_feature": "STRONG"}
    inst.report_runless_asset_event(
        dg.AssetMaterialization("bucket_patterns", partition=str(key), metadata={"claims_json": previous})
    )
    m2 = materialization_metadata(
        dg.materialize(ASSETS, selection=["bucket_patterns"], partition_key=key, instance=inst, resources=res)
    )["bucket_patterns"]
    assert f"appeared: {feature} ({claims[feature]})" in m2["changes"]
    assert "disappeared: made_up_feature (was STRONG)" in m2["changes"]
    assert m2["patterns_changed"] == 2


def test_models_are_loaded_only_from_the_store(home):
    data_home, _, _, _ = home
    with pytest.raises(ModelStoreError):
        load_model(data_home / "models", f"../{CH}/0-15s")
