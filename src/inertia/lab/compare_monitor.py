"""What the pathology monitors saw in a comparison: per-optimizer counts, a report section, figures.

Each final run (every seed at the chosen learning rate) records its monitor's warnings in its
``summary.json`` (:mod:`inertia.lab.run_monitors`); this module tallies them per optimizer. The
runs of the learning-rate search are not counted: bad rates are expected to misbehave there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from inertia.diagnostics.diagnose_report import monitor_figure
from inertia.lab.compare import Comparison
from inertia.lab.run_monitors import RecordedMonitor, load_monitor

HEADERS = ("optimizer", "lr", "monitored runs", "runs with warnings", "pathologies (runs)", "first warning")


@dataclass
class OptimizerPathologies:
    """The monitor's findings over one optimizer's final runs.

    Attributes:
        optimizer: the optimizer's name.
        runs: its final runs (one per seed).
        monitored: how many of them ran under a monitor.
        with_warnings: how many of those emitted at least one warning.
        pathologies: pathology name -> number of runs that showed it.
        first: the earliest warning of the lowest seed that warned (step, layer, pathology, value, message).
    """

    optimizer: str
    runs: int
    monitored: int
    with_warnings: int
    pathologies: dict[str, int] = field(default_factory=dict)
    first: dict[str, Any] | None = None


def tally(comparison: Comparison) -> list[OptimizerPathologies]:
    """Count the warnings of every optimizer's final runs, in the comparison's optimizer order."""
    result = []
    for name in comparison.optimizers:
        entries = comparison.runs.get(name, [])
        found = OptimizerPathologies(optimizer=name, runs=len(entries), monitored=0, with_warnings=0)
        for _, summary, _ in entries:
            warnings = summary.get("warnings")
            if warnings is None:
                continue
            found.monitored += 1
            found.with_warnings += bool(warnings)
            for pathology in sorted({w["pathology"] for w in warnings}):
                found.pathologies[pathology] = found.pathologies.get(pathology, 0) + 1
            if warnings and found.first is None:
                found.first = dict(warnings[0])
        result.append(found)
    return result


def pathology_text(found: OptimizerPathologies) -> str:
    """``zigzag 3/3, update_ratio_high 1/3`` (runs that showed each pathology), or ``none``."""
    if not found.monitored:
        return "not monitored"
    if not found.pathologies:
        return "none"
    return ", ".join(f"{name} {count}/{found.monitored}" for name, count in found.pathologies.items())


def monitor_rows(comparison: Comparison) -> list[list[Any]]:
    """Rows of the monitor table (columns :data:`HEADERS`)."""
    rows = []
    for found in tally(comparison):
        first = found.first
        rows.append([found.optimizer, comparison.chosen_lr.get(found.optimizer), f"{found.monitored}/{found.runs}",
                     found.with_warnings if found.monitored else None, pathology_text(found),
                     f"step {first['step']}: {first['message']}" if first else None])
    return rows


def monitor_verdict(comparison: Comparison) -> str:
    """One sentence from the tallies: which optimizer showed which pathology, and which showed none."""
    found = [f for f in tally(comparison) if f.monitored]
    if not found:
        return "No run was monitored."
    noisy = [f"{f.optimizer} showed {pathology_text(f)}" for f in found if f.pathologies]
    quiet = [f.optimizer for f in found if not f.pathologies]
    parts = noisy + ([f"{', '.join(quiet)} showed no pathology"] if quiet else [])
    return "Monitors: " + "; ".join(parts) + " (runs with the pathology / monitored runs)."


def monitor_json(comparison: Comparison) -> dict[str, Any]:
    """The ``monitor`` entry of ``leaderboard.json``: the tallies per optimizer."""
    return {f.optimizer: asdict(f) for f in tally(comparison)}


class OptimizersMonitor:
    """The seed-0 runs' whole-model monitor series, one per optimizer, shaped like a monitor.

    :func:`inertia.diagnostics.diagnose_report.monitor_figure` draws one line per "layer"; here
    each line is an optimizer (its param group ``group0``: all parameters), so one figure compares
    them all. Per-layer samples stay in each run's ``monitor.json``.
    """

    def __init__(self, comparison: Comparison) -> None:
        self._recorded: dict[str, RecordedMonitor] = {}
        for name, entries in comparison.runs.items():
            recorded = load_monitor(comparison.out_dir / "runs" / entries[0][0].run_id()) if entries else None
            if recorded is not None and "group0" in recorded.groups:
                self._recorded[name] = recorded
        first = next(iter(self._recorded.values()), None)
        self.thresholds = first.thresholds if first is not None else None

    @property
    def layers(self) -> list[str]:
        """The optimizers whose seed-0 run was monitored."""
        return list(self._recorded)

    def series(self, name: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one statistic over all parameters of optimizer ``name``'s seed-0 run."""
        return self._recorded[name].series("group0", metric)


def monitor_figures(comparison: Comparison) -> tuple[list[Any], list[str]]:
    """One monitor figure with a line per optimizer (seed-0 runs, whole model), with its caption."""
    monitors = OptimizersMonitor(comparison)
    if not monitors.layers:
        return [], []
    figure = monitor_figure(monitors)  # type: ignore[arg-type]  # duck-typed: optimizers as lines
    return [figure], ["Monitored statistics of each optimizer's seed-0 run over all its parameters, with the "
                      "warning thresholds (per-layer samples: runs/*/monitor.json)"]


def add_monitor_section(report: Any, comparison: Comparison) -> None:
    """Append the "Optimizer monitors" section to a comparison's :class:`~inertia.io.report.Report`."""
    if not any(f.monitored for f in tally(comparison)):
        report.add_section("Optimizer monitors", "The runs were not monitored (--no-monitor).")
        return
    figures, captions = monitor_figures(comparison)
    report.add_section(
        "Optimizer monitors",
        "Every final run trained under a pathology monitor that samples pairs of consecutive steps and "
        "warns about zig-zag (negative cosine between successive updates), too large or too small steps, "
        "AdaGrad's step collapse, eps dominance, exploding or vanishing gradients and non-finite values. "
        "The table counts the runs in which each pathology was reported; the figure compares the "
        "optimizers' seed-0 runs, one line each.",
        figures=figures, captions=captions, tables=[(list(HEADERS), monitor_rows(comparison))],
        verdict=monitor_verdict(comparison))
