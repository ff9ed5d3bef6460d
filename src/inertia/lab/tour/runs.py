"""Small, fast runners and measurements shared by the tour's chapters.

Runs on 2-D surfaces feed an analytic gradient (plus optional Gaussian noise that stands in
for mini-batch noise) to one of inertia's optimizers. Many independent runs (several
starts) share one parameter tensor of shape ``(n_runs, dim)``: every first-order rule in
inertia is elementwise, so the rows evolve exactly as separate runs would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import inertia

GradFn = Callable[[np.ndarray, int], np.ndarray]
LossFn = Callable[[np.ndarray], np.ndarray]


def surface_grad(surface: Any) -> GradFn:
    """``grad(x, step)`` on numpy arrays of shape ``(..., 2)`` for an :mod:`inertia.problems` surface."""
    return lambda x, step: surface.grad(torch.from_numpy(x)).numpy()


def surface_loss(surface: Any) -> LossFn:
    """``f(x)`` on numpy arrays of shape ``(..., 2)`` (NaN stays NaN)."""
    def loss(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return surface.loss(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))).numpy()

    return loss


def surface_xy(surface: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``f(X, Y)`` on numpy grids, the form :mod:`inertia.lab.figures` draws contours of."""
    loss = surface_loss(surface)
    return lambda X, Y: loss(np.stack([X, Y], axis=-1))


@dataclass(frozen=True)
class OptSpec:
    """An optimizer family with fixed hyperparameters; ``lr`` is chosen per run."""

    name: str
    label: str
    options: tuple[tuple[str, Any], ...] = ()

    def make(self, params: Sequence[Any], lr: float) -> torch.optim.Optimizer:
        """Build the inertia optimizer for ``params`` (tensors or param-group dicts) with default ``lr``."""
        classes = {
            "sgd": inertia.SGD,
            "adagrad": inertia.Adagrad,
            "rmsprop": inertia.RMSprop,
            "adam": inertia.Adam,
        }
        return classes[self.name](list(params), lr=lr, **dict(self.options))


SGD = OptSpec("sgd", "SGD")
MOMENTUM = OptSpec("sgd", "Momentum", (("momentum", 0.9),))
NESTEROV = OptSpec("sgd", "Nesterov", (("momentum", 0.9), ("nesterov", True)))
ADAGRAD = OptSpec("adagrad", "AdaGrad")
RMSPROP = OptSpec("rmsprop", "RMSprop")
ADAM = OptSpec("adam", "Adam")
ADAM_NO_BC = OptSpec("adam", "Adam (bias_correction=False)", (("bias_correction", False),))


def log_grid(low: float, high: float, count: int) -> list[float]:
    """``count`` learning rates spaced evenly in log scale from ``low`` to ``high``."""
    return [float(v) for v in np.geomspace(low, high, count)]


@dataclass(frozen=True)
class Trace:
    """Iterates ``xs`` (``steps + 1`` points) and the gradients ``gs`` fed at each step (``steps``)."""

    xs: np.ndarray
    gs: np.ndarray

    def effective_step(self) -> np.ndarray:
        """Per-step effective learning rate ``median_i |x_{t+1,i} - x_{t,i}| / |g_{t,i}|``.

        For a rule without momentum this is exactly the rule's per-coordinate step size
        (``lr / (sqrt(G_t) + eps)`` for AdaGrad); coordinates with a zero gradient are ignored.
        """
        with np.errstate(all="ignore"):
            ratio = np.abs(np.diff(self.xs, axis=0)) / np.abs(self.gs)
        ratio[~np.isfinite(ratio)] = np.nan
        return np.nanmedian(ratio.reshape(len(ratio), -1), axis=1)


