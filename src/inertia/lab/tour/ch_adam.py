"""Chapter 9: Adam, its first steps with and without bias correction, and rotated valleys."""

from __future__ import annotations

from typing import Any

import numpy as np

from inertia.lab import figures
from inertia.lab.tour._engine import (
    ADAGRAD,
    ADAM,
    ADAM_NO_BC,
    MOMENTUM,
    RMSPROP,
    first_step_below,
    log_grid,
    run_paths,
    surface_grad,
    surface_loss,
)
from inertia.lab.tour._engine import surface_xy as xy
from inertia.lab.tour._model import ChapterResult, Table, Verdict
from inertia.lab.tour._shared import TourContext, steps_text, to_figure
from inertia.lab.tour.ch_sgd import KAPPA, VALLEY_GRID, VALLEY_STEPS

STEPS = 150
GRID = log_grid(0.004, 4.0, 10)  # the corrected run's best lr lies inside
EARLY = 50
BETAS = (0.9, 0.999)
TARGET = 1e-3
ROTATED = 45.0


def compute_adam(ctx: TourContext) -> ChapterResult:
    """First update sizes of Adam with/without bias correction on Rosenbrock, and a rotated valley."""
    from inertia.problems import get_surface

    surface = get_surface("rosenbrock")
    grad, loss, x0 = surface_grad(surface), surface_loss(surface), np.array(surface.start)
    corrected = ctx.tuned("rosenbrock", grad, loss, x0, ADAM, GRID, STEPS)
    uncorrected_tuned = ctx.tuned("rosenbrock", grad, loss, x0, ADAM_NO_BC, GRID, STEPS)
    lr = corrected.lr
    same_lr = run_paths(grad, x0, ADAM_NO_BC, lr, STEPS)
    measured: dict[str, Any] = {"lr": lr, "early": EARLY, "predicted": (1 - BETAS[0]) / (1 - BETAS[1]) ** 0.5}
    step_curves = {}
    for name, xs in (("corrected", corrected.trace.xs), ("uncorrected", same_lr.xs)):
        step = np.abs(np.diff(xs, axis=0)).max(axis=1) / lr
        losses = loss(xs)
        measured[name] = {"first": float(step[0]), "max_early": float(np.nanmax(step[:EARLY])),
                          "peak_loss": float(np.nanmax(losses[:EARLY])), "final": float(losses[-1])}
        step_curves[f"bias_correction={name == 'corrected'}, lr={lr:.3g}"] = step[:EARLY]
    measured["uncorrected_tuned"] = {"lr": uncorrected_tuned.lr, "final": float(uncorrected_tuned.losses[-1])}
    rows = [[label, lr, s["first"], s["max_early"], s["peak_loss"], s["final"]]
            for label, s in (("Adam", measured["corrected"]), ("Adam (bias_correction=False)",
                                                                 measured["uncorrected"]))]
    rows.append(["Adam (bias_correction=False)", uncorrected_tuned.lr, None, None, None,
                 measured["uncorrected_tuned"]["final"]])
    measured["rotation"] = _rotation(ctx)
    tables = [Table(["col.run", "col.lr", "col.first_step", "col.max_step_early", "col.peak_loss_early",
                     "col.final_loss"], rows),
              Table(["col.run", "col.steps_aligned", "col.steps_rotated", "col.slowdown"],
                    [[label, r["aligned"], r["rotated"], (">= " if r["bound"] else "") + f"{r['slowdown']:.3g}"]
                     for label, r in measured["rotation"].items()], "adam.table.rotation")]
    paths = {label.split(",")[0]: xs for label, xs in zip(step_curves, (corrected.trace.xs, same_lr.xs), strict=True)}
    contour = figures.contour_with_trajectories(xy(surface), (-2.0, 2.0), (-1.0, 3.0), paths,
                                                minima=surface.minima, markers=False)
    figs = [to_figure(figures.loss_curves(step_curves, ylabel="max |Δx| / lr"), "adam.fig.steps"),
            to_figure(contour, "adam.fig.contour")]
    return ChapterResult(9, "adam", tables, figs, measured, verdicts_adam(measured))


def _rotation(ctx: TourContext) -> dict[str, dict[str, Any]]:
    """Steps to f < 1e-3 (tuned lr each) on the valley aligned with the axes and rotated by 45 degrees."""
    from inertia.problems import get_surface

    out = {}
    for spec in (ADAGRAD, RMSPROP, ADAM, MOMENTUM):
        hits = []
        for angle in (0.0, ROTATED):
            surface = get_surface("valley", kappa=KAPPA, angle_deg=angle)
            grad, loss = surface_grad(surface), surface_loss(surface)
            key = "valley" if angle == 0.0 else f"valley{angle:g}"
            run = ctx.tuned(key, grad, loss, np.array(surface.start), spec, VALLEY_GRID, VALLEY_STEPS)
            hits.append(first_step_below(run.losses, TARGET))
        # a run that never reaches the target counts as the whole budget: the slowdown is then a lower bound
        aligned, rotated = (VALLEY_STEPS if h is None else h for h in hits)
        out[spec.label] = {"aligned": hits[0], "rotated": hits[1], "slowdown": rotated / max(aligned, 1),
                           "bound": None in hits}
    return out


def verdicts_adam(m: dict[str, Any]) -> list[Verdict]:
    """Large first step: uncorrected first step >= 2x the corrected one; fails: at the same lr it ends
    >= 10x higher; rotation: adaptive methods slow >= 2x (median) when rotated, momentum < 1.5x."""
    cor, unc = m["corrected"], m["uncorrected"]
    large = "supports" if unc["first"] >= 2.0 * cor["first"] else "contradicts"
    fails = "supports" if unc["final"] >= 10.0 * max(cor["final"], 1e-300) else "contradicts"
    rot = m["rotation"]
    adaptive = float(np.median([rot[k]["slowdown"] for k in ("AdaGrad", "RMSprop", "Adam")]))
    rotates = "supports" if adaptive >= 2.0 and rot["Momentum"]["slowdown"] < 1.5 else "contradicts"
    return [
        Verdict(large, f"adam.first.{large}", {"unc": unc["first"], "cor": cor["first"],
                                               "predicted": m["predicted"], "max_early": unc["max_early"],
                                               "early": m["early"]}),
        Verdict(fails, f"adam.fails.{fails}", {"lr": m["lr"], "unc": unc["final"], "cor": cor["final"],
                                               "peak": unc["peak_loss"], "tlr": m["uncorrected_tuned"]["lr"],
                                               "tfinal": m["uncorrected_tuned"]["final"]}),
        Verdict(rotates, f"adam.rotation.{rotates}", {"slowdown": adaptive,
                                                      "momentum": rot["Momentum"]["slowdown"],
                                                      "aligned": steps_text(rot["Adam"]["aligned"], VALLEY_STEPS),
                                                      "rotated": steps_text(rot["Adam"]["rotated"], VALLEY_STEPS)}),
    ]
