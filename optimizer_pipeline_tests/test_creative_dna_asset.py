"""``creative_dna`` through ``dagster.materialize`` with real resources (Parquet IO manager, feature store, rule
labeler): tags derived from a rendered video, a planted disagreement flagged, a missing video set aside and counted,
accounting and tenant checks passing, the sample client's registry, and a rerun writing identical Parquet."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.defs.testloop.creative_dna import creative_dna
from optimizer_pipeline.defs.testloop.creatives import creatives
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.testloop.creative_autopsy import DNA_COLUMNS, SET_ASIDE_COLUMNS
from optimizer_pipeline.resources.features import AnthropicCreativeLabeler, CreativeLabeler, FeatureStore, RuleLabeler
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline_tests.anthropic_server import DEFAULT_API_KEY, AnthropicTestServer, tool_reply
from optimizer_pipeline_tests.lib.testloop.test_creative_autopsy import render_creative_video
from optimizer_pipeline_tests.markdown_tables import assert_table_matches, assert_well_formed

ASSETS = [creatives, creative_dna]
CHECKS = {
    ("creatives", "accounting"),
    ("creatives", "tenant_isolation"),
    ("creative_dna", "accounting"),
    ("creative_dna", "tenant_isolation"),
}
CREATIVES = """
creatives:
  - id: new-1
    name: Too tired to cook? 3 quick protein dinners, link in bio
    video_path: v/new-1.mp4
    status: draft
  - id: hand-1
    name: Why am I always tired at 3 pm?
    video_path: v/new-1.mp4
    status: active
    tags: {hook_type: bold_claim, emotion: curiosity, pacing: fast, pain_point: no_energy, cta_type: save}
  - id: lost-1
    name: Lost
    video_path: v/lost.mp4
    status: draft
  - id: ad-1
    name: Paid
    status: paused
    tags: {hook_type: story, emotion: trust, pacing: slow, pain_point: budget, cta_type: buy_now}
    ad_ids: [act-1, act-2]
