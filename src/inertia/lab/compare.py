"""Compare optimizers on one problem, optionally after a fair learning-rate search.

Fair tuning gives every optimizer the same budget: the same log-spaced grid of learning rates,
each run for the same number of steps (or epochs) with one tuning seed (:data:`TUNING_SEED`
unless given), which is not among the reported seeds ``0 .. seeds-1``, so the reported figures
are not the ones the rate was selected on. The learning rate with the best final performance is
chosen (problems: lowest final suboptimality, or loss when ``f*`` is unknown; datasets: lowest
final *training* loss, so the test set is never used for selection; a diverged or failed run
counts as infinitely bad; ties, including a grid where every rate diverged, go to the smallest
rate), then rerun with ``seeds`` seeds. The leaderboard reports steps and wall time to a common
target and the final metric with its spread over seeds.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inertia.checks import check_int, check_seed
from inertia.lab.execute import first_reaching, load_run
from inertia.lab.parallel import MAX_JOBS, OnDone, run_many
from inertia.lab.preflight import check_training_data
from inertia.lab.run_config import ConfigError, RunConfig
from inertia.lab.run_storage import Record, check_output_dir
from inertia.lab.run_validation import DETAIL, config_field

DEFAULT_GRID = tuple(float(v) for v in np.logspace(-4, 0, 9))
FINISHED_STATUSES = ("completed", "diverged")  # runs with a result; any other status is a failure
TUNING_SEED = 1_000_000  # the learning-rate search's seed: held out from the reported seeds 0 .. seeds-1
MAX_GRID_POINTS = 100  # learning rates per optimizer in a search: each is a whole run
MAX_SEEDS = 1000  # reported seeds per optimizer


def log_grid(low: float, high: float, points: int) -> tuple[float, ...]:
    """``points`` (2 to :data:`MAX_GRID_POINTS`) learning rates spaced evenly in log scale from ``low`` to ``high``."""
    if not (0 < low < high and math.isfinite(high)) or not 2 <= points <= MAX_GRID_POINTS:
        raise ValueError(f"lr grid: need 0 < low < high and 2 <= points <= {MAX_GRID_POINTS}, got {low!r}, "
                         f"{high!r}, {points!r}")
    return tuple(float(v) for v in np.logspace(math.log10(low), math.log10(high), points))


@dataclass
class LeaderboardRow:
    """One optimizer's line: its learning rate and statistics over seeds.

    ``failed`` counts the seeds whose run failed (an error, not a divergence): they have no result,
    so they are left out of ``final_mean``, ``final_std`` and ``wall_time_s`` (NaN when every seed failed).
    """

    optimizer: str
    lr: float | None
    seeds: int
    reached: int
    steps_to_target: float | None
    time_to_target_s: float | None
    final_mean: float
    final_std: float | None
    diverged: int
    wall_time_s: float
    failed: int = 0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class Comparison:
    """Result of :func:`compare`: leaderboard (best first), tuning curves and the runs."""

    base: RunConfig
    optimizers: list[str]
    chosen_lr: dict[str, float | None]
    leaderboard: list[LeaderboardRow]
    sensitivity: dict[str, tuple[list[float], list[float]]]
    runs: dict[str, list[tuple[RunConfig, dict[str, Any], list[Record]]]]
    metric: str
    higher_is_better: bool
    target: float | None
    out_dir: Path
    monitored: bool = True
    tune_seed: int | None = None

    def failed_runs(self) -> list[tuple[RunConfig, str]]:
        """The final runs that failed (any status but completed or diverged), with their messages."""
        return [(config, summary.get("message") or "no summary was recorded")
                for entries in self.runs.values() for config, summary, _ in entries
                if summary.get("status") not in FINISHED_STATUSES]

    def tuned_in_sample(self) -> bool:
        """Whether the learning-rate search ran on one of the reported seeds (its figures then flatter)."""
        return self.tune_seed is not None and self.tune_seed < (self.leaderboard[0].seeds if self.leaderboard else 0)


def selection_score(config: RunConfig, summary: dict[str, Any], rows: list[Record]) -> float:
    """Lower is better: final gap/loss (problems) or final training loss (datasets); inf if not finished."""
    if summary.get("status") != "completed" or not rows:
        return math.inf
    column = "train_loss" if config.kind == "training" else ("gap" if rows[-1].get("gap") is not None else "loss")
    value = rows[-1][column]
    return value if value is not None and math.isfinite(value) else math.inf


def final_metric(config: RunConfig, rows: list[Record]) -> tuple[str, bool]:
    """The leaderboard's final metric column and whether higher is better."""
    if config.kind == "training":
        return "test_accuracy", True
    return ("gap" if rows and rows[0].get("gap") is not None else "loss"), False


