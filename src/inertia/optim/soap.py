"""SOAP (Vyas et al., 2024): Adam run in the eigenbasis of Shampoo's Kronecker factors.

The factors, rotations and basis refreshes live in :mod:`inertia.optim.soap_basis`; here are one step of
one parameter (:func:`soap_update`, in the operation order of the authors' implementation,
github.com/nikhilvyas/SOAP), the group checks, the memory count and the optimizer class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from inertia.checks import check_flag, check_int, check_real
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.input_checks import refuse_complex_params
from inertia.optim.layout import GroupLayout, scalar_dtype
from inertia.optim.soap_basis import (
    factor_plan,
    initial_bases,
    plan_numel,
    refreshed_bases,
    rotate,
    update_factors,
)
from inertia.optim.validation import betas_value, lr_value, non_negative

#: What keeps the root mean square of a normalised update from dividing by zero (the authors' amount).
NORMALIZE_FLOOR = 1e-30


def factor_beta(shampoo_beta: float, betas: tuple[float, float]) -> float:
    """The factors' moving-average weight: ``shampoo_beta`` when it is >= 0, else ``betas[1]``."""
    return shampoo_beta if shampoo_beta >= 0 else betas[1]


def soap_update(
    param: Tensor, grad: Tensor, state: State, work_shape: tuple[int, ...], *, lr: float,
    betas: tuple[float, float], factor_weight: float, eps: float, weight_decay: float, precondition_frequency: int, normalize_grads: bool, correct_bias: bool,
) -> None:
    r"""One SOAP step of one parameter whose eigenbases exist, in place (``state``: ``step``, ``exp_avg``,
    ``exp_avg_sq``, ``factors``, ``eigenbases``), whose factors act on ``work_shape`` (see
    :func:`inertia.optim.soap_basis.factor_plan`).

    With :math:`G' = G \times_i Q_i^T` (every mode rotated into its eigenbasis), :math:`t \leftarrow t + 1`:

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) G',\quad v \leftarrow \beta_2 v + (1-\beta_2) G'^2,\quad
        U = \Big(\frac{m}{\sqrt v + \epsilon}\Big) \times_i Q_i,\quad
        \theta \leftarrow \theta - \eta \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} U,\quad
        \theta \leftarrow \theta - \eta\lambda\theta

    (``normalize_grads``: :math:`U / (10^{-30} + \mathrm{RMS}(U))`; no bias factor without
    ``correct_bias``). Then the factors take the gradient (:func:`update_factors`); every
    ``precondition_frequency``-th step the bases are refreshed (:func:`refreshed_bases`), the first moment
    rotated out of the old basis and into the new one, and the second moment reordered with the columns.
    """
    factors, bases = state["factors"], state["eigenbases"]
    exp_avg, exp_avg_sq = state["exp_avg"].view(work_shape), state["exp_avg_sq"].view(work_shape)
    grad_work = grad.reshape(work_shape)
    rotated = rotate(grad_work, bases)
    state["step"] += 1
    step = state["step"].item()
    beta1, beta2 = betas
    exp_avg.mul_(beta1).add_(rotated, alpha=1 - beta1)
    exp_avg_sq.mul_(beta2).add_(rotated.square(), alpha=1 - beta2)
    step_size = lr
    if correct_bias:
        step_size = lr * (1 - beta2**step) ** 0.5 / (1 - beta1**step)
    update = rotate(exp_avg / exp_avg_sq.sqrt().add_(eps), bases, back=True)
    if normalize_grads:
        update = update / (NORMALIZE_FLOOR + update.square().mean().sqrt())
    param.add_(update.reshape(param.shape), alpha=-step_size)
    if weight_decay > 0:
        param.add_(param, alpha=-lr * weight_decay)
    update_factors(factors, grad_work, factor_weight)
    if step % precondition_frequency == 0:
        refresh(state, work_shape)


def refresh(state: State, work_shape: tuple[int, ...]) -> None:
    """Refresh ``state``'s eigenbases: the first moment out of the old basis and into the new one, the
    second moment reordered as the new basis' columns (both written into their own memory)."""
    exp_avg, exp_avg_sq = state["exp_avg"].view(work_shape), state["exp_avg_sq"].view(work_shape)
    unrotated = rotate(exp_avg, state["eigenbases"], back=True)
    bases, reordered = refreshed_bases(state["factors"], state["eigenbases"], exp_avg_sq)
    state["eigenbases"] = bases
    exp_avg_sq.copy_(reordered)
    exp_avg.copy_(rotate(unrotated, bases))


