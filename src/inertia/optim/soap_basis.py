"""SOAP's Kronecker factors and their eigenbases: shapes, factor updates, rotations and basis refreshes.

A parameter of (merged) shape ``(d_1, ..., d_k)`` keeps one factor ``F_i`` of size ``d_i x d_i`` per
preconditioned dimension: the moving average of the gradient's mode-``i`` Gram matrix (``G G^T`` and
``G^T G`` of a matrix). A dimension larger than ``max_precond_dim`` keeps no factor, and its basis is the
identity. Rotating a tensor into the eigenbasis multiplies each mode by ``Q_i^T``; rotating back by ``Q_i``.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: What is added to a factor's diagonal before ``eigh``: the amount of Vyas et al.'s implementation.
EIGH_JITTER = 1e-30
#: Dtypes whose factors are decomposed in float32 (``eigh`` and ``qr`` do not take them).
LOW_PRECISION = (torch.float16, torch.bfloat16)


def merged_shape(shape: tuple[int, ...], max_precond_dim: int) -> tuple[int, ...]:
    """``shape`` with neighbouring dimensions multiplied together while the product stays at most
    ``max_precond_dim`` (left to right); a dimension that alone exceeds it stays on its own."""
    merged: list[int] = []
    running = 1
    for size in shape:
        if running * size <= max_precond_dim:
            running *= size
        elif running > 1:
            merged.append(running)
            running = size
        else:
            merged.append(size)
    if running > 1 or not merged:
        merged.append(running)
    return tuple(merged)


def factor_plan(shape: tuple[int, ...], *, max_precond_dim: int, merge_dims: bool,
                precondition_1d: bool) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """The shape SOAP rotates a parameter of ``shape`` in, and which of its dimensions keep a factor.

    A 1-D parameter keeps one only with ``precondition_1d`` (and its size at most ``max_precond_dim``);
    with ``merge_dims`` the other shapes are first merged by :func:`merged_shape` (a 0-d one becomes
    ``(1,)``). Every dimension of at most ``max_precond_dim`` keeps a factor.
    """
    if len(shape) == 1:
        return shape, (precondition_1d and shape[0] <= max_precond_dim,)
    work = merged_shape(shape, max_precond_dim) if merge_dims else shape
    return work, tuple(size <= max_precond_dim for size in work)


def plan_numel(shape: tuple[int, ...], *, max_precond_dim: int, merge_dims: bool, precondition_1d: bool) -> int:
    """The number of state elements of a parameter of ``shape``: two moments of its size, plus a factor and
    an eigenbasis of ``d x d`` for each preconditioned dimension ``d``."""
    work, kept = factor_plan(shape, max_precond_dim=max_precond_dim, merge_dims=merge_dims,
                             precondition_1d=precondition_1d)
    numel = 1
    for size in shape:
        numel *= size
    return 2 * numel + sum(2 * size * size for size, keep in zip(work, kept, strict=True) if keep)


def update_factors(factors: list[Tensor | None], grad: Tensor, beta: float) -> None:
    """``F_i <- beta F_i + (1 - beta) G_(i) G_(i)^T`` for each factor (in place), where ``G_(i)`` is ``grad``
    (in the factors' shape) unfolded along dimension ``i``."""
    for dim, factor in enumerate(factors):
        if factor is None:
            continue
        others = [axis for axis in range(grad.dim()) if axis != dim]
        gram = torch.tensordot(grad, grad, dims=(others, others))
        factor.lerp_(gram.to(factor.dtype), 1 - beta)


def rotate(tensor: Tensor, bases: list[Tensor | None], *, back: bool = False) -> Tensor:
    """``tensor`` (in the factors' shape) with every mode ``i`` multiplied by ``Q_i^T`` (into the eigenbasis)
    or, with ``back``, by ``Q_i`` (out of it); a mode without a basis is left as it is."""
    out = tensor
    for basis in bases:
        # each pass consumes the leading mode and appends its rotated version last: after all passes the
        # modes are back in their order
        if basis is None:
            out = out.movedim(0, -1)
        else:
            out = torch.tensordot(out, basis, dims=([0], [1 if back else 0]))
    return out


def _decomposable(matrix: Tensor) -> Tensor:
    return matrix.float() if matrix.dtype in LOW_PRECISION else matrix


def initial_bases(factors: list[Tensor | None]) -> list[Tensor | None]:
    """The eigenvectors of each factor (``torch.linalg.eigh`` of ``F + 1e-30 I``), columns in descending
    order of their eigenvalues, in the factor's dtype (computed in float32 for 16-bit factors, and in
    float64 where ``eigh`` does not converge)."""
    bases: list[Tensor | None] = []
    for factor in factors:
        if factor is None:
            bases.append(None)
            continue
        bases.append(_descending_eigenvectors(_decomposable(factor)).to(factor.dtype))
    return bases


def _descending_eigenvectors(matrix: Tensor) -> Tensor:
    """``eigh``'s eigenvectors of ``matrix + 1e-30 I``, largest eigenvalue first; retried in float64 when
    ``eigh`` does not converge, as the authors' implementation does."""
    eye = torch.eye(matrix.size(0), dtype=matrix.dtype, device=matrix.device)
    try:
        _, vectors = torch.linalg.eigh(matrix + EIGH_JITTER * eye)
    except torch.linalg.LinAlgError:
        _, vectors = torch.linalg.eigh(matrix.double() + EIGH_JITTER * eye.double())
    return vectors.flip(1).to(matrix.dtype)


def refreshed_bases(factors: list[Tensor | None], bases: list[Tensor | None],
                    exp_avg_sq: Tensor) -> tuple[list[Tensor | None], Tensor]:
    """One power-iteration step and a QR decomposition per factor, as Vyas et al. refresh the eigenbases.

    For each factor ``F`` with basis ``Q``: the columns of ``Q`` are sorted by their estimated eigenvalues
    ``diag(Q^T F Q)`` (descending), ``exp_avg_sq`` (in the factors' shape) is reordered along that
    dimension to follow them, and the new basis is the ``Q`` of ``qr(F Q_sorted)``. Returns the new bases
    and the reordered second moment (a new tensor; the second moment is never rotated).
    """
    new_bases: list[Tensor | None] = []
    second = exp_avg_sq
    for dim, (factor, basis) in enumerate(zip(factors, bases, strict=True)):
        if factor is None or basis is None:
            new_bases.append(None)
            continue
        matrix, vectors = _decomposable(factor), _decomposable(basis)
        estimates = torch.diagonal(vectors.T @ matrix @ vectors)
        order = torch.argsort(estimates, descending=True)
        second = second.index_select(dim, order.to(second.device))
        power = matrix @ vectors[:, order]
        q, _ = torch.linalg.qr(power)
        new_bases.append(q.to(basis.dtype))
    return new_bases, second
