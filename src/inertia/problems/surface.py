"""The :class:`Surface` type: a 2D objective with a plot window, for contour plots and trajectories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from inertia.problems.base import Point, Problem

# f(x, y) -> value and (x, y) -> (df/dx, df/dy), on tensors of equal shape.
ValueFn = Callable[[Tensor, Tensor], Tensor]
GradFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
Window = tuple[tuple[float, float], tuple[float, float]]


class Surface(Problem):
    """A differentiable 2D test surface ``f(x, y)`` with a closed-form gradient.

    Besides the :class:`~inertia.problems.base.Problem` attributes it has:
        window: ``((xmin, xmax), (ymin, ymax))``, a plot window that shows the start, the
            minima and the interesting features.
        saddles: known saddle points (stationary points that are not extrema).
        local_minima: known local minima that are *not* global (may be empty).

    ``f``/``loss`` and ``grad`` accept tensors of shape ``(..., 2)`` (a contour grid evaluates
    in one call). The functions must be module-level (possibly wrapped in
    ``functools.partial``) so that surfaces pickle for multi-process runs.
    """

    kind = "surface"
    dim = 2

    def __init__(
        self,
        name: str,
        value_fn: ValueFn,
        grad_fn: GradFn,
        *,
        description: str,
        start: Point,
        window: Window,
        minima: tuple[Point, ...],
        min_value: float | None,
        saddles: tuple[Point, ...] = (),
        local_minima: tuple[Point, ...] = (),
        params: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.start = tuple(float(c) for c in start)
        self.window = window
        self.minima = minima
        self.min_value = min_value
        self.saddles = saddles
        self.local_minima = local_minima
        self.params = dict(params or {})
        self._value_fn = value_fn
        self._grad_fn = grad_fn

    def loss(self, x: Tensor) -> Tensor:
        """``f(x, y)`` for ``x`` of shape ``(..., 2)``; differentiable, result shape ``(...)``."""
        _check_xy(x)
        return self._value_fn(x[..., 0], x[..., 1])

    def f(self, xy: Tensor) -> Tensor:
        """Alias of :meth:`loss`."""
        return self.loss(xy)

    def grad(self, x: Tensor) -> Tensor:
        """Closed-form gradient ``(df/dx, df/dy)`` stacked on the last axis."""
        _check_xy(x)
        with torch.no_grad():
            gx, gy = self._grad_fn(x[..., 0], x[..., 1])
            return torch.stack(torch.broadcast_tensors(gx, gy), dim=-1)

    def grid(self, n: int = 200, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor, Tensor]:
        """``(X, Y, Z)`` meshgrid tensors of shape ``(n, n)`` over :attr:`window` for contour plots."""
        if not isinstance(n, int) or n < 2:
            raise ValueError(f"grid size n must be an integer >= 2, got {n!r}")
        (x0, x1), (y0, y1) = self.window
        xs = torch.linspace(x0, x1, n, dtype=dtype)
        ys = torch.linspace(y0, y1, n, dtype=dtype)
        grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
        with torch.no_grad():
            z = self.loss(torch.stack([grid_x, grid_y], dim=-1))
        return grid_x, grid_y, z

    def config(self) -> dict[str, Any]:
        """JSON-ready description (see :meth:`Problem.config`) plus start and window."""
        out = super().config()
        out["start"] = list(self.start)
        out["window"] = [list(self.window[0]), list(self.window[1])]
        return out


def _check_xy(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"surface points must be a torch.Tensor of shape (..., 2), got {type(x).__name__}")
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(f"surface points must have shape (..., 2), got {tuple(x.shape)}")