"""


def resources(home: Path, clients: Path, labeler: CreativeLabeler | None = None) -> dict:
    return {
        "io_manager": ParquetIOManager(home=str(home)),
        "registry": ClientRegistry(path=str(clients)),
        "feature_store": FeatureStore(home=str(home), workers=1),
        "labeler": labeler or RuleLabeler(),
    }


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def materialise(
    home: Path, clients: Path, key: str, labeler: CreativeLabeler | None = None
) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(clients), instance)
        res = resources(home, clients, labeler)
        result = dg.materialize(ASSETS, partition_key=key, instance=instance, resources=res)
    assert result.success
    checks = evaluations(result)
    assert set(checks) == CHECKS
    assert all(e.passed for e in checks.values()), {k: e.description for k, e in checks.items()}
    return result


def table(home: Path, asset: str, key: str) -> pd.DataFrame:
    return pd.read_parquet(home / "data" / asset / f"{key}.parquet")


def acme(tmp_path: Path) -> Path:
    clients = tmp_path / "reg" / "clients.yaml"
    (clients.parent / "v").mkdir(parents=True)
    clients.write_text(
        "clients:\n  - name: Acme\n    hashtags: [fit]\n    test_loop: {creatives_file: creatives.yaml}\n"
    )
    (clients.parent / "creatives.yaml").write_text(CREATIVES)
    render_creative_video(clients.parent / "v" / "new-1.mp4", "fast")
    return clients


def test_creative_dna_derives_flags_sets_aside_and_reruns_identically(tmp_path):
    clients, home = acme(tmp_path), tmp_path / "home"
    meta = materialization_metadata(materialise(home, clients, "acme"))
    dna = table(home, "creative_dna", "acme").set_index("creative_id")
    assert list(dna.reset_index().columns) == list(DNA_COLUMNS)
    assert dna.loc["new-1", "pattern_hash"] == "hook:question|emo:curiosity|pace:fast|pain:no_energy|cta:link_in_bio"
    assert list(dna.loc["new-1", "tags_filled"]) == ["hook_type", "emotion", "pacing", "pain_point", "cta_type"]
    assert list(dna.loc["hand-1", "disagreements"]) == ["hook_type: given bold_claim, derived question"]
    assert dna.loc["hand-1", "hook_type"] == "bold_claim" and dna.loc["hand-1", "has_disagreement"]
    assert list(dna.loc["ad-1", "ad_ids"]) == ["act-1", "act-2"] and dna.loc["ad-1", "video_status"] == "no_video"
    assert pd.isna(dna.loc["lost-1", "pattern_hash"]) and pd.isna(dna.loc["lost-1", "duration_s"])
    rejected = table(home, "creative_dna_rejected", "acme")
    assert list(rejected.columns) == list(SET_ASIDE_COLUMNS) and list(rejected["creative_id"]) == ["lost-1"]
    assert rejected.loc[0, "reason"].startswith("missing file: ") and "lost.mp4" in rejected.loc[0, "reason"]

    m = meta["creative_dna"]
    assert (m["read"], m["analysed"], m["set_aside"], m["no_video"]) == (4, 2, 1, 1)
    assert (m["tags_filled"], m["disagreements"], m["computed"], m["from_cache"]) == (5, 1, 1, 0)  # one content
    assert meta["creative_dna_rejected"]["set_aside"] == 1
    assert assert_table_matches(m["preview"], table(home, "creative_dna", "acme")) == 4
    assert_well_formed(m["disagreement_list"])
    assert meta["creatives"]["tags_incomplete"] == 2 and meta["creatives"]["ad_ids_listed"] == 2

    before = {a: (home / "data" / a / "acme.parquet").read_bytes() for a in ("creative_dna", "creative_dna_rejected")}
    again = materialization_metadata(materialise(home, clients, "acme"))["creative_dna"]
    assert (again["computed"], again["from_cache"]) == (0, 2)
    after = {a: (home / "data" / a / "acme.parquet").read_bytes() for a in before}
    assert after == before


def test_sample_client_every_creative_has_a_row_and_the_untagged_one_is_analysed_once_its_video_exists(tmp_path):
    # a copy of the sample registry, so the untagged creative's video can be rendered where the registry names it
    reg = tmp_path / "sample"
    shutil.copytree(SAMPLE_CLIENTS_FILE.parent, reg, ignore=shutil.ignore_patterns("creatives"))
    clients = reg / SAMPLE_CLIENTS_FILE.name
    home = tmp_path / "home"
    m = materialization_metadata(materialise(home, clients, "glowfuel"))["creative_dna"]
    assert (m["read"], m["analysed"], m["no_video"], m["set_aside"]) == (20, 0, 7, 13)  # the sample ships no video
    dna = table(home, "creative_dna", "glowfuel").set_index("creative_id")
    ads = {ad: cid for cid, ids in dna["ad_ids"].items() for ad in ids}
    assert sorted(ads) == [f"glowfuel-ad-{i:02d}" for i in range(1, 9)]
    assert dna.loc[list(set(ads.values())), "pattern_hash"].notna().all()  # the winner index can join them

    render_creative_video(reg / "creatives" / "gf-new-tired-dinners.mp4", "medium")
    m = materialization_metadata(materialise(home, clients, "glowfuel"))["creative_dna"]
    assert (m["analysed"], m["set_aside"], m["tags_filled"], m["pattern_unknown"]) == (1, 12, 5, 0)
    row = table(home, "creative_dna", "glowfuel").set_index("creative_id").loc["gf-new-tired-dinners"]
    assert row["pattern_hash"] == "hook:question|emo:curiosity|pace:medium|pain:no_energy|cta:link_in_bio"


def test_the_anthropic_labeler_derives_tags_from_keyframes_through_the_real_sdk(tmp_path):
    clients, home = acme(tmp_path), tmp_path / "home"
    labels = {"hook_type": "story", "emotion": "trust", "cta_type": "save", "pain_point": "budget"}
    with AnthropicTestServer(default=tool_reply(labels, input_tokens=1500, output_tokens=60)) as srv:
        labeler = AnthropicCreativeLabeler(api_key=DEFAULT_API_KEY, base_url=srv.url, model="claude-sonnet-4-6")
        materialise(home, clients, "acme", labeler)
        materialise(home, clients, "acme", labeler)  # labels come from the cache (by content hash) now
        assert len(srv.requests) == 1 and srv.requests[0].images  # two creatives share one video: one request
    dna = table(home, "creative_dna", "acme").set_index("creative_id")
    assert set(dna.loc[["new-1", "hand-1"], "label_source"]) == {"anthropic"}
    assert dna.loc["new-1", "pattern_hash"] == "hook:story|emo:trust|pace:fast|pain:budget|cta:save"
    assert list(dna.loc["hand-1", "disagreement_fields"]) == ["hook_type", "emotion", "pain_point"]  # cta agrees


def test_a_client_without_creatives_file_gets_empty_tables_and_passing_checks(tmp_path):
    clients = tmp_path / "reg" / "clients.yaml"
    clients.parent.mkdir()
    clients.write_text("clients:\n  - name: Acme\n    hashtags: [fit]\n")
    home = tmp_path / "home"
    m = materialization_metadata(materialise(home, clients, "acme"))["creative_dna"]
    assert (m["read"], m["analysed"], m["set_aside"]) == (0, 0, 0)
    assert list(table(home, "creative_dna", "acme").columns) == list(DNA_COLUMNS)
    assert table(home, "creative_dna_rejected", "acme").empty
