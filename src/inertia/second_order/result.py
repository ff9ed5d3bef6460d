"""The outcome of :func:`inertia.minimize`, and the per-iteration record it is built from."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from inertia.second_order.status import Status


@dataclass
class History:
    """One row per iterate, row 0 being ``x0``: ``x`` (``(k, n)`` array, or None when not kept),
    ``f``, ``grad_norm`` (infinity norm) and ``nfev`` (function evaluations used so far)."""

    x: np.ndarray | None
    f: np.ndarray
    grad_norm: np.ndarray
    nfev: np.ndarray

    def __len__(self) -> int:
        return len(self.f)


@dataclass(frozen=True)
class Iterate:
    """What :func:`inertia.minimize` passes to ``callback`` after each iteration."""

    nit: int
    x: np.ndarray | torch.Tensor  # a copy, numpy when x0 was numpy
    fun: float
    grad_norm: float
    nfev: int


@dataclass
class Result:
    """Result of :func:`inertia.minimize`.

    ``x`` has the type of ``x0`` (numpy in, numpy out); ``fun`` and ``grad_norm`` (infinity norm)
    are at ``x``; ``nit`` iterations used ``nfev`` function, ``ngev`` gradient evaluations and
    ``nhvp`` Hessian-vector products; ``status`` (a :class:`Status`) and ``message`` say why it
    stopped and ``success`` whether that is a solution; ``history`` holds every iterate.
    """

    x: np.ndarray | torch.Tensor
    fun: float
    grad_norm: float
    nit: int
    nfev: int
    ngev: int
    nhvp: int
    success: bool
    status: Status
    message: str
    method: str
    history: History = field(repr=False)

    def __str__(self) -> str:
        return (
            f"{self.method}: {self.status.value} ({self.message})\n"
            f"  fun={self.fun:.6g}  grad_norm={self.grad_norm:.3g}  nit={self.nit}  nfev={self.nfev}  "
            f"ngev={self.ngev}  nhvp={self.nhvp}"
        )


def _as_numpy(x: torch.Tensor) -> np.ndarray:
    """``x`` (a copy the recorder owns) as float64 numpy: its own memory where it is a float64 CPU tensor."""
    return x.numpy() if x.dtype == torch.float64 and x.is_cpu else x.cpu().double().numpy()


class Recorder:
    """Collects the iterates of one run and forwards them to a user callback."""

    def __init__(self, numpy_out: bool, keep_x: bool, callback: Callable[[Iterate], Any] | None) -> None:
        self.numpy_out, self.keep_x, self.callback = numpy_out, keep_x, callback
        self.xs: list[np.ndarray] = []
        self.fs: list[float] = []
        self.grad_norms: list[float] = []
        self.nfevs: list[int] = []
        self.last_x: torch.Tensor | None = None
        self.finite_x: torch.Tensor | None = None
        self.finite_rows = 0

    def output(self, x: torch.Tensor) -> np.ndarray | torch.Tensor:
        """A detached copy of ``x`` in the caller's type."""
        x = x.detach().clone()
        return x.cpu().numpy() if self.numpy_out else x

    def record(self, x: torch.Tensor, f: float, grad_norm: float, nfev: int, nit: int) -> bool:
        """Append one iterate; returns True when the callback asks to stop."""
        self.last_x = x.detach().clone()
        if math.isfinite(f) and math.isfinite(grad_norm):
            self.finite_x, self.finite_rows = self.last_x, len(self.fs) + 1
        if self.keep_x:
            self.xs.append(_as_numpy(self.last_x))
        self.fs.append(f)
        self.grad_norms.append(grad_norm)
        self.nfevs.append(nfev)
        if self.callback is None or nit == 0:
            return False
        try:
            return bool(self.callback(Iterate(nit, self.output(x), f, grad_norm, nfev)))
        except StopIteration:
            return True

    def prepend(self, x: torch.Tensor, f: float, grad_norm: float) -> None:
        """Insert row 0 (the starting point, one evaluation) after the other rows were recorded."""
        x = x.detach().clone()
        finite = math.isfinite(f) and math.isfinite(grad_norm)
        if self.keep_x:
            self.xs.insert(0, _as_numpy(x))
        self.fs.insert(0, f)
        self.grad_norms.insert(0, grad_norm)
        self.nfevs.insert(0, 1)
        if self.finite_x is not None:
            self.finite_rows += 1
        elif finite:
            self.finite_x, self.finite_rows = x, 1
        if self.last_x is None:
            self.last_x = x

    def drop_non_finite_tail(self) -> torch.Tensor | None:
        """Forget rows after the last finite one; return that row's x (None if no row is finite)."""
        if self.finite_x is None:
            return None
        for rows in (self.xs, self.fs, self.grad_norms, self.nfevs):
            del rows[self.finite_rows :]
        self.last_x = self.finite_x
        return self.finite_x

    def history(self) -> History:
        xs = np.stack(self.xs) if self.keep_x and self.xs else None
        return History(xs, np.asarray(self.fs, float), np.asarray(self.grad_norms, float), np.asarray(self.nfevs))
