"""Chapter 11: Newton and L-BFGS against tuned first-order methods on full-batch problems."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure as MplFigure

import inertia
from inertia.lab import figures
from inertia.lab.tour.context import TourContext, to_figure
from inertia.lab.tour.model import Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, supports
from inertia.lab.tour.runs import ADAM, MOMENTUM, SGD, OptSpec, log_grid, surface_xy
from inertia.minimize import minimize
from inertia.problems import Quadratic, get_surface, load_digits
from inertia.second_order import LBFGS

GAP = 1e-6  # target: f - f* <= GAP * max(1, |f*|)
FIRST_ORDER = {"sgd": SGD, "momentum": MOMENTUM, "adam": ADAM}
FIRST_ORDER_GRID = log_grid(1e-3, 10.0, 9)  # half decades; every best lr lies inside
FIRST_ORDER_ITER = 200
LOGISTIC_SAMPLES = 300
L2 = 5e-3
MINIBATCH = 64
MINIBATCH_STEPS = 120
ADAM_MINIBATCH_GRID = log_grid(3e-3, 0.1, 4)
QUADRATIC_DIM, QUADRATIC_CONDITION = 50, 1000.0
PIXELS, CLASSES = 64, 10
SOFTMAX_PARAMS = PIXELS * CLASSES + CLASSES
LBFGS_HISTORY = 10
NEWTON_MAX_ITER = 100
MINIBATCH_HURTS = 100.0  # mini-batches hurt L-BFGS if its gap ends at least 100x the full-batch gap
SETUP = {"quad_dim": QUADRATIC_DIM, "quad_condition": QUADRATIC_CONDITION, "samples": LOGISTIC_SAMPLES,
         "params": SOFTMAX_PARAMS, "gap": GAP, "history": LBFGS_HISTORY, "grid_n": len(FIRST_ORDER_GRID),
         "grid_lo": FIRST_ORDER_GRID[0], "grid_hi": FIRST_ORDER_GRID[-1], "iters": FIRST_ORDER_ITER,
         "minibatch": MINIBATCH}
LABELS = {"sgd": "GD", "momentum": "Momentum", "adam": "Adam", "lbfgs": "L-BFGS", "newton": "Newton",
          "newton-cg": "Newton-CG"}


def _logistic_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits(seed=seed)
    inputs = data.X_train.reshape(data.n_train, -1).double()[:LOGISTIC_SAMPLES]
    return inputs, data.y_train[:LOGISTIC_SAMPLES]


def logistic_loss(w: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax regression on digits: mean cross-entropy + (L2/2) |W|^2, ``w`` = (W (64x10), b (10)).

    ``w`` may carry leading batch axes ``(..., 650)``; the result then has shape ``(...)``.
    """
    weights = w[..., : PIXELS * CLASSES].unflatten(-1, (PIXELS, CLASSES))
    logits = inputs @ weights + w[..., PIXELS * CLASSES:].unsqueeze(-2)
    nll = -(logits.log_softmax(-1).gather(-1, labels.expand(*logits.shape[:-1]).unsqueeze(-1))).squeeze(-1)
    return nll.mean(-1) + 0.5 * L2 * (weights**2).sum((-2, -1))


Problem = tuple[Callable[[torch.Tensor], torch.Tensor], np.ndarray, tuple[str, ...]]


def _problems(seed: int) -> dict[str, Problem]:
    """Each problem's loss (batched over leading axes), start and Newton variant."""
    rosenbrock = get_surface("rosenbrock")
    quadratic = Quadratic(dim=QUADRATIC_DIM, condition=QUADRATIC_CONDITION, seed=seed)
    inputs, labels = _logistic_data(seed)
    return {
        "Rosenbrock (n=2)": (rosenbrock.loss, np.array(rosenbrock.start), ("newton",)),
        f"quadratic (n={QUADRATIC_DIM}, κ={QUADRATIC_CONDITION:g})": (quadratic.loss, np.array(quadratic.start),
                                                                     ("newton",)),
        f"softmax regression, digits (n={SOFTMAX_PARAMS})": (lambda w: logistic_loss(w, inputs, labels),
                                                             np.zeros(SOFTMAX_PARAMS), ("newton-cg",)),
    }