def run_grid(
    grad: GradFn,
    x0: np.ndarray,
    spec: OptSpec,
    lrs: Sequence[float],
    steps: int,
    noise_std: float = 0.0,
    seed: int = 0,
) -> list[Trace]:
    """Run ``spec`` once per learning rate in ``lrs``, all from ``x0``, and return one trace per lr.

    The runs share one optimizer with one param group per lr, and ``grad`` is called once per step
    on the stacked iterates of shape ``(len(lrs), *x0.shape)`` (so it must broadcast over leading
    axes, as the surfaces' gradients do). Every run sees the same noise ``noise_std * z_t``,
    ``z_t ~ N(0, I)`` drawn from ``seed``: comparisons across lrs use common random numbers.
    Runs that stop being finite stay NaN.
    """
    start = np.asarray(x0, dtype=np.float64)
    params = [torch.tensor(start, dtype=torch.float64, requires_grad=True) for _ in lrs]
    optimizer = spec.make([{"params": [p], "lr": float(lr)} for p, lr in zip(params, lrs, strict=True)],
                          float(lrs[0]))
    noise = np.random.default_rng(seed).standard_normal((steps, *start.shape)) * noise_std
    xs = np.full((steps + 1, len(lrs), *start.shape), np.nan)
    gs = np.full((steps, len(lrs), *start.shape), np.nan)
    xs[0] = start
    with np.errstate(all="ignore"):
        for t in range(steps):
            gs[t] = grad(xs[t], t) + noise[t]
            for param, g in zip(params, gs[t], strict=True):
                param.grad = torch.from_numpy(g.copy())
            optimizer.step()
            for i, param in enumerate(params):
                xs[t + 1, i] = param.detach().numpy()
            if not np.isfinite(xs[t + 1]).any():
                break
    return [Trace(xs[:, i], gs[:, i]) for i in range(len(lrs))]


def run_paths(
    grad: GradFn,
    x0: np.ndarray,
    spec: OptSpec,
    lr: float,
    steps: int,
    noise_std: float = 0.0,
    seed: int = 0,
) -> Trace:
    """One run of ``steps`` steps from ``x0`` (shape ``(dim,)`` or ``(n_runs, dim)``) at ``lr``.

    ``xs`` has shape ``(steps + 1, *x0.shape)``; the gradient seen at step t is
    ``grad(x_t, t) + noise_std * z_t``. Same numbers as the matching run of :func:`run_grid`.
    """
    return run_grid(lambda x, t: grad(x[0], t)[None], x0, spec, [lr], steps, noise_std, seed)[0]


def final_loss(losses: np.ndarray, tail: float = 0.1) -> float:
    """Mean loss over the last ``tail`` fraction of steps (inf when not finite)."""
    count = max(1, int(round(len(losses) * tail)))
    value = float(np.mean(losses[-count:]))
    return value if np.isfinite(value) else float("inf")


def tune_lr(score: Callable[[float], float], grid: Sequence[float]) -> tuple[float, dict[float, float]]:
    """Pick the learning rate of ``grid`` with the lowest ``score(lr)`` (non-finite counts as inf).

    Every optimizer compared in the tour goes through this with the same grid size and
    the same step budget inside ``score``, so no optimizer gets more tuning than another.
    """
    scores = {}
    for lr in grid:
        value = float(score(lr))
        scores[lr] = value if np.isfinite(value) else float("inf")
    best = min(grid, key=lambda lr: scores[lr])
    return best, scores


def sign_flips(values: np.ndarray) -> int:
    """Number of sign changes between consecutive entries (zeros are skipped)."""
    signs = np.sign(values[np.nonzero(values)])
    return int(np.count_nonzero(signs[1:] != signs[:-1]))


def path_length(xs: np.ndarray) -> float:
    """Total length of the polyline through the iterates ``xs`` (shape ``(steps, dim)``)."""
    return float(np.sum(np.linalg.norm(np.diff(xs, axis=0), axis=-1)))


def overshoot(xs: np.ndarray, x_star: np.ndarray) -> float:
    """How far the iterates travel past the minimum, relative to the start distance.

    With ``u = (x_0 - x*) / |x_0 - x*|`` this is ``max(0, -min_t (x_t - x*) . u) / |x_0 - x*|``:
    0 when the path never crosses the minimum along the approach direction, 0.5 when it
    goes half the initial distance beyond it.
    """
    offset = xs[0] - x_star
    distance = float(np.linalg.norm(offset))
    along = (xs - x_star) @ (offset / distance)
    return max(0.0, -float(np.nanmin(along))) / distance


def first_step_below(losses: np.ndarray, target: float) -> int | None:
    """First step index at which ``losses`` is at or below ``target``, or None."""
    hits = np.flatnonzero(np.asarray(losses) <= target)
    return int(hits[0]) if hits.size else None
