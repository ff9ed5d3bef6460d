"""Chapters 5 and 6: momentum's speed and overshoot, and Nesterov's smaller overshoot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from inertia.lab import figures
from inertia.lab.tour.ch_sgd import KAPPA, VALLEY_GRID, VALLEY_STEPS, valley_problem
from inertia.lab.tour.context import TourContext, TunedRun, to_figure
from inertia.lab.tour.model import Figure, Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, steps_text, supports
from inertia.lab.tour.runs import (
    MOMENTUM,
    NESTEROV,
    SGD,
    first_step_below,
    log_grid,
    overshoot,
    run_grid,
    sign_flips,
)
from inertia.lab.tour.runs import surface_xy as xy

TARGET = 1e-3
SWEEP_GRID = log_grid(0.35, 1.3, 7)
MIN_OVERSHOOT = 0.01  # matched-lr pairs count only where momentum overshoots by >= 1% of the distance
MARKED_OVERSHOOT = 5.0  # momentum overshoots (%) if it passes the minimum by at least 5% of the start distance
LESS, MORE = 0.9, 1.1  # median Nesterov/momentum overshoot ratio: below LESS is less, above MORE is more
STILL_OVERSHOOTS = 1.0  # Nesterov still overshoots (%) if by at least 1% of the start distance
MOMENTUM_MU = dict(MOMENTUM.options)["momentum"]
MOMENTUM_SETUP = {"kappa": KAPPA, "steps": VALLEY_STEPS, "mu": MOMENTUM_MU}
NESTEROV_SETUP = {"mu": dict(NESTEROV.options)["momentum"], "sweep_n": len(SWEEP_GRID), "sweep_lo": SWEEP_GRID[0],
                  "sweep_hi": SWEEP_GRID[-1], "min_overshoot_pct": 100.0 * MIN_OVERSHOOT}


def _valley_run(ctx: TourContext, spec: Any) -> TunedRun:
    _, grad, loss, x0 = valley_problem()
    return ctx.tuned("valley", grad, loss, x0, spec, VALLEY_GRID, VALLEY_STEPS)


def _summary(run: TunedRun) -> dict[str, Any]:
    xs = run.trace.xs
    hit = first_step_below(run.losses, TARGET)
    return {"lr": run.lr, "overshoot": 100.0 * overshoot(xs, np.zeros(2)), "hit": hit,
            "hit_or_budget": hit if hit is not None else VALLEY_STEPS, "flips": sign_flips(xs[:, 1]),
            "final": float(run.losses[-1])}


def _row(label: str, s: dict[str, Any]) -> list[Any]:
    return [label, s["lr"], s["overshoot"], s["hit"], s["flips"], s["final"]]


HEADERS = ["col.run", "col.lr", "col.overshoot_pct", "col.steps_to_target", "col.steep_flips", "col.final_loss"]


def compute_momentum(ctx: TourContext) -> Measurements:
    """Tuned GD vs tuned momentum (0.9) on the valley: steps to f < 1e-3 and overshoot past the minimum."""
    surface, *_ = valley_problem()
    gd, mom = _valley_run(ctx, SGD), _valley_run(ctx, MOMENTUM)
    measured = {"steps": VALLEY_STEPS, "target": TARGET, "gd": _summary(gd), "momentum": _summary(mom)}
    table = Table(HEADERS, [_row("GD", measured["gd"]), _row("Momentum", measured["momentum"])],
                  text_args={"target": TARGET})
    runs = {f"GD, lr={gd.lr:.3g}": gd.trace.xs, f"Momentum, lr={mom.lr:.3g}": mom.trace.xs}
    contour = figures.contour_with_trajectories(xy(surface), (-9.0, 3.0), (-3.0, 3.0), runs,
                                                minima=surface.minima, markers=False)
    figs = [to_figure(contour, "momentum.fig.contour"), to_figure(_approach_plot(runs), "momentum.fig.approach")]
    return Measurements([table], figs, measured)


def _approach_plot(runs: dict[str, np.ndarray]) -> MplFigure:
    """Signed position along the start->minimum line; below 0 means past the minimum."""
    fig = MplFigure(figsize=(6.0, 3.4))
    ax = fig.add_subplot()
    curves = {}
    for label, xs in runs.items():
        direction = xs[0] / np.linalg.norm(xs[0])
        curves[label] = (np.arange(len(xs)), xs @ direction / np.linalg.norm(xs[0]))
    figures.plot_curves(ax, curves, "step", "(x_t - x*)·u / |x_0 - x*|", logy=False)
    ax.axhline(0.0, color="black", linewidth=0.8)
    fig.tight_layout()
    return fig


def hit_text(run: Mapping[str, Any]) -> int | str:
    """The step at which a run reached f < TARGET, for a sentence (``">budget"`` when it never did)."""
    return steps_text(run["hit"], VALLEY_STEPS)


def momentum_faster(m: Mapping[str, Any]) -> Finding:
    """Momentum is faster if it reaches f < target, in fewer steps than GD."""
    gd, mom = m["gd"], m["momentum"]
    return Finding(supports(mom["hit"] is not None and mom["hit_or_budget"] < gd["hit_or_budget"]),
                   {"momentum": hit_text(mom), "gd": hit_text(gd), "target": m["target"], "mflips": mom["flips"],
                    "gflips": gd["flips"]})


def momentum_overshoots(m: Mapping[str, Any]) -> Finding:
    """Momentum overshoots if it passes the minimum by >= 5% of the start distance, and by more than GD."""
    gd, mom = m["gd"], m["momentum"]
    return Finding(supports(mom["overshoot"] >= MARKED_OVERSHOOT and mom["overshoot"] > gd["overshoot"]),
                   {"momentum": mom["overshoot"], "gd": gd["overshoot"]})


MOMENTUM_RULES = (Rule("momentum.speed", momentum_faster), Rule("momentum.overshoot", momentum_overshoots))


# ---------------------------------------------------------------------------------------- chapter 6
def compute_nesterov(ctx: TourContext) -> Measurements:
    """Nesterov vs momentum: overshoot at matched learning rates and at each one's tuned lr."""
    surface, *_ = valley_problem()
    mom, nes = _valley_run(ctx, MOMENTUM), _valley_run(ctx, NESTEROV)
    _, grad, _, x0 = valley_problem()
    sweeps = [run_grid(grad, x0, spec, SWEEP_GRID, VALLEY_STEPS) for spec in (MOMENTUM, NESTEROV)]
    pairs = []
    for lr, mt, nt in zip(SWEEP_GRID, *sweeps, strict=True):
        om, on = overshoot(mt.xs, np.zeros(2)), overshoot(nt.xs, np.zeros(2))
        stable = all(np.linalg.norm(t.xs[-1]) < np.linalg.norm(t.xs[0]) for t in (mt, nt))
        pairs.append({"lr": lr, "momentum": 100.0 * om, "nesterov": 100.0 * on,
                      "ratio": on / om if stable and om >= MIN_OVERSHOOT else None})
    ratios = [p["ratio"] for p in pairs if p["ratio"] is not None]
    measured: dict[str, Any] = {"momentum": _summary(mom), "nesterov": _summary(nes), "pairs": pairs,
                                "median_ratio": float(np.median(ratios)) if ratios else None,
                                "matched": len(ratios), "min_ratio": min(ratios, default=None),
                                "max_ratio": max(ratios, default=None)}
    tables = [Table(HEADERS, [_row("Momentum", measured["momentum"]), _row("Nesterov", measured["nesterov"])],
                    text_args={"target": TARGET}),
              Table(["col.lr", "col.momentum_overshoot", "col.nesterov_overshoot", "col.ratio"],
                    [[p["lr"], p["momentum"], p["nesterov"], p["ratio"]] for p in pairs], "nesterov.table.sweep")]
    matched_lr = mom.lr
    runs = {f"Momentum, lr={matched_lr:.3g}": mom.trace.xs,
            f"Nesterov, lr={matched_lr:.3g}": nes.all_traces[VALLEY_GRID.index(matched_lr)].xs}
    contour = figures.contour_with_trajectories(xy(surface), (-9.0, 3.0), (-3.0, 3.0), runs,
                                                minima=surface.minima, markers=False)
    gif = figures.trajectory_gif(xy(surface), (-9.0, 3.0), (-3.0, 3.0), runs, minima=surface.minima,
                                 frames=30, dpi=56)
    figs = [to_figure(contour, "nesterov.fig.contour"), Figure(gif, "nesterov.fig.gif"),
            to_figure(_sweep_plot(pairs), "nesterov.fig.sweep")]
    return Measurements(tables, figs, measured)


