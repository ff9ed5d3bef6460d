"""The 18 unconstrained minimisation problems of Moré, Garbow & Hillstrom (1981), in torch.

J. J. Moré, B. S. Garbow, K. E. Hillstrom, "Testing unconstrained optimization software", ACM TOMS
7(1), 17-41, 1981: each problem is ``f(x) = sum_i f_i(x)^2`` over the residuals of
:mod:`inertia.problems.mgh_functions`, with the paper's standard starting point ``x0`` (its "1.0"
point; the paper also scales it by 10 and 100) and the dimensions of its table of unconstrained
minimisation problems (n, m below). ``fstar`` is the published minimum value: exact where the paper
states 0, otherwise to the 6 figures it prints, so ``fstar_resolution`` is half a unit in the last
printed figure. ``minimizers`` holds the points where the paper gives ``f = fstar`` exactly.

    >>> from inertia.problems.mgh import MGH_PROBLEMS
    >>> problem = MGH_PROBLEMS["wood"]
    >>> float(problem.objective(problem.start())), problem.fstar
    (19192.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from inertia.problems import mgh_functions as mf

Residuals = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class MGHProblem:
    """One problem: its residuals, standard start, published minimum value and known minimisers."""

    name: str
    title: str
    number: int  # the problem's number in the paper's section 3
    n: int
    m: int
    residuals: Residuals
    x0: tuple[float, ...]
    fstar: float
    fstar_resolution: float = 0.0
    minimizers: tuple[tuple[float, ...], ...] = field(default=())

    def objective(self, x: Tensor) -> Tensor:
        """``sum_i f_i(x)^2``, a scalar tensor differentiable by autograd."""
        return (self.residuals(x) ** 2).sum()

    def start(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The standard starting point as a new tensor."""
        return torch.tensor(self.x0, dtype=dtype)

    def solved(self, value: float, rtol: float = 1e-8) -> bool:
        """Whether ``value - fstar <= rtol * max(1, |fstar|)``, the published rounding of fstar allowed for."""
        return value - self.fstar <= rtol * max(1.0, abs(self.fstar)) + self.fstar_resolution


def _half_unit(value: float, figures: int = 6) -> float:
    """Half a unit in the last of ``figures`` significant figures of ``value``."""
    exponent = int(f"{value:e}".split("e")[1])
    return 0.5 * 10.0 ** (exponent - figures + 1)


def _printed(value: float, figures: int = 6) -> dict[str, float]:
    return {"fstar": value, "fstar_resolution": _half_unit(value, figures)}


def _variably_dimensioned_start(n: int) -> tuple[float, ...]:
    return tuple(1.0 - j / n for j in range(1, n + 1))


_PROBLEMS = (
    MGHProblem("helical_valley", "Helical valley", 7, 3, 3, mf.helical_valley, (-1.0, 0.0, 0.0), 0.0,
               minimizers=((1.0, 0.0, 0.0),)),
    MGHProblem("biggs_exp6", "Biggs EXP6", 18, 6, 13, mf.biggs_exp6, (1.0, 2.0, 1.0, 1.0, 1.0, 1.0), 0.0,
               minimizers=((1.0, 10.0, 1.0, 5.0, 4.0, 3.0),)),
    MGHProblem("gaussian", "Gaussian", 9, 3, 15, mf.gaussian, (0.4, 1.0, 0.0), **_printed(1.12793e-8)),
    MGHProblem("powell_badly_scaled", "Powell badly scaled", 3, 2, 2, mf.powell_badly_scaled, (0.0, 1.0), 0.0),
    MGHProblem("box_3d", "Box three-dimensional", 12, 3, 10, mf.box_3d, (0.0, 10.0, 20.0), 0.0,
               minimizers=((1.0, 10.0, 1.0), (10.0, 1.0, -1.0))),
    MGHProblem("variably_dimensioned", "Variably dimensioned", 25, 10, 12, mf.variably_dimensioned,
               _variably_dimensioned_start(10), 0.0, minimizers=((1.0,) * 10,)),
    MGHProblem("watson", "Watson", 20, 9, 31, mf.watson, (0.0,) * 9, **_printed(1.39976e-6)),
    MGHProblem("penalty_1", "Penalty I", 23, 10, 11, mf.penalty_1, tuple(float(j) for j in range(1, 11)),
               **_printed(7.08765e-5)),
    MGHProblem("penalty_2", "Penalty II", 24, 10, 20, mf.penalty_2, (0.5,) * 10, **_printed(2.93660e-4)),
    MGHProblem("brown_badly_scaled", "Brown badly scaled", 4, 2, 3, mf.brown_badly_scaled, (1.0, 1.0), 0.0,
               minimizers=((1e6, 2e-6),)),
    MGHProblem("brown_dennis", "Brown and Dennis", 16, 4, 20, mf.brown_dennis, (25.0, 5.0, -5.0, -1.0),
               **_printed(85822.2)),
    MGHProblem("gulf", "Gulf research and development", 11, 3, 99, mf.gulf, (5.0, 2.5, 0.15), 0.0,
               minimizers=((50.0, 25.0, 1.5),)),
    MGHProblem("trigonometric", "Trigonometric", 26, 10, 10, mf.trigonometric, (0.1,) * 10, 0.0),
    MGHProblem("extended_rosenbrock", "Extended Rosenbrock", 21, 10, 10, mf.extended_rosenbrock,
               (-1.2, 1.0) * 5, 0.0, minimizers=((1.0,) * 10,)),
    MGHProblem("extended_powell", "Extended Powell singular", 22, 12, 12, mf.extended_powell,
               (3.0, -1.0, 0.0, 1.0) * 3, 0.0, minimizers=((0.0,) * 12,)),
    MGHProblem("beale", "Beale", 5, 2, 3, mf.beale, (1.0, 1.0), 0.0, minimizers=((3.0, 0.5),)),
    MGHProblem("wood", "Wood", 14, 4, 6, mf.wood, (-3.0, -1.0, -3.0, -1.0), 0.0, minimizers=((1.0,) * 4,)),
    MGHProblem("chebyquad", "Chebyquad", 35, 10, 10, mf.chebyquad, tuple(j / 11 for j in range(1, 11)),
               **_printed(6.50395e-3)),
)  # fmt: skip

MGH_PROBLEMS: dict[str, MGHProblem] = {problem.name: problem for problem in _PROBLEMS}
"""The 18 problems by name, in the order of the paper's table."""

__all__ = ["MGH_PROBLEMS", "MGHProblem"]
