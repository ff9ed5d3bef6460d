"""A playground run computed by the library: inertia's optimizers in float64 on the surfaces' torch functions.

:func:`python_run` takes the same settings as one run of the page (surface and its parameters,
optimizer name and hyperparameters as the page names them, start, steps, gradient noise) and
returns the iterates, so that a view of the playground can be reproduced, or checked, in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.optim import Optimizer

from inertia.checks import STYLE_SENTENCE, check_int
from inertia.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from inertia.problems.surfaces import get_surface
from inertia.second_order import LBFGS, Newton

# The page's defaults (optimizers.js DEFAULTS): hyperparameters a run may leave out.
DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.1}, "momentum": {"lr": 0.1, "mu": 0.9}, "nesterov": {"lr": 0.1, "mu": 0.9},
    "adagrad": {"lr": 0.5, "eps": 1e-10}, "rmsprop": {"lr": 0.05, "alpha": 0.99, "eps": 1e-8},
    "adam": {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "bias_correction": 1},
    "adamw": {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "bias_correction": 1},
    "lbfgs": {"lr": 1.0, "history": 10}, "newton": {"lr": 1.0, "damping": 0.0},
}
OPTIMIZER_NAMES = tuple(DEFAULTS)


def _adam(x: torch.Tensor, hp: Mapping[str, float], cls: type[Adam]) -> Adam:
    extra = {"weight_decay": hp["weight_decay"]} if cls is AdamW else {}
    return cls([x], lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
               bias_correction=bool(hp["bias_correction"]), **extra)


BUILDERS: dict[str, Callable[[torch.Tensor, Mapping[str, float]], Optimizer]] = {
    "sgd": lambda x, hp: SGD([x], lr=hp["lr"]),
    "momentum": lambda x, hp: SGD([x], lr=hp["lr"], momentum=hp["mu"]),
    "nesterov": lambda x, hp: SGD([x], lr=hp["lr"], momentum=hp["mu"], nesterov=True),
    "adagrad": lambda x, hp: Adagrad([x], lr=hp["lr"], eps=hp["eps"]),
    "rmsprop": lambda x, hp: RMSprop([x], lr=hp["lr"], alpha=hp["alpha"], eps=hp["eps"]),
    "adam": lambda x, hp: _adam(x, hp, Adam),
    "adamw": lambda x, hp: _adam(x, hp, AdamW),
    "lbfgs": lambda x, hp: LBFGS([x], lr=hp["lr"], max_iter=1, history_size=int(hp["history"]),
                                 line_search=None, on_failure="ignore"),
    "newton": lambda x, hp: Newton([x], mode="exact", lr=hp["lr"], damping=hp["damping"], trust_region=False,
                                   max_iter=1, on_failure="ignore"),
}


def full_hyperparameters(optimizer: str, hyper: Mapping[str, float]) -> dict[str, float]:
    """The page's defaults of ``optimizer`` updated by ``hyper``; ValueError for an unknown name or key."""
    if optimizer not in DEFAULTS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid optimizers: {', '.join(OPTIMIZER_NAMES)}")
    unknown = sorted(set(hyper) - set(DEFAULTS[optimizer]))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown} for {optimizer!r}; valid: {', '.join(DEFAULTS[optimizer])}")
    return {**DEFAULTS[optimizer], **{k: float(v) for k, v in hyper.items()}}


def python_run(surface: str, params: Mapping[str, float], optimizer: str, hyper: Mapping[str, float],
               start: Sequence[float], steps: int, noise: Sequence[Sequence[float]] | None = None) -> np.ndarray:
    """Iterates ``(steps + 1, 2)`` of ``optimizer`` on ``surface`` from ``start``, in float64.

    ``noise[t]`` (optional, ``(steps, 2)``) is added to the gradient of step ``t``, as the page does
    with gradient noise. First-order rules get the surface's closed-form gradient; L-BFGS runs one
    fixed-step iteration (``line_search=None``) per step; Newton one exact, undamped-by-default
    Newton step (``trust_region=False``) with the Hessian from autograd.
    """
    check_int("steps", steps, low=0, style=STYLE_SENTENCE)
    hp = full_hyperparameters(optimizer, hyper)
    problem = get_surface(surface, **dict(params))
    x = torch.tensor([float(start[0]), float(start[1])], dtype=torch.float64, requires_grad=True)
    opt = BUILDERS[optimizer](x, hp)
    shifts = torch.zeros(steps, 2, dtype=torch.float64) if noise is None else torch.as_tensor(
        np.asarray(noise, dtype=np.float64)[:steps])
    xs = [x.detach().clone()]
    for t in range(steps):
        _one_step(opt, optimizer, problem, x, shifts[t])
        xs.append(x.detach().clone())
    return torch.stack(xs).numpy()


def _one_step(opt: Optimizer, optimizer: str, problem: Any, x: torch.Tensor, shift: torch.Tensor) -> None:
    if optimizer == "newton":  # the linear term adds the noise to the gradient and leaves the Hessian
        opt.step(lambda: problem.loss(x) + (shift * x).sum())
        return

    def closure() -> torch.Tensor:
        with torch.no_grad():
            x.grad = problem.grad(x.detach()) + shift
            return problem.loss(x.detach())

    if optimizer == "lbfgs":
        opt.step(closure)
    else:
        closure()
        opt.step()