def soap_state_bytes(shape: Iterable[int], dtype: torch.dtype = torch.float32, *, max_precond_dim: int = 10000,
                     merge_dims: bool = False, precondition_1d: bool = False) -> int:
    """The bytes of SOAP's state for one parameter of ``shape`` and ``dtype``: ``exp_avg`` and
    ``exp_avg_sq`` (the parameter's size each), a factor and an eigenbasis (``d x d`` each, the
    parameter's dtype) per preconditioned dimension ``d``, and the 0-d ``step`` counter."""
    shape = tuple(check_int("shape", size, low=0) for size in shape)
    check_int("max_precond_dim", max_precond_dim, low=1)
    numel = plan_numel(shape, max_precond_dim=max_precond_dim, merge_dims=check_flag("merge_dims", merge_dims),
                       precondition_1d=check_flag("precondition_1d", precondition_1d))
    return numel * torch.empty((), dtype=dtype).element_size() + torch.empty((), dtype=scalar_dtype()).element_size()


def shampoo_beta_value(name: str, value: Any) -> float:
    """The group entry ``shampoo_beta``: a finite number < 1 (a negative one means ``betas[1]``)."""
    return check_real(name, value, below=1.0)


def frequency_value(name: str, value: Any) -> int:
    """An integer >= 1."""
    return check_int(name, value, low=1)


