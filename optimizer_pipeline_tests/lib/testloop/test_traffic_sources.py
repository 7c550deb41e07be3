"""Assignment, utm_id and links: balanced and deterministic assignment, pinned pairs that never move, ids that are
unique, stable and unguessable without the client's secret, and full UTM links."""

from __future__ import annotations

import random
import re
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from optimizer_pipeline.lib.registry.clients import parse_registry
from optimizer_pipeline.lib.testloop.influencer_status import new_entry
from optimizer_pipeline.lib.testloop.influencers import parse_roster, roster_table
from optimizer_pipeline.lib.testloop.traffic_sources import (
    TRAFFIC_COLUMNS,
    assign,
    build_traffic_sources,
    kept_pairs,
    plan,
    utm_id,
    utm_link,
)
from optimizer_pipeline.resources.pii import PiiVault

HANDLES = [f"creator{i:02d}" for i in range(60)]


def creatives(n: int, patterns: list[str] | None = None) -> pd.DataFrame:
    ids = [f"c{i:02d}" for i in range(n)]
    return pd.DataFrame({"creative_id": ids, "pattern_hash": patterns or [f"p{i}" for i in range(n)]})


def test_utm_id_shape_stability_uniqueness_and_secret(tmp_path):
    salt = PiiVault(home=str(tmp_path), key="the first client secret").salt("glowfuel")
    ids = {utm_id(salt, h, c) for h in HANDLES for c in creatives(12)["creative_id"]}
    assert len(ids) == 60 * 12  # unique
    one = utm_id(salt, "maya", "c01")
    assert re.fullmatch(r"[a-z2-7]{16}", one)  # 80 bits of base32
    assert one == utm_id(salt, "maya", "c01")  # stable
    again = PiiVault(home=str(tmp_path / "elsewhere"), key="the first client secret").salt("glowfuel")
    assert utm_id(again, "maya", "c01") == one  # same secret, same id on any machine
    other = PiiVault(home=str(tmp_path), key="another client secret").salt("glowfuel")
    assert utm_id(other, "maya", "c01") != one  # not derivable without the secret
    assert (
        utm_id(salt, "maya", "c02") != one and utm_id(PiiVault(home=str(tmp_path)).salt("acme"), "maya", "c01") != one
    )


def test_utm_link_has_every_parameter_and_keeps_the_landing_query():
    link = utm_link(
        "https://shop.example/p/greens?ref=tt&utm_source=old", client="glowfuel", creative_id="c1", utm_id="x"
    )
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "shop.example", "/p/greens")
    assert parse_qs(parts.query) == {
        "ref": ["tt"],
        "utm_source": ["tiktok"],
        "utm_medium": ["influencer"],
        "utm_campaign": ["glowfuel-creative-test"],
        "utm_content": ["c1"],
        "utm_id": ["x"],
    }


@pytest.mark.parametrize("k", [1, 2, 3])
def test_assignment_is_balanced_per_creative_and_pattern(k):
    pairs = assign(HANDLES, creatives(12), k)
    per_creative = Counter(c for _, c in pairs)
    assert len(pairs) == 60 * k and set(per_creative.values()) == {5 * k}  # 60k / 12 exactly
    per_influencer = Counter(h for h, _ in pairs)
    assert set(per_influencer.values()) == {k}
    assert len(set(pairs)) == len(pairs)  # never the same creative twice


def test_patterns_are_balanced_before_creatives():
    # c00 and c01 share pattern pA, c02 is alone in pB: patterns get equal shares, creatives of pA split it
    table = creatives(3, ["pA", "pA", "pB"])
    pairs = assign(HANDLES[:20], table, 1)
    per_creative = Counter(c for _, c in pairs)
    assert per_creative["c00"] + per_creative["c01"] == per_creative["c02"] == 10
    assert abs(per_creative["c00"] - per_creative["c01"]) <= 1


def test_an_influencer_gets_distinct_patterns_when_it_can():
    pairs = assign(HANDLES[:6], creatives(4, ["pA", "pA", "pB", "pB"]), 2)
    pattern = {"c00": "pA", "c01": "pA", "c02": "pB", "c03": "pB"}
    for h in HANDLES[:6]:
        assert {pattern[c] for hh, c in pairs if hh == h} == {"pA", "pB"}


