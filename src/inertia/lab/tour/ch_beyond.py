"""Chapter 13: beyond the notes: the tilted valley against non-diagonal preconditioners and second-order methods.

Every method runs on the chapter-1 valley at 0°, 22.5° and 45° and on a 50-dimensional quadratic next to its
axis-aligned twin (the same problem seen in its eigenbasis: same spectrum, start and minimum, rotated). The
first-order methods see the point as a ``1 x n`` matrix, the shape Shampoo, SOAP and Muon precondition; the
elementwise rules (SGD, momentum, Adam) give the same numbers in any shape, so they share the earlier chapters'
runs. L-BFGS and Newton run on the vector. Each method's lr is the best of a small log grid on each problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure as MplFigure

import inertia
from inertia.lab import figures
from inertia.lab.tour.ch_sgd import KAPPA, VALLEY_GRID, VALLEY_STEPS
from inertia.lab.tour.context import TourContext, to_figure
from inertia.lab.tour.model import Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, steps_text, supports
from inertia.lab.tour.runs import ADAM, MOMENTUM, SGD, OptSpec, first_step_below, log_grid, surface_grad
from inertia.lab.tour.text import fmt
from inertia.problems import Quadratic, get_surface

TARGET = 1e-3  # the valley's target, as in chapter 9: f < TARGET
ANGLES = (0.0, 22.5, 45.0)
VALLEY_KEYS = tuple(f"{angle:g}" for angle in ANGLES)  # measured["methods"][label]["valley"][key]: steps to target
QUAD_KEYS = ("aligned", "rotated")
QUAD_DIM, QUAD_CONDITION = 50, 1000.0
QUAD_SEED = 13  # the quadratic's rotation, minimum and start (fixed, whatever the tour's seed)
QUAD_TARGET = 1e-3  # the quadratic's target: f - f* <= QUAD_TARGET * (f(x0) - f*)
QUAD_STEPS = 200
QUAD_GRID = log_grid(0.01, 3.0, 6)
SECOND_ORDER_GRID = (0.25, 0.5, 1.0)  # L-BFGS's first trial step, Newton's step scale
LBFGS_HISTORY = 10
TIMING_STEPS = 20  # steps timed per method on the quadratic (after TIMING_WARMUP untimed ones)
TIMING_WARMUP = 3
LARGE_SLOWDOWN = 2.0  # the notes' claim holds for a diagonal method slowed at least 2x (chapter 9's threshold)
SLOWED = 1.5  # a method is slowed by the rotation at 1.5x or more (chapter 9's momentum threshold)
SETUP = {"kappa": KAPPA, "target": TARGET, "steps": VALLEY_STEPS, "grid_n": len(VALLEY_GRID),
         "grid_lo": VALLEY_GRID[0], "grid_hi": VALLEY_GRID[-1], "quad_dim": QUAD_DIM, "quad_condition": QUAD_CONDITION,
         "quad_target": QUAD_TARGET, "quad_steps": QUAD_STEPS, "quad_grid_n": len(QUAD_GRID),
         "quad_grid_lo": QUAD_GRID[0], "quad_grid_hi": QUAD_GRID[-1], "second_n": len(SECOND_ORDER_GRID),
         "second_lo": SECOND_ORDER_GRID[0], "second_hi": SECOND_ORDER_GRID[-1], "history": LBFGS_HISTORY,
         "large": LARGE_SLOWDOWN, "slowed": SLOWED, "angle_mid": ANGLES[1], "angle_max": ANGLES[-1],
         "quad_seed": QUAD_SEED, "timed": TIMING_STEPS}


@dataclass(frozen=True)
class MatrixSpec(OptSpec):
    """An optimizer of :data:`MATRIX_CLASSES` with fixed hyperparameters, for a point held as a ``1 x n`` matrix."""

    def make(self, params: Sequence[Any], lr: float) -> torch.optim.Optimizer:
        """Build the optimizer for ``params`` (tensors or param-group dicts) with default ``lr``."""
        return MATRIX_CLASSES[self.name](list(params), lr=lr, **dict(self.options))


MATRIX_CLASSES: dict[str, Callable[..., torch.optim.Optimizer]] = {"shampoo": inertia.Shampoo, "soap": inertia.SOAP,
                                                                   "muon": inertia.Muon}
NO_DECAY = (("weight_decay", 0.0),)  # SOAP's and Muon's default decay would move the minimum
SHAMPOO = MatrixSpec("shampoo", "Shampoo")
SOAP = MatrixSpec("soap", "SOAP", NO_DECAY)
MUON = MatrixSpec("muon", "Muon", NO_DECAY)
ELEMENTWISE = (SGD, MOMENTUM, ADAM)
MATRIX = (SHAMPOO, SOAP, MUON)
SECOND_ORDER = ("L-BFGS", "Newton")
DIAGONAL = ("Adam",)  # per-coordinate scaling: the notes' claim is about these
NON_DIAGONAL = ("Shampoo", "SOAP", "Muon", "L-BFGS", "Newton")


# ---------------------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Problem:
    """One quadratic problem: its cache key, gradient and loss on numpy rows, torch loss, start, target."""

    key: str
    grad: Callable[[np.ndarray, int], np.ndarray]
    loss: Callable[[np.ndarray], np.ndarray]
    torch_loss: Callable[[torch.Tensor], torch.Tensor]
    x0: np.ndarray
    target: float


def quadratic_problem(key: str, matrix: np.ndarray, x_star: np.ndarray, x0: np.ndarray) -> Problem:
    """``f(x) = (x - x*)^T A (x - x*)/2`` (minimum 0), its target ``QUAD_TARGET * f(x0)``."""
    tensor, star = torch.from_numpy(matrix), torch.from_numpy(x_star)

    def loss(x: np.ndarray) -> np.ndarray:
        d = np.asarray(x) - x_star
        return 0.5 * np.einsum("...i,ij,...j->...", d, matrix, d)

    def torch_loss(x: torch.Tensor) -> torch.Tensor:
        d = x - star
        return 0.5 * d @ tensor @ d

    return Problem(key, lambda x, step: (x - x_star) @ matrix, loss, torch_loss, x0,
                   QUAD_TARGET * float(loss(x0)))


def quadratic_twins() -> tuple[Problem, Problem]:
    """The axis-aligned quadratic and its randomly rotated twin (condition QUAD_CONDITION, seed QUAD_SEED)."""
    rotated = Quadratic(dim=QUAD_DIM, condition=QUAD_CONDITION, seed=QUAD_SEED)
    q = rotated.rotation.numpy()
    x_star, x0 = rotated.x_star.numpy(), np.array(rotated.start)
    aligned = quadratic_problem("beyond.aligned", np.diag(rotated.eigenvalues.numpy()), q.T @ x_star, q.T @ x0)
    return aligned, quadratic_problem("beyond.rotated", rotated.matrix.numpy(), x_star, x0)


def valley(angle: float) -> Problem:
    """The chapter-1 valley rotated by ``angle`` degrees (cache keys as in chapter 9)."""
    surface = get_surface("valley", kappa=KAPPA, angle_deg=angle)
    loss = lambda x: surface.loss(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))).numpy()  # noqa: E731
    return Problem("valley" if angle == 0.0 else f"valley{angle:g}", surface_grad(surface), loss, surface.loss,
                   np.array(surface.start), TARGET)


# ---------------------------------------------------------------------------------------- runs
def first_order_hit(ctx: TourContext, problem: Problem, spec: OptSpec, grid: list[float], steps: int) -> dict:
    """The tuned run's lr (best final loss, as chapter 9) and its first step at or below the target."""
    x0 = problem.x0 if spec in ELEMENTWISE else problem.x0[None]
    run = ctx.tuned(problem.key, problem.grad, problem.loss, x0, spec, grid, steps)
    return {"lr": run.lr, "hit": first_step_below(np.ravel(run.losses), problem.target)}


