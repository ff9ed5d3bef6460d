"""Hessian-vector products and dense Hessians, without and with forming the Hessian.

Double backward: with ``g(x) = grad f(x)`` built with ``create_graph=True``, the product is
``H v = grad_x (g(x)' v)`` (Pearlmutter, "Fast exact multiplication by the Hessian", Neural
Computation 6, 1994). The functional helpers use ``torch.func`` in reverse mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def gradient_with_graph(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The flat gradient of ``loss`` with a graph, so that it can be differentiated again."""
    grads = torch.autograd.grad(loss, list(params), create_graph=True, allow_unused=True)
    return torch.cat([
        (g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params, strict=True)
    ])


def hvp_from_gradient(flat_grad: torch.Tensor, params: Sequence[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """``H v`` from a flat gradient carrying a graph (see :func:`gradient_with_graph`)."""
    if not flat_grad.requires_grad:  # the gradient does not depend on the params: H = 0
        return torch.zeros_like(v)
    parts = torch.autograd.grad(flat_grad, list(params), grad_outputs=v, retain_graph=True, allow_unused=True)
    return torch.cat([
        (h if h is not None else torch.zeros_like(p)).reshape(-1).detach() for h, p in zip(parts, params, strict=True)
    ])


def dense_hessian_from_gradient(flat_grad: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The full ``n x n`` Hessian, one row per basis vector (batched through vmap when possible)."""
    n = flat_grad.numel()
    if not flat_grad.requires_grad:
        return flat_grad.new_zeros(n, n).detach()
    eye = torch.eye(n, dtype=flat_grad.dtype, device=flat_grad.device)
    try:
        rows = torch.autograd.grad(
            flat_grad, list(params), grad_outputs=eye, retain_graph=True, allow_unused=True, is_grads_batched=True
        )
        parts = [(r if r is not None else p.new_zeros(n, *p.shape)).reshape(n, -1)
                 for r, p in zip(rows, params, strict=True)]  # fmt: skip
        hessian = torch.cat(parts, dim=1).detach()
    except RuntimeError:  # some operations have no batching rule: fall back to one product per row
        hessian = torch.stack([hvp_from_gradient(flat_grad, params, eye[i]) for i in range(n)])
    return 0.5 * (hessian + hessian.T)


def hessian_vector_product(fun: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``H(x) v`` for a scalar function of one tensor: reverse over reverse, ``vjp`` of ``torch.func.grad``
    (H is symmetric, so ``v' H = (H v)'``)."""
    _, pullback = torch.func.vjp(torch.func.grad(fun), x)
    return pullback(v)[0]


def hessian(fun: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Dense Hessian of a scalar function of a 1-D tensor (``jacrev`` of ``jacrev``, reverse mode only)."""
    if x.ndim != 1:
        raise ValueError(f"hessian: x must be 1-D, got shape {tuple(x.shape)}")
    return torch.func.jacrev(torch.func.jacrev(fun))(x)
