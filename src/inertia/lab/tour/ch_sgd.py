"""Chapters 1 and 2: SGD's zig-zag on an ill-conditioned valley, and mini-batch noise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from inertia.lab import figures
from inertia.lab.tour.context import CONVERGED, TourContext, to_figure
from inertia.lab.tour.model import Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, supports
from inertia.lab.tour.runs import (
    SGD,
    GradFn,
    log_grid,
    path_length,
    run_paths,
    sign_flips,
    surface_grad,
    surface_loss,
)
from inertia.lab.tour.runs import surface_xy as xy
from inertia.problems import get_surface

KAPPA = 100.0
VALLEY_STEPS = 150
VALLEY_GRID = log_grid(0.01, 1.9, 9)
ZIGZAG_NOISE = 0.3
CAUTIOUS_LR = 0.5
ZIGZAG_FLIP_FRACTION = 0.25  # the steep coordinate changes sign in at least a quarter of the steps
STEEP_PLOT_STEPS = 40
ZIGZAG_SETUP = {"kappa": KAPPA, "start": tuple(get_surface("valley", kappa=KAPPA).start), "steps": VALLEY_STEPS,
                "grid_n": len(VALLEY_GRID), "grid_lo": VALLEY_GRID[0], "grid_hi": VALLEY_GRID[-1],
                "converged": CONVERGED, "cautious_lr": CAUTIOUS_LR, "noise": ZIGZAG_NOISE,
                "flip_pct": 100.0 * ZIGZAG_FLIP_FRACTION}


def valley_problem() -> tuple[Any, Any, Any, np.ndarray]:
    """The tour's ill-conditioned valley (condition number :data:`KAPPA`): surface, grad, loss and start."""
    surface = get_surface("valley", kappa=KAPPA)
    return surface, surface_grad(surface), surface_loss(surface), np.array(surface.start)


def compute_zigzag(ctx: TourContext) -> Measurements:
    """Tuned full-batch GD, GD at a cautious lr, and noisy SGD on the valley; count the zig-zags."""
    surface, grad, loss, x0 = valley_problem()
    gd = ctx.tuned("valley", grad, loss, x0, SGD, VALLEY_GRID, VALLEY_STEPS)
    sgd = ctx.tuned("valley", grad, loss, x0, SGD, VALLEY_GRID, VALLEY_STEPS, noise_std=ZIGZAG_NOISE)
    cautious = run_paths(grad, x0, SGD, CAUTIOUS_LR, VALLEY_STEPS)
    runs = {"gd": (gd.lr, gd.trace.xs), "cautious": (CAUTIOUS_LR, cautious.xs), "sgd": (sgd.lr, sgd.trace.xs)}
    measured: dict[str, Any] = {"steps": VALLEY_STEPS, "kappa": KAPPA, "noise": ZIGZAG_NOISE}
    for name, (lr, xs) in runs.items():
        measured[f"{name}_lr"] = lr
        measured[f"{name}_flips"] = sign_flips(xs[:, 1])
        measured[f"{name}_shallow_flips"] = sign_flips(xs[:, 0])
        measured[f"{name}_path_ratio"] = path_length(xs) / float(np.linalg.norm(xs[-1] - xs[0]))
        measured[f"{name}_final"] = float(loss(xs[-1]))
    labels = {"gd": "GD", "cautious": "GD", "sgd": f"SGD, σ={ZIGZAG_NOISE:g}"}
    rows = [[labels[n], measured[f"{n}_lr"], measured[f"{n}_flips"], measured[f"{n}_shallow_flips"],
             measured[f"{n}_path_ratio"], measured[f"{n}_final"]] for n in runs]
    table = Table(["col.run", "col.lr", "col.steep_flips", "col.shallow_flips", "col.path_ratio",
                   "col.final_loss"], rows)
    paths = {f"{labels[n]}, lr={lr:.3g}": xs for n, (lr, xs) in runs.items()}
    contour = figures.contour_with_trajectories(xy(surface), (-9.0, 2.0), (-3.0, 3.0), paths,
                                                minima=surface.minima, markers=False)
    steep = to_figure(_steep_plot(runs, labels), "zigzag.fig.steep", steps=STEEP_PLOT_STEPS)
    return Measurements([table], [to_figure(contour, "zigzag.fig.contour"), steep], measured)