def _common_target(base: RunConfig, runs: dict[str, list[tuple[RunConfig, dict, list[Record]]]],
                   metric: str, higher: bool) -> float | None:
    """The user's target, else: problems 1e-3 of the initial gap; datasets 95% of the best mean accuracy."""
    if base.target is not None:
        return base.target
    all_rows = [rows for entries in runs.values() for _, _, rows in entries if rows]
    if not all_rows:
        return None
    if higher:
        finals = [statistics.fmean(r[-1][metric] for _, _, r in entries if r) for entries in runs.values()
                  if any(r for _, _, r in entries)]
        return 0.95 * max(finals) if finals else None
    initial = all_rows[0][0].get(metric)
    return 1e-3 * initial if metric == "gap" and initial and math.isfinite(initial) and initial > 0 else None


def leaderboard_row(name: str, lr: float | None, entries: list[tuple[RunConfig, dict, list[Record]]],
                    metric: str, higher: bool, target: float | None) -> LeaderboardRow:
    """Statistics over one optimizer's seeds (diverged seeds count as inf / 0 accuracy; failed seeds,
    which have no result, are counted apart and left out).

    ``final_std`` is None where it is undefined: a single seed, or a final value that is infinite.
    """
    finals, steps, times, diverged, walls, failed = [], [], [], 0, [], 0
    for _, summary, rows in entries:
        if summary.get("status") not in FINISHED_STATUSES:
            failed += 1
            continue
        diverged += summary.get("status") == "diverged"
        walls.append(summary.get("wall_time_s") or 0.0)
        last = rows[-1].get(metric) if rows and summary.get("status") == "completed" else None
        finals.append(last if last is not None and math.isfinite(last) else (0.0 if higher else math.inf))
        hit = first_reaching(rows, metric, target, higher) if summary.get("status") == "completed" else None
        if hit is not None:
            steps.append(hit["step"])
            times.append(hit["time_s"])
    if lr is None and entries and entries[0][2]:
        lr = entries[0][2][0].get("lr")  # the optimizer's default, as recorded
    return LeaderboardRow(
        optimizer=name, lr=lr, seeds=len(entries), reached=len(steps),
        steps_to_target=statistics.median(steps) if steps else None,
        time_to_target_s=statistics.median(times) if times else None,
        final_mean=statistics.fmean(finals) if finals else math.nan,
        final_std=statistics.stdev(finals) if len(finals) > 1 and all(map(math.isfinite, finals)) else None,
        diverged=diverged, wall_time_s=statistics.fmean(walls) if walls else math.nan, failed=failed,
    )


def _rank_key(row: LeaderboardRow, higher: bool) -> tuple:
    steps = row.steps_to_target if row.steps_to_target is not None else math.inf
    final = -row.final_mean if higher else row.final_mean
    return (row.failed == row.seeds, -row.reached / max(1, row.seeds), steps,
            final if math.isfinite(final) else math.inf)


def _load_all(configs: Sequence[RunConfig], root: Path) -> list[tuple[RunConfig, dict, list[Record]]]:
    return [load_run(root / config.run_id()) for config in configs]


