"""Hessian tools built on Hessian-vector products: extreme eigenvalues, trace, stability check.

All tools take a loss callable ``loss_fn()`` (no arguments, returns a scalar tensor) and any
subset of the parameters it depends on. The Hessian is never formed: products ``H v`` come
from double backward, ``H v = d/dtheta (grad L(theta) . v)`` (Pearlmutter, "Fast exact
multiplication by the Hessian", Neural Computation 1994). The loss and its gradient graph are
built once per :class:`HessianOperator`, so every product costs one extra backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from torch import Tensor

from inertia.checks import (
    STYLE_FIELD,
    check_callable,
    check_flag,
    check_int,
    check_positive,
    check_real,
    check_seed,
    check_unit_interval,
    is_number,
)
from inertia.diagnostics._params import ParamsLike, group_by_layer, named_params, unflatten
from inertia.diagnostics.arguments import CALLABLE_STYLE, check_scalar_loss
from inertia.diagnostics.optimizer_roles import OptimizerRoles

LossFn = Callable[[], Tensor]
WHICH_CHOICES = ("largest", "smallest")


class HessianOperator:
    """The map ``v -> H v`` for the Hessian of ``loss_fn()`` with respect to ``params``.

    Vectors are flat float64 tensors of length :attr:`dim`; :attr:`hvp_count` counts products.
    """

    def __init__(self, loss_fn: LossFn, params: ParamsLike) -> None:
        check_callable("loss_fn", loss_fn, "a callable loss_fn() returning a scalar tensor", style=CALLABLE_STYLE)
        resolved = named_params(params)
        self.names = list(resolved)
        self.params = list(resolved.values())
        loss = check_scalar_loss("loss_fn", loss_fn())
        self.loss = float(loss.detach())
        grads = torch.autograd.grad(loss.reshape(()), self.params, create_graph=True, allow_unused=True)
        self._grads = [g if g is not None and g.requires_grad else None for g in grads]
        self.gradient = torch.cat([(torch.zeros_like(p) if g is None else g.detach()).reshape(-1).double()
                                   for p, g in zip(self.params, grads, strict=True)])
        self.dim = sum(p.numel() for p in self.params)
        self.device = self.params[0].device
        self.hvp_count = 0

    def matvec(self, vector: Tensor) -> Tensor:
        """Return ``H @ vector`` as a flat float64 tensor."""
        self.hvp_count += 1
        parts = unflatten(vector, self.params)
        live = [i for i, g in enumerate(self._grads) if g is not None]
        out = [torch.zeros_like(p) for p in self.params]
        if live:
            products = torch.autograd.grad([self._grads[i] for i in live], self.params,
                                           grad_outputs=[parts[i] for i in live],
                                           retain_graph=True, allow_unused=True)
            out = [torch.zeros_like(p) if h is None else h for p, h in zip(self.params, products, strict=True)]
        product = torch.cat([h.detach().reshape(-1).double() for h in out])
        if not bool(torch.isfinite(product).all()):
            raise FloatingPointError("the Hessian-vector product is not finite at these parameters (the loss or "
                                     "its curvature overflowed); measure curvature where the loss is finite")
        return product


@dataclass
class LanczosRun:
    """Output of :func:`lanczos`: the tridiagonal coefficients and the orthonormal basis (rows)."""

    alphas: np.ndarray
    betas: np.ndarray  # betas[j] couples basis vectors j and j+1; one longer than the last used
    basis: Tensor

    def ritz(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ritz values (ascending), eigenvectors of T, and residual norms ``|beta_m s_{m,i}|``."""
        m = len(self.alphas)
        theta, s = eigh_tridiagonal(self.alphas, self.betas[: m - 1])
        last_beta = self.betas[m - 1] if len(self.betas) >= m else 0.0
        return theta, s, np.abs(last_beta * s[m - 1, :])


def lanczos(matvec: Callable[[Tensor], Tensor], start: Tensor, num_steps: int,
            stop: Callable[[LanczosRun], bool] | None = None) -> LanczosRun:
    """Lanczos tridiagonalisation with full reorthogonalisation (classical Gram-Schmidt, twice).

    Builds an orthonormal basis ``Q`` of the Krylov space of ``start`` and ``T = Q^T H Q``
    (Golub & Van Loan, Matrix Computations, 4th ed., section 10.1). One product per step.
    ``stop(run)`` is asked after every step; the run also ends on an invariant subspace.
    """
    n = start.numel()
    basis = torch.empty(num_steps, n, dtype=torch.float64, device=start.device)
    q = start.double() / start.double().norm()
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(num_steps):
        basis[j] = q
        w = matvec(q)
        alpha = float(w @ q)
        w = w - alpha * q - (betas[-1] * basis[j - 1] if j > 0 else 0.0)
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        alphas.append(alpha)
        beta = float(w.norm())
        scale = max(abs(a) for a in alphas) + (max(betas) if betas else 0.0)
        if beta <= 1e-12 * max(scale, 1e-300):
            break
        betas.append(beta)
        run = LanczosRun(np.array(alphas), np.array(betas), basis[: j + 1])
        if stop is not None and stop(run):
            return run
        q = w / beta
    return LanczosRun(np.array(alphas), np.array(betas), basis[: len(alphas)])