def test_assignment_is_deterministic_whatever_the_input_order():
    shuffled = HANDLES[:]
    random.Random(1).shuffle(shuffled)
    table = creatives(7)
    assert assign(shuffled, table.sample(frac=1, random_state=2), 2) == assign(HANDLES, table, 2)


def test_pinned_pairs_survive_roster_and_creative_changes():
    table = creatives(5)
    before = assign(HANDLES[10:30], table, 1)
    pinned = before[:5]
    newcomers = [f"aaa{i}" for i in range(7)]  # sort first: without pins they shift everyone after them
    unpinned = assign(newcomers + HANDLES[10:30], creatives(6), 1)
    assert any(pair not in unpinned for pair in pinned)  # the roster change would move a link that went out...
    after = assign(newcomers + HANDLES[10:30], creatives(6), 1, pinned)  # ...the pins keep it
    for pair in pinned:
        assert pair in after
        assert sum(h == pair[0] for h, _ in after) == 1  # no extra creative for a pinned influencer
    ghost = plan({"maya": "potential"}, ["maya"], table, 1, [new_entry("ghost", "c00", "contacted")])
    assert [h for h, _ in ghost.pairs] == ["maya"]  # a pin needs a roster entry; the log entry is reported instead
    assert "not an assignment" in ghost.replay.problems[0]["reason"]


def test_plan_uses_csv_start_status_and_log():
    roster = {"maya": "potential", "leo": "posted"}
    entries = [new_entry("maya", "c00", "contacted")]
    the_plan = plan(roster, list(roster), creatives(2), 1, entries)
    assert ("maya", "c00") in the_plan.pairs  # the logged pair is pinned
    assert the_plan.replay.status[("maya", "c00")] == "contacted"
    leo = next(p for p in the_plan.pairs if p[0] == "leo")
    assert the_plan.start[leo] == the_plan.replay.status[leo] == "posted"


REGISTRY = """
clients:
  - name: Acme
    brand: {description: Good food., products: [Bars]}
    hashtags: [fit]
    test_loop: {landing_url: "https://acme.example/", niches: [fitness]}
"""
CSV = (
    "handle,email,followers,engagement_rate,niche,status\n"
    "maya,maya@example.com,9K,4%,fitness,posted\n"
    "leo,leo@example.com,9K,4%,gaming,\n"
    "ana,ana@example.com,20K,5%,fitness,contacted\n"
)


def test_build_traffic_sources_rows_and_rerun_values(tmp_path):
    import yaml

    client = parse_registry(yaml.safe_load(REGISTRY)).client("acme")
    vault = PiiVault(home=str(tmp_path), key="a key long enough for fernet")
    roster = roster_table(parse_roster(CSV), "acme", client.test_loop, vault)
    table2 = creatives(2).assign(
        name=["One", "Two"], hook_type="question", emotion="curiosity", pacing="fast", pain_point="no_time",
        cta_type="save",
    )  # fmt: skip
    now = pd.Timestamp("2026-03-01T10:00:00Z")
    table, _ = build_traffic_sources(
        client, roster, table2, salt=vault.salt("acme"), entries=[], previous=None, now=now
    )
    assert list(table.columns) == list(TRAFFIC_COLUMNS)
    assert sorted(table["influencer"]) == ["ana", "maya"]  # leo's niche is not targeted
    assert set(table["creative_id"]) == {"c00", "c01"}
    maya = table.set_index("influencer").loc["maya"]
    assert maya["status"] == maya["start_status"] == "posted" and pd.isna(maya["status_changed_at"])
    assert maya["utm_id"] == utm_id(vault.salt("acme"), "maya", maya["creative_id"])
    assert maya["utm_link"].startswith("https://acme.example/?utm_source=tiktok") and maya["utm_id"] in maya["utm_link"]
    assert vault.decrypt_email(maya["outreach_to"]) == "maya@example.com"
    assert maya["utm_link"] in maya["outreach_body"] and "Good food." in maya["outreach_body"]
    assert (table["assigned_at"] == now).all()
    later = pd.Timestamp("2026-04-01T10:00:00Z")
    again, _ = build_traffic_sources(
        client, roster, table2, salt=vault.salt("acme"), entries=[], previous=table, now=later
    )
    pd.testing.assert_frame_equal(again, table)
    no_url = parse_registry(yaml.safe_load(REGISTRY.replace('landing_url: "https://acme.example/", ', "")))
    with pytest.raises(ValueError, match="landing_url is not set"):
        build_traffic_sources(no_url.client("acme"), roster, table2, salt=b"s" * 32, entries=[], previous=None, now=now)


