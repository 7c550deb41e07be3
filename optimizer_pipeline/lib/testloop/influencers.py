"""Import an influencer export (CSV) into a roster, and apply the seed's filter (followers, engagement, niche).

Real exports differ, so the reader tolerates: a UTF-8 BOM (or UTF-16 / cp1252 files from Excel), ``,`` ``;`` or tab
separators, headers in any case and wording (``Handle``/``Username``/``TikTok handle``, ``E-mail``, ``Follower
count``, ``ER (%)``...), ``@Handle`` or a profile URL for the handle, counts such as ``12.5K`` or ``12,500``,
engagement as ``4.2%`` or ``0.042``, extra columns (ignored, never stored: they may hold personal data) and an
optional ``status`` column (the starting outreach status). Plain engagement numbers are read as percentages when the
header says so (``%``, ``pct``, ``percent``) or when any plain value in the column is above 1 (``4.2`` = 4.2 %),
otherwise as fractions.

Rows that cannot be used (no handle, a bad e-mail, unreadable numbers, a duplicate handle) are rejected with their
line number and reason; their raw cells are kept with every e-mail address redacted. Clear e-mails exist only in
memory: :func:`roster_table` stores a salted hash and, when a key is configured, a ciphertext.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from optimizer_pipeline.lib.market.display_counts import is_missing, parse_count
from optimizer_pipeline.lib.registry.clients import HANDLE_RE
from optimizer_pipeline.lib.registry.testloop_settings import TestLoopSettings
from optimizer_pipeline.lib.testloop.influencer_status import POTENTIAL, StatusError, normalize_status
from optimizer_pipeline.lib.testloop.redaction import REDACTED, redact_emails

REQUIRED: tuple[str, ...] = ("handle", "email", "followers", "engagement_rate")
#: Header spellings per field (optional fields: niche, geo, status), compared after lower-casing and dropping
#: everything but letters and digits ("E-mail" → "email", "ER (%)" → "er").
HEADER_ALIASES: Mapping[str, tuple[str, ...]] = {
    "handle": ("handle", "username", "user", "tiktokhandle", "tiktokusername", "tiktok", "account", "creator",
               "influencer", "profile", "profileurl"),
    "email": ("email", "emailaddress", "mail", "contactemail", "businessemail", "emailid"),
    "followers": ("followers", "followercount", "followerscount", "fans", "fancount", "audience", "audiencesize",
                  "tiktokfollowers", "subscribers"),
    "engagement_rate": ("engagementrate", "er", "engagement", "avgengagementrate", "averageengagementrate",
                        "engagementratepct", "engagementratepercent", "erpct", "erpercent"),
    "niche": ("niche", "niches", "category", "categories", "topic", "topics", "vertical"),
    "geo": ("geo", "country", "countrycode", "location", "region", "market"),
    "status": ("status", "outreachstatus", "stage", "pipelinestage"),
}  # fmt: skip
ROSTER_COLUMNS: tuple[str, ...] = (
    "client", "handle", "followers", "engagement_rate", "niche", "geo", "status", "eligible", "ineligible_reason",
    "email_hash", "email_encrypted", "line",
)  # fmt: skip
REJECTED_COLUMNS: tuple[str, ...] = ("line", "handle", "reason", "raw")
EMAIL_RE = re.compile(r"^[^@\s,;<>()\[\]]+@[^@\s,;<>()\[\]]+\.[A-Za-z]{2,}$")
_PROFILE_URL = re.compile(r"tiktok\.com/@([^/?#\s]+)", re.IGNORECASE)
_DECIMAL_COMMA_SUFFIX = re.compile(r"^\d+,\d{1,2}\s*[kmb]$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)$")


class RosterError(ValueError):
    """An influencer file that cannot be read at all (missing, empty, required columns absent)."""


@dataclass(frozen=True)
class Influencer:
    """One accepted row; ``email`` is the normalised clear address and must never leave memory."""

    line: int
    handle: str
    email: str = field(repr=False)
    followers: int
    engagement_rate: float
    niche: str | None
    geo: str | None
    status: str


@dataclass(frozen=True)
class Roster:
    """Accepted influencers, rejected rows (``REJECTED_COLUMNS``), rows read, and which header fed each field."""

    influencers: list[Influencer]
    rejected: pd.DataFrame
    read: int
    columns: dict[str, str]
    engagement_scale: str  # "percent" or "fraction": how plain engagement numbers were read


def read_roster(path: str | Path) -> Roster:
    """Parse an influencer export; see the module docstring for what is tolerated."""
    p = Path(path)
    try:
        text = _decode(p.read_bytes())
    except FileNotFoundError as exc:
        raise RosterError(f"{p}: influencer file not found") from exc
    return parse_roster(text, source=str(p))


def parse_roster(text: str, *, source: str = "<influencers>") -> Roster:
    """Parse the text of an influencer export."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or not lines[0].strip():
        raise RosterError(f"{source}: empty file (expected a header row with {list(REQUIRED)})")
    dialect = _dialect(lines[0])
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader)
    columns = _map_header(header)
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise RosterError(
            f"{source}: no column for {missing}; the header has {header} (accepted names, e.g.: "
            + "; ".join(f"{f}: {', '.join(HEADER_ALIASES[f][:3])}" for f in missing)
            + ")"
        )
    records: list[tuple[int, dict[str, str], str | None]] = []
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        row = {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}
        extra = len(cells) - len(header)
        problem = f"{len(cells)} fields but the header has {len(header)}" if extra > 0 else None
        records.append((line, {**row, "_raw": _redacted_raw(header, cells, columns)}, problem))
    percent = _percent_scale(header[columns["engagement_rate"]], [r["engagement_rate"] for _, r, _ in records])
    accepted: list[Influencer] = []
    rejected: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, row, problem in records:
        try:
            if problem:
                raise ValueError(problem)
            influencer = _influencer(line, row, percent)
        except ValueError as exc:
            rejected.append(
                {"line": line, "handle": row["handle"].strip() or None, "reason": str(exc), "raw": row["_raw"]}
            )
            continue
        if influencer.handle in seen:
            why = f"duplicate handle @{influencer.handle} (first on line {seen[influencer.handle]})"
            rejected.append({"line": line, "handle": influencer.handle, "reason": why, "raw": row["_raw"]})
            continue
        seen[influencer.handle] = line
        accepted.append(influencer)
    return Roster(
        influencers=accepted,
        rejected=pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS)).astype({"line": "int64"}),
        read=len(records),
        columns={f: header[i] for f, i in columns.items()},
        engagement_scale="percent" if percent else "fraction",
    )


