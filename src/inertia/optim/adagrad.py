"""``inertia.AdaGrad``: per-coordinate step sizes from accumulated squared gradients."""

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
    split_torch_options,
)
from inertia.rules.adagrad import adagrad_update


class AdaGrad(FlatOptimizer):
    r"""AdaGrad, a drop-in replacement for :class:`torch.optim.Adagrad`.

    .. math::
        G \leftarrow G + g^2,\qquad
        p \leftarrow p - \frac{\eta}{1 + (t-1)\delta}\,\frac{g}{\sqrt{G} + \epsilon}

    State keys ``step`` and ``sum`` as in torch.optim; state is created at construction,
    ``sum`` filled with the group's ``initial_accumulator_value`` (torch.optim fills every group
    with the constructor's value, ignoring a per-group one). Because :math:`G` only grows, the
    effective step :math:`\eta/(\sqrt{G}+\epsilon)` never grows: AdaGrad can stop learning
    too early. Extra options: ``eps_inside_sqrt`` (optax/Keras :math:`\sqrt{G+\epsilon}`;
    combine with ``initial_accumulator_value=0.1`` for their defaults) and ``nonfinite``.

    Example:
        >>> import torch, inertia
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = inertia.AdaGrad([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()

    Reference: Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12.
    """

    state_keys = ("sum",)
    fused_rule = "adagrad"

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        eps_inside_sqrt: bool = False,
        nonfinite: str = "ignore",
        impl: str = "auto",
        **options: Any,
    ) -> None:
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
            eps_inside_sqrt=eps_inside_sqrt, nonfinite=nonfinite, impl=impl,
            **split_torch_options("AdaGrad", dict(options, foreach=foreach)),
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            layout = self._layout(group)
            for param in group["params"]:
                state = self.state[param]
                if not state:
                    self._init_state(param, state, group, layout)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_lr(group["lr"])
        check_finite_at_least("lr_decay", group["lr_decay"])
        check_finite_at_least("weight_decay", group["weight_decay"])
        check_finite_at_least("initial_accumulator_value", group["initial_accumulator_value"])
        check_finite_at_least("eps", group["eps"])
        check_flag("maximize", group["maximize"])
        check_flag("eps_inside_sqrt", group["eps_inside_sqrt"])

    def _init_state(
        self, param: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        state["step"] = layout.fresh("step", param)
        state["sum"] = layout.view("sum", param)
        value = group["initial_accumulator_value"]
        state["sum"].fill_(complex(value, value) if param.is_complex() else value)  # as torch.optim

    def _update_param(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        state["step"] += 1
        param, grad, state_sum = real_views(param, grad, state["sum"])
        adagrad_update(
            param, grad, state_sum, step=state["step"].item(), lr=group["lr"],
            lr_decay=group["lr_decay"], weight_decay=group["weight_decay"], eps=group["eps"],
            maximize=group["maximize"], eps_inside_sqrt=group["eps_inside_sqrt"],
        )


Adagrad = AdaGrad