def second_order_optimizer(name: str, param: torch.Tensor, lr: float, steps: int) -> Any:
    """inertia.LBFGS (strong Wolfe line search) or inertia.Newton (exact Hessian) on ``param``."""
    if name == "L-BFGS":
        return inertia.LBFGS([param], lr=lr, max_iter=steps, history_size=LBFGS_HISTORY, tolerance_grad=0.0,
                             tolerance_change=0.0, on_failure="ignore")
    return inertia.Newton([param], lr=lr, max_iter=steps, tolerance_grad=0.0, on_failure="ignore")


def second_order_run(name: str, problem: Problem, lr: float, steps: int) -> tuple[int | None, Any, float]:
    """Iterations until the loss is at or below the target (None if never), the optimizer, and the seconds."""
    param = torch.tensor(problem.x0, dtype=torch.float64, requires_grad=True)
    optimizer = second_order_optimizer(name, param, lr, steps)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = problem.torch_loss(param)
        if name == "L-BFGS":
            value.backward()
        return value

    hit: list[int] = []
    start = time.perf_counter()
    with torch.no_grad():
        reached = problem.torch_loss(param).item() <= problem.target
    if not reached:
        optimizer.step(closure, lambda info: hit.append(info.nit) if info.loss <= problem.target else None)
    seconds = time.perf_counter() - start
    return (0 if reached else (hit[0] if hit else None)), optimizer, seconds


