"""Newton's trust-region step: the subproblem by Moré & Sorensen's iteration, and the radius update.

At a point with gradient ``g`` and Hessian ``H``, the step minimises the quadratic model
``m(d) = g'd + d'Hd/2`` over the ball ``||d|| <= radius``. The minimiser is ``d(lam) = -(H + lam I)^{-1} g``
for a ``lam >= max(0, -mu_min)`` (``mu_min`` the lowest eigenvalue of H) with ``lam (radius - ||d||) = 0``,
except in the "hard case" (``g`` orthogonal to the eigenvectors of ``mu_min``), where a multiple of such
an eigenvector completes the step to the boundary. Moré & Sorensen ("Computing a trust region step",
SIAM J. Sci. Stat. Comput. 4, 1983; Conn, Gould & Toint, "Trust-Region Methods", 2000, §7.3) find
``lam`` by Newton's method on ``1/||d(lam)|| - 1/radius`` with one Cholesky factorization per trial,
inside a bracket that factorization failures and Gershgorin bounds tighten, and stop as soon as the
step is within 10% of the boundary, or a step along an estimated singular vector ``z`` of the factor
reaches the boundary within 20% of the model's optimum (the hard case, handled approximately). This is
the algorithm, tolerances and radius rule (:func:`next_radius`) of scipy's
``minimize(method="trust-exact")``; the step is accepted when ``rho > 0.15``, as scipy's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from inertia.checks import STYLE_SENTENCE, check_positive
from inertia.second_order.hyperparameters import check_newton_hyperparameters
from inertia.second_order.newton_directions import judge_trial
from inertia.second_order.status import Status

INITIAL_TRUST_RADIUS = 1.0  # scipy's initial_trust_radius
MAX_TRUST_RADIUS = math.inf  # scipy caps it at 1000 (Brown badly scaled needs a step of 1e6)
_MAX_TRIALS = 200
ACCEPT_RATIO = 0.15  # a step with rho = actual / predicted decrease above this is taken (scipy's eta)
_MS_ITERATIONS = 25  # factorizations per subproblem, as scipy's
_K_EASY, _K_HARD = 0.1, 0.2  # Moré–Sorensen's tolerances, scipy's defaults
_MARGIN = 1e-8  # relative room above the upper bound of lam


@dataclass
class TrustStep:
    """A subproblem solution: the step, the model's decrease ``-m(d)`` and whether it lies on the boundary."""

    d: torch.Tensor
    predicted: float
    on_boundary: bool


