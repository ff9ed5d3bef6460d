"""The 2D test surfaces of the lab and their registry.

Every surface has a closed-form gradient, its global minima and minimum value (``None`` when it
is unbounded below), a default start and a plot window. Build one with
``get_surface(name, **params)``; ``SURFACES`` maps each name to its factory.

References: Rosenbrock (1960), Beale (1958), Rastrigin (1974), Himmelblau (1972), "Applied
Nonlinear Programming"; the remaining surfaces illustrate the CS231n optimization notes.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from inertia.checks import is_number
from inertia.problems import _stationary as st
from inertia.problems.surface import Surface

# --- elliptic valley ---------------------------------------------------------------------------


def _valley_axes(x: Tensor, y: Tensor, angle_deg: float) -> tuple[Tensor, Tensor, float, float]:
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return c * x + s * y, -s * x + c * y, c, s


def _valley(x: Tensor, y: Tensor, kappa: float, angle_deg: float) -> Tensor:
    u, v, _, _ = _valley_axes(x, y, angle_deg)
    return 0.5 * (u**2 / kappa + v**2)


def _valley_grad(x: Tensor, y: Tensor, kappa: float, angle_deg: float) -> tuple[Tensor, Tensor]:
    u, v, c, s = _valley_axes(x, y, angle_deg)
    du, dv = u / kappa, v
    return c * du - s * dv, s * du + c * dv


def valley(kappa: float = 25.0, angle_deg: float = 0.0) -> Surface:
    """Elliptic valley ``f = (u^2/kappa + v^2)/2`` in axes rotated by ``angle_deg``.

    ``u = x cos(a) + y sin(a)`` is the shallow axis (curvature ``1/kappa``), ``v`` the steep one
    (curvature 1), so the Hessian has condition number ``kappa``. Gradient descent is stable for
    ``lr < 2`` and zig-zags across the valley for ``lr`` near 2.
    """
    _check_range("kappa", kappa, low=1.0)
    _check_range("angle_deg", angle_deg)
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    start = (-8.0 * c - 2.0 * s, -8.0 * s + 2.0 * c)
    return Surface(
        "valley", partial(_valley, kappa=kappa, angle_deg=angle_deg),
        partial(_valley_grad, kappa=kappa, angle_deg=angle_deg),
        description=f"ill-conditioned elliptic valley (condition number {kappa:g}): SGD zig-zags",
        start=start, window=((-10.0, 10.0), (-10.0, 10.0)), minima=((0.0, 0.0),), min_value=0.0,
        params={"kappa": kappa, "angle_deg": angle_deg},
    )


# --- long valley (AdaGrad stops early) ---------------------------------------------------------


def _long_valley(x: Tensor, y: Tensor) -> Tensor:
    return torch.sqrt(1.0 + x**2) - 1.0 + 5.0 * y**2


def _long_valley_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    return x / torch.sqrt(1.0 + x**2), 10.0 * y


def long_valley() -> Surface:
    """Long valley ``f = sqrt(1 + x^2) - 1 + 5 y^2``: a floor of constant slope ~1 for ``|x| >> 1``.

    AdaGrad's accumulator grows like ``t`` on the constant-slope floor, so its step shrinks like
    ``lr/sqrt(t)`` and it covers only about ``2 lr sqrt(t)`` in ``t`` steps; RMSprop's average
    stays near 1, so it moves about ``lr`` per step and reaches the minimum.
    """
    return Surface(
        "long_valley", _long_valley, _long_valley_grad,
        description="long valley with a constant-slope floor: AdaGrad's step decays and it stops early",
        start=(-8.0, 1.0), window=((-9.0, 2.0), (-2.0, 2.0)), minima=((0.0, 0.0),), min_value=0.0,
    )


# --- Rosenbrock and Beale ----------------------------------------------------------------------


def _rosenbrock(x: Tensor, y: Tensor, a: float, b: float) -> Tensor:
    return (a - x) ** 2 + b * (y - x**2) ** 2


def _rosenbrock_grad(x: Tensor, y: Tensor, a: float, b: float) -> tuple[Tensor, Tensor]:
    r = y - x**2
    return -2.0 * (a - x) - 4.0 * b * x * r, 2.0 * b * r


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """Rosenbrock's banana ``f = (a - x)^2 + b (y - x^2)^2``; minimum 0 at ``(a, a^2)``."""
    _check_range("a", a)
    _check_range("b", b, low=0.0, strict=True)
    return Surface(
        "rosenbrock", partial(_rosenbrock, a=a, b=b), partial(_rosenbrock_grad, a=a, b=b),
        description="Rosenbrock's curved narrow valley, minimum at (a, a^2)",
        start=(-1.2, 1.0), window=((-2.0, 2.0), (-1.0, 3.0)), minima=((a, a * a),), min_value=0.0,
        params={"a": a, "b": b},
    )