def _steep_plot(runs: dict[str, tuple[float, np.ndarray]], labels: dict[str, str]) -> MplFigure:
    fig = MplFigure(figsize=(6.0, 3.4))
    ax = fig.add_subplot()
    shown = STEEP_PLOT_STEPS
    curves = {f"{labels[n]}, lr={lr:.3g}": (np.arange(shown), xs[:shown, 1]) for n, (lr, xs) in runs.items()}
    figures.plot_curves(ax, curves, "step", "y (steep axis)", logy=False)
    fig.tight_layout()
    return fig


def sgd_zigzags(m: Mapping[str, Any]) -> Finding:
    """Noisy SGD zig-zags if its steep coordinate flips sign in >= 25% of the steps."""
    return Finding(supports(m["sgd_flips"] >= ZIGZAG_FLIP_FRACTION * m["steps"]),
                   {"flips": m["sgd_flips"], "steps": m["steps"], "ratio": m["sgd_path_ratio"],
                    "shallow": m["sgd_shallow_flips"]})


def gd_settles(m: Mapping[str, Any]) -> Finding:
    """Full-batch GD at its tuned lr settles the steep axis (the notes) unless it flips sign in >= 25% of the steps."""
    return Finding(supports(m["gd_flips"] < ZIGZAG_FLIP_FRACTION * m["steps"]),
                   {"lr": m["gd_lr"], "flips": m["gd_flips"], "steps": m["steps"], "cautious_lr": m["cautious_lr"],
                    "cautious_flips": m["cautious_flips"], "cautious_final": m["cautious_final"],
                    "gd_final": m["gd_final"]})


ZIGZAG_RULES = (Rule("zigzag.sgd", sgd_zigzags), Rule("zigzag.gd", gd_settles))


# ---------------------------------------------------------------------------------------- chapter 2
BATCH_SIZES = (2, 8, 32, 128, 512)
N_SAMPLES = 512
FEATURE_SCALES = (0.2, 1.0)
BATCH_LR = 0.5
BATCH_STEPS = 300
TAIL = 0.25
NOISE_DRAWS = 400
NOISY_RATIO = 2.0  # the smallest batch ends at least 2x above the full batch ...
NOISY_RANK = 0.8  # ... and the final loss rises with the gradient noise (rank correlation)
STEEP_SHARE = 0.5
MINIBATCH_SETUP = {"samples": N_SAMPLES, "scale_small": FEATURE_SCALES[0], "scale_large": FEATURE_SCALES[1],
                   "condition": (FEATURE_SCALES[1] / FEATURE_SCALES[0]) ** 2, "steps": BATCH_STEPS, "lr": BATCH_LR,
                   "batch_lo": BATCH_SIZES[0], "batch_hi": BATCH_SIZES[-1], "draws": NOISE_DRAWS,
                   "tail_pct": 100.0 * TAIL}


