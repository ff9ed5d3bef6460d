"""Chapter 10: learning-rate decay (step, exponential, 1/t and plateau) on a noisy quadratic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from inertia.lab import figures
from inertia.lab.tour._engine import SGD, final_loss, log_grid
from inertia.lab.tour._model import ChapterResult, Table, Verdict
from inertia.lab.tour._shared import TourContext, to_figure

DIM = 20
CONDITION = 100.0
NOISE = 0.1
STEPS = 500
GRID = log_grid(0.02, 1.8, 10)  # wide enough that every schedule's best lr lies inside it
TUNE_SEEDS = (0, 1, 2, 3)  # offsets from the tour's seed: lrs are tuned on the mean over these noise seeds
EVAL_SEEDS = tuple(range(10, 18))  # fresh noise seeds for the reported numbers
WINDOW = 25  # the plateau schedule is fed the mean loss of each window of 25 steps
NAMES = ("constant", "step", "exponential", "inverse_time", "plateau")


def make_schedule(name: str) -> Any:
    """The schedule ``name`` with the tour's settings (see :mod:`inertia.schedules`)."""
    from inertia import schedules

    factories: dict[str, Callable[[], Any]] = {
        "constant": schedules.constant,
        "step": lambda: schedules.step_decay(every=150, gamma=0.3),
        "exponential": lambda: schedules.exponential_decay(gamma=0.995),
        "inverse_time": lambda: schedules.inverse_time_decay(k=0.02),
        "plateau": lambda: schedules.plateau(factor=0.3, patience=1, threshold=0.01),
    }
    return factories[name]()


LABELS = {"constant": "constant", "step": "step_decay(150, 0.3)", "exponential": "exponential_decay(0.995)",
          "inverse_time": "inverse_time_decay(0.02)", "plateau": "plateau(0.3, patience=1)"}


def run_schedule(problem: Any, name: str, lrs: list[float], seeds: list[int]
                 ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """SGD with schedule ``name``, one run per ``(lrs[i], seeds[i])`` (one param group each).

    Run i sees the gradient noise of ``seeds[i]``. Returns the excess loss per step
    ``(STEPS + 1, len(lrs))``, the lr per step of the first run and the plateau's decay steps. The
    plateau schedule watches one metric, so it takes one run per call.
    """
    from inertia import schedules

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
    finals = [final_loss(losses[:, i]) for i in range(losses.shape[1])]
    return GRID[int(np.argmin(np.mean(np.reshape(finals, (len(GRID), len(seeds))), axis=1)))]


def compute_schedules(ctx: TourContext) -> ChapterResult:
    """Tune each fixed schedule's base lr (mean over 4 noise seeds, same grid and budget), then evaluate on 8
    fresh seeds. The plateau schedule follows the lecture's recipe: it starts from the constant lr's tuned
    value and decays only when the loss stops improving."""
    from inertia.problems import noisy_quadratic

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
            finals = [final_loss(losses[:, 0]) for losses, _, _ in runs]
            losses, lr_trace, decays = runs[0]
        else:
            losses, lr_trace, decays = run_schedule(problem, name, [lr] * len(seeds), seeds)
            finals = [final_loss(losses[:, i]) for i in range(len(seeds))]
        curves[LABELS[name]], lr_curves[LABELS[name]] = losses[:, 0], lr_trace
        measured[name] = {"lr": lr, "final": float(np.mean(finals)), "std": float(np.std(finals)),
                          "decays": decays}
    base = measured["constant"]["final"]
    rows = [[LABELS[n], measured[n]["lr"], measured[n]["final"], measured[n]["std"], measured[n]["final"] / base,
             ", ".join(str(s) for s in measured[n]["decays"]) if n == "plateau" else None] for n in NAMES]
    table = Table(["col.schedule", "col.tuned_lr", "col.final_excess", "col.seed_std", "col.vs_constant",
                   "col.plateau_decays"], rows)
    lr_figure = figures.schedule_curves(lr_curves, STEPS, logy=True, title="", ylabel="learning rate")
    figs = [to_figure(figures.loss_curves(curves, ylabel="f - f*", offset=0.0), "schedules.fig.loss"),
            to_figure(lr_figure, "schedules.fig.lr")]
    return ChapterResult(10, "schedules", [table], figs, measured, verdicts_schedules(measured))


def verdicts_schedules(m: dict[str, Any]) -> list[Verdict]:
    """Decay helps if the best of step/exponential/1-t ends <= 0.8x the constant lr's loss; the plateau
    rule is supported if it decayed at least once and ended below the constant lr."""
    base = m["constant"]["final"]
    decayed = {n: m[n]["final"] for n in ("step", "exponential", "inverse_time")}
    best = min(decayed, key=decayed.get)
    helps = "supports" if decayed[best] <= 0.8 * base else "contradicts"
    beat = sum(1 for v in decayed.values() if v < base)
    plateau = m["plateau"]
    works = "supports" if plateau["decays"] and plateau["final"] < base else "contradicts"
    return [
        Verdict(helps, f"schedules.decay.{helps}", {"best": LABELS[best], "ratio": decayed[best] / base,
                                                    "beat": beat, "constant": base, "value": decayed[best]}),
        Verdict(works, f"schedules.plateau.{works}", {"decays": ", ".join(map(str, plateau["decays"])) or "-",
                                                      "count": len(plateau["decays"]), "final": plateau["final"],
                                                      "constant": base}),
    ]