def second_order_hit(ctx: TourContext, problem: Problem, name: str, steps: int) -> dict:
    """The lr of :data:`SECOND_ORDER_GRID` that reaches the target in the fewest iterations (ties: smaller lr).

    The lrs run from the largest down, each capped at the fewest iterations found so far: a run that needs
    more could not be picked, so the cap changes no choice."""
    key = ("beyond", problem.key, name, steps)
    if key not in ctx.cache:
        best: dict[str, Any] = {"lr": SECOND_ORDER_GRID[-1], "hit": None}
        for lr in sorted(SECOND_ORDER_GRID, reverse=True):
            hit = second_order_run(name, problem, lr, steps if best["hit"] is None else best["hit"])[0]
            if hit is not None and (best["hit"] is None or hit <= best["hit"]):
                best = {"lr": lr, "hit": hit}
        ctx.cache[key] = best
    return ctx.cache[key]


# ---------------------------------------------------------------------------------------- cost
def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor the optimizer keeps between steps (its state dict's state, lists included)."""
    def size(value: Any) -> int:
        if isinstance(value, torch.Tensor):
            return value.numel() * value.element_size()
        if isinstance(value, Mapping):
            return sum(size(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(size(v) for v in value)
        return 0

    return size(optimizer.state_dict()["state"])


def first_order_cost(problem: Problem, spec: OptSpec, lr: float) -> dict[str, float]:
    """Median seconds per step (gradient included) and state bytes per parameter, on ``problem`` at ``lr``."""
    param = torch.tensor(problem.x0[None], dtype=torch.float64, requires_grad=True)
    optimizer = spec.make([param], lr)
    seconds = []
    for step in range(TIMING_WARMUP + TIMING_STEPS):
        start = time.perf_counter()
        param.grad = torch.from_numpy(problem.grad(param.detach().numpy(), step))
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    return {"ms_per_step": 1e3 * float(np.median(seconds[TIMING_WARMUP:])),
            "bytes_per_param": state_bytes(optimizer) / param.numel()}


def second_order_cost(problem: Problem, name: str, lr: float) -> dict[str, float]:
    """Seconds per iteration of the run to the target (line search or Hessian included), state bytes per param."""
    hit, optimizer, seconds = second_order_run(name, problem, lr, QUAD_STEPS)
    iterations = hit if hit else max(optimizer.nit, 1)
    return {"ms_per_step": 1e3 * seconds / iterations, "bytes_per_param": state_bytes(optimizer) / problem.x0.size}


def muon_first_update(problem: Problem) -> dict[str, float]:
    """Muon's first update on the ``1 x n`` point: its cosine with -g and with -sign(g), and its length / lr."""
    param = torch.tensor(problem.x0[None], dtype=torch.float64, requires_grad=True)
    optimizer = MUON.make([param], 1.0)
    gradient = problem.grad(problem.x0[None], 0)
    param.grad = torch.from_numpy(gradient.copy())
    optimizer.step()
    update = (param.detach().numpy() - problem.x0[None]).ravel()

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    return {"cos_gradient": cosine(update, -gradient.ravel()), "cos_sign": cosine(update, -np.sign(gradient.ravel())),
            "length": float(np.linalg.norm(update))}


# ---------------------------------------------------------------------------------------- the chapter
def method_runs(ctx: TourContext, valleys: Sequence[Problem], quads: Sequence[Problem]) -> dict[str, dict]:
    """Per method: the tuned lr and the step that reached the target, on each valley and each quadratic."""
    out: dict[str, dict] = {}
    for spec in (*ELEMENTWISE, *MATRIX):
        valley_runs = [first_order_hit(ctx, p, spec, VALLEY_GRID, VALLEY_STEPS) for p in valleys]
        quad_runs = [first_order_hit(ctx, p, spec, QUAD_GRID, QUAD_STEPS) for p in quads]
        out[spec.label] = {"valley": valley_runs, "quad": quad_runs}
    for name in SECOND_ORDER:
        out[name] = {"valley": [second_order_hit(ctx, p, name, VALLEY_STEPS) for p in valleys],
                     "quad": [second_order_hit(ctx, p, name, QUAD_STEPS) for p in quads]}
    return out


def method_costs(runs: Mapping[str, dict], quads: Sequence[Problem]) -> dict[str, dict[str, float]]:
    """Time per step and state bytes per parameter of each method on the rotated quadratic, at its tuned lr."""
    specs = {spec.label: spec for spec in (*ELEMENTWISE, *MATRIX)}
    rotated = quads[-1]
    return {label: (first_order_cost(rotated, specs[label], run["quad"][-1]["lr"]) if label in specs
                    else second_order_cost(rotated, label, run["quad"][-1]["lr"])) for label, run in runs.items()}


def compute_beyond(ctx: TourContext) -> Measurements:
    """Steps to target on the valley at three angles and on the quadratic twins; cost per step and state memory."""
    valleys, quads = [valley(angle) for angle in ANGLES], quadratic_twins()
    runs = method_runs(ctx, valleys, quads)
    costs = method_costs(runs, quads)
    methods = {label: {"valley": dict(zip(VALLEY_KEYS, (r["hit"] for r in run["valley"]), strict=True)),
                       "quad": dict(zip(QUAD_KEYS, (r["hit"] for r in run["quad"]), strict=True)),
                       "valley_lr": [r["lr"] for r in run["valley"]], "quad_lr": [r["lr"] for r in run["quad"]],
                       **costs[label]} for label, run in runs.items()}
    measured: dict[str, Any] = {"budget": VALLEY_STEPS, "quad_budget": QUAD_STEPS, "methods": methods,
                                "muon": muon_first_update(valleys[0])}
    return Measurements(tables(measured), [to_figure(steps_figure(measured), "beyond.fig.steps")], measured)


def slowdown(hits: Mapping[str, int | None], budget: int) -> tuple[float | None, bool]:
    """The worst ratio of a rotated run's steps to the aligned run's (the first entry of ``hits``), and whether it
    is a lower bound (a rotated run missed the target: it counts as the whole budget); None if the aligned run
    missed."""
    aligned, *rotated = hits.values()
    if aligned is None:
        return None, False
    worst = max(budget if h is None else h for h in rotated)
    return worst / max(aligned, 1), any(h is None for h in rotated)


def slowdown_text(hits: Mapping[str, int | None], budget: int) -> str:
    """A slowdown for a table or sentence: ``"2.5×"``, ``">= 6×"`` (lower bound) or ``"—"`` (not measured)."""
    value, bound = slowdown(hits, budget)
    return fmt(None) if value is None else (">= " if bound else "") + fmt(value) + "×"


def tables(m: Mapping[str, Any]) -> list[Table]:
    """Steps to target and slowdowns; tuned lrs, time per step and state memory."""
    budget, quad_budget = m["budget"], m["quad_budget"]
    steps = [[label, *(steps_text(h, budget) for h in r["valley"].values()), slowdown_text(r["valley"], budget),
              *(steps_text(h, quad_budget) for h in r["quad"].values()), slowdown_text(r["quad"], quad_budget)]
             for label, r in m["methods"].items()]
    cost = [[label, fmt(r["valley_lr"]), fmt(r["quad_lr"]), r["ms_per_step"], r["bytes_per_param"]]
            for label, r in m["methods"].items()]
    muon = m["muon"]
    angles = {f"angle{i}": angle for i, angle in enumerate(ANGLES)}
    return [Table(["col.method", "beyond.col.valley0", "beyond.col.valley1", "beyond.col.valley2",
                   "beyond.col.valley_slowdown", "beyond.col.aligned", "beyond.col.rotated", "beyond.col.quad_slowdown"],
                  steps, "beyond.table.steps", {"target": TARGET, "quad_target": QUAD_TARGET, **angles}),
            Table(["col.method", "beyond.col.valley_lr", "beyond.col.quad_lr", "beyond.col.ms", "beyond.col.bytes"],
                  cost, "beyond.table.cost", {"timed": TIMING_STEPS, **angles}),
            Table(["beyond.col.cos_gradient", "beyond.col.cos_sign", "beyond.col.length"],
                  [[muon["cos_gradient"], muon["cos_sign"], muon["length"]]], "beyond.table.muon",
                  {"angle": ANGLES[0]})]


def steps_figure(m: Mapping[str, Any]) -> MplFigure:
    """Grouped bars: steps to target per method, one bar per problem (a miss drawn at the budget, hatched)."""
    fig = MplFigure(figsize=(8.0, 3.8))
    labels = list(m["methods"])
    panels = (("valley", m["budget"], [f"{a:g}°" for a in ANGLES]), ("quad", m["quad_budget"], ["I", "Q"]))
    for index, (key, budget, names) in enumerate(panels):
        ax = fig.add_subplot(1, 2, index + 1)
        width = 0.8 / len(names)
        hits = [[list(m["methods"][label][key].values())[j] for label in labels] for j in range(len(names))]
        bars = [ax.bar(np.arange(len(labels)) + j * width, [budget if h is None else max(h, 1) for h in hits[j]],
                       width, label=name, color=figures.color_for(j)) for j, name in enumerate(names)]
        ax.legend(fontsize=7)  # before the hatching, so the legend shows plain colours
        for row, container in zip(hits, bars, strict=True):
            for bar, hit in zip(container, row, strict=True):
                bar.set_hatch("//" if hit is None else "")
        ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=30, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("step")
        ax.set_title("quadratic" if key == "quad" else "")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- verdicts
def diagonal_slowed(m: Mapping[str, Any]) -> Finding:
    """The notes' claim holds for the diagonal method (Adam) if the rotation slows it >= 2x on some problem."""
    return method_finding(m, DIAGONAL[0], LARGE_SLOWDOWN)


def method_finding(m: Mapping[str, Any], label: str, threshold: float) -> Finding:
    """Supports the claim if ``label`` is slowed >= ``threshold`` on a problem, contradicts it if every measured
    slowdown is below; mixed (case ``unmeasured``) if it reached the target axis-aligned on neither problem."""
    run = m["methods"][label]
    measured = [slowdown(run["valley"], m["budget"])[0], slowdown(run["quad"], m["quad_budget"])[0]]
    values = {"method": label, "valley": slowdown_text(run["valley"], m["budget"]),
              "quad": slowdown_text(run["quad"], m["quad_budget"]), "threshold": threshold,
              "aligned": steps_text(run["valley"][VALLEY_KEYS[0]], m["budget"]),
              "rotated": steps_text(run["valley"][VALLEY_KEYS[-1]], m["budget"])}
    known = [value for value in measured if value is not None]
    if not known:
        return Finding("mixed", values, case="unmeasured")
    return Finding(supports(max(known) >= threshold), values)


def rotation_rule(label: str) -> Rule:
    """The verdict on one non-diagonal method: is it slowed >= 1.5x by the rotation (the claim holds) or not?"""
    return Rule("beyond.rotates", lambda m: method_finding(m, label, SLOWED))


RULES = (Rule("beyond.diagonal", diagonal_slowed), *(rotation_rule(label) for label in NON_DIAGONAL))
