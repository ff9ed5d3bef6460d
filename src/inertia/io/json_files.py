"""Strict JSON files: written atomically, with non-finite floats recorded as null."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inertia.io.atomic import atomic_write_text

__all__ = ["write_json", "read_json", "json_safe"]


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON atomically (non-finite floats become null)."""
    atomic_write_text(path, json.dumps(json_safe(data), indent=2, sort_keys=True) + "\n")


def json_safe(value: Any) -> Any:
    """Return ``value`` with every non-finite float replaced by None and mapping keys made strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
