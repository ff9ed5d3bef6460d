"""The run directory: where a :class:`~inertia.lab.run_config.RunConfig`'s run is recorded.

A run directory holds

- ``config.json``   the :class:`~inertia.lab.run_config.RunConfig` (what was asked for);
- ``summary.json``  status (``running``, ``completed``, ``diverged``, ``failed``), message, final
  and target metrics, wall time;
- ``metrics.csv``   one row per optimizer step (problems) or per epoch (training);
- ``checkpoint.pt`` the latest good state (parameters, optimizer, schedule, records so far; see
  :mod:`inertia.lab.checkpoints`).

Every file is replaced atomically (temporary file + ``os.replace``), so a run killed at any moment
leaves complete files behind, and :func:`inertia.lab.execute.execute` on the same directory resumes from the
checkpoint and ends with exactly the records of an uninterrupted run (wall times aside).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inertia.io.atomic import atomic_write_text, unwritable_reason
from inertia.io.json_files import json_safe, read_json, write_json
from inertia.lab.run_config import ConfigError, RunConfig, number_or_text, one_line

STATUSES = ("running", "completed", "diverged", "failed")
Record = dict[str, Any]
OnRecord = Callable[[Record], None]


def write_metrics(path: Path, rows: list[Record]) -> None:
    """Write records as CSV atomically; columns are the union of the rows' keys, in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
    atomic_write_text(path, buffer.getvalue())


def _csv_cell(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def read_metrics(path: Path) -> list[Record]:
    """Read ``metrics.csv``: numbers become int/float (exactly, via repr round-trip), blanks None."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: _parse_cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _parse_cell(text: str) -> Any:
    return None if text == "" else number_or_text(text)


def read_run_json(path: Path) -> dict[str, Any]:
    """:func:`read_json` of a run directory's file; :class:`ConfigError` on ``run_dir`` if it is not valid JSON."""
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ConfigError("run_dir", f"{str(path)!r} cannot be read ({one_line(exc)}); choose another "
                                     "directory or remove it") from None
    if not isinstance(data, dict):
        raise ConfigError("run_dir", f"{str(path)!r} holds {type(data).__name__}, not a JSON object")
    return data


def run_file(name: str) -> property:
    """A read-only property of :class:`RunDir`: the path of the file ``name`` in the run directory."""

    def path(run_dir: RunDir) -> Path:
        return run_dir.root / name

    return property(path, doc=f"``root / {name!r}``")


@dataclass
class RunDir:
    """Paths of a run directory."""

    root: Path

    config = run_file("config.json")
    summary = run_file("summary.json")
    metrics = run_file("metrics.csv")
    checkpoint = run_file("checkpoint.pt")


def check_output_dir(path: str | os.PathLike, name: str = "out") -> Path:
    """Return ``path`` if it is, or can be created as, a writable directory; else raise
    :class:`ConfigError` naming ``name`` and the path (so a long job does not fail only when it
    writes its output)."""
    reason = unwritable_reason(path, directory=True)
    if reason is not None:
        raise ConfigError(name, reason)
    return Path(path)


def check_run_dir(config: RunConfig, run_dir: str | os.PathLike) -> RunDir:
    """Check, writing nothing, that ``run_dir`` can be created or holds this same config
    (:class:`ConfigError` on ``run_dir`` if it holds another, or a config that cannot be read)."""
    paths = RunDir(check_output_dir(run_dir, "run_dir"))
    if paths.config.exists():
        existing = read_run_json(paths.config)
        existing.pop("kind", None)
        wanted = json.loads(json.dumps(json_safe(config.to_dict())))
        if existing != wanted:
            changed = sorted(k for k in set(existing) | set(wanted) if existing.get(k) != wanted.get(k))
            raise ConfigError("run_dir", f"{str(paths.root)!r} holds a different run (differs in: "
                                         f"{', '.join(changed) or 'fields'}); choose another directory")
    return paths


def prepare_run_dir(config: RunConfig, run_dir: str | os.PathLike) -> RunDir:
    """Create the run directory, or check that an existing one holds this same config
    (:class:`ConfigError` on ``run_dir`` if it holds another)."""
    paths = check_run_dir(config, run_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    write_json(paths.config, {**config.to_dict(), "kind": config.kind})
    return paths
