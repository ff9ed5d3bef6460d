"""Write a comparison's outputs: leaderboard.json, leaderboard.csv and an HTML report with figures."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from inertia.io.atomic import atomic_write_text
from inertia.io.json_files import write_json
from inertia.io.report import Report
from inertia.lab import figures
from inertia.lab.compare import Comparison, LeaderboardRow
from inertia.lab.compare_monitor import add_monitor_section, monitor_json
from inertia.lab.loops import build_problem
from inertia.lab.optimizer_setup import OPTIMIZER_NOTES

LEADERBOARD_HEADERS = ("rank", "optimizer", "lr", "reached target", "steps to target (median)",
                       "time to target s (median)", "final (mean)", "final (std)", "diverged", "failed",
                       "wall time s")


def leaderboard_table(comparison: Comparison) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the leaderboard (metric named in the final columns)."""
    headers = list(LEADERBOARD_HEADERS)
    headers[6] = f"final {comparison.metric} (mean)"
    headers[7] = f"final {comparison.metric} (std)"
    rows = [[rank, r.optimizer, r.lr, f"{r.reached}/{r.seeds}", r.steps_to_target, r.time_to_target_s,
             r.final_mean, r.final_std, r.diverged, r.failed, r.wall_time_s]
            for rank, r in enumerate(comparison.leaderboard, start=1)]
    return headers, rows


def grid_edge_note(comparison: Comparison) -> str:
    """A warning when a tuned learning rate sits at an end of the grid (the optimum may lie outside),
    and one naming the optimizers for which every rate of the grid diverged or failed."""
    failed = [name for name, (_, scores) in comparison.sensitivity.items()
              if scores and not any(map(math.isfinite, scores))]
    edge = [f"{name} ({lr:.3g})" for name, (lrs, _) in comparison.sensitivity.items()
            if name not in failed and (lr := comparison.chosen_lr.get(name)) is not None and lr in (min(lrs), max(lrs))]
    note = ""
    if failed:
        note += (f" Every learning rate of the grid diverged or failed for {', '.join(failed)}: the smallest "
                 "rate was kept, and a grid of smaller rates is needed.")
    if edge:
        note += f" Chosen learning rate at the edge of the grid for {', '.join(edge)}: a wider grid may do better."
    return note


def verdict(comparison: Comparison) -> str:
    """One sentence computed from the leaderboard (plus a grid-edge warning when it applies); a
    comparison in which every run failed says so, and nothing else."""
    failed, total = comparison.failed_runs(), sum(r.seeds for r in comparison.leaderboard)
    if failed and len(failed) == total:
        return f"Every run failed, so nothing was compared; the first failure: {failed[0][1]}"
    note = f" {len(failed)} of {total} runs failed (first: {failed[0][1]})." if failed else ""
    return _ranking_sentence(comparison) + note + grid_edge_note(comparison)


def _ranking_sentence(comparison: Comparison) -> str:
    board = [r for r in comparison.leaderboard if r.failed < r.seeds]
    if comparison.target is None:
        best = board[0]
        return (f"No target was set, so steps to target are not ranked; the best final {comparison.metric} was "
                f"{best.final_mean:.4g} ({best.optimizer}).")
    target = f"{comparison.metric} target {comparison.target:.3g}"
    reached = [r for r in board if r.steps_to_target is not None]
    if not reached:
        best = board[0]
        return (f"No optimizer reached the {target}; the best final {comparison.metric} was "
                f"{best.final_mean:.4g} ({best.optimizer}).")
    best = reached[0]
    sentence = (f"{best.optimizer} ranks first: it reached the {target} in {best.reached}/{best.seeds} seeds, "
                f"median {best.steps_to_target:g} steps ({best.time_to_target_s:.3g} s)")
    if len(reached) > 1:
        sentence += _versus(best, reached[1])
    missing = [r.optimizer for r in board if r.steps_to_target is None]
    if missing:
        sentence += f"; {', '.join(missing)} did not reach it"
    return sentence + "."


def _versus(best: LeaderboardRow, second: LeaderboardRow) -> str:
    """How the first-ranked optimizer's median steps compare with the runner-up's (which may need fewer:
    the ranking puts the share of seeds that reached the target first)."""
    if second.steps_to_target == best.steps_to_target:
        return f", as many steps as {second.optimizer}"
    if second.steps_to_target > best.steps_to_target:
        ratio = second.steps_to_target / max(best.steps_to_target, 1e-12)
        return f", {ratio:.2g}x fewer steps than {second.optimizer}"
    return (f"; {second.optimizer} needed fewer steps (median {second.steps_to_target:g}) but reached it in "
            f"only {second.reached}/{second.seeds} seeds")


