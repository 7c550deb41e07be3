"""Personal data at rest: per-client salts for hashing ids, and e-mail encryption.

Why: the test loop stores influencer e-mails (outreach needs them back) and conversion user ids (identity stitching
needs them equal, never readable). Ids and e-mails are only ever stored as HMAC-SHA256 with a per-client salt, so two
clients' hashes of one person never match. E-mails are additionally encrypted (Fernet: AES-128-CBC + HMAC) when a key
is configured; without a key only the salted hash is kept and outreach drafts carry no address.

Salts derive from one secret: ``HMAC-SHA256(secret, "salt:" + client)``. The secret is the configured key when
there is one, else a random 32-byte file created once (mode 0600) under the home, so salts, and with them every
stored hash, stay stable across runs and processes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

SECRET_FILE = "secrets/pii.secret"
MIN_KEY_CHARS = 16


class PiiError(ValueError):
    """A key that cannot be used, or a ciphertext that does not decrypt with it."""


def load_or_create_secret(home: str | Path) -> bytes:
    """The home's random secret, created atomically with mode 0600 on first use."""
    path = Path(home) / SECRET_FILE
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    try:
        os.link(tmp, path)  # never overwrite a secret another process created first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


def client_salt(secret: bytes, client: str) -> bytes:
    """32 bytes, a pure function of (secret, client)."""
    if len(secret) < MIN_KEY_CHARS:
        raise PiiError(f"the PII secret must be at least {MIN_KEY_CHARS} bytes")
    return hmac.new(secret, f"salt:{client}".encode(), hashlib.sha256).digest()


def salted_hash(salt: bytes, value: str) -> str:
    """HMAC-SHA256(key=salt, msg=value utf-8) as lowercase hex: what the conversion parser stores for user ids and
    e-mails (``hmac.digest`` is the one-shot C path of ``hmac.new(...).hexdigest()``, same output)."""
    return hmac.digest(salt, value.encode("utf-8"), "sha256").hex()


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, so one address always hashes the same."""
    return email.strip().lower()


def _fernet(key: str) -> Fernet:
    """A Fernet from the configured key: a Fernet key as such, or any passphrase of >= 16 characters (SHA-256)."""
    if len(key) < MIN_KEY_CHARS:
        raise PiiError(f"OPTIMIZER_PII_KEY must be at least {MIN_KEY_CHARS} characters")
    try:
        return Fernet(key.encode())
    except ValueError:
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def encrypt(key: str, plaintext: str) -> str:
    return _fernet(key).encrypt(plaintext.encode()).decode()


def decrypt(key: str, token: str) -> str:
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise PiiError("the ciphertext does not decrypt with the configured OPTIMIZER_PII_KEY") from exc