def _solve(fun: Callable, x0: np.ndarray, method: str, target: float, **options: Any) -> Any:
    return minimize(fun, x0, method=method, tol=0.0, callback=lambda it: it.fun <= target, **options)


def _record(result: Any, fstar: float, target: float) -> dict[str, Any]:
    reached = result.fun <= target
    history = result.history
    return {"lr": None, "reached": bool(reached), "nit": result.nit if reached else None, "nfev": result.nfev,
            "nhvp": result.nhvp, "gap": max(float(result.fun) - fstar, 0.0),
            "curve": (np.asarray(history.nfev), np.asarray(history.f) - fstar),
            "path": history.x if history.x is not None and np.shape(result.x) == (2,) else None}


def _tuned_first_order(fun: Callable, x0: np.ndarray, spec: OptSpec, fstar: float, target: float) -> dict[str, Any]:
    """All lrs of the grid in one batched run (one full-batch gradient per iteration each); the best
    reaches the target with the fewest evaluations, else ends with the lowest loss."""
    params = [torch.tensor(x0, dtype=torch.float64, requires_grad=True) for _ in FIRST_ORDER_GRID]
    optimizer = spec.make([{"params": [p], "lr": lr} for p, lr in zip(params, FIRST_ORDER_GRID, strict=True)],
                          FIRST_ORDER_GRID[0])
    losses = np.full((FIRST_ORDER_ITER + 1, len(params)), np.nan)
    paths = np.full((FIRST_ORDER_ITER + 1, len(params), len(x0)), np.nan) if len(x0) == 2 else None
    hit: list[int | None] = [None] * len(params)
    for it in range(FIRST_ORDER_ITER + 1):
        optimizer.zero_grad()
        values = fun(torch.stack(params))
        losses[it] = values.detach().numpy()
        if paths is not None:
            paths[it] = torch.stack(params).detach().numpy()
        hit = [h if h is not None or not losses[it, i] <= target else it for i, h in enumerate(hit)]
        if it == FIRST_ORDER_ITER or all(h is not None or not np.isfinite(losses[it, i]) for i, h in enumerate(hit)):
            break
        values.sum().backward()
        optimizer.step()
    last = np.where(np.isfinite(losses[it]), losses[it], np.inf)
    best = min(range(len(params)), key=lambda i: (0, hit[i]) if hit[i] is not None else (1, last[i]))
    end = hit[best] if hit[best] is not None else it
    curve = losses[: end + 1, best] - fstar
    return {"lr": FIRST_ORDER_GRID[best], "reached": hit[best] is not None, "nit": hit[best],
            "nfev": end + 1, "nhvp": 0, "gap": max(float(losses[end, best]) - fstar, 0.0),
            "curve": (np.arange(1, end + 2), curve), "path": None if paths is None else paths[: end + 1, best]}