def _sweep_plot(pairs: list[dict[str, Any]]) -> MplFigure:
    curves = {name: ([p["lr"] for p in pairs], [p[key] if p[key] > 0 else np.nan for p in pairs])
              for name, key in (("Momentum", "momentum"), ("Nesterov", "nesterov"))}
    fig = figures.lr_sensitivity(curves, ylabel="overshoot (% of |x_0 - x*|)", title="")
    return fig


def nesterov_overshoots_less(m: Mapping[str, Any]) -> Finding:
    """Median Nesterov/momentum overshoot ratio over matched lrs: < 0.9 less, > 1.1 more, else about the same;
    no matched lr with a measurable overshoot leaves the claim unchecked."""
    ratio = m["median_ratio"]
    if ratio is None:
        return Finding("contradicts", {"matched": m["matched"]}, case="none")
    outcome = "supports" if ratio < LESS else ("contradicts" if ratio > MORE else "mixed")
    return Finding(outcome, {"less": 100.0 * (1.0 - ratio), "ratio": ratio, "matched": m["matched"],
                             "low": m["min_ratio"], "high": m["max_ratio"]})


def nesterov_still_overshoots(m: Mapping[str, Any]) -> Finding:
    """The overshoot remains if Nesterov at its tuned lr overshoots by >= 1% of the start distance."""
    nes, mom = m["nesterov"], m["momentum"]
    return Finding(supports(nes["overshoot"] >= STILL_OVERSHOOTS),
                   {"nesterov": nes["overshoot"], "momentum": mom["overshoot"], "nlr": nes["lr"], "mlr": mom["lr"],
                    "nhit": hit_text(nes), "mhit": hit_text(mom)})


NESTEROV_RULES = (Rule("nesterov.less", nesterov_overshoots_less), Rule("nesterov.still", nesterov_still_overshoots))
