"""Chapter 9: Adam, its first steps with and without bias correction, and rotated valleys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from inertia.lab import figures
from inertia.lab.tour.ch_sgd import KAPPA, VALLEY_GRID, VALLEY_STEPS
from inertia.lab.tour.context import TourContext, to_figure
from inertia.lab.tour.model import Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, steps_text, supports
from inertia.lab.tour.runs import (
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
from inertia.lab.tour.runs import surface_xy as xy
from inertia.problems import get_surface

STEPS = 150
GRID = log_grid(0.004, 4.0, 10)  # the corrected run's best lr lies inside
EARLY = 50
BETAS = (0.9, 0.999)
TARGET = 1e-3
ROTATED = 45.0
PREDICTED_FIRST = (1 - BETAS[0]) / (1 - BETAS[1]) ** 0.5  # the uncorrected first update, in units of lr
LARGE_FIRST = 2.0  # the uncorrected first step is large if at least 2x the corrected one
FAILS = 10.0  # the uncorrected run fails to converge if it ends at least 10x above the corrected one
ADAPTIVE_SLOWDOWN = 2.0  # rotation slows the adaptive methods at least 2x (median) ...
MOMENTUM_SLOWDOWN = 1.5  # ... and momentum less than 1.5x
SETUP = {"start": tuple(get_surface("rosenbrock").start), "steps": STEPS, "grid_lo": GRID[0], "grid_hi": GRID[-1],
         "grid_n": len(GRID), "predicted": PREDICTED_FIRST, "beta1": BETAS[0], "beta2": BETAS[1], "target": TARGET,
         "angle": ROTATED}


def compute_adam(ctx: TourContext) -> Measurements:
    """First update sizes of Adam with/without bias correction on Rosenbrock, and a rotated valley."""
    surface = get_surface("rosenbrock")
    grad, loss, x0 = surface_grad(surface), surface_loss(surface), np.array(surface.start)
    corrected = ctx.tuned("rosenbrock", grad, loss, x0, ADAM, GRID, STEPS)
    uncorrected_tuned = ctx.tuned("rosenbrock", grad, loss, x0, ADAM_NO_BC, GRID, STEPS)
    lr = corrected.lr
    same_lr = run_paths(grad, x0, ADAM_NO_BC, lr, STEPS)
    measured: dict[str, Any] = {"lr": lr, "early": EARLY, "predicted": PREDICTED_FIRST}
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
                     "col.final_loss"], rows, text_args={"early": EARLY}),
              Table(["col.run", "col.steps_aligned", "col.steps_rotated", "col.slowdown"],
                    [[label, r["aligned"], r["rotated"], (">= " if r["bound"] else "") + f"{r['slowdown']:.3g}"]
                     for label, r in measured["rotation"].items()], "adam.table.rotation",
                    {"target": TARGET, "angle": ROTATED})]
    paths = {label.split(",")[0]: xs for label, xs in zip(step_curves, (corrected.trace.xs, same_lr.xs), strict=True)}
    contour = figures.contour_with_trajectories(xy(surface), (-2.0, 2.0), (-1.0, 3.0), paths,
                                                minima=surface.minima, markers=False)
    figs = [to_figure(figures.loss_curves(step_curves, ylabel="max |Δx| / lr"), "adam.fig.steps", early=EARLY),
            to_figure(contour, "adam.fig.contour")]
    return Measurements(tables, figs, measured)


def _rotation(ctx: TourContext) -> dict[str, dict[str, Any]]:
    """Steps to f < TARGET (tuned lr each) on the valley aligned with the axes and rotated by ROTATED degrees."""
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


def first_step_large(m: Mapping[str, Any]) -> Finding:
    """Without bias correction the first step is large if it is >= 2x the corrected one."""
    cor, unc = m["corrected"], m["uncorrected"]
    return Finding(supports(unc["first"] >= LARGE_FIRST * cor["first"]),
                   {"unc": unc["first"], "cor": cor["first"], "predicted": m["predicted"],
                    "max_early": unc["max_early"], "early": m["early"]})


def uncorrected_fails(m: Mapping[str, Any]) -> Finding:
    """Without bias correction Adam fails to converge if, at the same lr, it ends >= 10x above the corrected run."""
    cor, unc, tuned = m["corrected"], m["uncorrected"], m["uncorrected_tuned"]
    return Finding(supports(unc["final"] >= FAILS * max(cor["final"], 1e-300)),
                   {"lr": m["lr"], "unc": unc["final"], "cor": cor["final"], "peak": unc["peak_loss"],
                    "tlr": tuned["lr"], "tfinal": tuned["final"]})


def rotation_hurts_adaptive(m: Mapping[str, Any]) -> Finding:
    """Per-coordinate scaling cannot rotate if the rotation slows the adaptive methods >= 2x (median) and momentum
    less than 1.5x."""
    rot = m["rotation"]
    adaptive = float(np.median([rot[k]["slowdown"] for k in ("AdaGrad", "RMSprop", "Adam")]))
    return Finding(supports(adaptive >= ADAPTIVE_SLOWDOWN and rot["Momentum"]["slowdown"] < MOMENTUM_SLOWDOWN),
                   {"slowdown": adaptive, "momentum": rot["Momentum"]["slowdown"],
                    "aligned": steps_text(rot["Adam"]["aligned"], VALLEY_STEPS),
                    "rotated": steps_text(rot["Adam"]["rotated"], VALLEY_STEPS)})


RULES = (Rule("adam.first", first_step_large), Rule("adam.fails", uncorrected_fails),
         Rule("adam.rotation", rotation_hurts_adaptive))
