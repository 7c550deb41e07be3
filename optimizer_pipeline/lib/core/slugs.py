"""Partition-key-safe slugs: Dagster joins multi-partition keys with ``|`` and keys become file names."""

from __future__ import annotations

import re
import unicodedata

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
JOINER = "__"


def slugify(text: str) -> str:
    """Lower-case ASCII slug in ``[a-z0-9-]``; raises ``ValueError`` when nothing usable remains."""
    norm = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", norm).strip("-")
    if not slug:
        raise ValueError(f"cannot make a partition-safe slug from {text!r}")
    return slug


def is_slug(text: str) -> bool:
    """True when ``text`` is already a valid slug (no ``__``, no ``|``, no upper case)."""
    return bool(SLUG_RE.match(text)) and JOINER not in text


def client_hashtag_key(client_slug: str, hashtag_slug: str) -> str:
    """``<client>__<hashtag>``, the key of the ``client_hashtag`` dynamic partition."""
    for part in (client_slug, hashtag_slug):
        if not is_slug(part):
            raise ValueError(f"{part!r} is not a slug ([a-z0-9-], no '__')")
    return f"{client_slug}{JOINER}{hashtag_slug}"


def split_client_hashtag(key: str) -> tuple[str, str]:
    """Inverse of :func:`client_hashtag_key`."""
    client, sep, hashtag = key.partition(JOINER)
    if not sep or not is_slug(client) or not is_slug(hashtag):
        raise ValueError(f"{key!r} is not a '<client>__<hashtag>' key")
    return client, hashtag
