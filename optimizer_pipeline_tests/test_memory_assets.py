"""The act loop's memory through Dagster on the sample ad account's decision trail (replayed with the real decision
code, stored where the IO manager keeps it): promotion_history, winner_index (joined to a hand-made creative_dna),
compound_learning and winner_insights (Claude through the real anthropic client against the local fake Messages API:
a wrong number rejected, a correct answer accepted); the summaries sent once per period to a local webhook receiver,
and the schedule's timing; the ``winners`` command answering a query."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.cli.main import main
from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.cli.winners import WinnersQueryError, parse_where, query_winners, winners_report, winners_text
from optimizer_pipeline.defs.actions.memory import (
    compound_learning_asset,
    promotion_history_asset,
    winner_index,
    winner_insights_asset,
)
from optimizer_pipeline.defs.actions.summaries import due_kinds, summary_log, summary_schedule
from optimizer_pipeline.lib.actions.winner_index import KEY_FEATURES, search_winners
from optimizer_pipeline.lib.core.atomic_files import write_parquet_atomic
from optimizer_pipeline.lib.decisions.experiment_decision import aa_daily_pairs, looks_between, replay
from optimizer_pipeline.lib.decisions.experiment_registry import load_experiments
from optimizer_pipeline.lib.decisions.overdispersion import history_vif
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.sample.ad_account import generate_ad_account
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED, SAMPLE_CLIENT
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.alerts import AlertNotifier
from optimizer_pipeline.resources.insights import AnthropicWinnerInsights, WinnerInsights
from optimizer_pipeline.resources.parquet_io import ParquetIOManager, asset_path, read_asset
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline_tests.anthropic_server import DEFAULT_API_KEY, AnthropicTestServer, text_reply
from optimizer_pipeline_tests.lib.actions.test_winner_index import FEATURES as INDEX_FEATURES
from optimizer_pipeline_tests.lib.actions.test_winner_index import _index as winner_index_frame
from optimizer_pipeline_tests.lib.decisions.test_webhook import Hook

WINNER_EXP = "hook-question-vs-statement"
UPSTREAM = [dg.AssetSpec(k, partitions_def=CLIENT) for k in ("experiment_decisions", "experiment_variants")]
MEMORY = [promotion_history_asset, winner_index, compound_learning_asset, winner_insights_asset]
CREATIVES = [  # (creative_id, ad ids, hook, emotion, pacing, seconds)
    ("c-statement", ["glowfuel-ad-01"], "bold_claim", "trust", "medium", 24.0),
    ("c-question", ["glowfuel-ad-02"], "question", "curiosity", "fast", 18.0),
    ("c-aa", ["glowfuel-ad-03", "glowfuel-ad-04"], "story", "joy", "slow", 40.0),
    ("c-shop", ["glowfuel-ad-05"], "tutorial", "urgency", "fast", 12.0),
    ("c-learn", ["glowfuel-ad-06"], "tutorial", "trust", "medium", 12.0),
    ("c-plain", ["glowfuel-ad-07"], "pov", "joy", "fast", 20.0),
    ("c-anchor", ["glowfuel-ad-08"], "pov", "urgency", "fast", 21.0),
]


def _creative_dna() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for cid, ads, hook, emo, pace, seconds in CREATIVES:
        rows.append({"creative_id": cid, "ad_ids": ads, "hook_type": hook, "emotion": emo, "pacing": pace,
                     "pain_point": "no_time", "cta_type": "link_in_bio", "pattern_hash": "", "duration_s": seconds,
                     **{f: float(rng.uniform(0.1, 3.0)) for f in KEY_FEATURES}})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home holding the sample client's replayed decision trail and a creative_dna table."""
    root = tmp_path_factory.mktemp("memory_home")
    settings = load_registry(SAMPLE_CLIENTS_FILE).client(SAMPLE_CLIENT).decisions
    experiments = load_experiments(settings.experiments_file, timezone_name=settings.timezone)
    first = min(e.start for e in experiments)
    ads = generate_ad_account(experiments, start=first.date(), days=30, seed=DEFAULT_SEED)
    looks = looks_between(first, first + timedelta(days=30), 6, settings.timezone)
    trail = replay(experiments, ads, looks, history_vif(ads, aa_daily_pairs(experiments, ads)))
    write_parquet_atomic(trail.decisions, asset_path(root, "experiment_decisions", SAMPLE_CLIENT))
    write_parquet_atomic(trail.variants, asset_path(root, "experiment_variants", SAMPLE_CLIENT))
    write_parquet_atomic(_creative_dna(), asset_path(root, "creative_dna", SAMPLE_CLIENT))
    return root