def compute_second_order(ctx: TourContext) -> Measurements:
    """Evaluations to f - f* <= 1e-6 (relative) for L-BFGS, Newton and three tuned first-order methods."""
    measured: dict[str, Any] = {"gap": GAP, "budget": FIRST_ORDER_ITER, "problems": {}}
    rows, curves = [], {}
    for name, (fun, x0, newton_modes) in _problems(ctx.seed).items():
        fstar = _reference_minimum(ctx, fun, x0, name)
        target = fstar + GAP * max(1.0, abs(fstar))
        runs = {"lbfgs": _record(_solve(fun, x0, "lbfgs", target, history_size=LBFGS_HISTORY), fstar, target)}
        for mode in newton_modes:
            runs[mode] = _record(_solve(fun, x0, mode, target, max_iter=NEWTON_MAX_ITER), fstar, target)
        for method, spec in FIRST_ORDER.items():
            runs[method] = _tuned_first_order(fun, x0, spec, fstar, target)
        measured["problems"][name] = {k: {key: v for key, v in r.items() if key not in ("curve", "path")}
                                      for k, r in runs.items()}
        curves[name] = {LABELS[k]: r["curve"] for k, r in runs.items()}
        rows += [[name, LABELS[k], r["lr"], r["nit"], r["nfev"], r["nhvp"], r["gap"]] for k, r in runs.items()]
        if name.startswith("Rosenbrock"):
            paths = {LABELS[k]: r["path"] for k, r in runs.items() if r["path"] is not None}
    measured["minibatch"] = _minibatch_lbfgs(ctx)
    mb = measured["minibatch"]
    tables = [Table(["col.problem", "col.method", "col.tuned_lr", "col.iters_to_target", "col.fevals",
                     "col.hvps", "col.final_gap"], rows),
              Table(["col.run", "col.batch", "col.steps", "col.fevals", "col.final_gap"],
                    [["L-BFGS", LOGISTIC_SAMPLES, MINIBATCH_STEPS, mb["full_nfev"], mb["full_gap"]],
                     ["L-BFGS", MINIBATCH, MINIBATCH_STEPS, mb["mini_nfev"], mb["mini_gap"]],
                     [f"Adam, lr={mb['adam_lr']:.3g}", MINIBATCH, MINIBATCH_STEPS, MINIBATCH_STEPS, mb["adam_gap"]]],
                    "second_order.table.minibatch", {"batch": MINIBATCH})]
    surface = get_surface("rosenbrock")
    contour = figures.contour_with_trajectories(surface_xy(surface), (-2.0, 2.0), (-1.0, 3.0), paths,
                                                minima=surface.minima, markers=True)
    figs = [to_figure(_gap_figure(curves), "second_order.fig.gap"), to_figure(contour, "second_order.fig.contour")]
    return Measurements(tables, figs, measured)


def _reference_minimum(ctx: TourContext, fun: Callable, x0: np.ndarray, name: str) -> float:
    """f* : exact where known (0), else Newton-CG run to a gradient norm of 1e-10 (cached)."""
    if not name.startswith("softmax"):
        return 0.0
    if "softmax_fstar" not in ctx.cache:
        ctx.cache["softmax_fstar"] = float(minimize(fun, x0, method="newton-cg", tol=1e-10).fun)
    return ctx.cache["softmax_fstar"]


