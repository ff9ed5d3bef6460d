"""Shampoo (Gupta, Koren & Singer, 2018; Anil et al., 2020), in Distributed Shampoo's form, on one device.

Every parameter of two or more dimensions is preconditioned by Kronecker factors, one per dimension of
each of its blocks (:mod:`inertia.optim.shampoo_preconditioner`); the step of each block takes its norm
from a grafting method (Adam or SGD) applied to the same gradient; parameters of fewer dimensions
(biases, LayerNorm gains, scalars) take the grafting method's step alone. :func:`shampoo_update` is the
step of one parameter, in Distributed Shampoo's order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from inertia.checks import check_flag, check_int, check_real, check_unit_interval, is_number
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.input_checks import refuse_complex_params
from inertia.optim.layout import GroupLayout, scalar_dtype
from inertia.optim.shampoo_preconditioner import (
    BlockSlices,
    block_slices,
    block_view,
    graft_scale,
    inverse_root,
    matrix_blocks_bytes,
    precondition_block,
    root_of_order,
    update_factor,
)
from inertia.optim.validation import lr_value, non_negative, one_of

#: The grafting methods: the per-coordinate step whose norm each block's step takes.
GRAFTING_CHOICES = ("adam", "sgd")


def shampoo_betas(name: str, value: Any) -> tuple[float, float]:
    """The group entry ``betas``: ``beta1`` in [0, 1), ``beta2`` in (0, 1] (1: the factors are sums)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(map(is_number, value)):
        raise ValueError(f"Invalid {name}: {value!r} (must be a pair (beta1, beta2) of real numbers)")
    beta1, beta2 = value
    if not 0.0 <= beta1 < 1.0:
        raise ValueError(f"Invalid {name}: {tuple(value)!r} (betas[0] must be in [0, 1))")
    if not 0.0 < beta2 <= 1.0:
        raise ValueError(f"Invalid {name}: {tuple(value)!r} (betas[1] must be in (0, 1])")
    return float(beta1), float(beta2)


def positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    return check_real(name, value, above=0.0)


def positive_int(name: str, value: Any) -> int:
    """An integer >= 1."""
    return check_int(name, value, low=1)


def non_negative_int(name: str, value: Any) -> int:
    """An integer >= 0."""
    return check_int(name, value, low=0)


def optional_step(name: str, value: Any) -> int | None:
    """None, or an integer >= 1."""
    return None if value is None else check_int(name, value, low=1)


def below_one(name: str, value: Any) -> float:
    """A number in [0, 1)."""
    return check_unit_interval(name, value, closed_right=False)


def first_shampoo_step(group: Group) -> int:
    """The first step that takes Shampoo's direction: ``start_preconditioning_step``, or
    ``precondition_frequency`` when it is None (Distributed Shampoo's ``-1``)."""
    start = group["start_preconditioning_step"]
    return group["precondition_frequency"] if start is None else start


def grafted_direction(direction: Tensor, state: State, step: int, grafting: str, grafting_beta2: float,
                      grafting_epsilon: float) -> Tensor:
    """The grafting method's per-coordinate direction for ``direction`` (the filtered gradient): itself
    (SGD) or ``direction / (sqrt(v / (1 - beta2^t)) + epsilon)`` (Adam; ``v`` already advanced)."""
    if grafting == "sgd":
        return direction
    denominator = (state["exp_avg_sq"] / (1 - grafting_beta2**step)).sqrt_().add_(grafting_epsilon)
    return direction / denominator


def refresh_roots(state: State, order: int, *, root_override: int, epsilon: float, bias_correction: float) -> None:
    """Recompute every inverse root of ``state`` from its factor (one per block and dimension, all of
    ``order`` dimensions). A root whose eigendecomposition fails or comes out non-finite (a factor that
    overflowed) keeps its previous value, as Distributed Shampoo does."""
    factors, roots = state["factor_matrices"], state["inv_root_matrices"]
    root = root_of_order(order, root_override)
    for index, factor in enumerate(factors):
        try:
            fresh = inverse_root(factor, root, epsilon, bias_correction)
        except torch.linalg.LinAlgError:
            continue
        if bool(torch.isfinite(fresh).all()):
            roots[index].copy_(fresh)


def shampoo_direction(filtered: Tensor, graft: Tensor, state: State, blocks: list[BlockSlices]) -> Tensor:
    """Per block: the block of ``filtered`` preconditioned by its inverse roots, scaled to the norm of the
    same block of ``graft``."""
    direction = torch.empty_like(filtered)
    roots = state["inv_root_matrices"]
    order = filtered.ndim
    for index, slices in enumerate(blocks):
        block_roots = roots[index * order:(index + 1) * order]
        preconditioned = precondition_block(block_view(filtered, slices), block_roots)
        scale = graft_scale(block_view(graft, slices), preconditioned)
        block_view(direction, slices).copy_(preconditioned * scale)
    return direction