def regression_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Least squares with two features of scales :data:`FEATURE_SCALES`: its loss is a valley of condition
    about ``(1 / 0.2)^2 = 25``."""
    rng = np.random.default_rng([seed, 2])
    features = rng.standard_normal((N_SAMPLES, 2)) * np.array(FEATURE_SCALES)
    targets = features @ np.array([0.5, -0.5]) + 0.5 * rng.standard_normal(N_SAMPLES)
    return features, targets


def compute_minibatch(ctx: TourContext) -> Measurements:
    """SGD at one lr with batch sizes 2..512 on real mini-batches of a least-squares problem."""
    features, targets = regression_data(ctx.seed)
    hessian = features.T @ features / N_SAMPLES
    w_opt = np.linalg.solve(hessian, features.T @ targets / N_SAMPLES)
    eigvals, eigvecs = np.linalg.eigh(hessian)

    def excess(w: np.ndarray) -> np.ndarray:
        delta = w - w_opt
        return 0.5 * np.einsum("...i,ij,...j->...", delta, hessian, delta)

    x0 = w_opt + np.array([-8.0, 2.0])
    rng = np.random.default_rng([ctx.seed, 3])
    measured: dict[str, Any] = {"batch_sizes": list(BATCH_SIZES), "lr": BATCH_LR, "steps": BATCH_STEPS}
    curves, paths, rows = {}, {}, []
    for batch in BATCH_SIZES:
        picks = rng.integers(0, N_SAMPLES, size=(BATCH_STEPS, batch))
        grad = _minibatch_grad(features, targets, picks, full=batch == N_SAMPLES)
        xs = run_paths(grad, x0, SGD, BATCH_LR, BATCH_STEPS).xs
        tail = xs[-int(BATCH_STEPS * TAIL):]
        steep = 0.5 * eigvals[-1] * ((tail - w_opt) @ eigvecs[:, -1]) ** 2
        noise = _noise_variance(features, targets, w_opt, batch, rng)
        record = {"noise": noise, "final": float(excess(tail).mean()), "std": float(excess(tail).std()),
                  "steep_share": float(steep.mean() / excess(tail).mean())}
        measured[f"b{batch}"] = record
        rows.append([batch, noise, record["final"], record["std"], 100.0 * record["steep_share"]])
        curves[f"B={batch}"] = excess(xs)
        if batch in (BATCH_SIZES[0], BATCH_SIZES[-1]):
            paths[f"B={batch}"] = xs
    finals = [measured[f"b{b}"]["final"] for b in BATCH_SIZES]
    measured["ratio"] = finals[0] / finals[-1]
    measured["spearman"] = rank_correlation([measured[f"b{b}"]["noise"] for b in BATCH_SIZES], finals)
    table = Table(["col.batch", "col.grad_noise", "col.final_excess", "col.loss_std", "col.steep_share"], rows,
                  text_args={"tail_pct": 100.0 * TAIL})
    contour = figures.contour_with_trajectories(lambda X, Y: excess(np.stack([X, Y], -1)),
                                                (w_opt[0] - 9, w_opt[0] + 2), (w_opt[1] - 3, w_opt[1] + 3),
                                                paths, minima=[tuple(w_opt)], markers=False)
    figs = [to_figure(contour, "minibatch.fig.contour", small=BATCH_SIZES[0]),
            to_figure(figures.loss_curves(curves, ylabel="f - f*", offset=0.0), "minibatch.fig.loss")]
    return Measurements([table], figs, measured)


def rank_correlation(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (no ties expected): the Pearson correlation of the ranks."""
    ranks = [np.argsort(np.argsort(np.asarray(v, dtype=float))) for v in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


def _minibatch_grad(features: np.ndarray, targets: np.ndarray, picks: np.ndarray, full: bool) -> GradFn:
    """Gradient of the mean squared error / 2 on the mini-batch ``picks[step]`` (all data if ``full``)."""
    def grad(w: np.ndarray, step: int) -> np.ndarray:
        xb, yb = (features, targets) if full else (features[picks[step]], targets[picks[step]])
        return xb.T @ (xb @ w - yb) / len(yb)

    return grad


def _noise_variance(features: np.ndarray, targets: np.ndarray, w: np.ndarray, batch: int,
                    rng: np.random.Generator, draws: int = NOISE_DRAWS) -> float:
    """``E |g_B(w) - g(w)|^2`` estimated from ``draws`` mini-batches (0 for the full batch)."""
    if batch == N_SAMPLES:
        return 0.0
    residual = features @ w - targets
    full = features.T @ residual / N_SAMPLES
    picks = rng.integers(0, N_SAMPLES, size=(draws, batch))
    grads = np.einsum("dbi,db->di", features[picks], residual[picks]) / batch
    return float(np.mean(np.sum((grads - full) ** 2, axis=1)))


def noise_hurts(m: Mapping[str, Any]) -> Finding:
    """Noise hurts if the smallest batch ends >= 2x above the full batch and the rank correlation is >= 0.8."""
    return Finding(supports(m["ratio"] >= NOISY_RATIO and m["spearman"] >= NOISY_RANK),
                   {"small": m["batch_sizes"][0], "large": m["batch_sizes"][-1], "ratio": m["ratio"],
                    "rho": m["spearman"]})


def steep_axis_shakes(m: Mapping[str, Any]) -> Finding:
    """The noise shakes mostly the steep axis if >= half the smallest batch's excess loss lies along it."""
    smallest = m["batch_sizes"][0]
    share = m[f"b{smallest}"]["steep_share"]
    return Finding(supports(share >= STEEP_SHARE), {"small": smallest, "share": 100.0 * share})


MINIBATCH_RULES = (Rule("minibatch.noise", noise_hurts), Rule("minibatch.steep", steep_axis_shakes))