@dataclass
class EigenResult:
    """Extreme Hessian eigenvalues with the evidence for them.

    ``values`` are ordered from the extreme inward (largest first for ``which="largest"``,
    most negative first for ``"smallest"``); ``residuals[i]`` bounds the distance from
    ``values[i]`` to the nearest true eigenvalue; ``vectors`` (optional) are shaped like params.
    """

    values: list[float]
    residuals: list[float]
    hvp_count: int
    converged: bool
    vectors: list[list[Tensor]] | None = field(default=None, repr=False)


def _random_start(dim: int, seed: int, device: torch.device) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(dim, generator=generator, dtype=torch.float64).to(device)


def hessian_eigenvalues(loss_fn: LossFn, params: ParamsLike, k: int = 1, which: str = "largest", *,
                        max_hvp: int = 100, tol: float = 1e-5, seed: int = 0,
                        return_vectors: bool = False) -> EigenResult:
    """The ``k`` largest (or smallest, algebraically) eigenvalues of the Hessian of ``loss_fn()``.

    Lanczos with full reorthogonalisation, stopped when the wanted Ritz values have relative
    residual ``|beta_m s_{m,i}| / max|theta| <= tol`` or after ``max_hvp`` products. A negative
    smallest eigenvalue means the point is a saddle (or a maximum) of the loss. Lanczos from one
    start vector finds each distinct eigenvalue once, so repeated eigenvalues are not repeated.
    """
    check_positive("k", k, integer=True, style=STYLE_FIELD)
    if not isinstance(which, str) or which not in WHICH_CHOICES:
        raise ValueError(f"which: must be one of {', '.join(WHICH_CHOICES)}, got {which!r}")
    if not is_number(max_hvp, integer=True) or max_hvp < k:
        raise ValueError(f"max_hvp: must be an integer at least k={k}, got {max_hvp!r}")
    check_real("tol", tol, above=0.0, below=1.0, finite=False, style=STYLE_FIELD)
    check_seed("seed", seed, style=STYLE_FIELD)
    check_flag("return_vectors", return_vectors, style=STYLE_FIELD)
    op = HessianOperator(loss_fn, params)
    steps = min(max_hvp, op.dim)
    k = min(k, op.dim)

    def wanted(run: LanczosRun) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        theta, s, res = run.ritz()
        order = np.argsort(-theta if which == "largest" else theta)[:k]
        return theta[order], s[:, order], res[order], max(float(np.max(np.abs(theta))), 1e-300)

    def converged(run: LanczosRun) -> bool:
        if len(run.alphas) < k:
            return False
        _, _, res, scale = wanted(run)
        return bool(np.all(res <= tol * scale))

    run = lanczos(op.matvec, _random_start(op.dim, seed, op.device), steps, stop=converged)
    theta, s, res, _ = wanted(run)
    vectors = None
    if return_vectors:
        flat = run.basis.T @ torch.as_tensor(s, dtype=torch.float64, device=run.basis.device)
        vectors = [unflatten(flat[:, i], op.params) for i in range(flat.shape[1])]
    done = len(run.betas) < len(run.alphas) or converged(run)
    return EigenResult(values=[float(t) for t in theta], residuals=[float(r) for r in res],
                       hvp_count=op.hvp_count, converged=done, vectors=vectors)


@dataclass
class TraceEstimate:
    """Hutchinson estimate of ``tr(H)`` with its standard error (sample std / sqrt(n))."""

    value: float
    stderr: float
    num_samples: int
    hvp_count: int


def hessian_trace(loss_fn: LossFn, params: ParamsLike, num_samples: int = 64, *, seed: int = 0) -> TraceEstimate:
    """Hutchinson's estimator ``tr(H) ~ mean_i z_i^T H z_i`` with Rademacher ``z_i``.

    Unbiased; its variance is ``2 * sum_{i != j} H_ij^2`` per sample (Hutchinson, "A stochastic
    estimator of the trace of the influence matrix", 1989; Avron & Toledo, JACM 2011).
    """
    check_int("num_samples", num_samples, low=2, style=STYLE_FIELD)
    check_seed("seed", seed, style=STYLE_FIELD)
    op = HessianOperator(loss_fn, params)
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(num_samples):
        z = (torch.randint(0, 2, (op.dim,), generator=generator, dtype=torch.float64) * 2 - 1).to(op.device)
        samples.append(float(z @ op.matvec(z)))
    values = np.array(samples)
    return TraceEstimate(value=float(values.mean()), stderr=float(values.std(ddof=1) / np.sqrt(num_samples)),
                         num_samples=num_samples, hvp_count=op.hvp_count)


@dataclass
class LayerCurvature:
    """Curvature of one layer's diagonal Hessian block."""

    layer: str
    num_params: int
    lambda_max: float
    lambda_min: float
    trace: float
    trace_stderr: float
    hvp_count: int


