"""Krylov solvers that touch a symmetric matrix only through products ``v -> H v``.

* :func:`truncated_cg` solves ``(H + damping I) x = b`` by conjugate gradients and stops at the
  first direction of non-positive curvature (Nocedal & Wright, Numerical Optimization, 2nd ed.,
  Algorithm 7.1, "line search Newton-CG").
* :func:`lanczos` builds an orthonormal basis ``Q`` of the Krylov space
  ``span{v, Hv, ..., H^(k-1) v}`` and the tridiagonal ``T = Q' H Q`` (Golub & Van Loan, Matrix
  Computations, 4th ed., §10.1), with full re-orthogonalisation, which is affordable for small k.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class CGResult:
    """Solution of a truncated CG run.

    ``residual`` is ``b - (H + damping I) x``; ``first_curvature`` is the Rayleigh quotient
    ``b'Hb / b'b`` of the first search direction (a scale for H); ``matvecs`` counts products.
    """

    x: torch.Tensor
    residual: torch.Tensor
    iterations: int
    matvecs: int
    negative_curvature: bool
    first_curvature: float


def truncated_cg(
    matvec: MatVec, b: torch.Tensor, *, damping: float = 0.0, rtol: float = 1e-5, max_iter: int = 100
) -> CGResult:
    """Approximately solve ``(H + damping I) x = b`` with ``||residual|| <= rtol * ||b||``.

    If a search direction ``p`` has ``p'(H + damping I)p <= 0``, CG stops: on the first iteration
    it returns ``x = b`` (for Newton, ``b = -g``: steepest descent), later the current iterate,
    which is still a descent direction for ``b = -g``.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = float(r.dot(r))
    target = rtol**2 * rr
    first_curvature, matvecs = 0.0, 0
    for iteration in range(max_iter):
        if rr <= target:
            return CGResult(x, r, iteration, matvecs, False, first_curvature)
        hp = matvec(p)
        matvecs += 1
        php = float(p.dot(hp))
        pp = float(p.dot(p))
        if iteration == 0:
            first_curvature = php / pp
        curvature = php + damping * pp
        if curvature <= 0.0:
            if iteration == 0:
                return CGResult(b.clone(), b - hp - damping * b, 1, matvecs, True, first_curvature)
            return CGResult(x, r, iteration, matvecs, True, first_curvature)
        alpha = rr / curvature
        x.add_(p, alpha=alpha)
        r.add_(hp, alpha=-alpha).add_(p, alpha=-alpha * damping)
        rr_new = float(r.dot(r))
        p.mul_(rr_new / rr).add_(r)
        rr = rr_new
    return CGResult(x, r, max_iter, matvecs, False, first_curvature)


@dataclass
class LanczosResult:
    """``Q`` (n x m, orthonormal columns), ``T`` (m x m tridiagonal) with ``T ~= Q' H Q``."""

    Q: torch.Tensor
    T: torch.Tensor
    matvecs: int


def lanczos(matvec: MatVec, v0: torch.Tensor, k: int) -> LanczosResult:
    """Run ``k`` Lanczos steps from ``v0`` (fewer if the Krylov space becomes invariant).

    The eigenvalues of ``T`` (Ritz values) approximate the extreme eigenvalues of H first.
    """
    if k < 1:
        raise ValueError(f"lanczos: k must be at least 1, got {k}")
    norm0 = float(v0.norm())
    if norm0 == 0.0:
        raise ValueError("lanczos: the starting vector v0 is zero")
    basis = [v0 / norm0]
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(k):
        w = matvec(basis[j])
        alphas.append(float(basis[j].dot(w)))
        for q in basis:  # full re-orthogonalisation, twice is enough (Kahan-Parlett)
            w.sub_(q, alpha=float(q.dot(w)))
        for q in basis:
            w.sub_(q, alpha=float(q.dot(w)))
        beta = float(w.norm())
        if j == k - 1 or beta <= 1e-10 * max([abs(a) for a in alphas] + betas + [1e-300]):
            break
        betas.append(beta)
        basis.append(w / beta)
    m = len(alphas)
    T = torch.diag(torch.tensor(alphas, dtype=v0.dtype, device=v0.device))
    if m > 1:
        off = torch.tensor(betas[: m - 1], dtype=v0.dtype, device=v0.device)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    return LanczosResult(torch.stack(basis[:m], dim=1), T, m)
