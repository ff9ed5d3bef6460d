"""The common interface of inertia's optimization problems, and seeded gradient noise.

A :class:`Problem` is a differentiable objective ``f: R^dim -> R`` with a known start, known
minimizers and minimum value (where they exist), an exact gradient, and an optional
*gradient-noise* setting that simulates mini-batch gradients:

    g_t(x) = grad f(x) + sigma * xi_t,    xi_t ~ N(0, I),

where ``xi_t`` is drawn from a generator seeded with ``(noise_seed, step)``. The noise of a
step therefore depends only on the seed and the step index, never on how many gradients were
drawn before, so a run that is killed and resumed at step ``t`` sees exactly the same noise
as an uninterrupted run. The loss reported by a problem is always the exact (noise-free)
objective.

Typical use with any ``torch.optim.Optimizer``::

    problem = get_problem("valley", kappa=25).with_gradient_noise(0.5, seed=1)
    x = problem.init_params()
    opt = torch.optim.SGD([x], lr=0.05)
    for step in range(100):
        loss = opt.step(problem.closure(x, step))
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inertia.checks import STYLE_SENTENCE, check_finite_at_least, check_non_negative

Point = tuple[float, ...]


def seeded_normal(seed: int, step: int, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """Standard normal noise of ``shape`` determined only by ``(seed, step)``.

    Uses numpy's ``SeedSequence([seed, step])`` (PCG64), so different steps get independent
    streams and the value never depends on earlier draws.
    """
    if seed < 0 or step < 0:
        raise ValueError(f"seed and step must be non-negative, got seed={seed}, step={step}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, step])))
    return torch.from_numpy(rng.standard_normal(shape)).to(dtype)


class Problem(ABC):
    """A differentiable objective on ``R^dim`` with a known start and known minima.

    Attributes set by every problem:
        name: registry name (e.g. ``"rosenbrock"``).
        kind: ``"surface"`` (2D, plottable) or ``"quadratic"`` (N-dimensional).
        dim: number of parameters.
        description: one sentence saying what the problem shows.
        start: the default starting point.
        minima: global minimizers (empty when the objective is unbounded below).
        min_value: the global minimum value, or ``None`` when unbounded below.
        params: the construction parameters (for records and reproducibility).
        noise_scale: standard deviation ``sigma`` of the gradient noise (0 = exact gradients).
        noise_seed: seed of the gradient noise.
    """

    name: str
    kind: str
    dim: int
    description: str
    start: Point
    minima: tuple[Point, ...]
    min_value: float | None
    params: dict[str, Any]
    noise_scale: float = 0.0
    noise_seed: int = 0

    @abstractmethod
    def loss(self, x: Tensor) -> Tensor:
        """Exact objective value. ``x`` has shape ``(..., dim)``; the result has shape ``(...)``.

        Differentiable with autograd and batched (a grid of points evaluates at once).
        """

    @abstractmethod
    def grad(self, x: Tensor) -> Tensor:
        """Exact gradient (closed form), shape ``(..., dim)`` like ``x``; no autograd graph."""

    def hessian(self, x: Tensor) -> Tensor:
        """Hessian ``(dim, dim)`` at one point ``x`` of shape ``(dim,)`` (autograd by default)."""
        point = _as_point(x, self.dim, "x")
        return torch.autograd.functional.hessian(self.loss, point.detach())

    def stochastic_grad(self, x: Tensor, step: int) -> Tensor:
        """Gradient as an optimizer sees it at ``step``: ``grad(x) + noise_scale * xi_step``.

        Equals :meth:`grad` when ``noise_scale == 0``. Deterministic in ``(noise_seed, step)``.
        """
        g = self.grad(x.detach())
        if self.noise_scale == 0.0:
            return g
        xi = seeded_normal(self.noise_seed, step, tuple(g.shape), g.dtype)
        return g + self.noise_scale * xi

    def closure(self, x: Tensor, step: int) -> Callable[[], Tensor]:
        """A closure for ``optimizer.step(closure)``: sets ``x.grad`` and returns the exact loss.

        ``x`` must be a leaf tensor of shape ``(dim,)``, as returned by :meth:`init_params`.
        Every call within one step sees the same noise (L-BFGS calls it several times).
        """
        if x.shape != (self.dim,):
            raise ValueError(f"x must have shape ({self.dim},), got {tuple(x.shape)}")

        def _closure() -> Tensor:
            with torch.no_grad():
                x.grad = self.stochastic_grad(x, step).to(x.dtype)
                return self.loss(x)

        return _closure

    def init_params(self, start: Point | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
        """A fresh leaf tensor at ``start`` (default: the problem's start) with ``requires_grad``."""
        point = self.start if start is None else start
        if len(point) != self.dim:
            raise ValueError(f"start must have {self.dim} coordinates, got {point!r}")
        return torch.tensor(point, dtype=dtype).requires_grad_(True)

    def gap(self, x: Tensor) -> Tensor:
        """Suboptimality ``f(x) - min_value``; raises for problems unbounded below."""
        if self.min_value is None:
            raise ValueError(f"problem {self.name!r} is unbounded below: it has no minimum value")
        return self.loss(x) - self.min_value

    def with_gradient_noise(self, scale: float, seed: int = 0) -> Problem:
        """A copy of this problem whose :meth:`stochastic_grad` adds ``N(0, scale^2 I)`` noise."""
        scale = check_finite_at_least("noise scale", scale, style=STYLE_SENTENCE)
        seed = check_non_negative("noise seed", seed, integer=True, style=STYLE_SENTENCE)
        noisy = copy.copy(self)
        noisy.noise_scale = float(scale)
        noisy.noise_seed = seed
        return noisy

    def config(self) -> dict[str, Any]:
        """JSON-ready description: name, kind, params and noise settings."""
        return {
            "name": self.name,
            "kind": self.kind,
            "dim": self.dim,
            "params": dict(self.params),
            "noise_scale": self.noise_scale,
            "noise_seed": self.noise_seed,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        noise = f", noise_scale={self.noise_scale}, noise_seed={self.noise_seed}" if self.noise_scale else ""
        return f"{type(self).__name__}({self.name!r}{', ' if args else ''}{args}{noise})"


def with_gradient_noise(problem: Problem, scale: float, seed: int = 0) -> Problem:
    """Functional form of :meth:`Problem.with_gradient_noise`."""
    return problem.with_gradient_noise(scale, seed)


def _as_point(x: Tensor, dim: int, argument: str) -> Tensor:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x, dtype=torch.float64)
    if x.shape != (dim,):
        raise ValueError(f"{argument} must have shape ({dim},), got {tuple(x.shape)}")
    return x