def _seed0_curves(comparison: Comparison, column: str) -> tuple[dict, dict, dict]:
    losses, steps, times = {}, {}, {}
    for name, entries in comparison.runs.items():
        _, _, rows = entries[0]
        if rows:
            losses[name] = [r[column] if r[column] is not None else math.nan for r in rows]
            steps[name] = [r["step"] for r in rows]
            times[name] = [r["time_s"] for r in rows]
    return losses, steps, times


def comparison_figures(comparison: Comparison) -> list[Any]:
    """Loss vs step and time (seed 0), lr sensitivity (when tuned), and trajectories for 2D problems."""
    training = comparison.base.kind == "training"
    column = "train_loss" if training else comparison.metric
    losses, steps, times = _seed0_curves(comparison, column)
    result: list[Any] = [figures.loss_curves(losses, times=times, steps=steps, ylabel=column,
                                             title=f"{comparison.base.problem}: seed 0")]
    if training:
        accuracy, steps, times = _seed0_curves(comparison, "test_accuracy")
        result.append(figures.loss_curves(accuracy, times=times, steps=steps, ylabel="test accuracy",
                                          logy=False, title="test accuracy per epoch"))
    if comparison.sensitivity:
        label = "final training loss" if training else f"final {comparison.metric}"
        result.append(figures.lr_sensitivity(comparison.sensitivity, ylabel=label,
                                             chosen={k: v for k, v in comparison.chosen_lr.items() if v}))
    first_rows = next(iter(comparison.runs.values()))[0][2]
    if not training and first_rows and "x" in first_rows[0]:
        surface = build_problem(comparison.base)
        paths = {name: [(r["x"], r["y"]) for r in entries[0][2]] for name, entries in comparison.runs.items()}
        result.append(figures.contour_with_trajectories(surface, None, None, paths,
                                                        title=f"{comparison.base.problem}: trajectories"))
    return result


def write_comparison(comparison: Comparison, lang: str = "en") -> Path:
    """Write leaderboard.json, leaderboard.csv and index.html into the comparison's out_dir.

    ``leaderboard.json`` and the page include what the optimizer monitors reported per optimizer
    (:mod:`inertia.lab.compare_monitor`).
    """
    out = comparison.out_dir
    out.mkdir(parents=True, exist_ok=True)
    headers, rows = leaderboard_table(comparison)
    write_json(out / "leaderboard.json", {
        "problem": comparison.base.problem, "metric": comparison.metric, "target": comparison.target,
        "higher_is_better": comparison.higher_is_better, "chosen_lr": comparison.chosen_lr,
        "tune_seed": comparison.tune_seed, "tuned_in_sample": comparison.tuned_in_sample(),
        "leaderboard": [asdict(r) for r in comparison.leaderboard],
        "sensitivity": {k: {"lr": v[0], "score": v[1]} for k, v in comparison.sensitivity.items()},
        "monitor": monitor_json(comparison),
        "optimizer_notes": {name: OPTIMIZER_NOTES[name] for name in comparison.optimizers if name in OPTIMIZER_NOTES},
    })
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    atomic_write_text(out / "leaderboard.csv", buffer.getvalue())
    report = Report(f"inertia compare: {comparison.base.problem}", lang=lang, intro=_intro(comparison))
    report.add_section("Leaderboard", figures=comparison_figures(comparison), tables=[(headers, rows)],
                       verdict=verdict(comparison))
    add_monitor_section(report, comparison)
    return report.write(out)


def _intro(comparison: Comparison) -> str:
    base = comparison.base
    budget = f"{base.epochs} epochs" if base.kind == "training" else f"{base.steps} steps"
    seeds = comparison.leaderboard[0].seeds if comparison.leaderboard else 0
    tuned = "Learning rates were not tuned."
    if comparison.sensitivity:
        held_out = ("which is also one of the reported seeds, so the reported figures include the run the rate "
                    "was selected on" if comparison.tuned_in_sample() else "held out from the reported seeds")
        tuned = ("Learning rates were chosen by a log-grid search with the same grid and budget for every "
                 f"optimizer, on seed {comparison.tune_seed} ({held_out}).")
    notes = "".join(f" {name}: {OPTIMIZER_NOTES[name]}." for name in comparison.optimizers if name in OPTIMIZER_NOTES)
    return (f"Optimizers {', '.join(comparison.optimizers)} on {base.problem}, {budget} per run, "
            f"{seeds} seed(s) each ({'seed 0' if seeds == 1 else f'seeds 0 to {seeds - 1}'}). {tuned}{notes}")


def format_row(row: LeaderboardRow) -> str:
    """Compact text form of a leaderboard row (for logs)."""
    spread = "" if row.final_std is None else f"±{row.final_std:.2g}"
    return f"{row.optimizer}: lr={row.lr} final={row.final_mean:.4g}{spread} steps={row.steps_to_target}"
