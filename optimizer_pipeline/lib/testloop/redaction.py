"""Redaction of personal data in quarantined raw event lines.

Why: a malformed line is kept so a person can see what went wrong, but it may carry a ``userId`` or an e-mail in
clear, and the project stores those only as salted hashes. Lines are often not valid JSON, so redaction works on the
text: every e-mail address anywhere, and the string value of the personal keys below, become
``hmac:<first 16 hex of HMAC-SHA256(salt, value)>`` (user ids as sent, e-mails trimmed and lower-cased: the same
values the parser hashes, so the prefix matches the start of ``user_id_hash`` / ``email_hash``).
"""

from __future__ import annotations

import re

from optimizer_pipeline.lib.testloop.pii import normalize_email, salted_hash

#: JSON keys whose string values are personal (Segment spec trait names and the id the parser hashes).
PERSONAL_KEYS: tuple[str, ...] = (
    "userId",
    "user_id",
    "email",
    "phone",
    "name",
    "firstName",
    "lastName",
    "first_name",
    "last_name",
    "username",
    "address",
    "street",
)
#: An e-mail address anywhere in a text: permissive (a missed address is a leak), but it stops at URL punctuation so
#: the address inside ``mailto:`` or ``?e=`` hashes like the address itself.
EMAIL_RE = re.compile(r"[^@\s,;<>()\[\]\"':/?=&#]+@[^@\s,;<>()\[\]\"':/?=&#]+\.[A-Za-z]{2,}")
REDACTED = "<redacted>"
_KEY_RE = re.compile(r'("(?:' + "|".join(PERSONAL_KEYS) + r')"\s*:\s*)"((?:[^"\\]|\\.)*)"')
HASH_PREFIX = 16


def _token(salt: bytes, value: str) -> str:
    return "hmac:" + salted_hash(salt, value)[:HASH_PREFIX]


def redact_line(raw: str, salt: bytes) -> str:
    """``raw`` with personal values replaced by salted-hash tokens (module docstring); other text unchanged."""

    def key_value(m: re.Match[str]) -> str:
        value = m.group(2)
        if value.startswith("hmac:"):
            return m.group(0)
        clean = normalize_email(value) if EMAIL_RE.fullmatch(value.strip()) else value
        return f'{m.group(1)}"{_token(salt, clean)}"'

    out = _KEY_RE.sub(key_value, raw)
    return EMAIL_RE.sub(lambda m: _token(salt, normalize_email(m.group(0))), out)


def redact_emails(text: str) -> str:
    """Every e-mail address in ``text`` replaced by ``<redacted>``: for free text with no salt at hand (influencer
    CSV rows, status notes), where nothing needs to be matched back."""
    return EMAIL_RE.sub(REDACTED, text)
