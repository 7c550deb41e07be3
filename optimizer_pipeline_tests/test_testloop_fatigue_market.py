"""pattern_posteriors with the market warm start and test_recommendations with the fatigue discount, materialised
through Dagster on a generated inbox (stored upstream tables written where the IO manager keeps them)."""

import dagster as dg
import pandas as pd
import pytest

from optimizer_pipeline.defs.testloop import posteriors
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.sample.events import generate_events, write_inbox_batch
from optimizer_pipeline.lib.testloop.market_prior import ATTRIBUTE_FACTOR
from optimizer_pipeline.partitions import CLIENT, MARKET_PARTITIONS, market_key
from optimizer_pipeline.resources.parquet_io import asset_path
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline_tests.test_testloop_runtime import PATTERNS, START, Loop, traffic_table

NEW_QUESTION = "hook:question|emo:excitement|pace:medium|pain:weight|cta:link_in_bio"
NEW_LISTICLE = "hook:listicle|emo:excitement|pace:medium|pain:weight|cta:link_in_bio"
KEY = "acme__fitness"
BUCKETS = DURATION_BUCKETS[:2]


def _write(home, asset: str, table: pd.DataFrame, key) -> None:
    path = asset_path(home, asset, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path)


def _market(home) -> None:
    rows = pd.DataFrame(
        {
            "feature": ["hook_type", "emotion"],
            "kind": ["categorical", "categorical"],
            "threshold": ["question", "excitement"],
            "direction": ["higher", "higher"],
            "evidence": ["STRONG", "none"],
            "family_role": ["lead", "lead"],
        }
    )
    for bucket in BUCKETS:
        _write(home, "bucket_patterns", rows, market_key(KEY, bucket))


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["acme"])
        inst.add_dynamic_partitions("client_hashtag", [KEY])
        all_sources = traffic_table([*PATTERNS, NEW_QUESTION, NEW_LISTICLE])
        loop = Loop(tmp_path_factory.mktemp("fm"), inst, all_sources)
        files, _ = generate_events(traffic_table(), seed=21, visitors_per_source=120, start=START, days=12)
        write_inbox_batch(loop.inbox, files)
        _market(loop.home)
        meta = loop.run()  # no fatigue_signals / creatives stored: weight 1 everywhere
        yield loop, meta, loop.table("test_recommendations")


def test_never_tested_pattern_is_warm_started_and_tested_ones_are_untouched(loop):
    loop, meta, rec = loop
    post = loop.table("pattern_posteriors").set_index("pattern_hash")
    m = meta["pattern_posteriors"]
    assert post.loc[NEW_QUESTION, "clicks"] == 0
    assert post.loc[NEW_QUESTION, "market_factor"] == pytest.approx(ATTRIBUTE_FACTOR)
    assert post.loc[NEW_QUESTION, "prior_mean"] == pytest.approx(m["prior_mean"] * ATTRIBUTE_FACTOR, rel=1e-3)
    assert "hook:question score +1.00" in post.loc[NEW_QUESTION, "market_evidence"]
    assert post.loc[NEW_LISTICLE, "market_factor"] == 1.0  # never tested, but no market evidence on its levels
    tested = post[post["clicks"] > 0]
    assert (tested["market_factor"] == 1.0).all() and (tested["market_evidence"] == "").all()
    assert m["market_tables_read"] == [f"{KEY}|{b}" for b in BUCKETS]
    assert len(m["market_tables_missing"]) == len(DURATION_BUCKETS) - len(BUCKETS)
    assert m["warm_started_patterns"] == 1
    assert (rec["decay_weight"] == 1.0).all() and meta["test_recommendations"]["fatigue_discounted"] == 0