def _resources(home, **extra) -> dict:
    return {
        "io_manager": ParquetIOManager(home=str(home)),
        "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
        "insights": WinnerInsights(),
        **extra,
    }


def _materialize(home, instance, assets, **resources) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [*UPSTREAM, *assets], partition_key=SAMPLE_CLIENT, instance=instance, resources=_resources(home, **resources)
    )
    assert result.success
    return result


@pytest.fixture(scope="module")
def built(home):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(CLIENT.name, [SAMPLE_CLIENT])
        result = _materialize(home, instance, MEMORY)
        yield home, materialization_metadata(result), result


def test_memory_tables(built):
    home, meta, result = built
    history = read_asset(home, "promotion_history", SAMPLE_CLIENT)
    assert list(history["experiment_id"]) == [WINNER_EXP] and history["standing"].all()
    index = read_asset(home, "winner_index", SAMPLE_CLIENT).set_index("experiment_id")
    row = index.loc[WINNER_EXP]
    assert row["winner"] == "question-hook" and row["creative_ids"] == "c-question"  # ad-02 → c-question
    assert row["hook"] == "question" and row["pattern_hash"].startswith("hook:question|emo:curiosity|pace:fast")
    assert row["duration_bucket"] == "16-30s" and row["ctr"] == pytest.approx(row["clicks"] / row["impressions"])
    assert row["face_share"] == pytest.approx(_creative_dna().set_index("creative_id").at["c-question", "face_share"])
    compound = read_asset(home, "compound_learning", SAMPLE_CLIENT)
    assert len(compound) == 1 and 0 < compound.at[0, "lift_shrunk"] < compound.at[0, "lift"]  # shrunk toward prior
    insights = read_asset(home, "winner_insights", SAMPLE_CLIENT)
    assert list(insights["source"]) == ["deterministic"] and "question-hook" in insights.at[0, "insight"]
    assert "hook question vs bold_claim" in insights.at[0, "insight"]
    assert meta["winner_index"]["winners"] == 1 and meta["winner_index"]["with_dna"] == 1
    report = meta["compound_learning"]["report"]
    assert "winner's curse" in report
    for c in ("lift", "lift_shrunk", "cumulative_shrunk_low", "cumulative_shrunk_high"):
        assert f"{compound.at[0, c] * 100:+.1f} %" in report, c  # every number of the paragraph is a cell
    checks = {(c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()}
    assert len(checks) == 4 and all(checks.values())


def test_winner_index_without_creative_dna(tmp_path, home):
    for asset in ("experiment_decisions", "experiment_variants"):
        write_parquet_atomic(read_asset(home, asset, SAMPLE_CLIENT), asset_path(tmp_path, asset, SAMPLE_CLIENT))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(CLIENT.name, [SAMPLE_CLIENT])
        meta = materialization_metadata(_materialize(tmp_path, instance, [winner_index]))["winner_index"]
    index = read_asset(tmp_path, "winner_index", SAMPLE_CLIENT)
    assert len(index) == 1 and index.at[0, "pattern_hash"] == "" and "no creative_dna" in meta["status"]


def test_claude_insights_through_the_asset(built, tmp_path):
    home, _, _ = built
    compound = read_asset(home, "compound_learning", SAMPLE_CLIENT).iloc[0]
    good = (
        f"A question hook beat the bold claim: the lift at the deciding look was {compound['lift'] * 100:+.1f} %, "
        f"shrunk for the winner's curse {compound['lift_shrunk'] * 100:+.1f} %, with confidence 95 %."
    )
    wrong = good.replace(f"{compound['lift'] * 100:+.1f} %", f"{compound['lift'] * 100 + 3:+.1f} %")
    for asset in ("experiment_decisions", "experiment_variants", "creative_dna", "compound_learning"):
        write_parquet_atomic(read_asset(home, asset, SAMPLE_CLIENT), asset_path(tmp_path, asset, SAMPLE_CLIENT))
    upstream = [*UPSTREAM, dg.AssetSpec("compound_learning", partitions_def=CLIENT)]
    with AnthropicTestServer() as srv, dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(CLIENT.name, [SAMPLE_CLIENT])
        claude = AnthropicWinnerInsights(api_key=DEFAULT_API_KEY, base_url=srv.url)
        resources = _resources(tmp_path, insights=claude)
        tables, metas = [], []
        for reply in (wrong, good):  # a rejected draft is kept for its evidence, so start afresh for the good one
            asset_path(tmp_path, "winner_insights", SAMPLE_CLIENT).unlink(missing_ok=True)
            srv.queue(text_reply(reply))
            r = dg.materialize([*upstream, winner_insights_asset], partition_key=SAMPLE_CLIENT, instance=instance,
                               resources=resources)  # fmt: skip
            tables.append(read_asset(tmp_path, "winner_insights", SAMPLE_CLIENT))
            metas.append(materialization_metadata(r)["winner_insights"])
        requests = len(srv.requests)  # a rerun with unchanged evidence sends no request
        dg.materialize(
            [*upstream, winner_insights_asset], partition_key=SAMPLE_CLIENT, instance=instance, resources=resources
        )
        assert len(srv.requests) == requests == 2
    rejected, accepted = (t.iloc[0] for t in tables)
    assert rejected["source"] == "deterministic (claude rejected)" and rejected["llm_draft"] == wrong
    assert "not in the evidence" in rejected["rejection_reason"] and rejected["insight"] != wrong
    assert accepted["source"] == "claude" and accepted["insight"] == good and accepted["model"] == "claude-sonnet-4-6"
    assert metas[1]["from_claude"] == 1
    assert DEFAULT_API_KEY not in json.dumps(metas, default=str) + json.dumps(tables[1].to_dict(), default=str)


def test_summaries_go_to_the_webhook_once_per_period(home, tmp_path):
    for asset in ("experiment_decisions", "experiment_variants"):
        write_parquet_atomic(read_asset(home, asset, SAMPLE_CLIENT), asset_path(tmp_path, asset, SAMPLE_CLIENT))
    hook = Hook()
    thread = threading.Thread(target=hook.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        resources = _resources(tmp_path, notifier=AlertNotifier(webhook_url=hook.url))
        config = {"ops": {"summary_log": {"config": {"day": "2026-11-08", "kinds": ["daily", "weekly"]}}}}
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(CLIENT.name, [SAMPLE_CLIENT])
            for _ in range(2):  # the rerun of the same period sends nothing
                r = dg.materialize([*UPSTREAM, summary_log], partition_key=SAMPLE_CLIENT, instance=instance,
                                   resources=resources, run_config=config)  # fmt: skip
                assert r.success
            meta = materialization_metadata(r)["summary_log"]
    finally:
        hook.server.shutdown()
        hook.server.server_close()
    texts = [json.loads(body)["text"] for _, _, body in hook.requests]
    assert len(texts) == 2 and meta["sent"] == 0 and meta["logged"] == 2
    daily, weekly = texts
    assert daily.startswith(f"{SAMPLE_CLIENT}: Daily summary (2026-11-08 00:00 UTC to 2026-11-09 00:00 UTC)")
    assert weekly.startswith(f"{SAMPLE_CLIENT}: Weekly summary (2026-11-02 00:00 UTC to 2026-11-09 00:00 UTC)")
    assert f"Promoted: variant 'question-hook' in '{WINNER_EXP}' on 2026-11-06" in weekly  # in the week, not the day
    assert "Promoted" not in daily and "Blocked: 'cta-shop-vs-learn' is blocked-srm" in daily
    log = read_asset(tmp_path, "summary_log", SAMPLE_CLIENT)
    assert list(log["summary_id"]) == [f"{SAMPLE_CLIENT}:daily:2026-11-08", f"{SAMPLE_CLIENT}:weekly:2026-11-08"]
    assert set(log["channel"]) == {"webhook"} and hook.url not in json.dumps(meta, default=str)


def test_summary_schedule_follows_the_clients_clock(home):
    registry = ClientRegistry(path=str(SAMPLE_CLIENTS_FILE))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(CLIENT.name, [SAMPLE_CLIENT])

        def tick(when: datetime):
            ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                            resources={"registry": registry})  # fmt: skip
            return summary_schedule(ctx)

        monday = tick(datetime(2026, 11, 16, 8, tzinfo=UTC))  # the sample client reports in UTC
        assert [r.run_key for r in monday] == [f"{SAMPLE_CLIENT}:summaries:2026-11-15"]
        assert monday[0].run_config["ops"]["summary_log"]["config"] == {
            "day": "2026-11-15",
            "kinds": ["daily", "weekly"],
        }
        tuesday = tick(datetime(2026, 11, 17, 8, tzinfo=UTC))
        assert tuesday[0].run_config["ops"]["summary_log"]["config"]["kinds"] == ["daily"]
        assert isinstance(tick(datetime(2026, 11, 17, 9, tzinfo=UTC)), dg.SkipReason)
    new_york = ZoneInfo("America/New_York")  # 13:00 UTC is 08:00 in New York in November (EST)
    assert due_kinds(datetime(2026, 11, 16, 13, tzinfo=UTC).astimezone(new_york)) == ["daily", "weekly"]
    assert due_kinds(datetime(2026, 11, 16, 8, tzinfo=UTC).astimezone(new_york)) == []


def test_winners_command(built, monkeypatch, capsys):
    home, _, _ = built
    assert parse_where(["hook=question", "ctr>=0.02", "max_lift=1", "pace=fast,medium"]) == {
        "hook": "question", "min_ctr": 0.02, "max_lift": 1.0, "pace": ["fast", "medium"],
    }  # fmt: skip
    argv = ["winners", "--client", SAMPLE_CLIENT, "--home", str(home)]
    assert main([*argv, "--where", "hook=question", "--where", "ctr>=0.001", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"winners [{SAMPLE_CLIENT}]: 1 of 1 (hook=question and ctr>=0.001; by lift)")
    assert WINNER_EXP in out and "question-hook" in out and "c-question" in out
    assert main([*argv, "--where", "hook=pov"]) == 0 and "no winner matches" in capsys.readouterr().out
    assert main([*argv, "--like", WINNER_EXP]) == 0 and "no winner matches" in capsys.readouterr().out
    assert main([*argv, "--like", "nope"]) == 1 and "not a winner" in capsys.readouterr().err
    assert main([*argv, "--where", "colour=red"]) == 1 and "unknown filter" in capsys.readouterr().err
    assert main([*argv, "--where", "ctr>=high"]) == 1 and "not a number" in capsys.readouterr().err
    monkeypatch.setenv("OPTIMIZER_HOME", str(home))
    assert main(["winners", "--client", "nobody"]) == 1 and "no winner_index stored" in capsys.readouterr().err
    with pytest.raises(WinnersQueryError):
        winners_report(home, SAMPLE_CLIENT, ["=x"])


def test_like_ranks_the_other_winners_by_similarity():
    idx = winner_index_frame()
    found = query_winners(idx, {}, "e3", 3)
    features = dict(idx.set_index("experiment_id").loc["e3", INDEX_FEATURES])
    expected = [e for e in search_winners(idx, features, k=4)["experiment_id"] if e != "e3"][:3]
    assert list(found["experiment_id"]) == expected and list(found["rank"]) == [1, 2, 3]
    assert found["similarity"].notna().all() and "similarity" in winners_text(found)
    assert list(query_winners(idx, {"hook": "question"}, "e3", 5)["experiment_id"]) == [
        e for e in search_winners(idx, features, filters={"hook": "question"}, k=5)["experiment_id"]
    ]  # e3 (a tutorial hook) is not among the question hooks anyway
