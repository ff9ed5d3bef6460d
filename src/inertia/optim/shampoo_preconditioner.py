"""Shampoo's Kronecker-factored preconditioner of one parameter: its blocks, factors and inverse roots.

A parameter of two or more dimensions is cut into blocks of at most ``max_precond_dim`` along every
dimension (as Distributed Shampoo's ``max_preconditioner_dim`` does). A block of order ``p`` keeps one
factor per dimension ``k``: the statistics ``F_k`` of the gradient contracted with itself over every
other dimension (``L = G G^T`` and ``R = G^T G`` for a matrix), averaged with ``beta2`` (summed for
``beta2 = 1``), and the inverse root ``(F_k / (1 - beta2^t) + epsilon I)^{-1/r}`` of it, with ``r = 2p``
unless overridden (``L^{-1/4} G R^{-1/4}`` for a matrix). The preconditioned block is the block
multiplied along each dimension by that dimension's inverse root.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "BlockSlices", "block_slices", "block_view", "factor_statistics", "graft_scale", "inverse_root",
    "matrix_blocks_bytes", "precondition_block", "root_of_order", "update_factor",
]

#: One block of a parameter: per dimension, the (start, length) of the block along it.
BlockSlices = tuple[tuple[int, int], ...]


def block_slices(shape: Sequence[int], max_precond_dim: int) -> list[BlockSlices]:
    """The blocks of a parameter of ``shape``: every dimension cut into pieces of at most
    ``max_precond_dim`` (the last one shorter), all combinations, in row-major order of the pieces."""
    pieces = [[(start, min(max_precond_dim, size - start)) for start in range(0, size, max_precond_dim)]
              for size in shape]
    return list(itertools.product(*pieces))


def block_view(tensor: Tensor, slices: BlockSlices) -> Tensor:
    """The view of ``tensor`` that ``slices`` selects."""
    view = tensor
    for dim, (start, length) in enumerate(slices):
        view = view.narrow(dim, start, length)
    return view


def factor_statistics(block: Tensor, dim: int) -> Tensor:
    """``block`` contracted with itself over every dimension but ``dim``: a ``(d, d)`` matrix, ``d`` the
    size of ``dim`` (``G G^T`` for ``dim = 0`` of a matrix, ``G^T G`` for ``dim = 1``)."""
    unfolded = block.movedim(dim, 0).reshape(block.shape[dim], -1)
    return unfolded @ unfolded.T


def update_factor(factor: Tensor, block: Tensor, dim: int, beta2: float) -> None:
    """``factor = beta2 factor + (1 - beta2) stats``, in place (``factor += stats`` for ``beta2 = 1``), with
    ``stats`` the :func:`factor_statistics` of ``block`` along ``dim``."""
    stats = factor_statistics(block, dim)
    if beta2 == 1.0:
        factor.add_(stats)
    else:
        factor.mul_(beta2).add_(stats, alpha=1 - beta2)


def inverse_root(factor: Tensor, root: int, epsilon: float, bias_correction: float) -> Tensor:
    """``(factor / bias_correction + epsilon I)^{-1/root}`` by a symmetric eigendecomposition in float64,
    returned in ``factor``'s dtype. Eigenvalues below ``epsilon`` (rounding of a nearly singular factor)
    are raised to ``epsilon``, so the root stays finite."""
    matrix = factor.to(torch.float64) / bias_correction
    matrix = matrix + epsilon * torch.eye(matrix.shape[0], dtype=torch.float64, device=matrix.device)
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    scales = eigenvalues.clamp(min=epsilon).pow(-1.0 / root)
    return ((eigenvectors * scales) @ eigenvectors.T).to(factor.dtype)


def precondition_block(block: Tensor, roots: Sequence[Tensor]) -> Tensor:
    """``block`` multiplied along each dimension ``k`` by the symmetric ``roots[k]``
    (``L^{-1/r} G R^{-1/r}`` for a matrix)."""
    result = block
    for root in roots:  # each contraction moves the first dimension to the end: after all, the order is back
        result = torch.tensordot(result, root, dims=([0], [0]))
    return result


def matrix_blocks_bytes(shape: Sequence[int], max_precond_dim: int, element_size: int) -> int:
    """The bytes of the factors and inverse roots of a parameter of ``shape`` (two or more dimensions):
    per block, two ``d x d`` matrices for each of its dimensions' sizes ``d``."""
    elements = sum(2 * length * length for slices in block_slices(shape, max_precond_dim) for _, length in slices)
    return elements * element_size


def root_of_order(order: int, inv_root_override: int) -> int:
    """The root ``r`` of a block of ``order`` dimensions: ``inv_root_override`` if given (> 0), else ``2 order``."""
    return inv_root_override if inv_root_override > 0 else 2 * order


def graft_scale(graft: Tensor, shampoo: Tensor) -> Tensor:
    """``||graft|| / ||shampoo||`` (Frobenius), zero where ``shampoo`` is zero, as a 0-d tensor."""
    shampoo_norm = torch.linalg.vector_norm(shampoo)
    graft_norm = torch.linalg.vector_norm(graft)
    return torch.where(shampoo_norm > 0, graft_norm / shampoo_norm.clamp(min=torch.finfo(shampoo.dtype).tiny), 0.0)
