"""Hashtags of a scraped item, whatever shape the source wrote them in.

Sources disagree: clockworks items carry a list of ``{"name": ...}`` objects, CSV exports a JSON or Python-literal
list in one cell, or plain comma/space separated words; some have no hashtag field at all. One parser reads them all,
so the replay reader and the normalizer agree on what a hashtag is.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from optimizer_pipeline.lib.market.display_counts import is_missing


def split_hashtag_text(text: str) -> list[Any]:
    """Entries of a hashtag cell: a JSON or Python-literal list, else comma/space separated words."""
    stripped = text.strip()
    if stripped.startswith("["):
        for loads in (json.loads, ast.literal_eval):
            try:
                parsed = loads(stripped)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(parsed, list):
                return parsed
        stripped = stripped.strip("[]")
    return [word for word in re.split(r"[,\s]+", stripped) if word]


def hashtag_names(value: Any) -> list[str] | None:
    """Lower-case names without '#', deduplicated in order; ``None`` when the source has no hashtag field."""
    if value is None or (not isinstance(value, str | list | tuple | dict) and is_missing(value)):
        return None
    if isinstance(value, str):
        entries: Any = split_hashtag_text(value)
    elif isinstance(value, dict):
        entries = [value]
    else:
        entries = value
    names: dict[str, None] = {}
    for entry in entries:
        name = entry.get("name") if type(entry) is dict else entry
        if type(name) is not str and (isinstance(name, dict | list) or is_missing(name)):
            continue
        clean = str(name).strip().lstrip("#").strip().lower()
        if clean:
            names[clean] = None
    return list(names)