def layer_curvature(loss_fn: LossFn, params: ParamsLike, *, max_hvp: int = 60, trace_samples: int = 16,
                    seed: int = 0) -> list[LayerCurvature]:
    """Extreme eigenvalues and trace of each layer's block of the Hessian (layers by module path)."""
    check_int("max_hvp", max_hvp, low=1, style=STYLE_FIELD)
    check_int("trace_samples", trace_samples, low=2, style=STYLE_FIELD)
    check_seed("seed", seed, style=STYLE_FIELD)
    named = named_params(params)
    out = []
    for layer, names in group_by_layer(named).items():
        subset = {name: named[name] for name in names}
        top = hessian_eigenvalues(loss_fn, subset, which="largest", max_hvp=max_hvp, seed=seed)
        bottom = hessian_eigenvalues(loss_fn, subset, which="smallest", max_hvp=max_hvp, seed=seed)
        trace = hessian_trace(loss_fn, subset, num_samples=trace_samples, seed=seed)
        out.append(LayerCurvature(layer=layer, num_params=sum(named[n].numel() for n in names),
                                  lambda_max=top.values[0], lambda_min=bottom.values[0], trace=trace.value,
                                  trace_stderr=trace.stderr,
                                  hvp_count=top.hvp_count + bottom.hvp_count + trace.hvp_count))
    return out


@dataclass
class StabilityCheck:
    """Edge-of-stability verdict for (momentum) gradient descent at learning rate ``lr``."""

    lambda_max: float
    lr: float
    threshold: float  # largest stable sharpness, e.g. 2/lr for plain GD
    ratio: float  # lambda_max / threshold; above 1 the top direction grows instead of shrinking
    verdict: str


#: Param-group keys of adaptive methods (Adam family, RMSprop, AdaGrad, Adadelta, Rprop), whose
#: per-coordinate scaling the (S)GD stability limit does not describe; read for an optimizer that
#: :data:`~inertia.diagnostics.optimizer_roles.ROLES` does not know.
ADAPTIVE_GROUP_KEYS = ("betas", "alpha", "lr_decay", "rho", "etas")


def sgd_terms(group: dict[str, Any], roles: OptimizerRoles | None = None) -> dict[str, Any] | None:
    """``momentum``, ``nesterov`` and ``dampening`` of an (S)GD param group, as keywords of
    :func:`edge_of_stability`; None for another method's group. ``roles`` (from
    :func:`~inertia.diagnostics.optimizer_roles.roles_of`) decides when known (only ``step_form``
    ``"sgd"`` is (S)GD), else the group's keys (:data:`ADAPTIVE_GROUP_KEYS`)."""
    if roles is not None and roles.step_form != "sgd":
        return None
    if roles is None and any(key in group for key in ADAPTIVE_GROUP_KEYS):
        return None
    return {"momentum": float(group.get("momentum", 0.0)), "nesterov": bool(group.get("nesterov", False)),
            "dampening": float(group.get("dampening", 0.0))}


def edge_of_stability(lambda_max: float, lr: float, momentum: float = 0.0, nesterov: bool = False,
                      margin: float = 0.1, dampening: float = 0.0) -> StabilityCheck:
    """Compare the sharpness ``lambda_max`` with the stability limit of (S)GD at ``lr``.

    On a quadratic, gradient descent is stable along an eigenvector with eigenvalue ``lambda``
    iff ``lr * lambda < 2``; heavy-ball momentum ``mu`` raises the limit to ``2 (1 + mu) / lr``
    and Nesterov's to ``(2 + 2 mu) / ((1 + 2 mu) lr)`` (Goh, "Why momentum really works",
    Distill 2017). torch's ``dampening`` ``d`` scales every gradient by ``1 - d``, so the step
    acts like ``lr (1 - d)`` and the limit divides by ``1 - d``. Full-batch training tends to
    hover at this edge (Cohen et al., "Gradient descent on neural networks typically occurs at
    the edge of stability", ICLR 2021).
    Within ``margin`` of the limit the verdict is "at the edge".
    """
    check_real("lambda_max", lambda_max, finite=False, style=STYLE_FIELD)
    if not (is_number(lr) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: must be positive, got {lr!r}")
    for name, value in (("momentum", momentum), ("dampening", dampening)):
        check_unit_interval(name, value, closed_right=False, style=STYLE_FIELD)
    check_flag("nesterov", nesterov, style=STYLE_FIELD)
    check_unit_interval("margin", margin, closed_right=False, style=STYLE_FIELD)
    step_lr = lr * (1 - dampening)
    if nesterov:
        threshold = (2 + 2 * momentum) / ((1 + 2 * momentum) * step_lr)
    else:
        threshold = 2 * (1 + momentum) / step_lr
    ratio = lambda_max / threshold
    if ratio > 1 + margin:
        verdict = "unstable: the sharpest direction is amplified each step"
    elif ratio >= 1 - margin:
        verdict = "at the edge of stability: the sharpest direction neither grows nor shrinks much"
    else:
        verdict = "stable"
    return StabilityCheck(lambda_max=lambda_max, lr=lr, threshold=threshold, ratio=ratio, verdict=verdict)
