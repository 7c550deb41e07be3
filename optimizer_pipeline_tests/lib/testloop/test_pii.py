"""lib/testloop/pii.py and the PiiVault resource: stable per-client salts, salted hashes, e-mail encryption with either
kind of key, and the hash-only mode when no key is configured."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat

import pytest
from cryptography.fernet import Fernet

from optimizer_pipeline.lib.testloop import pii
from optimizer_pipeline.resources.pii import PiiVault

PASSPHRASE = "correct horse battery staple"


def test_salt_is_32_bytes_stable_across_instances_and_different_per_client(tmp_path):
    a, b = PiiVault(home=str(tmp_path)), PiiVault(home=str(tmp_path))
    salt = a.salt("glowfuel")
    assert len(salt) == 32
    assert salt == a.salt("glowfuel") == b.salt("glowfuel")  # the secret file is created once and reused
    assert salt != a.salt("acme")


def test_secret_file_is_private_and_homes_differ(tmp_path):
    home1, home2 = tmp_path / "one", tmp_path / "two"
    s1 = PiiVault(home=str(home1)).salt("glowfuel")
    mode = stat.S_IMODE((home1 / pii.SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    assert s1 != PiiVault(home=str(home2)).salt("glowfuel")  # a random secret per home without a key
    assert pii.load_or_create_secret(home1) == pii.load_or_create_secret(home1)


def test_with_a_key_the_salt_comes_from_the_key_not_the_home(tmp_path):
    a = PiiVault(home=str(tmp_path / "a"), key=PASSPHRASE)
    b = PiiVault(home=str(tmp_path / "b"), key=PASSPHRASE)
    c = PiiVault(home=str(tmp_path / "a"), key=PASSPHRASE + "!")
    assert a.salt("glowfuel") == b.salt("glowfuel") != c.salt("glowfuel")
    assert not (tmp_path / "a" / pii.SECRET_FILE).exists()
    expected = hmac.new(PASSPHRASE.encode(), b"salt:glowfuel", hashlib.sha256).digest()
    assert a.salt("glowfuel") == expected  # known answer: HMAC-SHA256(secret, "salt:" + client)


def test_hash_email_normalises_and_is_keyed_per_client(tmp_path):
    vault = PiiVault(home=str(tmp_path))
    h = vault.hash_email("glowfuel", "  Maya.Fit@Example.COM ")
    assert h == vault.hash_email("glowfuel", "maya.fit@example.com")
    assert h == pii.salted_hash(vault.salt("glowfuel"), "maya.fit@example.com")
    assert h != vault.hash_email("acme", "maya.fit@example.com")
    assert len(h) == 64 and "maya" not in h


@pytest.mark.parametrize("key", [PASSPHRASE, Fernet.generate_key().decode()], ids=["passphrase", "fernet-key"])
def test_encrypt_decrypt_round_trip(tmp_path, key):
    vault = PiiVault(home=str(tmp_path), key=key)
    assert vault.can_encrypt
    token = vault.encrypt_email(" Maya.Fit@Example.com")
    assert token is not None and "maya" not in token.lower()
    assert vault.decrypt_email(token) == "maya.fit@example.com"
    assert vault.encrypt_email("maya.fit@example.com") != token  # randomised: hence ciphertext reuse on reruns


def test_fernet_key_is_used_as_such_and_passphrase_through_sha256(tmp_path):
    fernet_key = Fernet.generate_key()
    token = PiiVault(home=str(tmp_path), key=fernet_key.decode()).encrypt_email("a@example.com")
    assert Fernet(fernet_key).decrypt(token.encode()) == b"a@example.com"
    token = PiiVault(home=str(tmp_path), key=PASSPHRASE).encrypt_email("a@example.com")
    derived = base64.urlsafe_b64encode(hashlib.sha256(PASSPHRASE.encode()).digest())
    assert Fernet(derived).decrypt(token.encode()) == b"a@example.com"


def test_no_key_keeps_only_the_hash(tmp_path):
    vault = PiiVault(home=str(tmp_path))
    assert not vault.can_encrypt
    assert vault.encrypt_email("a@example.com") is None
    assert len(vault.hash_email("glowfuel", "a@example.com")) == 64
    with pytest.raises(pii.PiiError, match="OPTIMIZER_PII_KEY is not set"):
        vault.decrypt_email("anything")


def test_wrong_or_short_keys_are_clear_errors(tmp_path):
    token = PiiVault(home=str(tmp_path), key=PASSPHRASE).encrypt_email("a@example.com")
    with pytest.raises(pii.PiiError, match="does not decrypt"):
        PiiVault(home=str(tmp_path), key="another passphrase entirely").decrypt_email(token)
    with pytest.raises(pii.PiiError, match="at least 16"):
        PiiVault(home=str(tmp_path), key="short").encrypt_email("a@example.com")
    with pytest.raises(pii.PiiError, match="at least 16"):
        pii.client_salt(b"short", "glowfuel")
