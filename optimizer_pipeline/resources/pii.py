"""The PII vault resource: per-client salts and e-mail encryption, keyed from the environment (see
lib/testloop/pii.py)."""

from __future__ import annotations

import dagster as dg

from optimizer_pipeline.lib.testloop import pii


class PiiVault(dg.ConfigurableResource):
    """``key`` (``OPTIMIZER_PII_KEY``, optional) encrypts e-mails and seeds the salts; without it salts come from a
    random secret kept under ``home`` and e-mails are kept only as salted hashes."""

    home: str
    key: str | None = None

    def secret(self) -> bytes:
        return self.key.encode() if self.key else pii.load_or_create_secret(self.home)

    def salt(self, client: str) -> bytes:
        """The client's 32-byte salt: the same in every run and process."""
        return pii.client_salt(self.secret(), client)

    def hash_value(self, client: str, value: str) -> str:
        return pii.salted_hash(self.salt(client), value)

    def hash_email(self, client: str, email: str) -> str:
        return self.hash_value(client, pii.normalize_email(email))

    @property
    def can_encrypt(self) -> bool:
        return bool(self.key)

    @property
    def email_storage(self) -> str:
        """How e-mails are kept, in words for asset metadata."""
        if self.can_encrypt:
            return "encrypted (Fernet, OPTIMIZER_PII_KEY) + salted HMAC-SHA256 hash"
        return "salted HMAC-SHA256 hash only (OPTIMIZER_PII_KEY not set: drafts have no address)"

    def encrypt_email(self, email: str) -> str | None:
        """Ciphertext of the normalised address, or None when no key is configured (then only the hash is kept)."""
        return pii.encrypt(self.key, pii.normalize_email(email)) if self.key else None

    def decrypt_email(self, token: str) -> str:
        if not self.key:
            raise pii.PiiError("OPTIMIZER_PII_KEY is not set: e-mails were stored as hashes only")
        return pii.decrypt(self.key, token)
