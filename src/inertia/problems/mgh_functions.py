"""The residual vectors of the 18 unconstrained problems of Moré, Garbow & Hillstrom (1981).

Each function maps ``x`` (1-D float tensor) to the residuals ``f_1(x), ..., f_m(x)``; the objective is
their sum of squares (:mod:`inertia.problems.mgh`). The formulas follow section 3 of J. J. Moré,
B. S. Garbow, K. E. Hillstrom, "Testing unconstrained optimization software", ACM TOMS 7(1), 17-41,
1981; the paper's problem numbers are given in each docstring. Every function is written with torch
operations only, so that autograd gives gradients and Hessians.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _grid(x: Tensor, values) -> Tensor:
    return torch.as_tensor(values, dtype=x.dtype, device=x.device)


def _indices(x: Tensor, start: int, stop: int) -> Tensor:
    return torch.arange(start, stop + 1, dtype=x.dtype, device=x.device)


def helical_valley(x: Tensor) -> Tensor:
    """(7) n = 3, m = 3; theta = arctan(x2/x1)/(2 pi), plus 1/2 when x1 < 0."""
    theta = torch.atan(x[1] / x[0]) / (2.0 * math.pi) + 0.5 * (x[0] < 0).to(x.dtype)
    radius = torch.sqrt(x[0] ** 2 + x[1] ** 2)
    return torch.stack((10.0 * (x[2] - 10.0 * theta), 10.0 * (radius - 1.0), x[2]))


def biggs_exp6(x: Tensor, m: int = 13) -> Tensor:
    """(18) n = 6; t_i = i/10, y_i = e^{-t_i} - 5 e^{-10 t_i} + 3 e^{-4 t_i}."""
    t = 0.1 * _indices(x, 1, m)
    y = torch.exp(-t) - 5.0 * torch.exp(-10.0 * t) + 3.0 * torch.exp(-4.0 * t)
    return x[2] * torch.exp(-t * x[0]) - x[3] * torch.exp(-t * x[1]) + x[5] * torch.exp(-t * x[4]) - y


GAUSSIAN_Y = (0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
              0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009)  # fmt: skip


def gaussian(x: Tensor) -> Tensor:
    """(9) n = 3, m = 15; t_i = (8 - i)/2."""
    t = (8.0 - _indices(x, 1, 15)) / 2.0
    return x[0] * torch.exp(-x[1] * (t - x[2]) ** 2 / 2.0) - _grid(x, GAUSSIAN_Y)


def powell_badly_scaled(x: Tensor) -> Tensor:
    """(3) n = 2, m = 2."""
    return torch.stack((1e4 * x[0] * x[1] - 1.0, torch.exp(-x[0]) + torch.exp(-x[1]) - 1.0001))


def box_3d(x: Tensor, m: int = 10) -> Tensor:
    """(12) n = 3; t_i = i/10."""
    t = 0.1 * _indices(x, 1, m)
    return torch.exp(-t * x[0]) - torch.exp(-t * x[1]) - x[2] * (torch.exp(-t) - torch.exp(-10.0 * t))


def variably_dimensioned(x: Tensor) -> Tensor:
    """(25) m = n + 2."""
    weighted = (_indices(x, 1, x.numel()) * (x - 1.0)).sum()
    return torch.cat((x - 1.0, weighted.reshape(1), (weighted**2).reshape(1)))


def watson(x: Tensor) -> Tensor:
    """(20) 2 <= n <= 31, m = 31; t_i = i/29."""
    n = x.numel()
    t = _indices(x, 1, 29).unsqueeze(1) / 29.0
    powers = _indices(x, 0, n - 1)
    derivative = ((powers[1:] * x[1:]) * t ** (powers[1:] - 1.0)).sum(dim=1)
    value = (x * t**powers).sum(dim=1)
    return torch.cat((derivative - value**2 - 1.0, x[0].reshape(1), (x[1] - x[0] ** 2 - 1.0).reshape(1)))


PENALTY_A = 1e-5


def penalty_1(x: Tensor) -> Tensor:
    """(23) m = n + 1, a = 1e-5."""
    return torch.cat((math.sqrt(PENALTY_A) * (x - 1.0), ((x**2).sum() - 0.25).reshape(1)))


def penalty_2(x: Tensor) -> Tensor:
    """(24) m = 2n, a = 1e-5, y_i = e^{i/10} + e^{(i-1)/10}."""
    n, root_a = x.numel(), math.sqrt(PENALTY_A)
    i = _indices(x, 2, n)
    y = torch.exp(i / 10.0) + torch.exp((i - 1.0) / 10.0)
    pairs = root_a * (torch.exp(x[1:] / 10.0) + torch.exp(x[:-1] / 10.0) - y)
    singles = root_a * (torch.exp(x[1:] / 10.0) - math.exp(-0.1))
    weights = _indices(x, 1, n).flip(0)  # n - j + 1
    last = (weights * x**2).sum() - 1.0
    return torch.cat(((x[0] - 0.2).reshape(1), pairs, singles, last.reshape(1)))


def brown_badly_scaled(x: Tensor) -> Tensor:
    """(4) n = 2, m = 3."""
    return torch.stack((x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0))


def brown_dennis(x: Tensor, m: int = 20) -> Tensor:
    """(16) n = 4; t_i = i/5."""
    t = _indices(x, 1, m) / 5.0
    return (x[0] + t * x[1] - torch.exp(t)) ** 2 + (x[2] + x[3] * torch.sin(t) - torch.cos(t)) ** 2


def gulf(x: Tensor, m: int = 99) -> Tensor:
    """(11) n = 3, n <= m <= 100; t_i = i/100, y_i = 25 + (-50 ln t_i)^{2/3}."""
    t = _indices(x, 1, m) / 100.0
    y = 25.0 + (-50.0 * torch.log(t)) ** (2.0 / 3.0)
    return torch.exp(-torch.abs(y - x[1]) ** x[2] / x[0]) - t


def trigonometric(x: Tensor) -> Tensor:
    """(26) m = n."""
    n = x.numel()
    return n - torch.cos(x).sum() + _indices(x, 1, n) * (1.0 - torch.cos(x)) - torch.sin(x)


def extended_rosenbrock(x: Tensor) -> Tensor:
    """(21) n even, m = n."""
    odd, even = x[0::2], x[1::2]
    return torch.stack((10.0 * (even - odd**2), 1.0 - odd), dim=1).reshape(-1)


def extended_powell(x: Tensor) -> Tensor:
    """(22) n a multiple of 4, m = n."""
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    parts = (a + 10.0 * b, math.sqrt(5.0) * (c - d), (b - 2.0 * c) ** 2, math.sqrt(10.0) * (a - d) ** 2)
    return torch.stack(parts, dim=1).reshape(-1)


def beale(x: Tensor) -> Tensor:
    """(5) n = 2, m = 3; y = (1.5, 2.25, 2.625)."""
    i = _indices(x, 1, 3)
    return _grid(x, (1.5, 2.25, 2.625)) - x[0] * (1.0 - x[1] ** i)


def wood(x: Tensor) -> Tensor:
    """(14) n = 4, m = 6."""
    return torch.stack((
        10.0 * (x[1] - x[0] ** 2), 1.0 - x[0], math.sqrt(90.0) * (x[3] - x[2] ** 2), 1.0 - x[2],
        math.sqrt(10.0) * (x[1] + x[3] - 2.0), (x[1] - x[3]) / math.sqrt(10.0),
    ))  # fmt: skip


def chebyquad(x: Tensor, m: int | None = None) -> Tensor:
    """(35) m >= n; T_i the Chebyshev polynomials shifted to [0, 1]; y_i = 0 (i odd), -1/(i^2 - 1) (i even)."""
    m = x.numel() if m is None else m
    u = 2.0 * x - 1.0
    previous, current = torch.ones_like(x), u
    means = [current.mean()]
    for _ in range(2, m + 1):
        previous, current = current, 2.0 * u * current - previous
        means.append(current.mean())
    i = torch.arange(1, m + 1, device=x.device)
    y = torch.where(i % 2 == 0, -1.0 / (i.to(x.dtype) ** 2 - 1.0), torch.zeros((), dtype=x.dtype))
    return torch.stack(means) - y.to(x.dtype)
