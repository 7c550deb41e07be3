"""Reading a user-edited YAML file with an error that names the file: one place for the registry and creatives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: Path, what: str, error: type[Exception]) -> Any:
    """The parsed document; ``error("<path>: <what> not found" | "<path>: not valid YAML: …")`` otherwise. A UTF-8
    byte-order mark (Windows editors write one) is accepted."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise error(f"{path}: {what} not found") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc
