"""Influencer export import: what real exports contain, rejected rows with line and reason, the seed's filter at its
boundaries (followers 5,000 and 50,000 are inclusive; an engagement rate of exactly 3 % is not above 3 %), and
e-mails stored only as salted hash / ciphertext."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.registry.testloop_settings import TestLoopSettings
from optimizer_pipeline.lib.testloop.influencers import (
    ROSTER_COLUMNS,
    Influencer,
    RosterError,
    ineligibility,
    parse_engagement,
    parse_followers,
    parse_handle,
    parse_roster,
    read_roster,
    reason_counts,
    roster_table,
)
from optimizer_pipeline.lib.testloop.redaction import REDACTED
from optimizer_pipeline.resources.pii import PiiVault

KEY = "a test passphrase of enough length"
SETTINGS = TestLoopSettings(niches=("fitness", "nutrition"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.5K", 12_500),
        ("12,5K", 12_500),
        ("12,500", 12_500),
        ("1.2M", 1_200_000),
        ("5000", 5000),
        (" 50K ", 50_000),
        ("0", 0),
    ],
)
def test_followers_known_answers(text, expected):
    assert parse_followers(text) == expected


@pytest.mark.parametrize(("text", "needle"), [("lots", "not a count"), ("-5", "negative"), ("", "missing")])
def test_followers_errors(text, needle):
    with pytest.raises(ValueError, match=needle):
        parse_followers(text)


@pytest.mark.parametrize(
    ("text", "percent", "expected"),
    [
        ("4.2%", False, 0.042),
        ("0.042", False, 0.042),
        ("4.2", True, 0.042),
        ("4,2 %", False, 0.042),
        ("3%", False, 0.03),
    ],
)
def test_engagement_known_answers(text, percent, expected):
    assert parse_engagement(text, percent=percent) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(("text", "needle"), [("150%", "outside"), ("high", "not a number"), ("", "missing")])
def test_engagement_errors(text, needle):
    with pytest.raises(ValueError, match=needle):
        parse_engagement(text, percent=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("@GlowGirl", "glowgirl"), ("glowgirl", "glowgirl"), ("https://www.tiktok.com/@Glow.Girl?lang=en", "glow.girl")],
)
def test_handles(text, expected):
    assert parse_handle(text) == expected


def test_bad_handle():
    with pytest.raises(ValueError, match="not a TikTok handle"):
        parse_handle("glow girl!")


def test_real_export_shape_bom_semicolons_aliases_extra_columns():
    text = (
        "\ufeffUsername;E-mail;Follower count;ER (%);Category;Location;Notes\n"
        "@Maya_Fit;Maya@Example.com;12,5K;4,2;Fitness;DE;call maya@example.com first\n"
        "leo.eats;leo@example.com;8200;3.5;Nutrition, Food;FR;\n"
    )
    roster = parse_roster(text)
    assert roster.columns == {
        "handle": "Username", "email": "E-mail", "followers": "Follower count", "engagement_rate": "ER (%)",
        "niche": "Category", "geo": "Location",
    }  # fmt: skip
    assert roster.engagement_scale == "percent"  # the header says %
    maya, leo = roster.influencers
    assert (maya.handle, maya.followers, maya.engagement_rate, maya.niche, maya.geo) == (
        "maya_fit",
        12_500,
        pytest.approx(0.042),
        "fitness",
        "DE",
    )
    assert maya.email == "maya@example.com" and maya.status == "potential"  # no status column
    assert leo.niche == "nutrition, food"


def test_bom_file_and_utf16(tmp_path):
    text = "handle,email,followers,engagement_rate\n@Ana,ana@example.com,9K,5%\n"
    (tmp_path / "bom.csv").write_bytes("\ufeff".encode() + text.encode())
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))
    for name in ("bom.csv", "u16.csv"):
        [ana] = read_roster(tmp_path / name).influencers
        assert (ana.handle, ana.followers, ana.engagement_rate) == ("ana", 9000, 0.05)


def test_plain_engagement_numbers_scale_by_column():
    header = "handle,email,followers,engagement\n"
    fractions = parse_roster(header + "a,a@example.com,9000,0.9\nb,b@example.com,9000,0.05\n")
    assert [i.engagement_rate for i in fractions.influencers] == [
        0.9,
        0.05,
    ] and fractions.engagement_scale == "fraction"
    percents = parse_roster(header + "a,a@example.com,9000,0.9\nb,b@example.com,9000,4.5\n")
    assert [i.engagement_rate for i in percents.influencers] == pytest.approx([0.009, 0.045])


def test_malformed_rows_rejected_with_line_reason_and_no_email():
    text = (
        "handle,email,followers,engagement_rate,status,notes\n"  # line 1
        "good,good@example.com,9K,4%,Posted,\n"  # 2
        "nomail,,9K,4%,,\n"  # 3
        "badmail,bad(at)example.com,9K,4%,,\n"  # 4
        'many,many@example.com,9K,4%,,"a note\nover two lines"\n'  # 5-6 (accepted)
        "lots,lots@example.com,lots,4%,,\n"  # 7
        "@GOOD,second@example.com,9K,4%,,\n"  # 8: duplicate of line 2
        "maybe,maybe@example.com,9K,4%,maybe,\n"  # 9: unknown status
        "extra,extra@example.com,9K,4%,,,surplus\n"  # 10: more fields than the header
        ",x@example.com,9K,4%,,see y@example.org\n"  # 11: no handle
    )
    roster = parse_roster(text)
    assert roster.read == 9 == len(roster.influencers) + len(roster.rejected)
    assert [i.handle for i in roster.influencers] == ["good", "many"]
    assert roster.influencers[0].status == "posted"
    reasons = dict(zip(roster.rejected["line"], roster.rejected["reason"], strict=True))
    assert reasons[3] == "missing e-mail"
    assert reasons[4].startswith("e-mail is not an address")
    assert reasons[7].startswith("followers 'lots' is not a count")
    assert reasons[8] == "duplicate handle @good (first on line 2)"
    assert reasons[9].startswith("unknown status 'maybe'")
    assert reasons[10] == "7 fields but the header has 6"
    assert reasons[11] == "missing handle"
    raw = "\n".join(roster.rejected["raw"])
    assert "@example" not in raw and "bad(at)example.com" not in raw and REDACTED in raw
    assert json.loads(roster.rejected.set_index("line").loc[11, "raw"])["notes"] == f"see {REDACTED}"


def test_missing_required_columns_and_empty_files():
    with pytest.raises(RosterError, match=r"no column for \['email', 'engagement_rate'\]"):
        parse_roster("handle,followers\na,9000\n", source="x.csv")
    with pytest.raises(RosterError, match="empty file"):
        parse_roster("")


def _inf(followers: int = 20_000, er: float = 0.05, niche: str | None = "fitness") -> Influencer:
    return Influencer(1, "h", "h@example.com", followers, er, niche, None, "potential")


@pytest.mark.parametrize(
    ("followers", "eligible"), [(4_999, False), (5_000, True), (50_000, True), (50_001, False)]
)  # fmt: skip
def test_follower_bounds_are_inclusive(followers, eligible):
    assert (ineligibility(_inf(followers=followers), SETTINGS) is None) is eligible


def test_engagement_must_be_strictly_above_the_minimum():
    at = ineligibility(_inf(er=parse_engagement("3%", percent=False)), SETTINGS)
    assert at == "engagement rate 3.00% not above 3.00%"
    assert ineligibility(_inf(er=0.0301), SETTINGS) is None


def test_niche_filter_multi_valued_and_any():
    assert ineligibility(_inf(niche="gaming, fitness"), SETTINGS) is None
    assert ineligibility(_inf(niche="gaming"), SETTINGS) == "niche 'gaming' not in ['fitness', 'nutrition']"
    assert "niche '(none)'" in ineligibility(_inf(niche=None), SETTINGS)
    assert ineligibility(_inf(niche="gaming"), TestLoopSettings()) is None  # no niches listed: any niche


def test_several_reasons_and_their_counts():
    reason = ineligibility(_inf(followers=100, er=0.01, niche="tech"), SETTINGS)
    assert reason == (
        "followers 100 below 5,000; engagement rate 1.00% not above 3.00%; niche 'tech' not in ['fitness', 'nutrition']"
    )
    counts = reason_counts(pd.Series([reason, "followers 60,000 above 50,000", None]))
    assert counts == {"followers below": 1, "engagement rate not above": 1, "niche not in": 1, "followers above": 1}


ROSTER = (
    "handle,email,followers,engagement_rate,niche\n"
    "maya,Maya@Example.com,9K,4%,fitness\n"
    "leo,leo@example.com,1K,4%,fitness\n"
)


def test_roster_table_stores_hash_and_ciphertext_never_the_address(tmp_path):
    vault = PiiVault(home=str(tmp_path), key=KEY)
    table = roster_table(parse_roster(ROSTER), "glowfuel", SETTINGS, vault)
    assert list(table.columns) == list(ROSTER_COLUMNS)
    assert list(table["eligible"]) == [True, False]
    assert table.loc[0, "email_hash"] == vault.hash_email("glowfuel", "maya@example.com")
    assert vault.decrypt_email(table.loc[0, "email_encrypted"]) == "maya@example.com"
    cells = " ".join(str(v) for v in table.to_numpy().ravel()).lower()
    assert "@example.com" not in cells


def test_without_key_only_the_hash(tmp_path):
    table = roster_table(parse_roster(ROSTER), "glowfuel", SETTINGS, PiiVault(home=str(tmp_path)))
    assert table["email_encrypted"].isna().all() and table["email_hash"].str.len().eq(64).all()


def test_previous_ciphertext_reused_only_when_it_still_decrypts(tmp_path):
    vault = PiiVault(home=str(tmp_path), key=KEY)
    first = roster_table(parse_roster(ROSTER), "glowfuel", SETTINGS, vault)
    previous = dict(zip(first["email_hash"], first["email_encrypted"], strict=True))
    again = roster_table(parse_roster(ROSTER), "glowfuel", SETTINGS, vault, previous)
    assert again.equals(first)  # randomised encryption, yet an identical table on rerun
    assert not roster_table(parse_roster(ROSTER), "glowfuel", SETTINGS, vault)["email_encrypted"].equals(
        first["email_encrypted"]
    )
    rotated = PiiVault(home=str(tmp_path), key=KEY + " rotated")
    fresh = roster_table(parse_roster(ROSTER), "glowfuel", SETTINGS, rotated, previous)
    assert rotated.decrypt_email(fresh.loc[0, "email_encrypted"]) == "maya@example.com"


def test_sample_roster_read_equals_accepted_plus_rejected():
    client = load_registry(SAMPLE_CLIENTS_FILE).client("glowfuel")
    roster = read_roster(client.test_loop.influencers_file)
    assert roster.read == len(roster.influencers) + len(roster.rejected) == 63
    assert len(roster.rejected) == 3 and len(roster.influencers) == 60
    eligible = [i for i in roster.influencers if ineligibility(i, client.test_loop) is None]
    assert len(eligible) == 44
    assert sum(i.status == "posted" for i in eligible) > len(eligible) / 2
    assert all(i.email.endswith("@example.com") for i in roster.influencers)
