"""Small test problems shared by the second-order tests (float64, torch)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def backward_closure(optimizer: torch.optim.Optimizer, loss: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """The usual ``step`` closure: zero ``optimizer``'s gradients, evaluate ``loss()``, backpropagate it, return it."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = loss()
        value.backward()
        return value

    return closure


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def beale(x: torch.Tensor) -> torch.Tensor:
    a, b = x[0], x[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


def extended_powell(x: torch.Tensor) -> torch.Tensor:
    a, b, c, d = x.reshape(-1, 4).unbind(dim=1)
    return ((a + 10 * b) ** 2 + 5 * (c - d) ** 2 + (b - 2 * c) ** 4 + 10 * (a - d) ** 4).sum()


def rotated_quadratic(n: int, condition: float, seed: int = 0):
    """f(x) = x'Ax/2, eigenvalues logspace(0, log10(condition), n), random rotation; f* = 0 at 0.

    Returns the torch function and a numpy ``x -> (f, grad)`` of the same function."""
    eig = np.logspace(0.0, np.log10(condition), n)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    a_np = (q * eig) @ q.T
    a = torch.from_numpy(a_np)
    return (lambda x: 0.5 * (x @ (a @ x))), (lambda x: (0.5 * float(x @ (a_np @ x)), a_np @ x))


def logistic(samples: int = 60, dim: int = 6, l2: float = 1e-2, seed: int = 0):
    """L2-regularised logistic regression loss of a weight vector (strongly convex)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(samples, dim, generator=gen, dtype=torch.float64)
    y = (torch.rand(samples, generator=gen, dtype=torch.float64) < torch.sigmoid(X @ torch.ones(dim, dtype=torch.float64))).double()

    def loss(w: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y) + 0.5 * l2 * (w * w).sum()

    return loss


def saddle(v: torch.Tensor) -> torch.Tensor:
    """x^2 - y^2 + y^4/4: saddle at 0, minima at (0, +-sqrt(2))."""
    return v[0] ** 2 - v[1] ** 2 + v[1] ** 4 / 4


class WrongGradient(torch.autograd.Function):
    """Returns sum(x^2) but reports the gradient of -sum(x^2): every 'descent' direction goes up."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x * x).sum()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return -2.0 * x * grad_output
