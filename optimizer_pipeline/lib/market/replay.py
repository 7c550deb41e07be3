"""Read exported scrape files into raw clockworks-shaped item dicts, so offline replays feed the same normaliser.

Supported: ``.json`` (an array, or an object with a ``collector``/``items`` list), ``.jsonl``/``.ndjson`` (one item
per line) and ``.csv`` (flattened ``authorMeta.fans`` / Apify ``authorMeta/fans`` columns, or the VN IE403 column
set), each optionally ``.gz``-compressed. Every item gets ``_source_file`` (file name) and ``_source_row`` (0-based
array index, line number or data row). Parsing of values is left to :mod:`optimizer_pipeline.lib.market.normalize`; this
module only restores the shape, so a bad value is rejected there with a reason instead of crashing here.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer_pipeline.lib.market.hashtags import split_hashtag_text

SUPPORTED_FORMATS: tuple[str, ...] = (".json", ".jsonl", ".ndjson", ".csv")
#: Keys of a JSON object that wrap the item list (``tiktok-scraper`` uses ``collector``).
WRAPPER_KEYS: tuple[str, ...] = ("collector", "items")
#: VN IE403 (``raw_data.csv``) column -> clockworks key path.
VN_IE403_COLUMNS: dict[str, str] = {
    "user_name": "authorMeta.name",
    "user_nfollower": "authorMeta.fans",
    "vid_id": "id",
    "vid_caption": "text",
    "vid_postTime": "createTimeISO",
    "vid_scrapeTime": "_scrapedAt",
    "vid_duration": "videoMeta.duration",
    "vid_nview": "playCount",
    "vid_nlike": "diggCount",
    "vid_ncomment": "commentCount",
    "vid_nshare": "shareCount",
    "vid_nsave": "collectCount",
    "vid_hashtags": "hashtags",
    "vid_url": "webVideoUrl",
    "music_id": "musicMeta.musicId",
    "music_title": "musicMeta.musicName",
    "music_authorName": "musicMeta.musicAuthor",
    "music_originality": "musicMeta.musicOriginal",
}
_VN_MARKERS = frozenset({"vid_id", "vid_nview"})
_PATH_SEP = re.compile(r"[./]")


def export_format(path: Path) -> str | None:
    """``.json``/``.jsonl``/``.ndjson``/``.csv`` for a supported file name (``.gz`` allowed), else ``None``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = suffixes[-1] if suffixes else None
    return fmt if fmt in SUPPORTED_FORMATS else None


def list_export_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(supported, ignored) regular files directly in ``folder``, each sorted by name; sub-folders are skipped."""
    files = sorted((p for p in Path(folder).iterdir() if p.is_file()), key=lambda p: p.name)
    supported = [p for p in files if export_format(p) is not None]
    return supported, [p for p in files if export_format(p) is None]


def read_export_folder(folder: Path) -> list[dict]:
    """Items of every supported file in ``folder``, files in name order; :func:`list_export_files` names the rest."""
    supported, _ignored = list_export_files(folder)
    return [item for path in supported for item in read_export(path)]


def read_export(path: Path) -> list[dict]:
    """Items of one export file, dispatching on its format; raises ``ValueError`` for unsupported files."""
    path = Path(path)
    fmt = export_format(path)
    if fmt == ".csv":
        items = _read_csv(path)
    elif fmt == ".json":
        items = _read_json(path)
    elif fmt in (".jsonl", ".ndjson"):
        items = _read_jsonl(path)
    else:
        raise ValueError(
            f"{path.name}: unsupported export format (expected one of {', '.join(SUPPORTED_FORMATS)}[.gz])"
        )
    for item in items:
        _resolve_local_path(item, path.parent)
    return items


def _read_text(path: Path) -> str:
    """Whole file as text, transparently gunzipped; a UTF-8 BOM is dropped."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig") as handle:
        return handle.read()


def _tag(item: Any, path: Path, row: int) -> dict:
    """Attach provenance; a non-object entry becomes a parse-error item the normaliser rejects."""
    if not isinstance(item, dict):
        item = {"_parse_error": f"entry is a JSON {type(item).__name__}, not an object"}
    return {**item, "_source_file": path.name, "_source_row": row}


def _read_json(path: Path) -> list[dict]:
    """A JSON array, or an object wrapping the array under ``collector``/``items``."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name}: not valid JSON ({exc})") from exc
    if isinstance(data, dict):
        key = next((k for k in WRAPPER_KEYS if isinstance(data.get(k), list)), None)
        if key is None:
            raise ValueError(f"{path.name}: JSON object without a {' or '.join(WRAPPER_KEYS)} list")
        data = data[key]
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: expected a JSON array of items, got {type(data).__name__}")
    return [_tag(item, path, row) for row, item in enumerate(data)]


def _read_jsonl(path: Path) -> list[dict]:
    """One item per line (``_source_row`` = 0-based line number); blank lines are skipped, bad lines kept as errors."""
    items = []
    for row, line in enumerate(_read_text(path).splitlines()):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            item = {"_parse_error": str(exc), "_line": line[:500]}
        items.append(_tag(item, path, row))
    return items


def _read_csv(path: Path) -> list[dict]:
    """Flattened rows back to nested items; every cell is read as a string so ids never become floats."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    columns = [str(c) for c in frame.columns]
    if set(columns) >= _VN_MARKERS:
        columns = [VN_IE403_COLUMNS.get(c, c) for c in columns]
    paths = [tuple(_PATH_SEP.split(c)) for c in columns]
    has_lists = any(part.isdigit() for p in paths for part in p)
    has_hashtags = ("hashtags",) in paths
    items = []
    for row, values in enumerate(frame.itertuples(index=False, name=None)):
        item: dict[str, Any] = {}
        for keys, value in zip(paths, values, strict=True):
            if value != "":
                _put(item, keys, value)
        if has_lists:
            item = _listify(item)
        _restore_lists(item, has_hashtags)
        items.append(_tag(item, path, row))
    return items


def _put(item: dict, keys: tuple[str, ...], value: str) -> None:
    """Set ``item[k0][k1]... = value``, creating intermediate dicts."""
    node = item
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def _listify(node: Any) -> Any:
    """Dicts keyed ``"0"``, ``"1"``... (Apify ``hashtags/0/name`` columns) become lists, recursively."""
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def _restore_lists(item: dict, has_hashtag_column: bool) -> None:
    """Hashtag and mediaUrls cells written as text become lists; an empty hashtag cell means no hashtags."""
    tags = item.get("hashtags")
    if isinstance(tags, str):
        item["hashtags"] = [t if isinstance(t, dict) else {"name": str(t)} for t in split_hashtag_text(tags)]
    elif tags is None and has_hashtag_column:
        item["hashtags"] = []
    media = item.get("mediaUrls")
    if isinstance(media, str):
        item["mediaUrls"] = _text_list(media)


def _text_list(text: str) -> list[Any]:
    """A list written as JSON or a Python literal, else the text as a one-element list."""
    for loads in (json.loads, ast.literal_eval):
        try:
            parsed = loads(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, list):
            return parsed
    return [text]


def _resolve_local_path(item: dict, base: Path) -> None:
    """``localVideoPath`` relative to the export file becomes an absolute path string."""
    local = item.get("localVideoPath")
    if isinstance(local, str) and local.strip():
        item["localVideoPath"] = str((base / local.strip()).resolve())
