"""``inertia.RMSprop``: AdaGrad with a leaky cache."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from inertia.optim.base import FlatOptimizer, real_views
from inertia.optim.layout import GroupLayout
from inertia.optim.validation import (
    check_finite_at_least,
    check_flag,
    check_lr,
    check_unit_interval,
    split_torch_options,
)
from inertia.rules.rmsprop import rmsprop_update


class RMSprop(FlatOptimizer):
    r"""RMSprop, a drop-in replacement for :class:`torch.optim.RMSprop`.

    .. math::
        s \leftarrow \alpha s + (1-\alpha) g^2,\qquad p \leftarrow p - \eta\,\frac{g}{\sqrt{s} + \epsilon}

    with optional ``centered`` variance and ``momentum`` (see
    :func:`inertia.rules.rmsprop_update`). State keys ``step``, ``square_avg``,
    ``momentum_buffer`` (momentum > 0) and ``grad_avg`` (centered), as in torch.optim.
    The leaky average forgets old gradients, so unlike AdaGrad the step size does not
    decay to zero. Extra options: ``eps_inside_sqrt`` (Keras/optax) and ``nonfinite``.

    Example:
        >>> import torch, inertia
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = inertia.RMSprop([w], lr=0.01)
        >>> (w ** 2).sum().backward(); opt.step()

    Reference: Tieleman & Hinton (2012), Coursera "Neural Networks for Machine Learning",
    Lecture 6.5; Graves (2013), "Generating Sequences With Recurrent Neural Networks".
    """

    state_keys = ("square_avg", "momentum_buffer", "grad_avg")
    fused_rule = "rmsprop"

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        *,
        eps_inside_sqrt: bool = False,
        nonfinite: str = "ignore",
        impl: str = "auto",
        **options: Any,
    ) -> None:
        flags = dict(options, capturable=capturable, foreach=foreach, differentiable=differentiable)
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, maximize=maximize, eps_inside_sqrt=eps_inside_sqrt,
            nonfinite=nonfinite, impl=impl, **split_torch_options("RMSprop", flags),
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_lr(group["lr"])
        check_unit_interval("alpha", group["alpha"], closed_right=True)
        check_finite_at_least("eps", group["eps"])
        check_finite_at_least("weight_decay", group["weight_decay"])
        check_finite_at_least("momentum", group["momentum"])
        for flag in ("centered", "maximize", "eps_inside_sqrt"):
            check_flag(flag, group[flag])

    def _init_state(
        self, param: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        state["step"] = layout.fresh("step", param)
        state["square_avg"] = layout.fresh("square_avg", param)
        if group["momentum"] > 0:
            state["momentum_buffer"] = layout.fresh("momentum_buffer", param)
        if group["centered"]:
            state["grad_avg"] = layout.fresh("grad_avg", param)

    def _update_param(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        for key, needed in (("momentum_buffer", group["momentum"] > 0), ("grad_avg", group["centered"])):
            if needed and key not in state:  # switched on mid-run: start from zero, as the fused path does
                state[key] = layout.fresh(key, param)
        state["step"] += 1
        param, grad, square_avg, grad_avg, momentum_buffer = real_views(
            param, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"))
        rmsprop_update(
            param, grad, square_avg, grad_avg, momentum_buffer,
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
            momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"],
            eps_inside_sqrt=group["eps_inside_sqrt"],
        )