def test_fatigued_pattern_loses_share_but_stays(loop):
    loop, _, before = loop
    before = before.set_index("pattern_hash")
    top = before["win_share"].idxmax()
    creatives = pd.DataFrame(
        {
            "creative_id": ["cr-top", "cr-other"],
            "pattern_hash": [top, NEW_LISTICLE],
            "ad_ids": [["ad-1", "ad-2"], ["ad-3"]],
        }
    )
    fatigue = pd.DataFrame(
        {"ad_id": ["ad-1", "ad-2", "ad-3", "ad-9"], "status": ["fatigued", "fresh", "fresh", "fatigued"],
         "decay_weight": [0.2, 1.0, 1.0, 0.5]}
    )  # fmt: skip
    _write(loop.home, "creatives", creatives, "acme")
    _write(loop.home, "fatigue_signals", fatigue, "acme")
    r = loop.run(("test_recommendations",))["test_recommendations"]
    after = loop.table("test_recommendations").set_index("pattern_hash")
    assert top in after.index and after.loc[top, "decay_weight"] == pytest.approx(0.6)
    assert after.loc[top, "win_share"] < before.loc[top, "win_share"]
    assert after.loc[top, "budget_share"] < before.loc[top, "budget_share"]
    assert "fatigued ad ad-1: weight 0.20" in after.loc[top, "reason"]
    assert r["fatigue_discounted"] == 1 and r["fatigue_ads_set_aside"] == 1  # ad-9: no creative lists it
    assert (after.drop(index=top)["decay_weight"] == 1.0).all()


# --- declarative automation: optional upstreams never block -----------------------------------------------------


def _stub(name: str, partitions_def: dg.PartitionsDefinition = CLIENT) -> dg.AssetsDefinition:
    @dg.asset(name=name, partitions_def=partitions_def)
    def stub() -> None:
        """Stands for the real upstream (no checks: only its materialisations matter here)."""

    return stub


def _requested(defs: dg.Definitions, instance: dg.DagsterInstance, cursor) -> tuple[set[tuple[str, str]], object]:
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    out = {
        (key.to_user_string(), str(p))
        for key in (dg.AssetKey("pattern_posteriors"), dg.AssetKey("test_recommendations"))
        for p in result.get_requested_partitions(key)
    }
    return out, result.cursor


def _updated(instance: dg.DagsterInstance, asset: str, partition) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=str(partition)))


def test_missing_market_fatigue_and_creatives_never_block_and_fatigue_updates_rerun_the_recommendations():
    resources = {"registry": ClientRegistry(path="/nonexistent/clients.yaml")}
    upstream = [_stub("attributed_conversions"), _stub("traffic_sources"), _stub("bucket_patterns", MARKET_PARTITIONS)]
    defs_post = dg.Definitions(assets=[*upstream, posteriors.pattern_posteriors], resources=resources)
    rec_upstream = [_stub("pattern_posteriors"), _stub("fatigue_signals"), _stub("creatives")]
    defs_rec = dg.Definitions(assets=[*rec_upstream, posteriors.test_recommendations], resources=resources)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client", ["acme", "beta"])
        instance.add_dynamic_partitions("client_hashtag", [KEY])
        _, c_post = _requested(defs_post, instance, None)
        _, c_rec = _requested(defs_rec, instance, None)
        for asset in ("attributed_conversions", "traffic_sources"):
            _updated(instance, asset, "acme")
        got, c_post = _requested(defs_post, instance, c_post)
        assert got == {("pattern_posteriors", "acme")}  # every bucket_patterns partition is missing: no block
        _updated(instance, "pattern_posteriors", "acme")
        got, c_rec = _requested(defs_rec, instance, c_rec)
        assert got == {("test_recommendations", "acme")}  # fatigue_signals and creatives missing: no block
        _updated(instance, "test_recommendations", "acme")
        _updated(instance, "pattern_posteriors", "beta")  # beta: its recommendations become due as well
        got, c_rec = _requested(defs_rec, instance, c_rec)
        assert got == {("test_recommendations", "beta")}
        _updated(instance, "test_recommendations", "beta")
        got, c_rec = _requested(defs_rec, instance, c_rec)
        assert got == set()
        _updated(instance, "fatigue_signals", "acme")
        got, c_rec = _requested(defs_rec, instance, c_rec)
        assert got == {("test_recommendations", "acme")}  # a fatigue update re-runs that client's recommendations
        _updated(instance, "test_recommendations", "acme")
        _updated(instance, "bucket_patterns", market_key(KEY, BUCKETS[0]))
        got, _ = _requested(defs_post, instance, c_post)
        assert got == set()  # a market update alone does not re-run the posteriors (picked up at the next run)