_BEALE_C = (1.5, 2.25, 2.625)


def _beale(x: Tensor, y: Tensor) -> Tensor:
    return sum((c - x + x * y ** (k + 1)) ** 2 for k, c in enumerate(_BEALE_C))


def _beale_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    gx, gy = torch.zeros_like(x), torch.zeros_like(y)
    for k, c in enumerate(_BEALE_C):
        t = c - x + x * y ** (k + 1)
        gx = gx + 2.0 * t * (y ** (k + 1) - 1.0)
        gy = gy + 2.0 * t * (k + 1) * x * y**k
    return gx, gy


def beale() -> Surface:
    """Beale's function ``sum_k (c_k - x + x y^k)^2``, ``c = (1.5, 2.25, 2.625)``; minimum 0 at (3, 0.5)."""
    return Surface(
        "beale", _beale, _beale_grad,
        description="Beale's function: flat ridges and steep walls, minimum at (3, 0.5)",
        start=(1.0, 1.5), window=((-4.5, 4.5), (-4.5, 4.5)), minima=((3.0, 0.5),), min_value=0.0,
        saddles=((0.0, 1.0),),
    )


# --- saddles -----------------------------------------------------------------------------------


def _saddle(x: Tensor, y: Tensor, quartic: float) -> Tensor:
    return x**2 - y**2 + quartic * y**4 / 4.0


def _saddle_grad(x: Tensor, y: Tensor, quartic: float) -> tuple[Tensor, Tensor]:
    return 2.0 * x, -2.0 * y + quartic * y**3


def saddle() -> Surface:
    """The saddle ``f = x^2 - y^2`` (unbounded below); saddle point at the origin."""
    return Surface(
        "saddle", partial(_saddle, quartic=0.0), partial(_saddle_grad, quartic=0.0),
        description="saddle x^2 - y^2 (unbounded): the gradient vanishes at the origin",
        start=(1.0, 1e-3), window=((-1.5, 1.5), (-1.5, 1.5)), minima=(), min_value=None,
        saddles=((0.0, 0.0),),
    )


def saddle_bounded() -> Surface:
    """Bounded saddle ``f = x^2 - y^2 + y^4/4``: saddle at the origin, minima -1 at ``(0, +-sqrt 2)``."""
    r = math.sqrt(2.0)
    return Surface(
        "saddle_bounded", partial(_saddle, quartic=1.0), partial(_saddle_grad, quartic=1.0),
        description="saddle x^2 - y^2 + y^4/4: escape the origin to the minima (0, +-sqrt 2)",
        start=(1.0, 1e-3), window=((-1.5, 1.5), (-2.0, 2.0)), minima=((0.0, r), (0.0, -r)), min_value=-1.0,
        saddles=((0.0, 0.0),),
    )


def _monkey(x: Tensor, y: Tensor, quartic: float) -> Tensor:
    return x**3 - 3.0 * x * y**2 + quartic * (x**2 + y**2) ** 2


def _monkey_grad(x: Tensor, y: Tensor, quartic: float) -> tuple[Tensor, Tensor]:
    r2 = 4.0 * quartic * (x**2 + y**2)
    return 3.0 * x**2 - 3.0 * y**2 + r2 * x, -6.0 * x * y + r2 * y


