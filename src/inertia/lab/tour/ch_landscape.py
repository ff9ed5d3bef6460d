"""Chapters 3 and 4: local minima and saddle points (2-D surfaces plus a random-Hessian count)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from inertia.lab import figures
from inertia.lab.tour.context import TourContext, to_figure
from inertia.lab.tour.model import Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, steps_text, supports
from inertia.lab.tour.runs import (
    ADAM,
    MOMENTUM,
    SGD,
    first_step_below,
    log_grid,
    surface_grad,
    surface_loss,
)
from inertia.lab.tour.runs import surface_xy as xy
from inertia.problems import get_surface

STARTS = 100
MINIMA_STEPS = 300
MINIMA_GRID = log_grid(1e-4, 0.1, 7)
MINIMA_NOISE = 5.0
BASIN_RADIUS = 0.5
START_BOX = 4.5  # random starts are uniform in [-START_BOX, START_BOX]^2
SHOWN_STARTS = 3  # the figure draws the paths from this many of the starts
HESSIAN_DIMS = (1, 2, 4, 8, 16, 32)
HESSIAN_SAMPLES = 4000
TRAPPED_PCT = 50.0  # GD is trapped if at least half the starts miss the global minimum
HELPS_BY = 10.0  # momentum helps if it misses from at least 10 points fewer starts than GD
RARE = 0.01  # minima are rare when at most 1% of random Hessians are positive definite
MOMENTUM_MU = dict(MOMENTUM.options)["momentum"]
MINIMA_SETUP = {"starts": STARTS, "box": START_BOX, "steps": MINIMA_STEPS, "mu": MOMENTUM_MU, "noise": MINIMA_NOISE,
                "grid_lo": MINIMA_GRID[0], "grid_hi": MINIMA_GRID[-1], "grid_n": len(MINIMA_GRID),
                "radius": BASIN_RADIUS, "samples": HESSIAN_SAMPLES}


def mean_final(losses: np.ndarray) -> float:
    """Mean final loss over all starts (a diverged start counts as inf)."""
    last = losses[-1]
    return float(np.mean(last)) if np.isfinite(last).all() else float("inf")


def random_hessian_census(seed: int) -> dict[int, dict[str, float]]:
    """Fractions of minima / saddles among random symmetric Gaussian Hessians (GOE) per dimension.

    A critical point with Hessian H is a minimum when all eigenvalues are positive, a maximum when
    all are negative, and a saddle otherwise (Dauphin et al., 2014, use this model to argue that
    saddles dominate in high dimensions).
    """
    rng = np.random.default_rng([seed, 34])
    census = {}
    for dim in HESSIAN_DIMS:
        a = rng.standard_normal((HESSIAN_SAMPLES, dim, dim))
        eig = np.linalg.eigvalsh((a + np.swapaxes(a, 1, 2)) / 2.0)
        minima = float(np.mean(eig[:, 0] > 0))
        maxima = float(np.mean(eig[:, -1] < 0))
        census[dim] = {"minimum": minima, "saddle": 1.0 - minima - maxima}
    return census


def _census(ctx: TourContext) -> dict[int, dict[str, float]]:
    if "hessian_census" not in ctx.cache:
        ctx.cache["hessian_census"] = random_hessian_census(ctx.seed)
    return ctx.cache["hessian_census"]


def compute_local_minima(ctx: TourContext) -> Measurements:
    """Fraction of :data:`STARTS` random starts that miss the global minimum of Rastrigin and narrow_wide."""
    rng = np.random.default_rng([ctx.seed, 3])
    measured: dict[str, Any] = {"starts": STARTS, "steps": MINIMA_STEPS, "noise": MINIMA_NOISE}
    rows, paths = [], {}
    rastrigin = get_surface("rastrigin")
    x0 = rng.uniform(-START_BOX, START_BOX, size=(STARTS, 2))
    runs = {"gd": SGD, "momentum": MOMENTUM, "sgd": SGD, "adam": ADAM}
    labels = {"gd": "GD", "momentum": "Momentum", "sgd": f"SGD, σ={MINIMA_NOISE:g}", "adam": "Adam"}
    for name, spec in runs.items():
        noise = MINIMA_NOISE if name == "sgd" else 0.0
        run = ctx.tuned("rastrigin", surface_grad(rastrigin), surface_loss(rastrigin), x0, spec, MINIMA_GRID,
                        MINIMA_STEPS, noise, score=mean_final)
        end = run.trace.xs[-1]
        missed = float(np.mean(np.linalg.norm(end, axis=1) > BASIN_RADIUS))
        measured[f"{name}_missed"] = 100.0 * missed
        measured[f"{name}_lr"] = run.lr
        rows.append(["Rastrigin", labels[name], run.lr, 100.0 * missed, float(np.mean(run.losses[-1]))])
        if name in ("gd", "momentum"):
            paths[labels[name]] = run.trace.xs[:, :SHOWN_STARTS]
    narrow = get_surface("narrow_wide")
    (lo_x, hi_x), (lo_y, hi_y) = narrow.window
    x0n = np.column_stack([rng.uniform(lo_x, hi_x, STARTS), rng.uniform(lo_y, hi_y, STARTS)])
    for name in ("gd", "momentum"):
        run = ctx.tuned("narrow_wide", surface_grad(narrow), surface_loss(narrow), x0n, runs[name],
                        MINIMA_GRID, MINIMA_STEPS, score=mean_final)
        end = run.trace.xs[-1]
        share = float(np.mean(np.linalg.norm(end - np.array(narrow.minima[0]), axis=1) < BASIN_RADIUS))
        measured[f"{name}_narrow"] = 100.0 * share
        rows.append(["narrow_wide", labels[name], run.lr, 100.0 - 100.0 * share, float(np.mean(run.losses[-1]))])
    census = _census(ctx)
    measured["census"] = census
    figs = [_rastrigin_figure(rastrigin, paths)]
    tables = [Table(["col.surface", "col.run", "col.lr", "col.missed_pct", "col.mean_final"], rows),
              Table(["col.dim", "col.minimum_pct"], [[d, 100.0 * c["minimum"]] for d, c in census.items()],
                    "minima.table.census")]
    return Measurements(tables, figs, measured)


def _rastrigin_figure(surface: Any, paths: dict[str, np.ndarray]) -> Any:
    trajectories = {f"{label} #{i + 1}": xs[:, i] for label, xs in paths.items() for i in range(SHOWN_STARTS)}
    fig = figures.contour_with_trajectories(xy(surface), (-5.12, 5.12), (-5.12, 5.12), trajectories,
                                            minima=surface.minima, markers=False, levels=18)
    return to_figure(fig, "minima.fig.contour", shown=SHOWN_STARTS, starts=STARTS)


def gd_trapped(m: Mapping[str, Any]) -> Finding:
    """GD is trapped if >= 50% of the starts miss the global minimum."""
    return Finding(supports(m["gd_missed"] >= TRAPPED_PCT), {"missed": m["gd_missed"], "starts": m["starts"]})


def momentum_escapes(m: Mapping[str, Any]) -> Finding:
    """Momentum helps if it misses from >= 10 points fewer starts than GD."""
    return Finding(supports(m["momentum_missed"] <= m["gd_missed"] - HELPS_BY),
                   {"momentum": m["momentum_missed"], "gd": m["gd_missed"], "adam": m["adam_missed"],
                    "sgd": m["sgd_missed"]})


def momentum_skips_narrow(m: Mapping[str, Any]) -> Finding:
    """Momentum rolls past narrow minima if it ends in the narrow one from fewer starts than GD."""
    return Finding(supports(m["momentum_narrow"] < m["gd_narrow"]),
                   {"momentum": m["momentum_narrow"], "gd": m["gd_narrow"]})


def minima_rare_in_high_dimensions(m: Mapping[str, Any]) -> Finding:
    """Minima become rare if more than 1% of random Hessians are minima in the lowest dimension, at most 1% in
    the highest."""
    dims = sorted(m["census"])
    low, high = m["census"][dims[0]]["minimum"], m["census"][dims[-1]]["minimum"]
    return Finding(supports(high <= RARE < low),
                   {"low_dim": dims[0], "low": 100.0 * low, "high_dim": dims[-1], "high": 100.0 * high})


MINIMA_RULES = (Rule("minima.trapped", gd_trapped), Rule("minima.momentum", momentum_escapes),
                Rule("minima.narrow", momentum_skips_narrow), Rule("minima.highdim", minima_rare_in_high_dimensions))


# ---------------------------------------------------------------------------------------- chapter 4
SADDLE_START = (1.0, 1e-6)
SADDLE_STEPS = 200
SADDLE_GRID = log_grid(0.01, 0.9, 7)
SADDLE_NOISE = 0.05
STALL_GRADIENT = 0.1
ESCAPE_LOSS = -0.5
STALL_SHARE = 0.5  # GD stalls if at least half its steps before escaping have |grad| < STALL_GRADIENT
SPEEDUP = 1.5  # momentum (or noise) helps if it escapes at least 1.5x sooner than GD
SADDLE_SHARE = 0.99  # saddles dominate if at least 99% of random Hessians are indefinite
SADDLE_SETUP = {"start": SADDLE_START, "steps": SADDLE_STEPS, "noise": SADDLE_NOISE, "mu": MOMENTUM_MU,
                "grid_lo": SADDLE_GRID[0], "grid_hi": SADDLE_GRID[-1], "grid_n": len(SADDLE_GRID),
                "escape_loss": ESCAPE_LOSS}


def mean_loss(losses: np.ndarray) -> float:
    """Mean loss over the whole run: rewards leaving the saddle early."""
    value = float(np.mean(losses))
    return value if np.isfinite(value) else float("inf")


def compute_saddles(ctx: TourContext) -> Measurements:
    """Steps spent with a vanishing gradient near the saddle of x^2 - y^2 + y^4/4, per optimizer."""
    surface = get_surface("saddle_bounded")
    grad, loss = surface_grad(surface), surface_loss(surface)
    x0 = np.array(SADDLE_START)
    runs = {"gd": (SGD, 0.0), "sgd": (SGD, SADDLE_NOISE), "momentum": (MOMENTUM, 0.0), "adam": (ADAM, 0.0)}
    labels = {"gd": "GD", "sgd": f"SGD, σ={SADDLE_NOISE:g}", "momentum": "Momentum", "adam": "Adam"}
    measured: dict[str, Any] = {"steps": SADDLE_STEPS, "stall_gradient": STALL_GRADIENT}
    rows, paths, curves = [], {}, {}
    for name, (spec, noise) in runs.items():
        run = ctx.tuned("saddle", grad, loss, x0, spec, SADDLE_GRID, SADDLE_STEPS, noise, score=mean_loss)
        xs = run.trace.xs
        gradient_norm = np.linalg.norm(grad(xs, 0), axis=1)
        escape = first_step_below(run.losses, ESCAPE_LOSS)
        stall = int(np.sum(gradient_norm[: escape if escape is not None else None] < STALL_GRADIENT))
        measured[name] = {"lr": run.lr, "stall": stall, "escape": escape if escape is not None else SADDLE_STEPS,
                          "escaped": escape is not None, "final": float(run.losses[-1])}
        rows.append([labels[name], run.lr, stall, escape, float(run.losses[-1])])
        paths[f"{labels[name]}, lr={run.lr:.3g}"] = xs
        curves[labels[name]] = run.losses
    census = _census(ctx)
    measured["census"] = census
    contour = figures.contour_with_trajectories(xy(surface), (-1.5, 1.5), (-2.0, 2.0), paths,
                                                minima=surface.minima, markers=False)
    figs = [to_figure(contour, "saddle.fig.contour"),
            to_figure(figures.loss_curves(curves, ylabel="f", offset=-1.0), "saddle.fig.loss")]
    tables = [Table(["col.run", "col.lr", "col.stall_steps", "col.escape_step", "col.final_loss"], rows,
                    text_args={"stall_gradient": STALL_GRADIENT, "escape_loss": ESCAPE_LOSS}),
              Table(["col.dim", "col.saddle_pct"], [[d, 100.0 * c["saddle"]] for d, c in census.items()],
                    "saddle.table.census")]
    return Measurements(tables, figs, measured)


def escape_text(run: Mapping[str, Any]) -> int | str:
    """The escape step of one run for a sentence (``">budget"`` when it never escaped)."""
    return steps_text(run["escape"] if run["escaped"] else None, SADDLE_STEPS)


def gd_stalls(m: Mapping[str, Any]) -> Finding:
    """GD stalls if >= half of its steps before escaping have |grad| < 0.1."""
    gd = m["gd"]
    share = gd["stall"] / max(gd["escape"], 1)
    return Finding(supports(share >= STALL_SHARE), {"stall": gd["stall"], "escape": escape_text(gd),
                                                    "share": 100.0 * share})


def momentum_escapes_saddle(m: Mapping[str, Any]) -> Finding:
    """Momentum helps if it escapes, and >= 1.5x sooner than GD."""
    gd, momentum = m["gd"], m["momentum"]
    speedup = gd["escape"] / max(momentum["escape"], 1)
    return Finding(supports(speedup >= SPEEDUP and momentum["escaped"]),
                   {"momentum": escape_text(momentum), "gd": escape_text(gd), "speedup": speedup,
                    "adam": escape_text(m["adam"])})


def noise_holds_sgd(m: Mapping[str, Any]) -> Finding:
    """The notes' mini-batch SGD is held like GD unless its noise makes it escape >= 1.5x sooner (then the noise
    contradicts the notes' stalled SGD)."""
    gd, sgd = m["gd"], m["sgd"]
    speedup = gd["escape"] / max(sgd["escape"], 1)
    return Finding(supports(not (speedup >= SPEEDUP and sgd["escaped"])),
                   {"sgd": escape_text(sgd), "gd": escape_text(gd), "speedup": speedup})


def saddles_dominate(m: Mapping[str, Any]) -> Finding:
    """Saddles dominate if >= 99% of random Hessians in the highest dimension are indefinite."""
    dim = max(m["census"])
    share = m["census"][dim]["saddle"]
    return Finding(supports(share >= SADDLE_SHARE), {"dim": dim, "share": 100.0 * share})


SADDLE_RULES = (Rule("saddle.stall", gd_stalls), Rule("saddle.momentum", momentum_escapes_saddle),
                Rule("saddle.noise", noise_holds_sgd), Rule("saddle.highdim", saddles_dominate))