class TrustRegionModel:
    """The quadratic model at one point; :meth:`solve` finds its trust-region step for a radius by
    Moré & Sorensen's iteration on ``lam`` (Conn, Gould & Toint, "Trust-Region Methods", 2000, §7.3)."""

    def __init__(self, hessian: torch.Tensor, g: torch.Tensor) -> None:
        self.H, self.g = hessian, g
        self.eye = torch.eye(g.numel(), dtype=g.dtype, device=g.device)
        self.g_norm = float(g.norm())
        off_diagonal = hessian.abs().sum(dim=1) - hessian.diagonal().abs()
        self.gershgorin = (float((hessian.diagonal() - off_diagonal).min()),
                           float((hessian.diagonal() + off_diagonal).max()))
        norms = (float(torch.linalg.matrix_norm(hessian)), float(hessian.abs().sum(dim=1).max()))
        self.norm_bound = min(norms)
        self.close_to_zero = g.numel() * torch.finfo(g.dtype).eps * norms[1]
        self.lam_low, self.last_radius = 0.0, math.inf

    def _start(self, radius: float) -> tuple[float, float, float]:
        """The first ``lam`` and its bracket, from Gershgorin bounds and norms of H (CGT §7.3.8)."""
        low_eig, high_eig = self.gershgorin
        high = max(0.0, self.g_norm / radius + min(-low_eig, self.norm_bound))
        high += _MARGIN * max(1.0, high)  # strictly above -mu_min even when the bound is tight (g = 0)
        low = max(0.0, -float(self.H.diagonal().min()), self.g_norm / radius - min(high_eig, self.norm_bound))
        if radius < self.last_radius:  # a smaller radius never needs a smaller lam
            low = max(low, self.lam_low)
        return (0.0 if low == 0.0 else _inside(low, high)), low, high

    def _finish(self, d: torch.Tensor, on_boundary: bool, low: float, radius: float) -> TrustStep:
        self.lam_low, self.last_radius = low, radius
        predicted = -float(self.g.dot(d) + 0.5 * d.dot(self.H @ d))
        return TrustStep(d, predicted, on_boundary)

    def solve(self, radius: float) -> TrustStep:
        """An approximate minimiser of the model over ``||d|| <= radius``: Moré–Sorensen's tolerances
        (the boundary within 10%, or a hard-case step within 20% of the model's optimum, as scipy's
        k_easy and k_hard), at most 25 factorizations, else the Cauchy point."""
        lam, low, high = self._start(radius)
        for _ in range(_MS_ITERATIONS):
            system = self.H + lam * self.eye
            factor, info = torch.linalg.cholesky_ex(system)
            if int(info) > 0:  # not positive definite: lam is below -mu_min
                low = max(low, lam + _singular_shift(system, int(info)))
                lam = _inside(low, high)
                continue
            if self.g_norm <= self.close_to_zero:  # a stationary point: only curvature can help
                if lam == 0.0:
                    return self._finish(torch.zeros_like(self.g), False, low, radius)
                s_min, z = _smallest_singular(factor)
                if s_min**2 <= _K_HARD * lam:
                    return self._finish(radius * z, True, low, radius)
                high, low = lam, max(low, lam - s_min**2)
                lam = _inside(low, high)
                continue
            d = torch.cholesky_solve(-self.g.unsqueeze(1), factor).squeeze(1)
            d_norm = float(d.norm())
            if d_norm <= radius and lam == 0.0:
                return self._finish(d, False, low, radius)  # the Newton step lies inside
            w_norm = float(torch.linalg.solve_triangular(factor, d.unsqueeze(1), upper=False).norm())
            newton_lam = lam + (d_norm / w_norm) ** 2 * (d_norm - radius) / radius
            if d_norm >= radius:
                if (d_norm - radius) / radius <= _K_EASY:
                    return self._finish(d, True, low, radius)
                low, lam = lam, newton_lam
                continue
            s_min, z = _smallest_singular(factor)  # inside: complete the step along z (the hard case)
            t = _nearer_root(d, z, radius)
            if t**2 * s_min**2 <= _K_HARD * (float(d.dot(system @ d)) + lam * radius**2):
                return self._finish(d + t * z, True, low, radius)
            high, low = lam, max(low, lam - s_min**2)
            if int(torch.linalg.cholesky_ex(self.H + newton_lam * self.eye)[1]) == 0:
                lam = newton_lam
            else:
                low = max(low, newton_lam)
                lam = _inside(low, high)
        return self._finish(self._cauchy(radius), True, low, radius)

    def _cauchy(self, radius: float) -> torch.Tensor:
        """The model's minimiser along ``-g`` within the radius (no step when g = 0)."""
        if self.g_norm == 0.0:
            return torch.zeros_like(self.g)
        curvature = float(self.g.dot(self.H @ self.g))
        t = radius / self.g_norm
        if curvature > 0.0:
            t = min(t, self.g_norm**2 / curvature)
        return -t * self.g


def _inside(low: float, high: float) -> float:
    """The next ``lam`` inside the bracket: the geometric mean, or 1% in from the low end."""
    return max(math.sqrt(abs(low * high)), low + 0.01 * (high - low))


def _singular_shift(system: torch.Tensor, k: int) -> float:
    """``delta / ||v||^2`` for the ``delta`` added to ``system[k-1, k-1]`` that makes the leading k x k
    block singular, ``v`` its null vector (Moré & Sorensen 1983, §3): a lower bound on ``-mu_min - lam``."""
    if k == 1:
        return -float(system[0, 0])
    leading = torch.linalg.cholesky(system[: k - 1, : k - 1])
    u = torch.linalg.solve_triangular(leading, system[: k - 1, k - 1 : k], upper=False)
    delta = float((u**2).sum()) - float(system[k - 1, k - 1])
    head = torch.linalg.solve_triangular(leading.T, -u, upper=True)
    return delta / (float((head**2).sum()) + 1.0)


def _smallest_singular(factor: torch.Tensor) -> tuple[float, torch.Tensor]:
    """An estimate of the smallest singular value of ``L'`` (``L`` lower triangular) and its right
    singular vector, in O(n^2): signs ``e`` chosen one at a time to make ``L w = e`` large, then
    ``L' v = w`` (Cline, Moler, Stewart & Wilkinson, SIAM J. Numer. Anal. 16, 1979)."""
    n = factor.shape[0]
    w = torch.empty(n, dtype=factor.dtype, device=factor.device)
    partial = torch.zeros(n, dtype=factor.dtype, device=factor.device)
    for k in range(n):
        plus, minus = (1.0 - partial[k]) / factor[k, k], (-1.0 - partial[k]) / factor[k, k]
        column = factor[k + 1 :, k]
        with_plus, with_minus = partial[k + 1 :] + column * plus, partial[k + 1 :] + column * minus
        if float(plus.abs() + with_plus.abs().sum()) >= float(minus.abs() + with_minus.abs().sum()):
            w[k], partial[k + 1 :] = plus, with_plus
        else:
            w[k], partial[k + 1 :] = minus, with_minus
    v = torch.linalg.solve_triangular(factor.T, w.unsqueeze(1), upper=True).squeeze(1)
    v_norm = float(v.norm())
    return float(w.norm()) / v_norm, v / v_norm