def monkey_saddle() -> Surface:
    """Monkey saddle ``f = x^3 - 3 x y^2`` (unbounded): gradient *and* Hessian vanish at the origin.

    From the default start on the ridge ``y = 0`` gradient descent follows ``x' = x - 3 lr x^2``
    and creeps towards the origin like ``1/(3 lr t)``; momentum carries it past.
    """
    return Surface(
        "monkey_saddle", partial(_monkey, quartic=0.0), partial(_monkey_grad, quartic=0.0),
        description="monkey saddle x^3 - 3xy^2 (unbounded): a degenerate saddle where SGD creeps",
        start=(1.0, 0.0), window=((-1.5, 1.5), (-1.5, 1.5)), minima=(), min_value=None,
        saddles=((0.0, 0.0),),
    )


def monkey_saddle_bounded() -> Surface:
    """Bounded monkey saddle ``f = x^3 - 3 x y^2 + (x^2 + y^2)^2`` = ``r^3 cos(3t) + r^4`` in polar form.

    The degenerate saddle at the origin stays (gradient and Hessian vanish there); the three
    valleys ``cos(3t) = -1`` end in minima at ``r = 3/4``, angles 60, 180 and 300 degrees, of
    value ``-27/256``.
    """
    r = 0.75
    minima = tuple((r * math.cos(math.radians(a)), r * math.sin(math.radians(a))) for a in (180.0, 60.0, 300.0))
    return Surface(
        "monkey_saddle_bounded", partial(_monkey, quartic=1.0), partial(_monkey_grad, quartic=1.0),
        description="monkey saddle x^3 - 3xy^2 + (x^2+y^2)^2: a degenerate saddle and three minima",
        start=(1.0, 0.0), window=((-1.5, 1.5), (-1.5, 1.5)), minima=minima, min_value=-27.0 / 256.0,
        saddles=((0.0, 0.0),),
    )


# --- multi-modal surfaces ----------------------------------------------------------------------


def _rastrigin(x: Tensor, y: Tensor, amplitude: float) -> Tensor:
    two_pi = 2.0 * math.pi
    return 2.0 * amplitude + x**2 + y**2 - amplitude * (torch.cos(two_pi * x) + torch.cos(two_pi * y))


def _rastrigin_grad(x: Tensor, y: Tensor, amplitude: float) -> tuple[Tensor, Tensor]:
    two_pi = 2.0 * math.pi
    return (2.0 * x + two_pi * amplitude * torch.sin(two_pi * x),
            2.0 * y + two_pi * amplitude * torch.sin(two_pi * y))


def rastrigin(amplitude: float = 10.0) -> Surface:
    """Rastrigin ``f = 2A + sum_i (x_i^2 - A cos(2 pi x_i))``; global minimum 0 at the origin.

    ``local_minima`` lists the other local minima in the window (one near each integer pair).
    """
    _check_range("amplitude", amplitude, low=0.0, strict=True)
    ones = st.rastrigin_1d_minima(amplitude, limit=5.12)
    local = tuple((a, b) for a in ones for b in ones if (a, b) != (0.0, 0.0))
    return Surface(
        "rastrigin", partial(_rastrigin, amplitude=amplitude), partial(_rastrigin_grad, amplitude=amplitude),
        description="Rastrigin: a bowl covered in local minima, global minimum at the origin",
        start=(-3.3, 3.6), window=((-5.12, 5.12), (-5.12, 5.12)), minima=((0.0, 0.0),), min_value=0.0,
        local_minima=local, params={"amplitude": amplitude},
    )