class SOAP(FlatOptimizer):
    r"""SOAP: Adam in the eigenbasis of Shampoo's preconditioner (Vyas et al., 2024).

    For a matrix gradient :math:`G` (every dimension of a tensor alike), the factors
    :math:`L \leftarrow \beta_s L + (1-\beta_s) G G^T` and :math:`R \leftarrow \beta_s R + (1-\beta_s) G^T G`
    (:math:`\beta_s` = ``shampoo_beta``, or ``betas[1]`` when it is negative) have eigenbases
    :math:`Q_L, Q_R`; Adam runs on :math:`G' = Q_L^T G Q_R` and its update is rotated back,
    :math:`Q_L U' Q_R^T` (see :func:`soap_update`). A parameter's first step only fills its factors and
    computes the bases by ``torch.linalg.eigh``; every ``precondition_frequency``-th Adam step after that
    refreshes them by one power-iteration step and a QR decomposition (:func:`refreshed_bases`), rotating
    the first moment out of the old basis and into the new one. Defaults are those of the authors'
    implementation: ``lr=3e-3``, ``betas=(0.95, 0.95)``, ``shampoo_beta=-1``, ``eps=1e-8``,
    ``weight_decay=0.01`` (decoupled, applied after the step), ``precondition_frequency=10``,
    ``max_precond_dim=10000`` (a larger dimension keeps no factor: identity), ``merge_dims=False`` (merge
    neighbouring dimensions while their product stays <= ``max_precond_dim``), ``precondition_1d=False``
    (a 1-D or 0-d parameter runs the same Adam without rotation), ``normalize_grads=False``,
    ``correct_bias=True``. Extra options: ``nonfinite``; ``impl`` (no fused path: every value takes the
    reference step). Not taken: ``data_format`` (the channels-first layout is assumed), ``differentiable``.

    Memory per parameter of size :math:`n` whose preconditioned dimensions are :math:`d_1, \dots, d_k`:
    :math:`2n + 2\sum_i d_i^2` elements of its dtype, plus the 0-d ``step``; an :math:`m \times n` matrix
    keeps :math:`2mn + 2m^2 + 2n^2` (Adam: :math:`2mn`). :func:`soap_state_bytes` and
    :meth:`state_bytes` compute it. State keys: ``step`` (Adam steps taken, not counting the first,
    factor-only step), ``exp_avg`` (in the eigenbasis), ``exp_avg_sq``, ``factors`` and ``eigenbases``
    (lists, one entry per dimension of the rotated shape, None where a dimension keeps no factor).

    Example:
        >>> import torch, inertia
        >>> layer = torch.nn.Linear(6, 4)
        >>> opt = inertia.SOAP(layer.parameters(), lr=1e-2)
        >>> for _ in range(2):
        ...     opt.zero_grad(); layer(torch.randn(8, 6)).pow(2).mean().backward(); opt.step()
        >>> [tuple(f.shape) for f in opt.state[layer.weight]["factors"]]
        [(4, 4), (6, 6)]

    Reference: N. Vyas, D. Morwani, R. Zhao, I. Shapira, D. Brandfonbrener, L. Janson, S. Kakade (2024),
    "SOAP: Improving and Stabilizing Shampoo using Adam", arXiv:2409.11321.
    """

    state_keys = ("exp_avg", "exp_avg_sq")  # factors and eigenbases are square matrices of their own
    rule = None
    group_checks = (("lr", lr_value), ("betas", betas_value), ("shampoo_beta", shampoo_beta_value),
                    ("eps", non_negative), ("weight_decay", non_negative),
                    ("precondition_frequency", frequency_value), ("max_precond_dim", frequency_value),
                    ("merge_dims", check_flag), ("precondition_1d", check_flag), ("normalize_grads", check_flag),
                    ("correct_bias", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 3e-3, betas: tuple[float, float] = (0.95, 0.95),
        shampoo_beta: float = -1, eps: float = 1e-8, weight_decay: float = 0.01, precondition_frequency: int = 10,
        max_precond_dim: int = 10000, merge_dims: bool = False, precondition_1d: bool = False,
        normalize_grads: bool = False, correct_bias: bool = True, *, nonfinite: str = "ignore", impl: str = "auto",
        **options: Any,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, shampoo_beta=shampoo_beta, eps=eps, weight_decay=weight_decay,
                        precondition_frequency=precondition_frequency, max_precond_dim=max_precond_dim,
                        merge_dims=merge_dims, precondition_1d=precondition_1d, normalize_grads=normalize_grads,
                        correct_bias=correct_bias, nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, options)

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` 0, zero moments (views of the layout), and a zero factor per preconditioned dimension."""
        state["step"] = layout.fresh("step", param)
        state["exp_avg"] = layout.fresh("exp_avg", param)
        state["exp_avg_sq"] = layout.fresh("exp_avg_sq", param)
        work, kept = self._plan_of(param, group)
        state["factors"] = [param.new_zeros((size, size)) if keep else None
                            for size, keep in zip(work, kept, strict=True)]

    @staticmethod
    def _plan_of(param: Tensor, group: Group) -> tuple[tuple[int, ...], tuple[bool, ...]]:
        return factor_plan(tuple(param.shape), max_precond_dim=group["max_precond_dim"],
                           merge_dims=group["merge_dims"], precondition_1d=group["precondition_1d"])

    def update_params(self, group: Group, params: list[Tensor]) -> None:
        """Refuse complex parameters (before any state is made), then step each parameter."""
        refuse_complex_params(params, "SOAP")
        super().update_params(group, params)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        self._check_plan(param, state, group)
        work, _ = self._plan_of(param, group)
        if "eigenbases" not in state:  # the first step: factors and bases only, as the authors' implementation
            update_factors(state["factors"], grad.reshape(work), factor_beta(group["shampoo_beta"], group["betas"]))
            state["eigenbases"] = initial_bases(state["factors"])
            return
        soap_update(param, grad, state, work, lr=group["lr"], betas=group["betas"],
                    factor_weight=factor_beta(group["shampoo_beta"], group["betas"]), eps=group["eps"],
                    weight_decay=group["weight_decay"], precondition_frequency=group["precondition_frequency"],
                    normalize_grads=group["normalize_grads"], correct_bias=group["correct_bias"])

    def _check_plan(self, param: Tensor, state: State, group: Group) -> None:
        """Raise ValueError if ``max_precond_dim``, ``merge_dims`` or ``precondition_1d`` changed after the
        factors of ``param`` were made (their shapes would no longer fit)."""
        work, kept = self._plan_of(param, group)
        sizes = tuple(factor.size(0) if factor is not None else None for factor in state["factors"])
        expected = tuple(size if keep else None for size, keep in zip(work, kept, strict=True))
        if sizes != expected:
            raise ValueError(
                f"Invalid max_precond_dim: {group['max_precond_dim']!r} with merge_dims="
                f"{group['merge_dims']!r}, precondition_1d={group['precondition_1d']!r} (the factors of a "
                f"parameter of shape {tuple(param.shape)} were made with sizes {sizes}; these settings need "
                f"{expected})")

    def state_bytes(self) -> int:
        """The bytes of this optimizer's state once every parameter has taken a step
        (:func:`soap_state_bytes` summed over the parameters, with each group's settings)."""
        return sum(soap_state_bytes(param.shape, param.dtype, max_precond_dim=group["max_precond_dim"],
                                    merge_dims=group["merge_dims"], precondition_1d=group["precondition_1d"])
                   for group in self.param_groups for param in group["params"])
