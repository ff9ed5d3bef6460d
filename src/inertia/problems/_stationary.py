"""Stationary points of the surfaces that have no closed form, refined by Newton's method in float64.

Newton's iteration ``p <- p - H(p)^{-1} grad f(p)`` converges quadratically from the published
approximations, so the stored points are stationary to machine precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

Point = tuple[float, float]


def newton_refine(value_fn: Callable[[Tensor, Tensor], Tensor], guess: Point, iters: int = 30) -> Point:
    """Refine a stationary point of ``value_fn(x, y)`` from ``guess`` by Newton steps (autograd Hessian)."""

    def f(p: Tensor) -> Tensor:
        return value_fn(p[0], p[1])

    p = torch.tensor(guess, dtype=torch.float64)
    for _ in range(iters):
        g = torch.autograd.functional.jacobian(f, p)
        h = torch.autograd.functional.hessian(f, p)
        step = torch.linalg.solve(h, g)
        p = p - step
        if float(step.abs().max()) < 1e-15:
            break
    return float(p[0]), float(p[1])


def _himmelblau_value(x: Tensor, y: Tensor) -> Tensor:
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


# Himmelblau (1972): one minimum is exactly (3, 2); the others are refined from 6-digit values.
HIMMELBLAU_MINIMA: tuple[Point, ...] = ((3.0, 2.0),) + tuple(
    newton_refine(_himmelblau_value, g) for g in ((-2.805118, 3.131312), (-3.779310, -3.283186),
                                                   (3.584428, -1.848126))
)
HIMMELBLAU_SADDLES: tuple[Point, ...] = tuple(
    newton_refine(_himmelblau_value, g) for g in ((0.086677, 2.884255), (-3.073026, -0.081353),
                                                   (3.385154, 0.073852), (-0.127961, -1.953715))
)


def rastrigin_1d_minima(amplitude: float, limit: float) -> tuple[float, ...]:
    """Local minima of ``t^2 - A cos(2 pi t)`` in ``[-limit, limit]``: roots of
    ``2t + 2 pi A sin(2 pi t) = 0`` near each integer, by 1D Newton (0 is exact)."""
    out = []
    for k in range(-math.floor(limit), math.floor(limit) + 1):
        t = float(k)
        for _ in range(50):
            g = 2.0 * t + 2.0 * math.pi * amplitude * math.sin(2.0 * math.pi * t)
            h = 2.0 + 4.0 * math.pi**2 * amplitude * math.cos(2.0 * math.pi * t)
            if h <= 0.0:  # the well near k vanished (amplitude too small)
                break
            t -= g / h
        is_min = 2.0 + 4.0 * math.pi**2 * amplitude * math.cos(2.0 * math.pi * t) > 0.0
        if is_min and abs(t - k) < 0.5 and abs(t) <= limit and (k == 0 or t != 0.0):
            out.append(0.0 if k == 0 else t)
    return tuple(sorted(set(out)))


# --- narrow deep minimum beside a wide shallow one ---------------------------------------------

NARROW_CENTER, NARROW_WIDTH, NARROW_DEPTH = (1.5, 0.0), 0.2, 2.0
WIDE_CENTER, WIDE_WIDTH, WIDE_DEPTH = (-1.5, 0.0), 1.0, 1.0
BOWL = 0.05


def _well(x: Tensor, y: Tensor, center: Point, width: float) -> Tensor:
    return torch.exp(-((x - center[0]) ** 2 + (y - center[1]) ** 2) / (2.0 * width**2))


def narrow_wide(x: Tensor, y: Tensor) -> Tensor:
    """``0.05 |p|^2 - 2 N_0.2(p - (1.5, 0)) - N_1(p + (1.5, 0))`` with ``N_w(d) = exp(-|d|^2 / 2w^2)``."""
    narrow = _well(x, y, NARROW_CENTER, NARROW_WIDTH)
    wide = _well(x, y, WIDE_CENTER, WIDE_WIDTH)
    return BOWL * (x**2 + y**2) - NARROW_DEPTH * narrow - WIDE_DEPTH * wide


def narrow_wide_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Closed-form gradient of :func:`narrow_wide`."""
    gx, gy = 2.0 * BOWL * x, 2.0 * BOWL * y
    for center, width, depth in ((NARROW_CENTER, NARROW_WIDTH, NARROW_DEPTH), (WIDE_CENTER, WIDE_WIDTH, WIDE_DEPTH)):
        w = depth * _well(x, y, center, width) / width**2
        gx = gx + w * (x - center[0])
        gy = gy + w * (y - center[1])
    return gx, gy


# (global minimum in the narrow well, local minimum in the wide well, saddle between them)
NARROW_WIDE_POINTS: tuple[Point, Point, Point] = (
    newton_refine(narrow_wide, NARROW_CENTER),
    newton_refine(narrow_wide, WIDE_CENTER),
    newton_refine(narrow_wide, (1.0, 0.0)),
)
NARROW_WIDE_VALUES: tuple[float, ...] = tuple(
    float(narrow_wide(torch.tensor(p[0], dtype=torch.float64), torch.tensor(p[1], dtype=torch.float64)))
    for p in NARROW_WIDE_POINTS
)