def _decode(data: bytes) -> str:
    """UTF-8 (BOM dropped), UTF-16 with a BOM, else cp1252 (older Excel exports)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _dialect(header_line: str) -> type[csv.Dialect]:
    try:
        return csv.Sniffer().sniff(header_line, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _map_header(header: Sequence[str]) -> dict[str, int]:
    """Field → column index; the first matching column wins, unmatched columns are ignored."""
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        key = _header_key(name)
        for f, aliases in HEADER_ALIASES.items():
            if f not in columns and key in aliases:
                columns[f] = i
                break
    return columns


def _redacted_raw(header: Sequence[str], cells: Sequence[str], columns: Mapping[str, int]) -> str:
    """The row as JSON for the quarantine, with the e-mail cell and any address elsewhere replaced."""
    names = [*header, *(f"extra_{j}" for j in range(len(header), len(cells)))]
    email_index = columns.get("email")
    raw = {}
    for i, (name, cell) in enumerate(zip(names, cells, strict=False)):
        raw[name] = REDACTED if i == email_index and cell.strip() else redact_emails(cell)
    return json.dumps(raw, ensure_ascii=False)


def _percent_scale(header: str, values: Sequence[str]) -> bool:
    """Plain engagement numbers are percentages when the header says so or any of them is above 1."""
    if re.search(r"%|pct|percent", header, re.IGNORECASE):
        return True
    for v in values:
        text = v.strip().replace(",", ".")
        if text and not text.endswith("%") and _NUMBER.match(text) and float(text) > 1:
            return True
    return False


def parse_handle(value: str) -> str:
    """``"@GlowGirl"``, ``"glowgirl"`` or ``"https://www.tiktok.com/@glowgirl?lang=en"`` → ``"glowgirl"``."""
    text = value.strip()
    if match := _PROFILE_URL.search(text):
        text = match.group(1)
    handle = text.lstrip("@").strip().lower()
    if not handle:
        raise ValueError("missing handle")
    if not HANDLE_RE.match(handle):
        raise ValueError(f"handle {value.strip()!r} is not a TikTok handle (letters, digits, '_' and '.')")
    return handle


def parse_engagement(value: str, *, percent: bool) -> float:
    """``"4.2%"`` → 0.042; a plain number is a percentage when ``percent`` is true, else a fraction."""
    text = value.strip().replace(" ", "")
    if not text:
        raise ValueError("missing engagement rate")
    is_pct = text.endswith("%")
    number = text.rstrip("%").replace(",", ".")
    if not _NUMBER.match(number):
        raise ValueError(f"engagement rate {value.strip()!r} is not a number (e.g. 4.2% or 0.042)")
    rate = float(number) / (100 if is_pct or percent else 1)
    if not 0 <= rate <= 1:
        raise ValueError(f"engagement rate {value.strip()!r} is outside 0-100%")
    return rate


def parse_followers(value: str) -> int:
    """``"12.5K"`` / ``"12,5K"`` → 12500, ``"12,500"`` → 12500; raises for anything else or a negative count."""
    text = value.strip()
    if _DECIMAL_COMMA_SUFFIX.match(text):  # "12,5K" from a European export is 12.5K
        text = text.replace(",", ".")
    try:
        count = parse_count(text)
    except ValueError as exc:
        raise ValueError(f"followers {value.strip()!r} is not a count (e.g. 12500, 12,500 or 12.5K)") from exc
    if count is None:
        raise ValueError("missing followers")
    if count < 0:
        raise ValueError(f"followers {value.strip()!r} is negative")
    return count


def _influencer(line: int, row: Mapping[str, str], percent: bool) -> Influencer:
    handle = parse_handle(row["handle"])
    email = row["email"].strip().lower()
    if not email:
        raise ValueError("missing e-mail")
    if not EMAIL_RE.match(email):
        raise ValueError("e-mail is not an address (expected name@domain.tld)")
    status_text = row.get("status", "")
    try:
        status = POTENTIAL if is_missing(status_text) else normalize_status(status_text)
    except StatusError as exc:
        raise ValueError(str(exc)) from exc
    return Influencer(
        line=line,
        handle=handle,
        email=email,
        followers=parse_followers(row["followers"]),
        engagement_rate=parse_engagement(row["engagement_rate"], percent=percent),
        niche=_text(row.get("niche", ""), lower=True),
        geo=_text(row.get("geo", ""), lower=False),
        status=status,
    )


def _text(value: str, *, lower: bool) -> str | None:
    text = " ".join(value.split())
    if is_missing(text):
        return None
    return text.lower() if lower else text


def niche_values(niche: str | None) -> list[str]:
    """A cell may list several niches: ``"fitness, nutrition"`` / ``"fitness|food"``."""
    return [n.strip() for n in re.split(r"[,;/|]", niche or "") if n.strip()]


def ineligibility(inf: Influencer, settings: TestLoopSettings) -> str | None:
    """Why the seed's filter excludes ``inf`` (followers in [min, max] inclusive, ER strictly above the minimum,
    niche among the client's niches when it lists any), or None when it is eligible."""
    reasons = []
    if inf.followers < settings.min_followers:
        reasons.append(f"followers {inf.followers:,} below {settings.min_followers:,}")
    if inf.followers > settings.max_followers:
        reasons.append(f"followers {inf.followers:,} above {settings.max_followers:,}")
    if not inf.engagement_rate > settings.min_engagement_rate:
        reasons.append(f"engagement rate {inf.engagement_rate:.2%} not above {settings.min_engagement_rate:.2%}")
    if settings.niches and not set(niche_values(inf.niche)) & set(settings.niches):
        reasons.append(f"niche {inf.niche or '(none)'!r} not in {list(settings.niches)}")
    return "; ".join(reasons) or None