def _himmelblau(x: Tensor, y: Tensor) -> Tensor:
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def _himmelblau_grad(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    a, b = x**2 + y - 11.0, x + y**2 - 7.0
    return 4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b


def himmelblau() -> Surface:
    """Himmelblau ``f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2``: four global minima of value 0."""
    return Surface(
        "himmelblau", _himmelblau, _himmelblau_grad,
        description="Himmelblau: four equal minima; the start decides which one is found",
        start=(0.0, 0.0), window=((-5.0, 5.0), (-5.0, 5.0)), minima=st.HIMMELBLAU_MINIMA, min_value=0.0,
        saddles=st.HIMMELBLAU_SADDLES,
    )


def narrow_wide() -> Surface:
    """A narrow deep minimum beside a wide shallow one, on a weak bowl (see ``_stationary``).

    ``f = 0.05 |p|^2 - 2 exp(-|p - (1.5, 0)|^2 / (2 * 0.2^2)) - exp(-|p + (1.5, 0)|^2 / 2)``.
    The narrow well (width 0.2) is the global minimum; the wide well (width 1) is a local one.
    The notes: a very narrow minimum may be an overfitting artifact, and momentum can roll past it.
    From the default start, gradient descent with lr 0.02 settles in the narrow well while the
    heavy ball (momentum 0.9) with lr 0.1 rolls past it into the wide one; with lr <= 0.02 momentum
    is captured too, and plain GD is unstable in the narrow well for lr > 2 w^2 / depth = 0.04.
    """
    return Surface(
        "narrow_wide", st.narrow_wide, st.narrow_wide_grad,
        description="a narrow deep minimum beside a wide shallow one: momentum can roll past the narrow one",
        start=(3.5, 0.05), window=((-4.0, 4.0), (-2.5, 2.5)), minima=(st.NARROW_WIDE_POINTS[0],),
        min_value=st.NARROW_WIDE_VALUES[0], local_minima=(st.NARROW_WIDE_POINTS[1],),
        saddles=(st.NARROW_WIDE_POINTS[2],),
    )


def _plateau(x: Tensor, y: Tensor, width: float) -> Tensor:
    return 1.0 - torch.exp(-(x**2 + y**2) / (2.0 * width**2))


def _plateau_grad(x: Tensor, y: Tensor, width: float) -> tuple[Tensor, Tensor]:
    e = torch.exp(-(x**2 + y**2) / (2.0 * width**2)) / width**2
    return x * e, y * e


def plateau(width: float = 1.0) -> Surface:
    """Plateau ``f = 1 - exp(-|p|^2 / (2 w^2))``: the gradient vanishes exponentially far from the well."""
    _check_range("width", width, low=0.0, strict=True)
    return Surface(
        "plateau", partial(_plateau, width=width), partial(_plateau_grad, width=width),
        description="a plateau with vanishing gradients around a single well",
        start=(3.0 * width, 2.5 * width), window=((-4.0 * width, 4.0 * width), (-4.0 * width, 4.0 * width)),
        minima=((0.0, 0.0),), min_value=0.0, params={"width": width},
    )


# --- registry ----------------------------------------------------------------------------------

SURFACES: dict[str, Callable[..., Surface]] = {
    "valley": valley,
    "long_valley": long_valley,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "saddle": saddle,
    "saddle_bounded": saddle_bounded,
    "monkey_saddle": monkey_saddle,
    "monkey_saddle_bounded": monkey_saddle_bounded,
    "rastrigin": rastrigin,
    "himmelblau": himmelblau,
    "narrow_wide": narrow_wide,
    "plateau": plateau,
}


def get_surface(name: str, **params: float) -> Surface:
    """Build the surface registered as ``name`` with keyword ``params`` (see each factory).

    Raises ValueError naming the unknown surface or parameter and listing the valid ones.
    """
    factory = SURFACES.get(name)
    if factory is None:
        raise ValueError(f"unknown surface {name!r}; valid surfaces: {', '.join(SURFACES)}")
    return factory(**_checked_params(name, factory, params))


def check_param_names(name: str, factory: Callable[..., object], params: dict[str, object]) -> None:
    """Raise ValueError if ``params`` has a key that ``factory`` does not accept, listing the valid ones."""
    allowed = list(inspect.signature(factory).parameters)
    for key in params:
        if key not in allowed:
            valid = ", ".join(allowed) if allowed else "none"
            raise ValueError(f"unknown parameter {key!r} for problem {name!r}; valid parameters: {valid}")


def _checked_params(name: str, factory: Callable[..., object], params: dict[str, float]) -> dict[str, float]:
    check_param_names(name, factory, params)
    for key, value in params.items():
        if not is_number(value):
            raise ValueError(f"parameter {key!r} of problem {name!r} must be a number, got {value!r}")
    return {k: float(v) for k, v in params.items()}


def _check_range(arg: str, value: float, low: float | None = None, strict: bool = False) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{arg} must be finite, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{arg} must be {'>' if strict else '>='} {low:g}, got {value!r}")