def _nearer_root(d: torch.Tensor, z: torch.Tensor, radius: float) -> float:
    """The ``t`` of smaller magnitude with ``||d + t z|| = radius`` (``||d|| < radius``, so one of each sign)."""
    a, b, c = float(z.dot(z)), 2.0 * float(d.dot(z)), float(d.dot(d)) - radius**2
    root = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
    q = -0.5 * (b + math.copysign(root, b))
    first, second = q / a, c / q
    return first if abs(first) <= abs(second) else second


def next_radius(radius: float, rho: float | None, step: TrustStep) -> float:
    """scipy's rule: ``rho < 1/4`` shrinks the radius 4x; ``rho > 3/4`` on the boundary doubles it (scipy
    stops at 1000, here :data:`MAX_TRUST_RADIUS`); a prediction at rounding level (``rho`` None) keeps it."""
    if rho is None:
        return radius
    if rho < 0.25:
        return 0.25 * radius
    if rho > 0.75 and step.on_boundary:
        return min(2.0 * radius, MAX_TRUST_RADIUS)
    return radius


@dataclass
class Move:
    """Outcome of one Newton iteration: a failure ``status``, or the new point (``grad`` None when the
    new point has not been evaluated, as without a trust region)."""

    evals: int
    status: Status | None = None
    message: str = ""
    loss: float = math.nan
    grad: torch.Tensor | None = None
    step_norm: float = math.nan


def radius_iteration(
    hessian: torch.Tensor, g: torch.Tensor, evaluate_at: Callable[[torch.Tensor], tuple[float, torch.Tensor]],
    loss: float, radius: float, budget: int, max_eval: int,
) -> tuple[Move, float]:  # fmt: skip
    """Trial steps from the point of gradient ``g`` and Hessian ``hessian`` (:class:`TrustRegionModel`)
    until one is accepted (``rho > 0.15``; a prediction at rounding level is judged by
    :func:`~inertia.second_order.newton_directions.judge_trial`), at most ``budget`` evaluations; the
    radius follows :func:`next_radius` after each trial (a rejected one shrinks it 4x). ``evaluate_at(d)``
    moves to ``x + d`` and returns the loss and gradient there; ``max_eval`` is only quoted in a message.
    Returns the move (the point is left at the last trial) and the next radius."""
    model, eps, evals = TrustRegionModel(hessian, g), torch.finfo(g.dtype).eps, 0
    for _ in range(_MAX_TRIALS):
        step = model.solve(radius)
        if not bool(torch.isfinite(step.d).all()):
            return Move(evals, Status.NON_FINITE, f"non-finite trust-region step (radius {radius:.3g})"), radius
        if evals >= budget:
            return Move(evals, Status.MAX_EVAL, f"reached max_eval={max_eval}"), radius
        new_loss, new_g = evaluate_at(step.d)
        evals += 1
        accepted, rho = judge_trial(loss, new_loss, step.predicted, eps)
        accepted = accepted and (rho is None or rho > ACCEPT_RATIO)
        radius = next_radius(radius, rho, step) if rho is not None or accepted else 0.25 * radius
        if accepted:
            return Move(evals, loss=new_loss, grad=new_g, step_norm=float(step.d.abs().max())), radius
    return Move(evals, Status.NO_PROGRESS, f"trust region rejected every step down to radius {radius:.3g}"), radius


def check_trust_hyperparameters(values: dict[str, Any], *, in_group: bool) -> dict[str, Any]:
    """:func:`~inertia.second_order.hyperparameters.check_newton_hyperparameters`, and ``trust_radius``:
    None (damping as the trust region), or a finite number > 0, the first radius of the exact
    subproblem, which needs mode "exact", trust_region=True, damping=0 and lr=1."""
    checked = check_newton_hyperparameters(values, in_group=in_group)
    radius = values.get("trust_radius")
    if radius is None:
        checked["trust_radius"] = None
        return checked
    checked["trust_radius"] = check_positive("trust_radius", radius, style=STYLE_SENTENCE)
    needs = {"mode": "exact", "trust_region": True, "damping": 0.0, "lr": 1.0}
    for name, value in needs.items():
        if checked[name] != value:
            raise ValueError(f"trust_radius={radius!r} (the exact trust-region subproblem) needs {name}={value!r}, "
                             f"got {name}={checked[name]!r}")
    return checked


def limit_stop(n_iter: int, evals: int, group: dict[str, Any]) -> tuple[Status, str]:
    """The stop at the iteration or evaluation limit of a Newton param group."""
    if n_iter >= group["max_iter"]:
        return Status.MAX_ITER, f"reached max_iter={group['max_iter']}"
    return Status.MAX_EVAL, f"reached max_eval={group['max_eval']}"
