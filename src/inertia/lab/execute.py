"""Execute one run in its directory: start, resume, summarise, and record failures."""

from __future__ import annotations

import math
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inertia.io.json_files import read_json, write_json
from inertia.lab.checkpoints import load_checkpoint
from inertia.lab.loops import LoopState, run_optimization, run_training
from inertia.lab.run_config import RunConfig
from inertia.lab.run_monitors import MONITOR_FILE, MonitorOptions, summary_fields
from inertia.lab.run_storage import (
    OnRecord,
    Record,
    RunDir,
    check_run_dir,
    prepare_run_dir,
    read_metrics,
    read_run_json,
    write_metrics,
)
from inertia.lab.run_validation import validate

FINISHED = ("completed", "diverged")


def target_column(config: RunConfig, rows: list[Record]) -> tuple[str, float | None, bool]:
    """``(column, threshold, higher_is_better)`` that defines reaching the target.

    Training: test_accuracy >= target. Problems: gap <= target when f* is known (default target:
    1e-3 of the initial gap), else loss <= target (no default).
    """
    if config.kind == "training":
        return "test_accuracy", config.target, True
    has_gap = bool(rows) and rows[0].get("gap") is not None
    if not has_gap:
        return "loss", config.target, False
    if config.target is not None:
        return "gap", config.target, False
    initial = rows[0]["gap"]
    return "gap", (1e-3 * initial if initial is not None and math.isfinite(initial) and initial > 0 else None), False


def first_reaching(rows: list[Record], column: str, threshold: float | None, higher: bool) -> Record | None:
    """The first row whose ``column`` reaches ``threshold``, or None."""
    if threshold is None:
        return None
    for row in rows:
        value = row.get(column)
        if value is not None and math.isfinite(value) and (value >= threshold if higher else value <= threshold):
            return row
    return None


def summarize(config: RunConfig, state: LoopState) -> dict[str, Any]:
    """The summary.json content of a finished loop: status, message, final/best/target metrics."""
    rows = state.rows
    column, threshold, higher = target_column(config, rows)
    reached = first_reaching(rows, column, threshold, higher)
    summary: dict[str, Any] = {
        "status": state.status, "message": state.message, "kind": config.kind, "optimizer": config.optimizer,
        "run_id": config.run_id(), "wall_time_s": state.elapsed_s, "records": len(rows),
        "target_metric": column, "target": threshold,
        "steps_to_target": None if reached is None else reached["step"],
        "time_to_target_s": None if reached is None else reached["time_s"],
        "checkpoint_step": state.checkpoint_step, "resumed_at": state.resumed_at, **state.extra,
        **summary_fields(state.monitor),
    }
    if config.kind == "training":
        last = rows[-1] if rows else {}
        summary.update(epochs=len(rows), steps=last.get("step", 0), test_accuracy=last.get("test_accuracy"),
                       test_loss=last.get("test_loss"), train_loss=last.get("train_loss"),
                       best_test_accuracy=max((r["test_accuracy"] for r in rows), default=None))
    else:
        losses = [r["loss"] for r in rows if math.isfinite(r["loss"])]
        summary.update(steps=max(0, len(rows) - 1), final_loss=rows[-1]["loss"] if rows else None,
                       final_gap=rows[-1]["gap"] if rows else None, best_loss=min(losses, default=None))
        if rows and "x" in rows[-1]:
            summary["final_point"] = [rows[-1]["x"], rows[-1]["y"]]
    return summary


def execute(config: RunConfig, run_dir: str | os.PathLike, on_record: OnRecord | None = None,
            on_batch: Callable[[int], None] | None = None, rerun: bool = False,
            monitor: bool | MonitorOptions = True) -> dict[str, Any]:
    """Run ``config`` in ``run_dir`` and return its summary (also written to ``summary.json``).

    A directory that already holds this config resumes from its checkpoint; a finished run
    (completed or diverged) is returned as recorded unless ``rerun``. A directory holding another
    config is refused (ValueError). Bad configs raise ValueError before anything is written.
    An exception inside the loop (KeyboardInterrupt included) is recorded as status ``failed`` (with
    the traceback's last line) and re-raised; running again resumes from the last checkpoint.
    ``rerun`` discards the previous checkpoint, metrics and monitor samples before starting.

    ``monitor`` (True: default :class:`MonitorOptions`; False: off) runs the optimizer under a
    pathology monitor (:mod:`inertia.lab.run_monitors`); its warnings go to ``summary.json`` and its
    samples to ``monitor.json``. It never changes the run's numbers.
    """
    validate(config)
    options = MonitorOptions() if monitor is True else (monitor or None)
    paths, previous, checkpoint = open_run(config, run_dir, rerun)
    if previous is not None:
        return previous
    prepare_run_dir(config, run_dir)
    if rerun:  # nothing of the discarded run may remain beside the new one's records
        for stale in (paths.checkpoint, paths.metrics, paths.root / MONITOR_FILE):
            stale.unlink(missing_ok=True)
    write_json(paths.summary, {"status": "running", "message": "", "run_id": config.run_id(),
                               "started_at": time.time()})
    try:
        if config.kind == "training":
            state = run_training(config, paths, checkpoint, on_record, on_batch, monitor=options)
        else:
            state = run_optimization(config, paths, checkpoint, on_record, monitor=options)
    except (Exception, KeyboardInterrupt) as exc:  # Ctrl-C too: the summary must not still say "running"
        last_line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        write_json(paths.summary, {"status": "failed", "message": last_line, "run_id": config.run_id()})
        raise
    summary = summarize(config, state)
    write_metrics(paths.metrics, state.rows)
    if state.monitor is not None:
        state.monitor.write(paths.root)
    else:
        (paths.root / MONITOR_FILE).unlink(missing_ok=True)
    write_json(paths.summary, summary)
    return read_json(paths.summary)  # as recorded: non-finite numbers are null


def open_run(config: RunConfig, run_dir: str | os.PathLike, rerun: bool = False
             ) -> tuple[RunDir, dict[str, Any] | None, dict[str, Any] | None]:
    """What :func:`execute` reads before it writes anything: ``(paths, finished summary, checkpoint)``.

    The summary is that of a finished run (None if there is none, or with ``rerun``); the checkpoint
    is None if there is none or with ``rerun``. A directory holding another run, or files that cannot
    be read, raise :class:`~inertia.lab.run_config.ConfigError` on ``run_dir``; nothing is written.
    """
    paths = check_run_dir(config, run_dir)
    if rerun:
        return paths, None, None
    if paths.summary.exists():
        previous = read_run_json(paths.summary)
        if previous.get("status") in FINISHED:
            return paths, previous, None
    return paths, None, load_checkpoint(paths.checkpoint)


def load_run(run_dir: str | os.PathLike) -> tuple[RunConfig, dict[str, Any], list[Record]]:
    """Read a run directory back: ``(config, summary, metrics rows)``."""
    paths = RunDir(Path(run_dir))
    config = RunConfig.from_dict(read_json(paths.config))
    summary = read_json(paths.summary) if paths.summary.exists() else {}
    rows = read_metrics(paths.metrics) if paths.metrics.exists() else []
    return config, summary, rows
