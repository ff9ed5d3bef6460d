"""Rich progress displays and result printing for ``inertia train`` and ``inertia compare``.

Progress goes to stderr (it is transient and only drawn on a terminal); results go to stdout.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from inertia.io.report_parts import format_cell
from inertia.lab.compare_monitor import monitor_verdict
from inertia.lab.compare_report import leaderboard_table, verdict
from inertia.lab.run_config import RunConfig
from inertia.lab.run_storage import Record

#: Monitor warnings printed per training run (the monitor's own rate limit applies first); the
#: rest are only recorded in summary.json.
MAX_CONSOLE_WARNINGS = 10
#: The bar is redrawn this often; batch-level updates closer together than this are skipped.
REFRESH_PER_SECOND = 4


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                    console=console, transient=True, refresh_per_second=REFRESH_PER_SECOND)


class TrainingProgress:
    """Progress bar over batches for one training run, showing the last epoch's loss and accuracy."""

    def __init__(self, config: RunConfig, console: Console | None = None) -> None:
        self.config = config
        self.progress = _progress(console or Console(stderr=True))
        self.task: Any = None
        self.batches_per_epoch: int | None = None
        self.epoch_start = 0
        self.warnings_shown = 0
        self._next_batch_update = 0.0

    def __enter__(self) -> TrainingProgress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.task is not None:
            self.progress.stop()

    def _start(self) -> None:
        """Draw the bar from the first batch on (errors before it leave no trace on the terminal)."""
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(f"train {self.config.model}/{self.config.optimizer}",
                                               total=self.config.epochs, status="")

    def on_batch(self, batches_done: int) -> None:
        """Within an epoch: advance the bar fractionally (once the epoch length is known), at most as
        often as the bar is redrawn."""
        self._start()
        now = time.perf_counter()
        if self.batches_per_epoch and now >= self._next_batch_update:
            self._next_batch_update = now + 1 / REFRESH_PER_SECOND
            self.progress.update(self.task, completed=self.epoch_start + batches_done / self.batches_per_epoch)

    def on_epoch(self, row: Record) -> None:
        """After an epoch: set the bar and show train loss, test loss and test accuracy."""
        self._start()
        self.batches_per_epoch = row["step"] // row["epoch"]
        self.epoch_start = row["epoch"]
        status = (f"loss {row['train_loss']:.4f}  test loss {row['test_loss']:.4f}  "
                  f"acc {100 * row['test_accuracy']:.2f}%")
        self.progress.update(self.task, completed=row["epoch"], status=status)

    def on_warning(self, warning: dict[str, Any]) -> None:
        """Print a monitor warning above the bar, up to :data:`MAX_CONSOLE_WARNINGS` per run."""
        self.warnings_shown += 1
        if self.warnings_shown <= MAX_CONSOLE_WARNINGS:
            line = warning_line(f"step {warning['step']}", warning["message"])
        elif self.warnings_shown == MAX_CONSOLE_WARNINGS + 1:
            line = warning_line("monitor", "further warnings are only recorded in summary.json")
        else:
            return
        self.progress.console.print(line, soft_wrap=True)


def warning_line(where: str, message: str) -> Text:
    """``warning <where>: <message>`` with the label highlighted (message printed verbatim)."""
    return Text.assemble(("warning ", "bold yellow"), f"{where}: {message}")


def print_summary(summary: dict[str, Any], run_dir: Path) -> int:
    """Print a finished training run; return the exit code (0 completed, 1 otherwise)."""
    if summary.get("status") != "completed":
        print(f"inertia: run {summary.get('status')}: {summary.get('message')} ({run_dir})", file=sys.stderr)
        return 1
    print(f"test accuracy {100 * summary['test_accuracy']:.2f}%  test loss {summary['test_loss']:.4f}  "
          f"epochs {summary['epochs']}  wall time {summary['wall_time_s']:.2f} s")
    warnings = summary.get("warnings")
    if warnings is not None:
        kinds = sorted({w["pathology"] for w in warnings})
        print(f"monitor: {len(warnings)} warning(s)" + (f" ({', '.join(kinds)})" if kinds else "")
              + f" in {summary.get('monitor', {}).get('samples', 0)} samples")
    print(f"run directory: {run_dir}")
    return 0


class RunsProgress:
    """Progress over the runs of a comparison, one bar per phase."""

    def __init__(self) -> None:
        self.progress = _progress(Console(stderr=True))
        self.task: Any = None
        self.phase = ""
        self.shown: set[tuple[str, str]] = set()

    def __enter__(self) -> RunsProgress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.task is not None:
            self.progress.stop()

    def on_phase(self, name: str, runs: int) -> None:
        """Start a bar for a phase of ``runs`` runs (the display starts with the first phase)."""
        if self.task is None:
            self.progress.start()
        self.phase = name
        self.task = self.progress.add_task(name, total=runs, status="")

    def on_done(self, config: RunConfig, summary: dict[str, Any]) -> None:
        """Advance after each finished run; print its monitor warnings (final runs only, once per
        optimizer and pathology: the lr search is expected to misbehave at bad rates)."""
        lr = "default" if config.lr is None else f"{config.lr:.3g}"
        if self.task is not None:
            self.progress.update(self.task, advance=1, status=f"{config.optimizer} lr={lr} seed={config.seed}")
        if self.phase == "lr search":
            return
        for warning in summary.get("warnings") or []:
            key = (config.optimizer, warning["pathology"])
            if key not in self.shown:
                self.shown.add(key)
                where = f"{config.optimizer} lr={lr} seed {config.seed}, step {warning['step']}"
                self.progress.console.print(warning_line(where, warning["message"]), soft_wrap=True)


def print_failures(comparison: Any) -> int:
    """Report a comparison's failed runs on stderr; return the exit code (0 when none failed, else 1)."""
    failed = comparison.failed_runs()
    if not failed:
        return 0
    total = sum(row.seeds for row in comparison.leaderboard)
    config, message = failed[0]
    what = "every run failed" if len(failed) == total else f"{len(failed)} of {total} runs failed"
    print(f"inertia: error: {what}; the first, {config.optimizer} seed {config.seed}: {' '.join(message.split())}",
          file=sys.stderr)
    return 1


def print_leaderboard(comparison: Any, page: Path) -> None:
    """Print the leaderboard as a rich table, the verdict and where the report is."""
    headers, rows = leaderboard_table(comparison)
    table = Table(title=f"leaderboard: {comparison.base.problem}")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(format_cell(cell) for cell in row))
    console = Console()
    console.print(table)
    console.print(verdict(comparison))
    if comparison.monitored:
        console.print(monitor_verdict(comparison), soft_wrap=True)
    console.print(f"report: {page}", soft_wrap=True)