def reason_counts(reasons: pd.Series) -> dict[str, int]:
    """How many rows each kind of reason hit (values dropped: "followers 4,999 below 5,000" → "followers below")."""
    kinds: dict[str, int] = {}
    for reason in reasons.dropna():
        for part in str(reason).split("; "):
            kind = re.sub(r"\s+", " ", re.sub(r"'[^']*'|\[[^\]]*\]|[\d.,]+%?", "", part)).strip()
            kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


class EmailProtector(Protocol):
    """What :func:`roster_table` needs from the PII vault (``optimizer_pipeline.resources.pii.PiiVault``)."""

    def hash_email(self, client: str, email: str) -> str: ...
    def encrypt_email(self, email: str) -> str | None: ...
    def decrypt_email(self, token: str) -> str: ...


def roster_table(
    roster: Roster,
    client: str,
    settings: TestLoopSettings,
    vault: EmailProtector,
    previous_ciphertexts: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The stored roster (``ROSTER_COLUMNS``): eligibility, salted e-mail hash, ciphertext or None; no clear e-mail.

    Encryption is randomised, so a ciphertext from the previous materialisation (``email_hash → ciphertext``) is
    reused when it still decrypts to the same address: a rerun writes identical files.
    """
    previous = previous_ciphertexts or {}
    rows = []
    for inf in roster.influencers:
        email_hash = vault.hash_email(client, inf.email)
        reason = ineligibility(inf, settings)
        rows.append(
            {
                "client": client,
                "handle": inf.handle,
                "followers": inf.followers,
                "engagement_rate": inf.engagement_rate,
                "niche": inf.niche,
                "geo": inf.geo,
                "status": inf.status,
                "eligible": reason is None,
                "ineligible_reason": reason,
                "email_hash": email_hash,
                "email_encrypted": _ciphertext(vault, inf.email, previous.get(email_hash)),
                "line": inf.line,
            }
        )
    table = pd.DataFrame(rows, columns=list(ROSTER_COLUMNS))
    return table.astype({"followers": "int64", "engagement_rate": "float64", "eligible": "bool", "line": "int64"})


def _ciphertext(vault: EmailProtector, email: str, previous: str | None) -> str | None:
    if previous is not None and not is_missing(previous):
        try:
            if vault.decrypt_email(previous) == email:
                return previous
        except ValueError:  # no key any more, or another key: encrypt again (or keep only the hash)
            pass
    return vault.encrypt_email(email)
