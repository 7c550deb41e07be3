"""Which files an event inbox holds, and the path DuckDB reads for each of them.

An inbox is a plain folder per client: event files sit directly in it (``*.jsonl``, ``*.ndjson``, ``*.json``),
uploads still in flight are skipped. A ``.json`` webhook file holding one JSON document (``{"batch": [...]}``, a JSON
array or one event) is rewritten as NDJSON into a scratch folder, so the parser sees one format; a path holding glob
characters is read through a symlink, because DuckDB would expand it. Pure logic, no Dagster.
"""

from __future__ import annotations

import json
from pathlib import Path

INBOX_SUFFIXES = (".jsonl", ".ndjson", ".json")

BATCH_MAX_BYTES = 256 * 1024 * 1024  # a .json file larger than this is read as NDJSON without trying one-doc parse
_GLOB_CHARS = frozenset("*?[]{}")  # DuckDB would expand these in a path: such files are read through a symlink


def read_inbox_files(folder: str | Path) -> list[Path]:
    """Event files directly in ``folder``, sorted by name: ``*.jsonl``, ``*.ndjson``, ``*.json``.

    Hidden files (``.*``) and in-flight uploads (``*.tmp``, ``*.part``, ``*.partial``, ``*.crdownload``, ``~`` suffix;
    their suffix is never one of ours anyway) are skipped. A missing folder gives ``[]``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        name = p.name
        if name.startswith(".") or name.endswith("~") or not p.is_file():
            continue
        if p.suffix.lower() in INBOX_SUFFIXES:
            out.append(p)
    return sorted(out, key=lambda p: (p.name, str(p)))


def _batch_events(path: Path) -> list | None:
    """Events of a ``.json`` file holding one JSON document (``{"batch": [...]}``, an array or one event); None if the
    file is not one JSON document (then it is NDJSON)."""
    if path.stat().st_size > BATCH_MAX_BYTES:
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("batch"), list):
        return doc["batch"]
    if isinstance(doc, list):
        return doc
    return [doc]


def scan_paths(paths: list[Path], tmp: Path) -> list[Path]:
    """Path DuckDB reads for each input: the file itself, an NDJSON rewrite of a webhook batch file, or a symlink when
    the path holds glob characters."""
    out = []
    for i, path in enumerate(paths):
        events = _batch_events(path) if path.suffix.lower() == ".json" else None
        if events is None:
            resolved = path.resolve()
            if _GLOB_CHARS.intersection(str(resolved)):
                link = tmp / f"file-{i:06d}.ndjson"
                link.symlink_to(resolved)
                resolved = link
            out.append(resolved)
            continue
        scan = tmp / f"batch-{i:06d}.ndjson"
        with scan.open("w", encoding="utf-8") as fh:
            for e in events:
                fh.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
        out.append(scan)
    return out
