"""An N-dimensional quadratic with a controllable spectrum, and its noisy (mini-batch-like) variant.

    f(x) = 1/2 (x - x*)^T A (x - x*) + f*,    A = Q diag(lambda) Q^T,

with eigenvalues ``lambda`` given, or log-spaced from ``1`` down to ``1/condition``, and ``Q`` a
random rotation (Haar, from a seed) or the identity. The minimizer ``x*`` and value ``f*`` are
known exactly. With gradient noise ``sigma`` (see :meth:`Problem.with_gradient_noise`) this is the
noisy quadratic model used to study mini-batch SGD (Zhang et al. 2019, "Which Algorithmic Choices
Matter at Which Batch Sizes?"); :meth:`Quadratic.sgd_noise_floor` gives SGD's stationary excess loss.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inertia.checks import STYLE_SENTENCE, check_int
from inertia.problems.base import Problem

QUADRATIC_DESCRIPTION = "N-dimensional quadratic with a chosen spectrum; add gradient noise for mini-batch SGD"


class Quadratic(Problem):
    """The quadratic ``f(x) = (x - x*)^T A (x - x*)/2 + f*`` with a chosen spectrum.

    Attributes (besides :class:`Problem`'s): ``eigenvalues`` (descending, float64), ``rotation``
    ``Q``, ``matrix`` ``A``, ``x_star``, ``condition_number``.
    """

    kind = "quadratic"

    def __init__(
        self,
        dim: int = 50,
        condition: float = 100.0,
        eigenvalues: list[float] | Tensor | None = None,
        rotate: bool = True,
        seed: int = 0,
        start_distance: float = 1.0,
        min_value: float = 0.0,
    ) -> None:
        dim = check_int("dim", dim, low=1, style=STYLE_SENTENCE)
        seed = check_int("seed", seed, low=0, style=STYLE_SENTENCE)
        if eigenvalues is None:
            if not (math.isfinite(condition) and condition >= 1.0):
                raise ValueError(f"condition must be a finite number >= 1, got {condition!r}")
            lam = torch.logspace(0.0, -math.log10(condition), dim, dtype=torch.float64)
        else:
            lam = torch.as_tensor(eigenvalues, dtype=torch.float64).flatten()
            if lam.numel() != dim or not bool(torch.all(torch.isfinite(lam) & (lam > 0))):
                raise ValueError(f"eigenvalues must be {dim} finite positive numbers, got {eigenvalues!r}")
            lam = torch.sort(lam, descending=True).values
        if not (math.isfinite(start_distance) and start_distance > 0):
            raise ValueError(f"start_distance must be a finite number > 0, got {start_distance!r}")
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, dim])))
        self.rotation = _haar_rotation(rng, dim) if rotate else torch.eye(dim, dtype=torch.float64)
        self.eigenvalues = lam
        self.matrix = (self.rotation * lam) @ self.rotation.T
        self.x_star = torch.from_numpy(rng.standard_normal(dim))
        direction = torch.from_numpy(rng.standard_normal(dim))
        self.condition_number = float(lam[0] / lam[-1])
        self.dim = dim
        self.name = "quadratic"
        self.description = (f"{dim}-dimensional quadratic, condition number {self.condition_number:g}: "
                            "add gradient noise for mini-batch SGD")
        self.start = tuple((self.x_star + start_distance * direction / direction.norm()).tolist())
        self.minima = (tuple(self.x_star.tolist()),)
        self.min_value = float(min_value)
        self.params: dict[str, Any] = {
            "dim": dim, "condition": self.condition_number, "rotate": rotate, "seed": seed,
            "start_distance": start_distance, "min_value": float(min_value),
        }
        if eigenvalues is not None:
            self.params["eigenvalues"] = lam.tolist()

    def loss(self, x: Tensor) -> Tensor:
        """``(x - x*)^T A (x - x*)/2 + f*`` for ``x`` of shape ``(..., dim)``; differentiable."""
        d = self._delta(x)
        return 0.5 * (d * (d @ self.matrix.to(d.dtype))).sum(-1) + self.min_value

    def grad(self, x: Tensor) -> Tensor:
        """``A (x - x*)`` (A is symmetric)."""
        with torch.no_grad():
            d = self._delta(x)
            return d @ self.matrix.to(d.dtype)

    def hessian(self, x: Tensor) -> Tensor:
        """The constant Hessian ``A``."""
        return self.matrix.clone()

    def sgd_noise_floor(self, lr: float) -> float:
        """Stationary ``E[f(x) - f*]`` of SGD with constant ``lr`` under this problem's noise.

        With ``g = A(x - x*) + sigma xi``, each eigen-direction is an AR(1) process with stationary
        variance ``lr sigma^2 / (lambda (2 - lr lambda))``, so the excess loss is
        ``sum_i lr sigma^2 / (2 (2 - lr lambda_i))``. Requires ``0 < lr < 2/lambda_max``.
        """
        lam_max = float(self.eigenvalues[0])
        if not (0.0 < lr < 2.0 / lam_max):
            raise ValueError(f"lr must be in (0, {2.0 / lam_max:g}) for SGD to be stable, got {lr!r}")
        return float((lr * self.noise_scale**2 / (2.0 * (2.0 - lr * self.eigenvalues))).sum())

    def _delta(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim == 0 or x.shape[-1] != self.dim:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (..., {self.dim}), got {shape}")
        return x - self.x_star.to(x.dtype)


def noisy_quadratic(
    dim: int = 50, condition: float = 100.0, noise_scale: float = 0.1, seed: int = 0, **options: Any
) -> Quadratic:
    """A :class:`Quadratic` with gradient noise ``noise_scale`` seeded by ``seed`` (both the
    rotation and the noise come from ``seed``). ``options`` go to :class:`Quadratic`."""
    problem = Quadratic(dim=dim, condition=condition, seed=seed, **options)
    noisy = problem.with_gradient_noise(noise_scale, seed=seed)
    assert isinstance(noisy, Quadratic)
    return noisy


def _haar_rotation(rng: np.random.Generator, dim: int) -> Tensor:
    """A Haar-distributed orthogonal matrix: QR of a Gaussian matrix with the signs of R's diagonal fixed."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return torch.from_numpy(q * np.sign(np.diag(r)))
