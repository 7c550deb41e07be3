"""The test loop's set-up through Dagster: creatives, influencers and traffic_sources materialised for the sample
client, reruns byte-identical, no clear e-mail in any file, metadata or log, quarantines with read = accepted +
rejected, and status changes from the ``influencer-status`` command applied (or reported) by traffic_sources."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from optimizer_pipeline.cli.main import main as cli_main
from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.defs.testloop.creatives import creatives
from optimizer_pipeline.defs.testloop.influencers import influencers
from optimizer_pipeline.defs.testloop.traffic_sources import traffic_sources
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.testloop.influencer_status import new_entry
from optimizer_pipeline.lib.testloop.traffic_sources import TRAFFIC_COLUMNS
from optimizer_pipeline.resources.influencer_status import InfluencerStatusLog
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry

ASSETS = [creatives, influencers, traffic_sources]
OUTPUTS = ["creatives", "creatives_rejected", "influencers", "influencers_rejected", "traffic_sources"]
KEY = "sample test passphrase, long enough"
SAMPLE_DIR = SAMPLE_CLIENTS_FILE.parent
EMAIL = re.compile(r"[\w.+-]+@example\.(?:com|org)", re.IGNORECASE)


def resources(home: Path, clients: Path = SAMPLE_CLIENTS_FILE, key: str | None = KEY) -> dict:
    return {
        "io_manager": ParquetIOManager(home=str(home)),
        "registry": ClientRegistry(path=str(clients)),
        "pii": PiiVault(home=str(home), key=key),
        "status_log": InfluencerStatusLog(home=str(home)),
    }


def run(instance: dg.DagsterInstance, res: dict, key: str = "glowfuel", selection=None) -> dg.ExecuteInProcessResult:
    result = dg.materialize(ASSETS, selection=selection, partition_key=key, instance=instance, resources=res)
    assert result.success
    return result


def table(home: Path, asset: str, key: str = "glowfuel") -> pd.DataFrame:
    return pd.read_parquet(home / "data" / asset / f"{key}.parquet")


def sample_emails() -> set[str]:
    text = (SAMPLE_DIR / "glowfuel_influencers.csv").read_text(encoding="utf-8-sig")
    return {m.lower() for m in EMAIL.findall(text)} | {m.lower() for m in re.findall(r"[\w.]+\(at\)example\.com", text)}


def test_sample_client_end_to_end_metadata_and_contract(instance, tmp_path):
    meta = materialization_metadata(run(instance, resources(tmp_path)))
    assert meta["creatives"]["read"] == meta["creatives"]["accepted"] + meta["creatives"]["rejected"] == 20
    assert meta["creatives"]["active"] == 12  # 7 paused paid-ad creatives and 1 untagged draft are not assigned
    assert meta["influencers"]["read"] == 63 == meta["influencers"]["accepted"] + meta["influencers"]["rejected"]
    assert (meta["influencers"]["rejected"], meta["influencers"]["eligible"]) == (3, 44)
    assert meta["influencers_rejected"]["rejected"] == 3
    assert "filter" in meta["influencers"] and "eligibility_plot" in meta["influencers"]
    ts = table(tmp_path, "traffic_sources")
    assert list(ts.columns) == list(TRAFFIC_COLUMNS)
    assert len(ts) == meta["traffic_sources"]["assignments"] == 44  # creatives_per_influencer = 1
    assert ts["utm_id"].is_unique and ts["utm_id"].str.fullmatch(r"[a-z2-7]{16}").all()
    assert all(uid in link for uid, link in zip(ts["utm_id"], ts["utm_link"], strict=True))
    assert ts["utm_link"].str.startswith("https://glowfuel.example/shop?utm_source=tiktok&utm_medium=influencer").all()
    per_pattern = ts["pattern_hash"].value_counts()
    assert len(per_pattern) == 12 and per_pattern.max() - per_pattern.min() <= 1
    roster = table(tmp_path, "influencers").set_index("handle")
    assert (ts.set_index("influencer")["start_status"] == roster.loc[ts["influencer"], "status"]).all()
    assert meta["traffic_sources"]["live_links"] == int((ts["status"] == "posted").sum()) == 28
    assert "example_outreach" in meta["traffic_sources"] and "assignments_plot" in meta["traffic_sources"]
    cr = table(tmp_path, "creatives").set_index("creative_id")
    assert (ts["pattern_hash"] == cr.loc[ts["creative_id"], "pattern_hash"].to_numpy()).all()


def test_rerun_writes_identical_parquet(instance, tmp_path):
    res = resources(tmp_path)
    run(instance, res)
    first = {a: (tmp_path / "data" / a / "glowfuel.parquet").read_bytes() for a in OUTPUTS}
    run(instance, res)
    second = {a: (tmp_path / "data" / a / "glowfuel.parquet").read_bytes() for a in OUTPUTS}
    assert first == second


@pytest.mark.parametrize("key", [KEY, None], ids=["with-key", "no-key"])
def test_no_clear_email_in_files_metadata_or_logs(instance, tmp_path, key):
    emails = sample_emails()
    assert len(emails) == 63  # 62 addresses + one typed by hand: the scan below looks for every one of them
    result = run(instance, resources(tmp_path, key=key))
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert len(files) == len(OUTPUTS)
    blobs = [p.read_bytes().lower() for p in files]
    for p in files:  # decoded values too, in case compression hides a string from the byte scan
        blobs.append(pd.read_parquet(p).to_csv(index=False).lower().encode())
    blobs.append(json.dumps(materialization_metadata(result), default=str).lower().encode())
    blobs += [str(entry).lower().encode() for entry in instance.all_logs(result.run_id)]
    leaks = {e for e in emails for blob in blobs if e.encode() in blob}
    assert not leaks
    roster = table(tmp_path, "influencers")
    ts = table(tmp_path, "traffic_sources")
    if key is None:
        assert roster["email_encrypted"].isna().all() and ts["outreach_to"].isna().all()
    else:
        vault = PiiVault(home=str(tmp_path), key=key)
        decrypted = {vault.decrypt_email(t) for t in roster["email_encrypted"]}
        assert decrypted <= emails and len(decrypted) == 60


def cli(home: Path, handle: str, creative: str, status: str, *extra: str) -> int:
    argv = ["influencer-status", "--client", "glowfuel", "--handle", handle, "--creative", creative, *extra]
    return cli_main([*argv, "--status", status, "--home", str(home), "--clients", str(SAMPLE_CLIENTS_FILE)])


def test_status_cli_validates_appends_and_traffic_sources_applies(instance, tmp_path, capsys):
    res = resources(tmp_path)
    run(instance, res)
    ts = table(tmp_path, "traffic_sources").set_index("influencer")
    handle = ts.index[ts["status"] == "potential"][0]
    creative = ts.loc[handle, "creative_id"]
    other = next(c for c in ts["creative_id"] if c != creative)
    log = tmp_path / "testloop" / "glowfuel" / "status_log.jsonl"

    assert cli(tmp_path, f"@{handle.upper()}", creative, "posted") == 1  # potential → posted skips two steps
    assert "not allowed" in capsys.readouterr().err and not log.exists()
    assert cli(tmp_path, handle, other, "contacted") == 1
    assert "is not assigned creative" in capsys.readouterr().err
    assert cli(tmp_path, "nobody_here", creative, "contacted") == 1
    assert "is not in" in capsys.readouterr().err
    ineligible = table(tmp_path, "influencers").query("not eligible")["handle"].iloc[0]
    assert cli(tmp_path, ineligible, creative, "contacted") == 1
    assert "is not eligible" in capsys.readouterr().err
    assert cli(tmp_path, handle, creative, "sent") == 1
    assert "unknown status" in capsys.readouterr().err
    assert not log.exists()

    assert cli(tmp_path, f"@{handle}", creative, "contacted", "--note", "wrote to maya.x@example.com") == 0
    assert "potential → contacted" in capsys.readouterr().out
    assert json.loads(log.read_text())["note"] == "wrote to <redacted>"  # no address in the log, even by hand
    assert cli(tmp_path, handle, creative, "contacted") == 1  # the same change twice is refused
    assert len(log.read_text().splitlines()) == 1

    meta = materialization_metadata(run(instance, res, selection=["traffic_sources"]))["traffic_sources"]
    row = table(tmp_path, "traffic_sources").set_index("influencer").loc[handle]
    assert (row["status"], row["start_status"]) == ("contacted", "potential") and pd.notna(row["status_changed_at"])
    assert (meta["status_log_applied"], meta["status_log_not_applied"]) == (1, 0)

    # a hand-edited log with an invalid transition: reported in the metadata, not applied
    posted = ts.index[ts["status"] == "posted"][0]
    with log.open("a") as fh:
        fh.write(json.dumps(new_entry(posted, ts.loc[posted, "creative_id"], "contacted").__dict__) + "\n")
        fh.write("garbage\n")
    meta = materialization_metadata(run(instance, res, selection=["traffic_sources"]))["traffic_sources"]
    assert (meta["status_log_applied"], meta["status_log_not_applied"]) == (1, 2)
    assert (
        "posted is final" in meta["log_entries_not_applied"]
        and "unreadable log line" in meta["log_entries_not_applied"]
    )
    assert table(tmp_path, "traffic_sources").set_index("influencer").loc[posted, "status"] == "posted"


BROKEN_CREATIVES = """
creatives:
  - {id: ok-1, name: Fine, video_path: v/ok-1.mp4, status: active,
     tags: {hook_type: story, emotion: trust, pacing: slow, pain_point: budget, cta_type: save}}
  - {id: bad-1, name: Unknown emotion, video_path: v/bad-1.mp4, status: active,
     tags: {hook_type: story, emotion: joy, pacing: slow, pain_point: budget, cta_type: save}}
  - {id: ok-1, name: Duplicate, video_path: v/dup.mp4, status: active,
     tags: {hook_type: pov, emotion: humor, pacing: fast, pain_point: no_time, cta_type: follow}}