def _gap_figure(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> MplFigure:
    fig = MplFigure(figsize=(12.0, 3.6))
    for ax, (name, runs) in zip(fig.subplots(1, len(curves)), curves.items(), strict=True):
        clipped = {label: (x, np.maximum(y, 1e-16)) for label, (x, y) in runs.items()}
        figures.plot_curves(ax, clipped, "function evaluations", "f - f*", logy=True, logx=True, offset=0.0)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def _minibatch_lbfgs(ctx: TourContext) -> dict[str, Any]:
    """L-BFGS (one iteration per step) on mini-batches of 64 vs on the full batch, and mini-batch Adam
    (lr tuned on a small grid; all lrs see the same batches)."""
    inputs, labels = _logistic_data(ctx.seed)
    fstar = _reference_minimum(ctx, lambda w: logistic_loss(w, inputs, labels), np.zeros(SOFTMAX_PARAMS), "softmax")
    batches = [torch.from_numpy(np.random.default_rng([ctx.seed, 11, step]).permutation(LOGISTIC_SAMPLES)[:MINIBATCH])
               for step in range(MINIBATCH_STEPS)]

    def lbfgs_gap(batch: int) -> tuple[float, int]:
        w = torch.zeros(SOFTMAX_PARAMS, dtype=torch.float64, requires_grad=True)
        optimizer = LBFGS([w], max_iter=1, max_eval=25, history_size=LBFGS_HISTORY, on_failure="ignore")
        for idx in batches:
            idx = idx if batch < LOGISTIC_SAMPLES else torch.arange(LOGISTIC_SAMPLES)

            def closure(idx: torch.Tensor = idx) -> torch.Tensor:
                optimizer.zero_grad()
                loss = logistic_loss(w, inputs[idx], labels[idx])
                loss.backward()
                return loss

            optimizer.step(closure)
        with torch.no_grad():
            return max(float(logistic_loss(w, inputs, labels)) - fstar, 0.0), optimizer.nfev

    full_gap, full_nfev = lbfgs_gap(LOGISTIC_SAMPLES)
    mini_gap, mini_nfev = lbfgs_gap(MINIBATCH)
    params = [torch.zeros(SOFTMAX_PARAMS, dtype=torch.float64, requires_grad=True) for _ in ADAM_MINIBATCH_GRID]
    adam = inertia.Adam([{"params": [p], "lr": lr} for p, lr in zip(params, ADAM_MINIBATCH_GRID, strict=True)])
    for idx in batches:
        adam.zero_grad()
        logistic_loss(torch.stack(params), inputs[idx], labels[idx]).sum().backward()
        adam.step()
    with torch.no_grad():
        gaps = (logistic_loss(torch.stack(params), inputs, labels) - fstar).clamp_min(0.0).tolist()
    best = int(np.nanargmin(gaps))
    return {"full_gap": full_gap, "full_nfev": full_nfev, "mini_gap": mini_gap, "mini_nfev": mini_nfev,
            "adam_lr": ADAM_MINIBATCH_GRID[best], "adam_gap": gaps[best], "steps": MINIBATCH_STEPS,
            "batch": MINIBATCH}


def _newton(runs: Mapping[str, Any]) -> Mapping[str, Any]:
    return runs.get("newton") or runs["newton-cg"]


def lbfgs_fewer_evaluations(m: Mapping[str, Any]) -> Finding:
    """L-BFGS wins if it reaches the target on every problem with fewer evaluations than every tuned first-order
    run (one that missed the target counts with the evaluations it spent)."""
    problems = m["problems"].values()
    ratios = [min(runs[k]["nfev"] for k in FIRST_ORDER) / max(runs["lbfgs"]["nfev"], 1) for runs in problems]
    reached = all(runs["lbfgs"]["reached"] for runs in problems)
    return Finding(supports(reached and min(ratios) > 1.0), {"low": min(ratios), "high": max(ratios),
                                                             "count": len(ratios)})


def newton_fewer_iterations(m: Mapping[str, Any]) -> Finding:
    """Newton needs fewer iterations than L-BFGS on every problem (both reaching the target)."""
    problems = list(m["problems"].values())
    fewer = all(_newton(r)["reached"] and r["lbfgs"]["reached"] and _newton(r)["nit"] < r["lbfgs"]["nit"]
                for r in problems)
    return Finding(supports(fewer), {
        "newton": [_newton(r)["nit"] if _newton(r)["reached"] else None for r in problems],
        "lbfgs": [r["lbfgs"]["nit"] if r["lbfgs"]["reached"] else None for r in problems],
        "hvps": [_newton(r)["nhvp"] for r in problems]})


def lbfgs_needs_full_batch(m: Mapping[str, Any]) -> Finding:
    """Mini-batches hurt L-BFGS if its gap ends >= 100x the full-batch gap."""
    mb = m["minibatch"]
    return Finding(supports(mb["mini_gap"] >= MINIBATCH_HURTS * max(mb["full_gap"], 1e-300)),
                   {"batch": mb["batch"], "steps": mb["steps"], "mini": mb["mini_gap"], "full": mb["full_gap"],
                    "adam": mb["adam_gap"]})


RULES = (Rule("second.lbfgs", lbfgs_fewer_evaluations), Rule("second.newton", newton_fewer_iterations),
         Rule("second.minibatch", lbfgs_needs_full_batch))
