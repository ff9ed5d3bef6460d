"""Newton directions for a damping ``lam``: each model prepares once per point, then solves per ``lam``.

* exact: ``(H + lam I) d = -g`` with the dense Hessian.
* cg: the same system by truncated CG on Hessian-vector products (H is never formed).
* saddle-free: ``(|H| + lam I) d = -g``, ``|H| = V |Lambda| V'`` from a full eigendecomposition or
  from a Lanczos subspace that contains g (Dauphin et al., "Identifying and attacking the saddle
  point problem in high-dimensional non-convex optimization", NeurIPS 2014).

``solve(lam)`` returns ``(d, predicted_reduction)`` with the prediction of the model the direction
minimises (``m(d) = g'd + d'Bd/2``, B = H or |H|), or ``None`` when ``H + lam I`` is not positive
definite and the caller asked for a guaranteed descent direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from inertia.second_order.krylov import lanczos, truncated_cg

MatVec = Callable[[torch.Tensor], torch.Tensor]


class SingularSystemError(RuntimeError):
    """The undamped Newton system has no unique solution."""


class ExactModel:
    """Dense Hessian: Cholesky when descent is required, LU otherwise."""

    def __init__(self, hessian: torch.Tensor, g: torch.Tensor, require_descent: bool) -> None:
        self.H, self.g, self.require_descent = hessian, g, require_descent
        self.curvature_scale = float(hessian.abs().max())

    def solve(self, lam: float) -> tuple[torch.Tensor, float] | None:
        eye = torch.eye(self.g.numel(), dtype=self.H.dtype, device=self.H.device)
        system = self.H + lam * eye
        if self.require_descent:
            factor, info = torch.linalg.cholesky_ex(system)
            if int(info) != 0:
                return None
            d = torch.cholesky_solve(-self.g.unsqueeze(1), factor).squeeze(1)
        else:
            try:
                d = torch.linalg.solve(system, -self.g)
            except RuntimeError as exc:  # exactly singular
                raise SingularSystemError(f"H + {lam:g} I is singular; use damping > 0") from exc
            if not bool(torch.isfinite(d).all()):
                raise SingularSystemError(f"H + {lam:g} I is numerically singular; use damping > 0")
        predicted = -float(self.g.dot(d) + 0.5 * d.dot(self.H @ d))
        return d, predicted


class CGModel:
    """Newton-CG: truncated CG on ``(H + lam I) d = -g``; counts Hessian-vector products."""

    def __init__(self, hvp: MatVec, g: torch.Tensor, rtol: float | None, max_iter: int) -> None:
        self.hvp, self.g, self.max_iter = hvp, g, max_iter
        gnorm = float(g.norm())
        # forcing sequence eta_k = min(0.5, sqrt(||g||)) gives superlinear convergence (Nocedal-Wright 7.1)
        self.rtol = rtol if rtol is not None else min(0.5, gnorm**0.5)
        self.matvecs = 0
        self.curvature_scale = 0.0
        self.negative_curvature = False

    def solve(self, lam: float) -> tuple[torch.Tensor, float]:
        result = truncated_cg(self.hvp, -self.g, damping=lam, rtol=self.rtol, max_iter=self.max_iter)
        self.matvecs += result.matvecs
        self.curvature_scale = max(self.curvature_scale, abs(result.first_curvature))
        self.negative_curvature = result.negative_curvature
        d = result.x
        gd = float(self.g.dot(d))
        # -g = (H + lam I) d + r  =>  d'Hd = -g'd - r'd - lam d'd
        dhd = -gd - float(result.residual.dot(d)) - lam * float(d.dot(d))
        return d, -(gd + 0.5 * dhd)


class SaddleFreeModel:
    """``|H|`` in an eigenbasis ``V`` (all of R^n, or a Krylov subspace containing g)."""

    def __init__(self, basis: torch.Tensor, eigenvalues: torch.Tensor, g: torch.Tensor, matvecs: int) -> None:
        self.V = basis
        self.abs_eig = eigenvalues.abs()
        self.coeff = basis.T @ g  # g lies in span(V)
        self.g = g
        self.matvecs = matvecs
        self.curvature_scale = float(self.abs_eig.max()) if self.abs_eig.numel() else 0.0
        self.min_eigenvalue = float(eigenvalues.min())
        # |lambda| below this is treated as this, so that lam = 0 still gives a finite step
        self.floor = torch.finfo(g.dtype).eps ** 0.5 * max(self.curvature_scale, 1e-30)

    @classmethod
    def exact(cls, hessian: torch.Tensor, g: torch.Tensor) -> SaddleFreeModel:
        eigenvalues, vectors = torch.linalg.eigh(hessian)
        return cls(vectors, eigenvalues, g, 0)

    @classmethod
    def krylov(cls, hvp: MatVec, g: torch.Tensor, dim: int) -> SaddleFreeModel:
        result = lanczos(hvp, g, dim)
        ritz, vectors = torch.linalg.eigh(result.T)
        return cls(result.Q @ vectors, ritz, g, result.matvecs)

    def solve(self, lam: float) -> tuple[torch.Tensor, float]:
        denom = self.abs_eig.clamp_min(self.floor) + lam
        d = -(self.V @ (self.coeff / denom))
        predicted = float((self.coeff**2 / denom).sum() - 0.5 * (self.coeff**2 * self.abs_eig / denom**2).sum())
        return d, predicted


ACCEPT_RATIO = 1e-4  # a trust-region trial with rho = actual / predicted decrease above this is accepted


def judge_trial(loss: float, new_loss: float, predicted: float, eps: float) -> tuple[bool, float | None]:
    """``(accept, rho)``: accept when rho = actual / predicted decrease exceeds 1e-4, or when the
    prediction is at rounding level and f did not rise beyond it; then rho is None (it says
    nothing about the damping, which stays as it is)."""
    if not math.isfinite(new_loss):
        return False, None
    noise = 1e2 * eps * max(1.0, abs(loss))
    if predicted < noise:
        return new_loss <= loss + noise, None
    rho = (loss - new_loss) / predicted
    return rho > ACCEPT_RATIO, rho
