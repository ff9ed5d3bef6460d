"""Schedule-Free AdamW (Defazio et al., 2024): no learning-rate schedule, an online average instead.

Three sequences share one parameter: gradients are taken at ``y``, the base sequence ``z`` takes
AdamW steps, and ``x`` is the weighted average of the ``z`` iterates; ``y`` interpolates the two.
Only ``z`` (and the second moment) are kept in the state: the parameter itself holds ``y`` in train
mode and ``x`` in eval mode, and :meth:`AdamWScheduleFree.train` / :meth:`AdamWScheduleFree.eval`
move it from one to the other. The math, the schedule and the fused kernels are in
:mod:`inertia.optim.schedule_free_rule`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from inertia.checks import check_flag
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.fused_buckets import FusedBucket
from inertia.optim.fused_dispatch import GroupPlan
from inertia.optim.layout import GroupLayout
from inertia.optim.param_helpers import real_views
from inertia.optim.schedule_free_rule import (
    SCHEDULE_FREE_RULE,
    schedule_free_adamw_update,
    schedule_free_weights,
)
from inertia.optim.validation import betas_value, check_betas, lr_value, non_negative

__all__ = ["AdamWScheduleFree", "schedule_free_adamw_update", "schedule_free_weights"]


def flat_switchable(bucket: FusedBucket, state: Any) -> bool:
    """Whether the eval/train switch of ``bucket``'s parameters can be one op over its flat buffers: the
    parameters live in the flat parameter buffer and every ``z`` is its view of the flat ``z`` buffer."""
    flat, z_flat = bucket.param_flat, bucket.bucket.buffers.get("z")
    if not bucket.adopted or flat is None or z_flat is None or bucket.bucket.sharded:
        return False
    if list(map(Tensor.data_ptr, bucket.params)) != bucket.pointers:
        return False
    size = z_flat.element_size()
    for param, offset in zip(bucket.params, bucket.bucket.offsets, strict=True):
        z = state.get(param, {}).get("z")
        if z is None or z.data_ptr() != z_flat.data_ptr() + offset * size:
            return False
    return True


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
    ``maximize``, ``nonfinite``, ``impl``. The fused path runs one numba (CPU) or Triton (GPU) kernel over
    each flat bucket; the schedule (warmed-up lr, ``c_{t+1}``, bias correction) is computed on the host in
    float64 as the reference path computes it, and the two paths keep the same state.

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
    rule = SCHEDULE_FREE_RULE
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
        self._weights = (0.0, 0.0)  # (lr, ckp1) of the step being taken
        super().__init__(params, defaults, options)

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` and ``exp_avg_sq`` zero, ``z`` a copy of the parameter (``z_1 = x_1 = y_1``)."""
        state["step"] = layout.fresh("step", param)
        state["z"] = layout.fresh("z", param).copy_(param.detach())
        state["exp_avg_sq"] = layout.fresh("exp_avg_sq", param)

    def _plan(self, group: Group) -> GroupPlan | None:
        """Refuse a step in eval mode (before anything changes), then plan the group as every rule does."""
        if not group["train_mode"]:
            raise RuntimeError("AdamWScheduleFree.step called in eval mode (train_mode: False); "
                               "call optimizer.train() before training steps")
        return super()._plan(group)

    def update_params(self, group: Group, params: list[Tensor]) -> None:
        """Advance the group's averaging weights once, then step each parameter with a gradient."""
        self._advance(group)
        super().update_params(group, params)

    def _advance(self, group: Group) -> tuple[float, float]:
        """Advance the group's schedule by one step; keep and return its ``(lr, ckp1)``."""
        self._weights = schedule_free_weights(group)
        return self._weights

    def _apply_plan(self, group: Group, plan: GroupPlan) -> None:
        """Advance the schedule once, then step each bucket: fused with this step's ``(lr, ckp1)``, or on the
        reference path (also where its step count differs from the group's ``k``, which sets the bias
        correction on both paths)."""
        lr, ckp1 = self._advance(group)
        beta1, beta2 = group["betas"]
        hyper = SCHEDULE_FREE_RULE.Hyper(lr, ckp1, beta1, beta2, group["eps"], group["weight_decay"])
        for bucket, backend in plan.items:
            if backend is not None and bucket.done is not None and bucket.done + 1 == group["k"]:
                bucket.step(plan.spec, hyper, backend, plan.cuda_graph and backend == "triton")
                continue
            bucket.done = None  # stepped here: the fused path rechecks the state before its next step
            with torch.no_grad():
                super().update_params(group, bucket.params)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        lr, ckp1 = self._weights
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
            weight = 1 - beta1 if train else 1 - 1 / beta1
            for param in self._switch_flat(group, weight):
                state = self.state.get(param)
                if state and "z" in state:
                    master = state.get("master_param")  # precision="master": move the fp32 master, round the param
                    param_view, z = real_views(param if master is None else master, state["z"])
                    param_view.lerp_(z, weight)
                    if master is not None:
                        param.copy_(master)
            group["train_mode"] = train

    def _switch_flat(self, group: Group, weight: float) -> list[Tensor]:
        """Move the fused buckets of ``group`` with one ``lerp_`` over their flat buffers; return the
        parameters left to move one by one."""
        fused_group = self.fused_groups.get(id(group))
        if fused_group is None or not fused_group.current(group):
            return list(group["params"])
        rest: list[Tensor] = []
        for bucket in fused_group.buckets:
            if flat_switchable(bucket, self.state):
                bucket.param_flat.lerp_(bucket.bucket.buffers["z"], weight)
            else:
                rest += bucket.params
        return rest
