"""Chapters 7 and 8: AdaGrad's shrinking step and RMSprop's leaky cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from inertia.lab import figures
from inertia.lab.tour.ch_sgd import VALLEY_GRID, VALLEY_STEPS, valley_problem
from inertia.lab.tour.context import TourContext, to_figure
from inertia.lab.tour.model import Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, supports
from inertia.lab.tour.runs import (
    ADAGRAD,
    MOMENTUM,
    RMSPROP,
    Trace,
    first_step_below,
    log_grid,
    overshoot,
    path_length,
    run_paths,
    surface_grad,
    surface_loss,
)
from inertia.lab.tour.runs import surface_xy as xy
from inertia.problems import get_surface

STEPS = 200
GRID = log_grid(0.01, 1.0, 7)
EARLY = 10  # effective steps are compared from step 10 on (RMSprop's average needs a few steps to fill)
TARGET = 1e-3
SHRINK = 2.0  # AdaGrad's effective step decays if it shrinks at least 2x (and more than RMSprop's)
STALL_GAP = 10.0  # AdaGrad stops early if it ends at least 10x above RMSprop
FLOOR = 1e-12  # ... and above this (both converged: no gap)
KEEPS = 0.5  # RMSprop keeps its step if the last effective step is at least half the early one
ADAGRAD_SETUP = {"start": tuple(get_surface("long_valley").start), "steps": STEPS, "grid_lo": GRID[0],
                 "grid_hi": GRID[-1], "grid_n": len(GRID)}
RMSPROP_SETUP = {"target": TARGET}


def _long_valley(ctx: TourContext) -> dict[str, Any]:
    """Tuned AdaGrad and RMSprop on the long valley, plus both at RMSprop's tuned lr (cached)."""
    if "long_valley" not in ctx.cache:
        surface = get_surface("long_valley")
        grad, loss, x0 = surface_grad(surface), surface_loss(surface), np.array(surface.start)
        tuned = {spec.label: ctx.tuned("long_valley", grad, loss, x0, spec, GRID, STEPS)
                 for spec in (ADAGRAD, RMSPROP)}
        matched_lr = tuned["RMSprop"].lr
        matched = {spec.label: run_paths(grad, x0, spec, matched_lr, STEPS) for spec in (ADAGRAD, RMSPROP)}
        ctx.cache["long_valley"] = {"surface": surface, "loss": loss, "tuned": tuned, "matched": matched,
                                    "matched_lr": matched_lr}
    return ctx.cache["long_valley"]


def x_step(trace: Trace) -> np.ndarray:
    """Effective step along x, ``|x_{t+1} - x_t| / |g_t|``: ``lr / (sqrt(cache) + eps)`` for both rules."""
    with np.errstate(all="ignore"):
        return np.abs(np.diff(trace.xs[:, 0])) / np.abs(trace.gs[:, 0])


def _matched_summary(trace: Trace, loss: Any) -> dict[str, Any]:
    xs, half = trace.xs, STEPS // 2
    step = x_step(trace)
    losses = loss(xs)
    return {"step_early": float(step[EARLY - 1]), "step_last": float(step[-1]),
            "shrink": float(step[EARLY - 1] / step[-1]), "first_half": float(abs(xs[half, 0] - xs[0, 0])),
            "second_half": float(abs(xs[-1, 0] - xs[half, 0])), "final": float(losses[-1]),
            "hit": first_step_below(losses, TARGET)}