def compare(
    base: RunConfig,
    optimizers: Sequence[str],
    out_dir: str | os.PathLike,
    tune: bool = False,
    seeds: int = 3,
    grid: Sequence[float] = DEFAULT_GRID,
    jobs: int = 1,
    on_done: OnDone | None = None,
    on_phase: Callable[[str, int], None] | None = None,
    lrs: Mapping[str, float] | None = None,
    monitor: bool = True,
    tune_seed: int = TUNING_SEED,
) -> Comparison:
    """Compare ``optimizers`` on ``base`` (its ``optimizer``/``lr``/``seed`` fields are replaced).

    Without ``tune`` each optimizer keeps ``lrs[name]`` if given, else ``base.lr`` (or its own
    default when None). With ``tune`` every optimizer gets the same ``grid`` of learning rates
    (seed ``tune_seed``), the best one is chosen by :func:`selection_score` (ties: the smallest
    rate), then the reported seeds ``0 .. seeds-1`` are run at that rate. ``on_phase(name, n_runs)``
    announces each phase. Runs live in ``out_dir/runs``; with ``monitor`` each runs under a
    pathology monitor (warnings in its ``summary.json``).
    """
    names = [name.strip().lower() for name in optimizers]
    if not names or len(set(names)) != len(names) or not all(names):
        raise ConfigError("optimizers", f"need distinct names, got {','.join(optimizers)!r}")
    with config_field("seeds"):
        seeds = check_int("seeds", seeds, low=1, high=MAX_SEEDS, style=DETAIL)
    with config_field("jobs"):
        jobs = check_int("jobs", jobs, low=1, high=MAX_JOBS, style=DETAIL)
    lrs = dict(lrs or {})
    if set(lrs) - set(names):
        raise ConfigError("lrs", f"{', '.join(sorted(set(lrs) - set(names)))} not among the optimizers {', '.join(names)}")
    with config_field("tune_seed"):
        tune_seed = check_seed("tune_seed", tune_seed, style=DETAIL)
    if tune and not (0 < len(grid) <= MAX_GRID_POINTS):
        raise ConfigError("grid", f"needs 1 to {MAX_GRID_POINTS} learning rates, got {len(grid)}")
    if tune and lrs:
        raise ConfigError("lrs", "per-optimizer learning rates cannot be combined with tuning")
    root = check_output_dir(out_dir, "out_dir") / "runs"
    check_training_data(base)  # the data's files and the model's fit, once, before any run
    chosen: dict[str, float | None] = {name: lrs.get(name, base.lr) for name in names}
    sensitivity: dict[str, tuple[list[float], list[float]]] = {}
    if tune:
        grid_configs = [base.replace(optimizer=n, lr=lr, seed=tune_seed) for n in names for lr in grid]
        if on_phase:
            on_phase("lr search", len(grid_configs))
        run_many(grid_configs, root, jobs, on_done, monitor=monitor)
        for name in names:
            configs = [c for c in grid_configs if c.optimizer == name]
            scores = [selection_score(*entry) for entry in _load_all(configs, root)]
            sensitivity[name] = ([c.lr for c in configs], scores)
            chosen[name] = configs[int(np.argmin(scores))].lr  # all diverged: the smallest rate
    final_configs = {n: [base.replace(optimizer=n, lr=chosen[n], seed=s) for s in range(seeds)] for n in names}
    flat = [c for configs in final_configs.values() for c in configs]
    if on_phase:
        on_phase("seeds", len(flat))
    run_many(flat, root, jobs, on_done, monitor=monitor)
    runs = {n: _load_all(configs, root) for n, configs in final_configs.items()}
    metric, higher = final_metric(base, next(iter(runs.values()))[0][2])
    target = _common_target(base, runs, metric, higher)
    rows = [leaderboard_row(n, chosen[n], runs[n], metric, higher, target) for n in names]
    rows.sort(key=lambda row: _rank_key(row, higher))
    return Comparison(base, names, chosen, rows, sensitivity, runs, metric, higher, target, Path(out_dir), monitor,
                      tune_seed if tune else None)