def test_roster_without_optional_columns_or_key_after_a_parquet_round_trip(tmp_path):
    import yaml

    client = parse_registry(yaml.safe_load(REGISTRY.replace("niches: [fitness]", "niches: []"))).client("acme")
    vault = PiiVault(home=str(tmp_path))  # no key: no ciphertext
    csv = "handle,email,followers,engagement_rate\nmaya,maya@example.com,9K,4%\n"
    roster = roster_table(parse_roster(csv), "acme", client.test_loop, vault)
    roster.to_parquet(tmp_path / "r.parquet")
    stored = pd.read_parquet(tmp_path / "r.parquet")  # nulls come back as NaN in string columns
    table2 = creatives(1).assign(name="One", hook_type="none", emotion="none", pacing="slow", pain_point="none",
                                 cta_type="none")  # fmt: skip
    table, _ = build_traffic_sources(
        client,
        stored,
        table2,
        salt=vault.salt("acme"),
        entries=[],
        previous=None,
        now=pd.Timestamp.now("UTC"),
    )
    [row] = table.to_dict("records")
    assert row["outreach_to"] is None and row["niche"] is None and row["geo"] is None
    assert "your recent videos" in row["outreach_body"] and "straight into the content" in row["outreach_body"]


def test_links_that_went_out_stay_when_creatives_pause_or_influencers_drop_out():
    table = creatives(4).assign(status="active")
    roster = {h: "potential" for h in HANDLES[:8]}
    first = plan(roster, list(roster), table, 1, [])
    previous = pd.DataFrame(
        [{"influencer": h, "creative_id": c, "status": "posted" if h in HANDLES[:3] else "potential"}
         for h, c in first.pairs]
    )  # fmt: skip
    posted = [p for p in first.pairs if p[0] in HANDLES[:3]]
    assert kept_pairs(previous) == posted
    paused = table.assign(status=["paused", "paused", "active", "active"])  # two creatives paused after posting
    eligible = HANDLES[1:8]  # HANDLES[0] fell out of the filter (e.g. grew past 50K followers)
    again = plan(roster, eligible, paused, 1, [], kept_pairs(previous))
    assert set(posted) <= set(again.pairs) and not again.dropped
    new_pairs = [p for p in again.pairs if p not in posted]
    assert {c for _, c in new_pairs} <= {"c02", "c03"}  # new assignments use active creatives only
    assert sum(h == HANDLES[0] for h, _ in again.pairs) == 1  # kept, not re-assigned
    gone = {h: s for h, s in roster.items() if h != HANDLES[1]}  # removed from the CSV: reported, not silent
    dropped = plan(gone, eligible[1:], paused, 1, [], kept_pairs(previous)).dropped
    assert dropped == [p for p in posted if p[0] == HANDLES[1]]


@pytest.mark.parametrize("k", [1, 2])
def test_pinning_the_previous_links_on_a_rerun_changes_nothing(k):
    statuses = ["posted", "potential", "contacted", "agreed", "rejected", "potential"]
    roster = {h: statuses[i % len(statuses)] for i, h in enumerate(HANDLES)}
    table = creatives(9, [f"p{i % 7}" for i in range(9)]).assign(status="active")
    first = plan(roster, list(roster), table, k, [])
    previous = pd.DataFrame(
        [{"influencer": h, "creative_id": c, "status": first.start[(h, c)]} for h, c in first.pairs]
    )
    assert 0 < len(kept_pairs(previous)) < len(first.pairs)
    assert plan(roster, list(roster), table, k, [], kept_pairs(previous)).pairs == first.pairs