def compute_adagrad(ctx: TourContext) -> Measurements:
    """AdaGrad vs RMSprop on the long valley: the step along the constant-slope floor, at a common lr
    (RMSprop's tuned one) and with each lr tuned on the same grid."""
    data = _long_valley(ctx)
    loss, lr = data["loss"], data["matched_lr"]
    measured: dict[str, Any] = {"steps": STEPS, "lr": lr, "early": EARLY}
    for label, trace in data["matched"].items():
        measured[label.lower()] = _matched_summary(trace, loss)
    for label, run in data["tuned"].items():
        measured[f"{label.lower()}_tuned"] = {"lr": run.lr, "final": float(run.losses[-1]),
                                              "hit": first_step_below(run.losses, TARGET)}
    rows = [[label, lr, s["step_early"], s["step_last"], s["first_half"], s["second_half"], s["final"]]
            for label, s in (("AdaGrad", measured["adagrad"]), ("RMSprop", measured["rmsprop"]))]
    tuned_rows = [[label, s["lr"], s["final"], s["hit"]] for label, s in
                  (("AdaGrad", measured["adagrad_tuned"]), ("RMSprop", measured["rmsprop_tuned"]))]
    tables = [Table(["col.run", "col.lr", "col.step_early", "col.step_last", "col.first_half", "col.second_half",
                     "col.final_loss"], rows, text_args={"early": EARLY}),
              Table(["col.run", "col.tuned_lr", "col.final_loss", "col.steps_to_target"], tuned_rows,
                    "adagrad.table.tuned", {"target": TARGET})]
    paths = {f"{label}, lr={lr:.3g}": trace.xs for label, trace in data["matched"].items()}
    contour = figures.contour_with_trajectories(xy(data["surface"]), (-9.0, 2.0), (-2.0, 2.0), paths,
                                                minima=data["surface"].minima, markers=False)
    figs = [to_figure(contour, "adagrad.fig.contour"), to_figure(_x_plot(data["matched"], lr), "adagrad.fig.x")]
    return Measurements(tables, figs, measured)


def _x_plot(traces: dict[str, Trace], lr: float) -> MplFigure:
    fig = MplFigure(figsize=(6.0, 3.4))
    ax = fig.add_subplot()
    curves = {f"{label}, lr={lr:.3g}": (np.arange(len(t.xs)), t.xs[:, 0]) for label, t in traces.items()}
    figures.plot_curves(ax, curves, "step", "x", logy=False)
    fig.tight_layout()
    return fig


def adagrad_step_decays(m: Mapping[str, Any]) -> Finding:
    """AdaGrad's effective step decays if it shrinks >= 2x, and more than RMSprop's."""
    ada, rms = m["adagrad"], m["rmsprop"]
    return Finding(supports(ada["shrink"] >= SHRINK and ada["shrink"] > rms["shrink"]),
                   {"early": m["early"], "a0": ada["step_early"], "a1": ada["step_last"], "shrink": ada["shrink"],
                    "r0": rms["step_early"], "r1": rms["step_last"]})


def adagrad_stalls(m: Mapping[str, Any]) -> Finding:
    """AdaGrad stalls if it covers less distance in the second half than in the first and ends >= 10x above
    RMSprop at the common lr."""
    ada, rms = m["adagrad"], m["rmsprop"]
    slows = ada["second_half"] < ada["first_half"]
    return Finding(supports(slows and ada["final"] >= STALL_GAP * max(rms["final"], 1e-300)),
                   {"lr": m["lr"], "d1": ada["first_half"], "d2": ada["second_half"], "final": ada["final"],
                    "rfinal": rms["final"]})


def adagrad_stalls_tuned(m: Mapping[str, Any]) -> Finding:
    """AdaGrad still stops early with a tuned lr if it ends >= 10x above RMSprop (and above 1e-12), both tuned."""
    ada, rms = m["adagrad_tuned"], m["rmsprop_tuned"]
    return Finding(supports(ada["final"] > max(STALL_GAP * rms["final"], FLOOR)),
                   {"alr": ada["lr"], "afinal": ada["final"], "rlr": rms["lr"], "rfinal": rms["final"]})


ADAGRAD_RULES = (Rule("adagrad.decay", adagrad_step_decays), Rule("adagrad.stall", adagrad_stalls),
                 Rule("adagrad.tuned", adagrad_stalls_tuned))


