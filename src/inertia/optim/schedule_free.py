"""Schedule-Free AdamW (Defazio et al., 2024): no learning-rate schedule, an online average instead.

Three sequences share one parameter: gradients are taken at ``y``, the base sequence ``z`` takes
AdamW steps, and ``x`` is the weighted average of the ``z`` iterates; ``y`` interpolates the two.
Only ``z`` (and the second moment) are kept in the state: the parameter itself holds ``y`` in train
mode and ``x`` in eval mode, and :meth:`AdamWScheduleFree.train` / :meth:`AdamWScheduleFree.eval`
move it from one to the other. No fused path: every step runs the reference math below.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from inertia.checks import check_flag
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.layout import GroupLayout
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import betas_value, check_betas, lr_value, non_negative


def schedule_free_weights(group: Group) -> tuple[float, float]:
    """Advance ``group``'s schedule by one step; return ``(lr, ckp1)`` for it.

    ``lr`` is the warmed-up learning rate (``lr * (k + 1) / warmup_steps`` during warmup),
    ``lr_max`` its running maximum and ``ckp1 = c_{k+1} = w_{k+1} / sum_i w_i`` with
    ``w = (k + 1)^r * lr_max^weight_lr_power`` (0 while every weight is 0). The group's ``k``,
    ``lr_max``, ``weight_sum`` and ``scheduled_lr`` are updated, as the reference library keeps them.
    """
    k = group["k"]
    warmup = group["warmup_steps"]
    lr = float(group["lr"]) * ((k + 1) / warmup if k < warmup else 1.0)
    group["scheduled_lr"] = lr
    lr_max = group["lr_max"] = max(lr, group["lr_max"])
    weight = (k + 1) ** group["r"] * lr_max ** group["weight_lr_power"]
    weight_sum = group["weight_sum"] = group["weight_sum"] + weight
    group["k"] = k + 1
    return lr, (weight / weight_sum if weight_sum != 0 else 0.0)


def schedule_free_adamw_update(
    y: Tensor, grad: Tensor, z: Tensor, exp_avg_sq: Tensor, *, lr: float, ckp1: float, step: int,
    beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    r"""One Schedule-Free AdamW step at ``y`` (the parameter in train mode), in place.

    .. math::
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\qquad
        u = \frac{g}{\sqrt{v / (1-\beta_2^t)} + \epsilon} + \lambda y,\\
        y \leftarrow (1-c)\,y + c\,z + \eta\,(\beta_1 (1-c) - 1)\,u,\qquad
        z \leftarrow z - \eta\,u

    which is :math:`z_{t+1} = z_t - \eta u`, :math:`x_{t+1} = (1-c) x_t + c z_{t+1}` and
    :math:`y_{t+1} = \beta_1 x_{t+1} + (1-\beta_1) z_{t+1}` with :math:`x` eliminated
    (``c`` is ``ckp1``, ``t`` is ``step``, weight decay is taken at ``y``; ``maximize`` negates ``g``).
    """
    if maximize:
        grad = -grad
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    update = grad / exp_avg_sq.div(1 - beta2 ** step).sqrt_().add_(eps)
    if weight_decay != 0:
        update.add_(y, alpha=weight_decay)
    y.lerp_(z, ckp1)
    y.add_(update, alpha=lr * (beta1 * (1 - ckp1) - 1))
    z.sub_(update, alpha=lr)


class AdamWScheduleFree(FlatOptimizer):
    r"""Schedule-Free AdamW (Defazio et al., 2024), the algorithm of ``schedulefree.AdamWScheduleFree``.

    .. math::
        y_t = (1-\beta_1) z_t + \beta_1 x_t,\quad
        z_{t+1} = z_t - \eta_t \Big(\frac{g(y_t)}{\sqrt{\hat v_t} + \epsilon} + \lambda y_t\Big),\quad
        x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}

    with :math:`c_{t+1} = w_{t+1} / \sum_{i \le t+1} w_i`, :math:`w_t = t^r\,\eta_{\max}^{p}`
    (``r``, ``weight_lr_power`` = :math:`p`, :math:`\eta_{\max}` the largest learning rate so far)
    and a linear warmup of :math:`\eta_t` over ``warmup_steps``. State: ``step``, ``z`` and
    ``exp_avg_sq``; each group keeps ``k``, ``lr_max``, ``weight_sum``, ``scheduled_lr`` and
    ``train_mode``. The parameter holds ``y`` in train mode (gradients are taken there) and the
    average ``x`` in eval mode: call :meth:`eval` before evaluating and :meth:`train` before
    training again. A new optimizer starts in train mode (``x = y = z`` until the first step, so
    both modes hold the same point; the reference library starts in eval mode and wants a
    ``train()`` call first). :meth:`step` in eval mode raises RuntimeError.
    Defaults as the reference: ``lr=0.0025``, ``betas=(0.9, 0.999)``, ``eps=1e-8``,
    ``weight_decay=0``, ``warmup_steps=0``, ``r=0``, ``weight_lr_power=2``. Extra options:
    ``maximize``, ``nonfinite``. No fused path: every step runs :func:`schedule_free_adamw_update`.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.AdamWScheduleFree(model.parameters(), lr=1e-2, warmup_steps=10)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()
        >>> opt.eval()  # the parameters now hold the average x
        >>> opt.train()  # and y again

    Reference: Defazio, Yang, Mehta, Mishchenko, Khaled and Cutkosky (2024), "The Road Less
    Scheduled", NeurIPS; github.com/facebookresearch/schedule_free.
    """

    state_keys = ("z", "exp_avg_sq")
    rule = None
    group_checks = (("lr", lr_value), ("betas", betas_value), ("eps", non_negative),
                    ("weight_decay", non_negative), ("warmup_steps", non_negative), ("r", non_negative),
                    ("weight_lr_power", non_negative), ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8, weight_decay: float = 0.0, warmup_steps: int = 0, r: float = 0.0,
        weight_lr_power: float = 2.0, *, maximize: bool = False, nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        defaults = dict(lr=lr, betas=check_betas(betas), eps=eps, weight_decay=weight_decay,
                        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power, k=0,
                        train_mode=True, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0,
                        maximize=maximize, nonfinite=nonfinite, impl=impl)
        self._ckp1: dict[int, tuple[float, float]] = {}
        super().__init__(params, defaults, options)

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` and ``exp_avg_sq`` zero, ``z`` a copy of the parameter (``z_1 = x_1 = y_1``)."""
        state["step"] = layout.fresh("step", param)
        state["z"] = layout.fresh("z", param).copy_(param.detach())
        state["exp_avg_sq"] = layout.fresh("exp_avg_sq", param)

    def update_params(self, group: Group, params: list[Tensor]) -> None:
        """Advance the group's averaging weights once, then step each parameter with a gradient."""
        if not group["train_mode"]:
            raise RuntimeError("AdamWScheduleFree.step called in eval mode (train_mode: False); "
                               "call optimizer.train() before training steps")
        self.__dict__.setdefault("_ckp1", {})[id(group)] = schedule_free_weights(group)
        super().update_params(group, params)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        lr, ckp1 = self._ckp1[id(group)]
        state["step"] += 1
        beta1, beta2 = group["betas"]
        y, grad, z, exp_avg_sq = real_views(param, grad, state["z"], state["exp_avg_sq"])
        schedule_free_adamw_update(y, grad, z, exp_avg_sq, lr=lr, ckp1=ckp1, step=group["k"], beta1=beta1,
                                   beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                                   maximize=group["maximize"])

    @torch.no_grad()
    def eval(self) -> None:
        """Move every parameter from ``y`` to the average ``x = (y - (1 - beta1) z) / beta1``."""
        self._switch(train=False)

    @torch.no_grad()
    def train(self) -> None:
        """Move every parameter from ``x`` back to ``y = beta1 x + (1 - beta1) z``."""
        self._switch(train=True)

    def _switch(self, train: bool) -> None:
        for group in self.param_groups:
            if group["train_mode"] == train:
                continue
            beta1 = group["betas"][0]
            for param in group["params"]:
                state = self.state.get(param)
                if state and "z" in state:
                    param_view, z = real_views(param, state["z"])
                    param_view.lerp_(z, 1 - beta1 if train else 1 - 1 / beta1)
            group["train_mode"] = train