def shampoo_update(param: Tensor, grad: Tensor, state: State, *, lr: float, betas: tuple[float, float],
                   epsilon: float, momentum: float, nesterov: bool, weight_decay: float,
                   decoupled_weight_decay: bool, max_precond_dim: int, precondition_frequency: int,
                   start_preconditioning_step: int, inv_root_override: int, grafting: str,
                   grafting_beta2: float, grafting_epsilon: float, maximize: bool = False) -> None:
    r"""One Shampoo step of one parameter, in place (``state["step"]`` already counts this step).

    With :math:`t` the step, :math:`g` the gradient (negated with ``maximize``; plus :math:`\lambda\theta` unless the decay is
    decoupled): the factors of each block advance (:math:`L \leftarrow \beta_2 L + (1-\beta_2) G G^T`, ...),
    Adam grafting's :math:`v \leftarrow \beta_g v + (1-\beta_g) g^2`; the filtered gradient is
    :math:`\hat m = m / (1 - \beta_1^t)` with :math:`m \leftarrow \beta_1 m + (1-\beta_1) g` (:math:`g`
    itself for :math:`\beta_1 = 0`); every ``precondition_frequency`` steps the inverse roots are
    recomputed; from step ``start_preconditioning_step`` on, each block's direction is
    :math:`L^{-1/4} \hat M R^{-1/4}` scaled to the norm of the grafting direction's block, before it the
    grafting direction itself (always, for fewer than two dimensions); then the decoupled decay
    :math:`d \mathrel{+}= \lambda\theta`, the momentum :math:`b \leftarrow \mu b + d` (:math:`d + \mu b`
    with Nesterov, else :math:`b`), and :math:`\theta \leftarrow \theta - \gamma d`.
    """
    beta1, beta2 = betas
    step = int(state["step"].item())
    if maximize:
        grad = -grad
    if weight_decay != 0 and not decoupled_weight_decay:
        grad = grad.add(param, alpha=weight_decay)
    matrix = param.ndim >= 2
    blocks = block_slices(param.shape, max_precond_dim) if matrix else []
    for index, slices in enumerate(blocks):
        block = block_view(grad, slices)
        for dim in range(param.ndim):
            update_factor(state["factor_matrices"][index * param.ndim + dim], block, dim, beta2)
    if grafting == "adam":
        state["exp_avg_sq"].mul_(grafting_beta2).addcmul_(grad, grad, value=1 - grafting_beta2)
    filtered = grad
    if beta1 > 0:
        state["exp_avg"].lerp_(grad, 1 - beta1)
        filtered = state["exp_avg"] / (1 - beta1**step)
    graft = grafted_direction(filtered, state, step, grafting, grafting_beta2, grafting_epsilon)
    if matrix and step % precondition_frequency == 0:
        refresh_roots(state, param.ndim, root_override=inv_root_override, epsilon=epsilon,
                      bias_correction=1.0 if beta2 == 1.0 else 1 - beta2**step)
    use_shampoo = matrix and step >= start_preconditioning_step
    direction = shampoo_direction(filtered, graft, state, blocks) if use_shampoo else graft.clone()
    if weight_decay != 0 and decoupled_weight_decay:
        direction.add_(param, alpha=weight_decay)
    if momentum > 0:
        buffer = state["momentum_buffer"]
        buffer.mul_(momentum).add_(direction)
        direction = direction.add(buffer, alpha=momentum) if nesterov else buffer
    param.add_(direction, alpha=-lr)


def shampoo_state_bytes(shape: Iterable[int], dtype: torch.dtype, *, max_precond_dim: int = 1024,
                        betas: tuple[float, float] = (0.9, 0.999), momentum: float = 0.0,
                        grafting: str = "adam") -> int:
    """The bytes of :class:`Shampoo`'s state for one parameter of ``shape`` and ``dtype``: the ``step``
    counter, per block of a parameter with two or more dimensions one factor and one inverse root per
    dimension (``2 (d_1^2 + ... + d_p^2)`` elements for a block of sizes ``d_1 .. d_p``), and ``numel``
    elements each for ``exp_avg`` (``beta1 > 0``), ``exp_avg_sq`` (Adam grafting) and ``momentum_buffer``
    (``momentum > 0``)."""
    shape = tuple(shape)
    size = torch.empty((), dtype=dtype).element_size()
    numel = torch.Size(shape).numel()
    copies = (betas[0] > 0) + (grafting == "adam") + (momentum > 0)
    total = torch.empty((), dtype=scalar_dtype()).element_size() + copies * numel * size
    if len(shape) >= 2:
        total += matrix_blocks_bytes(shape, max_precond_dim, size)
    return total


