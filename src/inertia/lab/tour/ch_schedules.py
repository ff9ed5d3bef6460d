"""Chapter 10: learning-rate decay (step, exponential, 1/t and plateau) on a noisy quadratic."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from inertia import schedules
from inertia.lab import figures
from inertia.lab.tour.context import TourContext, to_figure
from inertia.lab.tour.model import Measurements, Table
from inertia.lab.tour.rules import Finding, Rule, supports
from inertia.lab.tour.runs import SGD, final_loss, log_grid
from inertia.problems import noisy_quadratic

DIM = 20
CONDITION = 100.0
NOISE = 0.1
STEPS = 500
GRID = log_grid(0.02, 1.8, 10)  # wide enough that every schedule's best lr lies inside it
TUNE_SEEDS = (0, 1, 2, 3)  # offsets from the tour's seed: lrs are tuned on the mean over these noise seeds
EVAL_SEEDS = tuple(range(10, 18))  # fresh noise seeds for the reported numbers
WINDOW = 25  # the plateau schedule is fed the mean loss of each window of 25 steps
TAIL = 0.1  # final losses are averaged over the last 10% of the steps
NAMES = ("constant", "step", "exponential", "inverse_time", "plateau")
STEP_EVERY, STEP_GAMMA = 150, 0.3
EXPONENTIAL_GAMMA = 0.995
INVERSE_TIME_K = 0.02
PLATEAU_FACTOR, PLATEAU_PATIENCE, PLATEAU_THRESHOLD = 0.3, 1, 0.01
DECAY_HELPS = 0.8  # decay helps if the best decay schedule ends at most 0.8x the constant lr's loss
SETUP = {"dim": DIM, "condition": CONDITION, "noise": NOISE, "steps": STEPS, "grid_lo": GRID[0], "grid_hi": GRID[-1],
         "grid_n": len(GRID), "tune_seeds": len(TUNE_SEEDS), "eval_seeds": len(EVAL_SEEDS), "tail_pct": 100.0 * TAIL,
         "window": WINDOW, "factor": PLATEAU_FACTOR}


def make_schedule(name: str) -> Any:
    """The schedule ``name`` with the tour's settings (see :mod:`inertia.schedules`)."""
    factories: dict[str, Callable[[], Any]] = {
        "constant": schedules.constant,
        "step": lambda: schedules.step_decay(every=STEP_EVERY, gamma=STEP_GAMMA),
        "exponential": lambda: schedules.exponential_decay(gamma=EXPONENTIAL_GAMMA),
        "inverse_time": lambda: schedules.inverse_time_decay(k=INVERSE_TIME_K),
        "plateau": lambda: schedules.plateau(factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE,
                                             threshold=PLATEAU_THRESHOLD),
    }
    return factories[name]()


LABELS = {"constant": "constant", "step": f"step_decay({STEP_EVERY}, {STEP_GAMMA:g})",
          "exponential": f"exponential_decay({EXPONENTIAL_GAMMA:g})", "inverse_time": f"inverse_time_decay({INVERSE_TIME_K:g})",
          "plateau": f"plateau({PLATEAU_FACTOR:g}, patience={PLATEAU_PATIENCE})"}


def run_schedule(problem: Any, name: str, lrs: list[float], seeds: list[int]
                 ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """SGD with schedule ``name``, one run per ``(lrs[i], seeds[i])`` (one param group each).

    Run i sees the gradient noise of ``seeds[i]``. Returns the excess loss per step
    ``(STEPS + 1, len(lrs))``, the lr per step of the first run and the plateau's decay steps. The
    plateau schedule watches one metric, so it takes one run per call.
    """
    if name == "plateau" and len(lrs) != 1:
        raise ValueError(f"lrs: the plateau schedule runs one lr at a time, got {len(lrs)}")
    start = torch.tensor(problem.start, dtype=torch.float64)
    params = [start.clone().requires_grad_(True) for _ in lrs]
    optimizer = SGD.make([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)], lrs[0])
    schedule = make_schedule(name)
    driver = schedules.attach(optimizer, schedule)
    noise = torch.from_numpy(np.stack([np.random.default_rng([seed, 10]).standard_normal((STEPS, DIM))
                                       for seed in seeds], axis=1) * NOISE)
    losses = np.empty((STEPS + 1, len(lrs)))
    lr_trace = np.empty(STEPS)
    with torch.no_grad():
        stacked = torch.stack(params)
        losses[0] = (problem.loss(stacked) - problem.min_value).numpy()
        for t in range(STEPS):
            grads = problem.grad(stacked) + noise[t]
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad.clone()
            lr_trace[t] = optimizer.param_groups[0]["lr"]
            optimizer.step()
            stacked = torch.stack(params)
            losses[t + 1] = np.nan_to_num((problem.loss(stacked) - problem.min_value).numpy(), nan=np.inf)
            if name == "plateau" and (t + 1) % WINDOW == 0:
                driver.step(float(np.mean(losses[t + 2 - WINDOW:t + 2, 0])))
            else:
                driver.step()
    decays = list(getattr(schedule, "decay_steps", []))
    return losses, lr_trace, decays


