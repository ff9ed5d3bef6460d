"""``inertia.SGD``: stochastic gradient descent with (Nesterov) momentum."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from inertia.optim.base import FlatOptimizer
from inertia.optim.layout import GroupLayout
from inertia.optim.validation import (
    check_choice,
    check_finite_at_least,
    check_flag,
    check_lr,
    check_unit_interval,
    split_torch_options,
)
from inertia.rules.sgd import sgd_update

MOMENTUM_FORMS = ("torch", "velocity")


class SGD(FlatOptimizer):
    r"""Stochastic gradient descent, optionally with momentum or Nesterov momentum.

    A drop-in replacement for :class:`torch.optim.SGD` with the same arguments,
    defaults, state keys (``momentum_buffer``) and trajectories. The math is
    :func:`inertia.rules.sgd_update`:

    .. math::
        b \leftarrow \mu b + (1-\tau) g,\qquad p \leftarrow p - \eta\,(g + \mu b \text{ if Nesterov else } b)

    Extra options:

    - ``momentum_form="velocity"``: CS231n's velocity form :math:`v \leftarrow \mu v - \eta g;\ p
      \leftarrow p + v` (state key ``velocity``). Same trajectory as the default while the
      learning rate is constant; different under a schedule. Needs ``dampening=0``.
    - ``nonfinite``: ``"ignore"`` (default) | ``"raise"`` | ``"skip"``, see
      :class:`inertia.optim.base.FlatOptimizer`.

    Example:
        >>> import torch, inertia
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = inertia.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
        >>> (w ** 2).sum().backward(); opt.step()

    References: Robbins & Monro (1951); Polyak (1964); Sutskever et al. (2013), "On the
    importance of initialization and momentum in deep learning".
    """

    state_keys = ("momentum_buffer", "velocity")
    fused_rule = "sgd"

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        momentum_form: str = "torch",
        nonfinite: str = "ignore",
        impl: str = "auto",
        **options: Any,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
            weight_decay=weight_decay, maximize=maximize, momentum_form=momentum_form,
            nonfinite=nonfinite, impl=impl, **split_torch_options("SGD", options),
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        momentum, dampening, nesterov = group["momentum"], group["dampening"], group["nesterov"]
        check_lr(group["lr"])
        check_finite_at_least("momentum", momentum)
        check_unit_interval("dampening", dampening, closed_right=True)
        check_finite_at_least("weight_decay", group["weight_decay"])
        check_flag("nesterov", nesterov)
        check_flag("maximize", group["maximize"])
        check_choice("momentum_form", group["momentum_form"], MOMENTUM_FORMS)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"Invalid nesterov: {nesterov!r} (Nesterov momentum requires momentum > 0 and "
                f"dampening = 0, got momentum={momentum!r}, dampening={dampening!r})"
            )
        if group["momentum_form"] == "velocity" and dampening != 0:
            raise ValueError(f"Invalid dampening: {dampening!r} (momentum_form='velocity' requires 0)")

    def _update_param(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        momentum = group["momentum"]
        key = "velocity" if group["momentum_form"] == "velocity" else "momentum_buffer"
        first_step = False
        buffer = None
        if momentum != 0:
            buffer = state.get(key)
            if buffer is None:
                buffer = state[key] = layout.fresh(key, param)
                first_step = True
        sgd_update(
            param, grad, buffer, lr=group["lr"], momentum=momentum, dampening=group["dampening"],
            nesterov=group["nesterov"], weight_decay=group["weight_decay"], maximize=group["maximize"],
            first_step=first_step, momentum_form=group["momentum_form"],
        )