"""


def custom_registry(tmp_path: Path, test_loop: str) -> Path:
    path = tmp_path / "reg" / "clients.yaml"
    path.parent.mkdir()
    path.write_text(f"clients:\n  - name: Acme\n    hashtags: [fit]\n{test_loop}")
    return path


def test_quarantine_of_creatives_through_the_asset(tmp_path):
    clients = custom_registry(
        tmp_path,
        "    test_loop: {creatives_file: creatives.yaml, influencers_file: roster.csv, "
        "landing_url: 'https://acme.example/'}\n",
    )
    (clients.parent / "creatives.yaml").write_text(BROKEN_CREATIVES)
    shutil.copy(SAMPLE_DIR / "glowfuel_influencers.csv", clients.parent / "roster.csv")
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(clients), instance)
        meta = materialization_metadata(run(instance, resources(tmp_path, clients), key="acme"))
    assert (meta["creatives"]["read"], meta["creatives"]["accepted"], meta["creatives"]["rejected"]) == (3, 1, 2)
    rejected = table(tmp_path, "creatives_rejected", "acme")
    assert list(rejected["field"]) == ["tags.emotion", "id"]
    assert all(str(clients.parent / "creatives.yaml") in r for r in rejected["reason"])
    ts = table(tmp_path, "traffic_sources", "acme")
    assert set(ts["creative_id"]) == {"ok-1"} and len(ts) == meta["influencers"]["eligible"]


def test_missing_files_and_unconfigured_clients(tmp_path):
    clients = custom_registry(tmp_path, "    test_loop: {creatives_file: nowhere.yaml}\n")
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(clients), instance)
        result = dg.materialize(
            ASSETS,
            partition_key="acme",
            instance=instance,
            resources=resources(tmp_path, clients),
            raise_on_error=False,
        )
        assert not result.success
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert "nowhere.yaml: creatives file not found" in failure.event_specific_data.error.message
    clients.write_text("clients:\n  - name: Acme\n    hashtags: [fit]\n")  # no test_loop block at all
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(clients), instance)
        meta = materialization_metadata(run(instance, resources(tmp_path, clients), key="acme"))
    assert meta["creatives"]["status"].startswith("not configured") and meta["creatives"]["read"] == 0
    assert meta["influencers"]["status"].startswith("not configured")
    assert (
        meta["traffic_sources"]["status"].startswith("not configured") and meta["traffic_sources"]["assignments"] == 0
    )


def test_links_that_went_out_survive_a_paused_creative(tmp_path):
    clients = custom_registry(
        tmp_path,
        "    test_loop: {creatives_file: creatives.yaml, influencers_file: roster.csv, niches: [fitness, nutrition, "
        "food, wellness, mealprep], landing_url: 'https://acme.example/'}\n",
    )
    shutil.copy(SAMPLE_DIR / "glowfuel_creatives.yaml", clients.parent / "creatives.yaml")
    shutil.copy(SAMPLE_DIR / "glowfuel_influencers.csv", clients.parent / "roster.csv")
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(clients), instance)
        res = resources(tmp_path, clients)
        run(instance, res, key="acme")
        before = table(tmp_path, "traffic_sources", "acme")
        live = before[before["status"] != "potential"]
        paused = live["creative_id"].iloc[0]
        text = (clients.parent / "creatives.yaml").read_text()
        block = text.index(f"id: {paused}\n")
        status_at = text.index("status: active", block)
        (clients.parent / "creatives.yaml").write_text(
            text[:status_at] + "status: paused" + text[status_at + len("status: active") :]
        )
        meta = materialization_metadata(run(instance, res, key="acme"))
    after = table(tmp_path, "traffic_sources", "acme")
    assert meta["creatives"]["active"] == 11
    assert set(live["utm_id"]) <= set(after["utm_id"])  # every link that may be out there is still tracked
    moved = before[(before["status"] == "potential") & (before["creative_id"] == paused)]
    assert not (set(moved["utm_id"]) & set(after["utm_id"]))  # unsent drafts of the paused creative are reassigned
    assert set(after["influencer"]) == set(before["influencer"]) and meta["traffic_sources"]["links_dropped"] == []