# ---------------------------------------------------------------------------------------- chapter 8
def compute_rmsprop(ctx: TourContext) -> Measurements:
    """RMSprop's step size over time (vs AdaGrad), and its path on the valley vs momentum's."""
    data = _long_valley(ctx)
    _, grad, loss, x0 = valley_problem()
    measured: dict[str, Any] = {"lr": data["matched_lr"], "early": EARLY, "steps": STEPS}
    for label, trace in data["matched"].items():
        measured[label.lower()] = _matched_summary(trace, data["loss"])
    for name, spec in (("momentum", MOMENTUM), ("rmsprop_valley", RMSPROP)):
        run = ctx.tuned("valley", grad, loss, x0, spec, VALLEY_GRID, VALLEY_STEPS)
        xs = run.trace.xs
        measured[name] = {"lr": run.lr, "overshoot": 100.0 * overshoot(xs, np.zeros(2)),
                          "path_ratio": path_length(xs) / float(np.linalg.norm(xs[0])),
                          "hit": first_step_below(run.losses, TARGET), "final": float(run.losses[-1]),
                          **_largest_overshoot(run.all_traces, loss)}
    tables = [
        Table(["col.run", "col.lr", "col.step_early", "col.step_last", "col.step_ratio"],
              [[label, measured["lr"], s["step_early"], s["step_last"], s["step_last"] / s["step_early"]]
               for label, s in (("AdaGrad", measured["adagrad"]), ("RMSprop", measured["rmsprop"]))],
              text_args={"early": EARLY}),
        Table(["col.run", "col.tuned_lr", "col.overshoot_pct", "col.path_ratio", "col.steps_to_target",
               "col.final_loss"],
              [[label, s["lr"], s["overshoot"], s["path_ratio"], s["hit"], s["final"]]
               for label, s in (("Momentum", measured["momentum"]), ("RMSprop", measured["rmsprop_valley"]))],
              "rmsprop.table.valley", {"target": TARGET}),
    ]
    step_curves = {f"{label}, lr={measured['lr']:.3g}": x_step(trace) for label, trace in data["matched"].items()}
    step_fig = figures.loss_curves(step_curves, ylabel="|Δx| / |g_x|")
    surface, *_ = valley_problem()
    paths = {f"{label}, lr={measured[key]['lr']:.3g}": ctx.tuned("valley", grad, loss, x0, spec, VALLEY_GRID,
                                                                 VALLEY_STEPS).trace.xs
             for label, key, spec in (("Momentum", "momentum", MOMENTUM), ("RMSprop", "rmsprop_valley", RMSPROP))}
    contour = figures.contour_with_trajectories(xy(surface), (-9.0, 3.0), (-3.0, 3.0), paths,
                                                minima=surface.minima, markers=False)
    figs = [to_figure(step_fig, "rmsprop.fig.step"), to_figure(contour, "rmsprop.fig.contour")]
    return Measurements(tables, figs, measured)


def _largest_overshoot(traces: list[Trace], loss: Any) -> dict[str, Any]:
    """The largest overshoot (%) among the runs of :data:`VALLEY_GRID` that reach f < TARGET, and its lr."""
    reached = [(100.0 * overshoot(t.xs, np.zeros(2)), lr) for lr, t in zip(VALLEY_GRID, traces, strict=True)
               if first_step_below(loss(t.xs), TARGET) is not None]
    largest, lr = max(reached, default=(None, None))
    return {"max_overshoot": largest, "max_overshoot_lr": lr}


def rmsprop_keeps_step(m: Mapping[str, Any]) -> Finding:
    """RMSprop keeps its step if the last effective step is >= half the early one."""
    rms, ada = m["rmsprop"], m["adagrad"]
    ratio = rms["step_last"] / rms["step_early"]
    return Finding(supports(ratio >= KEEPS), {"ratio": ratio, "early": m["early"], "steps": m["steps"],
                                              "ada_ratio": ada["step_last"] / ada["step_early"]})


def rmsprop_overshoots_less(m: Mapping[str, Any]) -> Finding:
    """RMSprop beats momentum's overshoot if it overshoots less on the valley at the tuned lrs; only partly so
    when, among the grid's lrs that reach the target, RMSprop's largest overshoot exceeds momentum's."""
    mom, rms = m["momentum"], m["rmsprop_valley"]
    outcome = supports(rms["overshoot"] < mom["overshoot"])
    if outcome == "supports" and (rms["max_overshoot"] or 0.0) > (mom["max_overshoot"] or 0.0):
        outcome = "mixed"
    return Finding(outcome, {"rms": rms["overshoot"], "mom": mom["overshoot"], "rpath": rms["path_ratio"],
                             "mpath": mom["path_ratio"], "rlr": rms["lr"], "mlr": mom["lr"],
                             "rmax": rms["max_overshoot"], "rmax_lr": rms["max_overshoot_lr"],
                             "mmax": mom["max_overshoot"], "mmax_lr": mom["max_overshoot_lr"]})


RMSPROP_RULES = (Rule("rmsprop.keeps", rmsprop_keeps_step), Rule("rmsprop.overshoot", rmsprop_overshoots_less))
