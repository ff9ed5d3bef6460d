"""Is a stationary point a minimum? The lowest curvature of the Hessian, and the step away from a saddle.

At a point where the gradient vanishes, a Hessian eigenvalue ``lam_min < 0`` makes it a saddle (or a
maximum): along the unit eigenvector ``v``, ``f(x + t v) = f(x) + t g'v + lam_min t^2 / 2 + O(t^3)``
decreases. The eigenvalue comes from the dense Hessian when it is at hand (``eigh``), otherwise from
Lanczos on Hessian-vector products started from a fixed pseudo-random vector: the smallest Ritz value
is the Rayleigh quotient of its Ritz vector, so a negative one is a certified direction of negative
curvature (Lanczos can miss one, never invent one).

"Clearly negative" means ``lam_min < -sqrt(eps) * max|lam|`` in the dtype of the parameters: rounding
in the Hessian (about ``eps * max|lam|``) cannot produce it, and a flat direction (``lam = 0``) does
not count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from inertia.second_order.krylov import lanczos

MatVec = Callable[[torch.Tensor], torch.Tensor]
DEFAULT_LANCZOS_DIM = 20
_START_SEED = 0x5ADD1E


@dataclass
class Curvature:
    """The lowest curvature found: ``eigenvalue`` (smallest eigen- or Ritz value) along the unit
    ``vector``, ``scale`` the largest ``|eigenvalue|`` seen, ``matvecs`` the products it cost."""

    eigenvalue: float
    vector: torch.Tensor
    scale: float
    matvecs: int

    @property
    def negative(self) -> bool:
        """Whether the eigenvalue is clearly below zero (see the module docstring)."""
        threshold = torch.finfo(self.vector.dtype).eps ** 0.5 * self.scale
        return self.eigenvalue < -threshold

    def saddle_message(self, grad_norm: float) -> str:
        """The sentence of a ``saddle`` status."""
        return (
            f"gradient infinity norm {grad_norm:.3g} is small, but the Hessian has eigenvalue "
            f"{self.eigenvalue:.6g} < 0 there: a saddle point, not a minimum"
        )


def dense_curvature(hessian: torch.Tensor, matvecs: int) -> Curvature:
    """The smallest eigenvalue of a dense symmetric Hessian, with its eigenvector."""
    eigenvalues, vectors = torch.linalg.eigh(hessian)
    scale = float(eigenvalues.abs().max())
    return Curvature(float(eigenvalues[0]), vectors[:, 0].clone(), scale, matvecs)


def lanczos_curvature(hvp: MatVec, like: torch.Tensor, dim: int = DEFAULT_LANCZOS_DIM) -> Curvature:
    """The smallest Ritz value of ``min(dim, n)`` Lanczos steps on ``hvp``, from a fixed random start."""
    generator = torch.Generator().manual_seed(_START_SEED)
    start = torch.randn(like.numel(), generator=generator, dtype=torch.float64).to(like.dtype).to(like.device)
    result = lanczos(hvp, start, min(dim, like.numel()))
    ritz, vectors = torch.linalg.eigh(result.T)
    vector = result.Q @ vectors[:, 0]
    return Curvature(float(ritz[0]), vector / vector.norm(), float(ritz.abs().max()), result.matvecs)


def autograd_hvp(value: torch.Tensor, x: torch.Tensor) -> tuple[MatVec, torch.Tensor]:
    """For a scalar ``value`` computed from the leaf ``x``: ``(v -> H v, gradient)`` by double backward."""
    (grad,) = torch.autograd.grad(value, x, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        (product,) = torch.autograd.grad(grad, x, v, retain_graph=True)
        return product.detach()

    return hvp, grad.detach()


@dataclass
class TrialPoint:
    """One evaluated point of the negative-curvature search: loss and (graph-carrying) gradient."""

    loss: float
    grad: torch.Tensor


def negative_curvature_search(
    evaluate_at: Callable[[float], TrialPoint], loss: float, slope: float, eigenvalue: float,
    first_step: float, budget: int, eps: float,
) -> tuple[float, TrialPoint | None, int]:  # fmt: skip
    """Backtrack along a direction ``v`` of negative curvature (``slope = g'v <= 0``, ``eigenvalue = v'Hv < 0``).

    ``evaluate_at(t)`` moves to ``x + t v`` and evaluates there. A trial is accepted when f fell by at
    least a tenth of the quadratic model's decrease ``-(t slope + eigenvalue t^2 / 2)``; otherwise t
    halves. Returns ``(t, point, evaluations)``; ``point`` is None when no step was accepted within
    ``budget`` evaluations or before the predicted decrease fell to rounding level.
    """
    noise = 1e2 * eps * max(1.0, abs(loss))
    step, evals = first_step, 0
    while evals < budget:
        predicted = -(step * slope + 0.5 * eigenvalue * step * step)
        if predicted < noise:
            break
        point = evaluate_at(step)
        evals += 1
        if math.isfinite(point.loss) and loss - point.loss >= 0.1 * predicted:
            return step, point, evals
        step *= 0.5
    return step, None, evals