class Shampoo(FlatOptimizer):
    r"""Shampoo with blocking and grafting, as Distributed Shampoo (facebookresearch/optimizers) runs it.

    For a parameter of two or more dimensions, each block (every dimension cut into pieces of at most
    ``max_precond_dim``) of order :math:`p` keeps one factor per dimension, for a matrix
    :math:`L_t = \beta_2 L_{t-1} + (1-\beta_2) G_t G_t^T` and :math:`R_t = \beta_2 R_{t-1} + (1-\beta_2) G_t^T G_t`
    (sums for :math:`\beta_2 = 1`), and its inverse root
    :math:`(F / (1-\beta_2^t) + \epsilon I)^{-1/r}` (:math:`r = 2p`, so :math:`L^{-1/4} G R^{-1/4}` for a
    matrix, or ``inv_root_override``), recomputed by ``torch.linalg.eigh`` in float64 every
    ``precondition_frequency`` steps. A tensor of order three or more has one factor per dimension
    (Distributed Shampoo also merges small dimensions first; this class does not). The block's step is
    the preconditioned filtered gradient scaled to the norm of the grafting method's step on the same
    block (Adam: :math:`\hat m / (\sqrt{\hat v} + \epsilon_g)`, or SGD: :math:`\hat m`); before step
    ``start_preconditioning_step`` and for parameters of fewer than two dimensions, the grafting step
    itself. Then decoupled (AdamW-style) or L2 weight decay, SGD momentum (optionally Nesterov) on the
    direction, and :math:`\theta \leftarrow \theta - \gamma d`. See :func:`shampoo_update`.

    Defaults: ``lr=1e-2``, ``betas=(0.9, 0.999)``, ``epsilon=1e-12``, ``momentum=0``, ``nesterov=False``,
    ``weight_decay=0``, ``decoupled_weight_decay=True``, ``max_precond_dim=1024``,
    ``precondition_frequency=1``, ``start_preconditioning_step=None`` (equal to
    ``precondition_frequency``), ``inv_root_override=0`` (``2p``), ``grafting="adam"``,
    ``grafting_beta2=0.999``, ``grafting_epsilon=1e-8``; ``maximize`` (ascend) and ``nonfinite`` as the
    other inertia optimizers.
    docs/conventions.md lists where they differ from Distributed Shampoo's.

    State per parameter: ``step``; ``exp_avg`` (``beta1 > 0``), ``exp_avg_sq`` (Adam grafting),
    ``momentum_buffer`` (``momentum > 0``), each of the parameter's size; and, for two or more
    dimensions, the lists ``factor_matrices`` and ``inv_root_matrices``, one ``d x d`` matrix per block and
    dimension (block-major), in the parameter's dtype. Memory per parameter of ``n`` elements and
    blocks of sizes :math:`d_1 .. d_p`: :math:`2\sum_{blocks}\sum_k d_k^2` for the factors and roots plus
    up to :math:`3n` for the rest (an ``(m, n)`` matrix with both sides at most ``max_precond_dim``:
    :math:`2(m^2 + n^2) + 2mn` elements with the defaults); :func:`shampoo_state_bytes` and
    :meth:`state_bytes` compute it.

    Example:
        >>> import torch
        >>> from inertia.optim.shampoo import Shampoo
        >>> layer = torch.nn.Linear(8, 4)
        >>> opt = Shampoo(layer.parameters(), lr=0.01)
        >>> layer(torch.randn(16, 8)).pow(2).mean().backward(); opt.step()
        >>> [tuple(f.shape) for f in opt.state[layer.weight]["factor_matrices"]]
        [(4, 4), (8, 8)]

    References: V. Gupta, T. Koren, Y. Singer (2018), "Shampoo: Preconditioned Stochastic Tensor
    Optimization", ICML; R. Anil et al. (2020), "Scalable Second Order Optimization for Deep Learning",
    arXiv:2002.09018; H.-J. M. Shi et al. (2023), "A Distributed Data-Parallel PyTorch Implementation of
    the Distributed Shampoo Optimizer", arXiv:2309.06497.
    """

    state_keys = ("exp_avg", "exp_avg_sq", "momentum_buffer")
    rule = None
    group_checks = (
        ("lr", lr_value), ("betas", shampoo_betas), ("epsilon", positive), ("momentum", below_one),
        ("nesterov", check_flag), ("weight_decay", non_negative), ("decoupled_weight_decay", check_flag),
        ("max_precond_dim", positive_int), ("precondition_frequency", positive_int),
        ("start_preconditioning_step", optional_step), ("inv_root_override", non_negative_int),
        ("grafting", one_of(GRAFTING_CHOICES)), ("grafting_beta2", below_one),
        ("grafting_epsilon", non_negative), ("maximize", check_flag),
    )

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-2, betas: tuple[float, float] = (0.9, 0.999),
        epsilon: float = 1e-12, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
        decoupled_weight_decay: bool = True, max_precond_dim: int = 1024, precondition_frequency: int = 1,
        start_preconditioning_step: int | None = None, inv_root_override: int = 0, grafting: str = "adam",
        grafting_beta2: float = 0.999, grafting_epsilon: float = 1e-8, *, maximize: bool = False,
        nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, epsilon=epsilon, momentum=momentum, nesterov=nesterov,
                        weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                        max_precond_dim=max_precond_dim, precondition_frequency=precondition_frequency,
                        start_preconditioning_step=start_preconditioning_step,
                        inv_root_override=inv_root_override, grafting=grafting, grafting_beta2=grafting_beta2,
                        grafting_epsilon=grafting_epsilon, maximize=maximize, nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, options)

    def _check_group(self, group: dict[str, Any]) -> None:
        """The entries' checks; then ``start_preconditioning_step >= precondition_frequency`` (the roots
        are first computed at step ``precondition_frequency``) and no ``nesterov`` without ``momentum``."""
        super()._check_group(group)
        start, frequency = group["start_preconditioning_step"], group["precondition_frequency"]
        if start is not None and start < frequency:
            raise ValueError(f"Invalid start_preconditioning_step: {start} (must be >= precondition_frequency "
                             f"= {frequency}, the first step that computes the inverse roots)")
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError(f"Invalid nesterov: True with momentum = {group['momentum']} (Nesterov momentum "
                             "requires momentum > 0)")

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` zero, the element-wise buffers the group uses zero, and for two or more dimensions a zero
        factor and an identity inverse root per block and dimension."""
        state["step"] = layout.fresh("step", param)
        if param.ndim >= 2:
            sizes = [length for slices in block_slices(param.shape, group["max_precond_dim"])
                     for _, length in slices]
            state["factor_matrices"] = [param.new_zeros((size, size)) for size in sizes]
            state["inv_root_matrices"] = [torch.eye(size, dtype=param.dtype, device=param.device)
                                          for size in sizes]

    def update_params(self, group: Group, params: list[Tensor]) -> None:
        """Step each of ``params`` that has a gradient with :func:`shampoo_update` (a tensor ``lr`` is read
        once per step); buffers a group switched on since the last step start from zero. A complex
        parameter is refused before any parameter is stepped."""
        refuse_complex_params(params, "Shampoo")
        layout = self.layout_of(group)
        lr = group["lr"].item() if isinstance(group["lr"], Tensor) else group["lr"]
        for param in params:
            if param.grad is None:
                continue
            state = self.state[param]
            if not state:
                self.init_state(param, state, group, layout)
            self._check_blocks(param, state, group)
            for key in self._needed_keys(group):
                if key not in state:
                    state[key] = layout.fresh(key, param)
            state["step"] += 1
            shampoo_update(param, param.grad, state, lr=lr, **self._hyper(group))

    @staticmethod
    def _needed_keys(group: Group) -> tuple[str, ...]:
        wanted = (("exp_avg", group["betas"][0] > 0), ("exp_avg_sq", group["grafting"] == "adam"),
                  ("momentum_buffer", group["momentum"] > 0))
        return tuple(key for key, used in wanted if used)

    @staticmethod
    def _hyper(group: Group) -> dict[str, Any]:
        keys = ("betas", "epsilon", "momentum", "nesterov", "weight_decay", "decoupled_weight_decay",
                "max_precond_dim", "precondition_frequency", "inv_root_override", "grafting", "grafting_beta2",
                "grafting_epsilon", "maximize")
        return dict({key: group[key] for key in keys}, start_preconditioning_step=first_shampoo_step(group))

    @staticmethod
    def _check_blocks(param: Tensor, state: State, group: Group) -> None:
        """Raise ValueError if the factors kept do not fit the blocks of the group's ``max_precond_dim``."""
        if param.ndim < 2:
            return
        sizes = [length for slices in block_slices(param.shape, group["max_precond_dim"]) for _, length in slices]
        kept = [factor.shape[0] for factor in state.get("factor_matrices", ())]
        if kept != sizes:
            raise ValueError(f"Invalid max_precond_dim: {group['max_precond_dim']} (the state of a parameter of "
                             f"size {tuple(param.shape)} holds factors of sizes {kept}, made with another "
                             "max_precond_dim)")

    def state_bytes(self) -> int:
        """The bytes of the state :func:`shampoo_state_bytes` gives for every parameter, with each group's
        settings (what the state holds once every parameter took a step)."""
        return sum(shampoo_state_bytes(param.shape, param.dtype, max_precond_dim=group["max_precond_dim"],
                                       betas=group["betas"], momentum=group["momentum"], grafting=group["grafting"])
                   for group in self.param_groups for param in group["params"])
