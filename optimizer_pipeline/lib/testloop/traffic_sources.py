"""Traffic sources: which influencer posts which creative, under which unguessable link.

* **Assignment** is deterministic and balanced: eligible influencers, in handle order, each get
  ``creatives_per_influencer`` active creatives, always the least-used pattern first (patterns are what the test
  compares), then the least-used creative of it, ties broken by a fixed hash of (handle, creative); an influencer
  never gets one pattern twice while another is free. Without pins, per-pattern counts differ by at most one.
* **Links never move once they may have gone out**: pairs named in the status log, and pairs the previous
  materialisation had beyond ``potential``, are *pinned*: taken at their influencer's turn in the sweep, so a rerun
  that pins what the sweep chose anyway changes nothing. A pinned pair stays even when its creative is paused or
  retired or the influencer no longer passes the filter (its link is out there and still brings clicks); it only
  goes when the influencer or the creative disappears from its file, which is reported.
* **utm_id** = the first 16 base32 characters (80 bits) of HMAC-SHA256(client salt, ``utm_id|handle|creative``):
  the same on every rerun, different for every pair, and unguessable without the client's secret.
* **Link**: the landing URL (its own query kept, stale ``utm_*`` replaced) with ``utm_source=tiktok``,
  ``utm_medium=influencer``, ``utm_campaign=<client>-creative-test``, ``utm_content=<creative_id>`` and ``utm_id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd

from optimizer_pipeline.lib.registry.clients import Client
from optimizer_pipeline.lib.testloop import outreach
from optimizer_pipeline.lib.testloop.creatives import ACTIVE
from optimizer_pipeline.lib.testloop.influencer_status import POTENTIAL, Pair, Replay, StatusEntry, replay
from optimizer_pipeline.lib.testloop.influencers import niche_values

UTM_ID_CHARS = 16
UTM_SOURCE = "tiktok"
UTM_MEDIUM = "influencer"
TRAFFIC_COLUMNS: tuple[str, ...] = (
    "utm_id",
    "client",
    "influencer",
    "creative_id",
    "pattern_hash",
    "utm_link",
    "status",
    "start_status",
    "status_changed_at",
    "assigned_at",
    "creative_name",
    "followers",
    "engagement_rate",
    "niche",
    "geo",
    "outreach_to",
    "outreach_subject",
    "outreach_body",
)


def utm_id(salt: bytes, handle: str, creative_id: str) -> str:
    """The pair's tracking id: 16 lower-case base32 characters, a keyed hash (see the module docstring)."""
    digest = hmac.new(salt, f"utm_id|{handle}|{creative_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:UTM_ID_CHARS]


def campaign_name(client: str) -> str:
    return f"{client}-creative-test"


def utm_link(landing_url: str, *, client: str, creative_id: str, utm_id: str) -> str:
    """The full tracking URL on ``landing_url``."""
    parts = urlsplit(landing_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")]
    query += [
        ("utm_source", UTM_SOURCE),
        ("utm_medium", UTM_MEDIUM),
        ("utm_campaign", campaign_name(client)),
        ("utm_content", creative_id),
        ("utm_id", utm_id),
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _tiebreak(handle: str, creative_id: str) -> str:
    """A fixed, well-spread order among equally loaded creatives (not a secret)."""
    return hashlib.sha256(f"{handle}|{creative_id}".encode()).hexdigest()


def assign(
    handles: Iterable[str],
    creatives: pd.DataFrame,
    per_influencer: int,
    pinned: Iterable[Pair] = (),
) -> list[Pair]:
    """(handle, creative_id) pairs, sorted.

    ``creatives`` has ``creative_id``, ``pattern_hash`` and optionally ``status`` (only ``active`` ones are assigned
    anew, and only once their ``pattern_hash`` is known; a pinned pair may name any of them). Pinned pairs count
    towards ``per_influencer``.
    """
    pattern_of = dict(zip(creatives["creative_id"], creatives["pattern_hash"], strict=True))
    active = creatives["status"] == ACTIVE if "status" in creatives else pd.Series(True, index=creatives.index)
    if "pattern_hash" in creatives:
        active &= creatives["pattern_hash"].notna()  # an untagged creative waits for its autopsy
    assignable = sorted(creatives.loc[active, "creative_id"])
    chosen: dict[str, list[str]] = {}
    load_creative: Counter[str] = Counter()
    load_pattern: Counter[str] = Counter()

    def take(handle: str, creative: str) -> None:
        chosen.setdefault(handle, []).append(creative)
        load_creative[creative] += 1
        load_pattern[pattern_of[creative]] += 1

    pins: dict[str, list[str]] = {}
    for handle, creative in sorted(set(pinned)):
        if creative in pattern_of:
            pins.setdefault(handle, []).append(creative)
    eligible = set(handles)
    k = min(per_influencer, len(assignable))
    # one sweep in handle order, pins taken at their handle's turn: when the pins are what the sweep would have
    # chosen anyway (a rerun), every later choice is the same as well
    for handle in sorted(eligible | set(pins)):
        for creative in pins.get(handle, []):
            take(handle, creative)
        mine = chosen.setdefault(handle, [])
        while handle in eligible and len(mine) < k and (free := [c for c in assignable if c not in mine]):
            used = {pattern_of[c] for c in mine}
            best = min(
                free,
                key=lambda c, h=handle, u=used: (
                    pattern_of[c] in u,  # a pattern the influencer has not got yet
                    load_pattern[pattern_of[c]],  # the least-tested pattern
                    load_creative[c],  # its least-used creative
                    _tiebreak(h, c),
                ),
            )
            take(handle, best)
    return sorted((h, c) for h, cs in chosen.items() for c in cs)


def kept_pairs(previous: pd.DataFrame | None) -> list[Pair]:
    """Pairs of a previous ``traffic_sources`` table whose link may have gone out (status beyond ``potential``)."""
    if previous is None or not {"influencer", "creative_id", "status"} <= set(previous.columns):
        return []
    out = previous[previous["status"] != POTENTIAL]
    return sorted(zip(out["influencer"], out["creative_id"], strict=True))


@dataclass(frozen=True)
class Plan:
    """The assignment with each pair's starting and current status (after the status log), and the pins lost."""

    pairs: list[Pair]
    start: dict[Pair, str]
    replay: Replay
    dropped: list[Pair]  # pinned pairs whose influencer or creative is no longer in its file


def plan(
    roster: Mapping[str, str],
    eligible: Iterable[str],
    creatives: pd.DataFrame,
    per_influencer: int,
    entries: Sequence[StatusEntry],
    kept: Iterable[Pair] = (),
) -> Plan:
    """Pin, assign and replay the log. ``roster``: handle → starting status (CSV) of every accepted influencer;
    ``eligible``: those that pass the filter; ``creatives``: every accepted creative with its ``status``; ``kept``:
    :func:`kept_pairs` of the previous table.

    Used by the ``traffic_sources`` asset and by the ``influencer-status`` command, so both see the same pairs.
    """
    known = set(creatives["creative_id"])
    wanted = sorted({*kept, *((e.handle, e.creative_id) for e in entries)})
    pinned = [p for p in wanted if p[0] in roster and p[1] in known]
    dropped = [p for p in sorted(set(kept)) if p not in pinned]  # a log entry alone is reported by the replay
    pairs = assign(eligible, creatives, per_influencer, pinned)
    start = {pair: roster[pair[0]] for pair in pairs}
    return Plan(pairs=pairs, start=start, replay=replay(start, entries), dropped=dropped)


def _present(value: object) -> object:
    """None for a missing cell (None / NaN / NA), the value otherwise."""
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _main_niche(niche: str | None, allowed: Sequence[str]) -> str | None:
    """The influencer's niche to mention: the first one the client targets, else the first listed."""
    values = niche_values(niche)
    return next((n for n in values if n in allowed), values[0] if values else None)


def build_traffic_sources(
    client: Client,
    influencers: pd.DataFrame,
    creatives: pd.DataFrame,
    *,
    salt: bytes,
    entries: Sequence[StatusEntry],
    previous: pd.DataFrame | None,
    now: pd.Timestamp,
) -> tuple[pd.DataFrame, Plan]:
    """One row per assignment (``TRAFFIC_COLUMNS``), sorted by influencer then creative.

    ``influencers`` and ``creatives`` are the assets of the same names (all rows: eligibility and status decide);
    ``previous`` is the partition's last ``traffic_sources`` table (None at first): its links that may have gone out
    are pinned, and ``assigned_at`` keeps its value for a known ``utm_id`` (else ``now``), so a rerun writes the
    same file.
    """
    settings = client.test_loop
    roster = influencers.set_index("handle")
    eligible = roster.index[roster["eligible"].astype(bool)]
    the_plan = plan(
        roster["status"].to_dict(), eligible, creatives, settings.creatives_per_influencer, entries,
        kept_pairs(previous),
    )  # fmt: skip
    if the_plan.pairs and settings.landing_url is None:
        raise ValueError(f"client {client.slug!r}: test_loop.landing_url is not set in the registry; links need it")
    previous_assigned_at = {}
    if previous is not None and {"utm_id", "assigned_at"} <= set(previous.columns):
        previous_assigned_at = dict(zip(previous["utm_id"], previous["assigned_at"], strict=True))
    by_creative = creatives.set_index("creative_id")
    rows = []
    for handle, creative_id in the_plan.pairs:
        inf = {k: _present(v) for k, v in roster.loc[handle].items()}  # Parquet nulls come back as NaN
        creative = {"creative_id": creative_id, **by_creative.loc[creative_id].to_dict()}
        uid = utm_id(salt, handle, creative_id)
        link = utm_link(str(settings.landing_url), client=client.slug, creative_id=creative_id, utm_id=uid)
        mail = outreach.draft(
            brand_name=client.name,
            brand=client.brand,
            handle=handle,
            niche=_main_niche(inf["niche"], settings.niches),
            creative=creative,
            utm_link=link,
            to=inf["email_encrypted"],
        )
        changed = the_plan.replay.changed_at.get((handle, creative_id))
        rows.append(
            {
                "utm_id": uid,
                "client": client.slug,
                "influencer": handle,
                "creative_id": creative_id,
                "pattern_hash": creative["pattern_hash"],
                "utm_link": link,
                "status": the_plan.replay.status[(handle, creative_id)],
                "start_status": the_plan.start[(handle, creative_id)],
                "status_changed_at": pd.Timestamp(changed) if changed else pd.NaT,
                "assigned_at": previous_assigned_at.get(uid, now),
                "creative_name": creative["name"],
                "followers": int(inf["followers"]),
                "engagement_rate": float(inf["engagement_rate"]),
                "niche": inf["niche"],
                "geo": inf["geo"],
                "outreach_to": mail.to,
                "outreach_subject": mail.subject,
                "outreach_body": mail.body,
            }
        )
    table = pd.DataFrame(rows, columns=list(TRAFFIC_COLUMNS))
    if table["utm_id"].duplicated().any():  # 80-bit ids: practically impossible, but never silently merge links
        raise ValueError(f"client {client.slug!r}: two assignments got the same utm_id; rotate the PII secret")
    for col in ("status_changed_at", "assigned_at"):
        table[col] = pd.to_datetime(table[col], utc=True).astype("datetime64[us, UTC]")
    return table.astype({"followers": "int64", "engagement_rate": "float64"}), the_plan