def _tune(problem: Any, name: str, seeds: list[int]) -> float:
    """The lr of :data:`GRID` with the lowest final loss of schedule ``name``, averaged over ``seeds``."""
    losses = run_schedule(problem, name, [lr for lr in GRID for _ in seeds], list(seeds) * len(GRID))[0]
    finals = [final_loss(losses[:, i], TAIL) for i in range(losses.shape[1])]
    return GRID[int(np.argmin(np.mean(np.reshape(finals, (len(GRID), len(seeds))), axis=1)))]


def compute_schedules(ctx: TourContext) -> Measurements:
    """Tune each fixed schedule's base lr (mean over 4 noise seeds, same grid and budget), then evaluate on 8
    fresh seeds. The plateau schedule follows the lecture's recipe: it starts from the constant lr's tuned
    value and decays only when the loss stops improving."""
    problem = noisy_quadratic(dim=DIM, condition=CONDITION, noise_scale=NOISE, seed=ctx.seed)
    measured: dict[str, Any] = {"steps": STEPS, "noise": NOISE, "dim": DIM, "condition": CONDITION,
                                "window": WINDOW, "eval_seeds": len(EVAL_SEEDS)}
    curves, lr_curves = {}, {}
    for name in NAMES:
        if name == "plateau":
            lr = measured["constant"]["lr"]
        else:
            lr = _tune(problem, name, [ctx.seed + s for s in TUNE_SEEDS])
        seeds = [ctx.seed + s for s in EVAL_SEEDS]
        if name == "plateau":
            runs = [run_schedule(problem, name, [lr], [seed]) for seed in seeds]
            finals = [final_loss(losses[:, 0], TAIL) for losses, _, _ in runs]
            losses, lr_trace, decays = runs[0]
        else:
            losses, lr_trace, decays = run_schedule(problem, name, [lr] * len(seeds), seeds)
            finals = [final_loss(losses[:, i], TAIL) for i in range(len(seeds))]
        curves[LABELS[name]], lr_curves[LABELS[name]] = losses[:, 0], lr_trace
        measured[name] = {"lr": lr, "final": float(np.mean(finals)), "std": float(np.std(finals)),
                          "decays": decays}
    base = measured["constant"]["final"]
    rows = [[LABELS[n], measured[n]["lr"], measured[n]["final"], measured[n]["std"], measured[n]["final"] / base,
             ", ".join(str(s) for s in measured[n]["decays"]) if n == "plateau" else None] for n in NAMES]
    table = Table(["col.schedule", "col.tuned_lr", "col.final_excess", "col.seed_std", "col.vs_constant",
                   "col.plateau_decays"], rows, text_args={"eval_seeds": len(EVAL_SEEDS)})
    lr_figure = figures.schedule_curves(lr_curves, STEPS, logy=True, title="", ylabel="learning rate")
    figs = [to_figure(figures.loss_curves(curves, ylabel="f - f*", offset=0.0), "schedules.fig.loss"),
            to_figure(lr_figure, "schedules.fig.lr")]
    return Measurements([table], figs, measured)


def decay_helps(m: Mapping[str, Any]) -> Finding:
    """Decay helps if the best of step/exponential/1-t decay ends at <= 0.8x the constant lr's loss."""
    base = m["constant"]["final"]
    decayed = {n: m[n]["final"] for n in ("step", "exponential", "inverse_time")}
    best = min(decayed, key=decayed.get)
    return Finding(supports(decayed[best] <= DECAY_HELPS * base),
                   {"best": LABELS[best], "ratio": decayed[best] / base,
                    "beat": sum(1 for v in decayed.values() if v < base), "constant": base, "value": decayed[best]})


def plateau_works(m: Mapping[str, Any]) -> Finding:
    """The lecture's plateau recipe is supported if it decayed at least once and ended below the constant lr."""
    base, plateau = m["constant"]["final"], m["plateau"]
    return Finding(supports(bool(plateau["decays"]) and plateau["final"] < base),
                   {"decays": list(plateau["decays"]), "count": len(plateau["decays"]), "final": plateau["final"],
                    "constant": base})


RULES = (Rule("schedules.decay", decay_helps), Rule("schedules.plateau", plateau_works))
