"""Schedule-Free AdamW's math, its averaging schedule and its fused kernels (numba and Triton).

The optimizer class is :class:`inertia.optim.schedule_free.AdamWScheduleFree`. The group-level
schedule (warmed-up ``lr``, its running maximum ``lr_max``, the weight sum and the averaging weight
``c_{k+1}``) is computed on the host in float64 from the param group, as the reference library keeps
it; the kernels take the step's ``lr`` and ``ckp1`` as hyperparameters and do the elementwise
work (second moment, ``z`` and ``y``) in one pass over the flat buffers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from torch import Tensor

from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.rule_info import RuleInfo, StepSpec
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    advance_step,
    block_offsets,
    ieee_div,
    ieee_sqrt,
    round_nearest_bf16,
    stochastic_round_bf16,
    store_param,
    store_rounded,
)

__all__ = ["SCHEDULE_FREE_RULE", "ScheduleFreeRule", "next_schedule", "schedule_free_adamw_update",
           "schedule_free_weights"]


class Schedule(NamedTuple):
    """The schedule of one step: warmed-up ``lr``, averaging weight ``ckp1``, and the group's new running values."""

    lr: float
    ckp1: float
    lr_max: float
    weight_sum: float


def next_schedule(group: Mapping[str, Any]) -> Schedule:
    """The schedule of ``group``'s next step (step ``k + 1``), without changing the group.

    ``lr`` is the warmed-up learning rate (``lr * (k + 1) / warmup_steps`` during warmup), ``lr_max``
    its running maximum and ``ckp1 = c_{k+1} = w_{k+1} / sum_i w_i`` with
    ``w = (k + 1)^r * lr_max^weight_lr_power`` (0 while every weight is 0); all in float64.
    """
    k = group["k"]
    warmup = group["warmup_steps"]
    lr = float(group["lr"]) * ((k + 1) / warmup if k < warmup else 1.0)
    lr_max = max(lr, group["lr_max"])
    weight = (k + 1) ** group["r"] * lr_max ** group["weight_lr_power"]
    weight_sum = group["weight_sum"] + weight
    return Schedule(lr, weight / weight_sum if weight_sum != 0 else 0.0, lr_max, weight_sum)


def schedule_free_weights(group: dict[str, Any]) -> tuple[float, float]:
    """Advance ``group``'s schedule by one step (:func:`next_schedule`); return ``(lr, ckp1)`` for it.

    The group's ``k``, ``lr_max``, ``weight_sum`` and ``scheduled_lr`` are updated, as the reference
    library keeps them.
    """
    schedule = next_schedule(group)
    group["scheduled_lr"] = schedule.lr
    group["lr_max"] = schedule.lr_max
    group["weight_sum"] = schedule.weight_sum
    group["k"] += 1
    return schedule.lr, schedule.ckp1


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


class ScheduleFreeRule(RuleInfo):
    """Schedule-Free AdamW for the fused steps: options ``maximize, weight_decay`` (every step depends on t).

    Its ``Hyper`` holds the values of one step: ``lr`` is the warmed-up rate and ``ckp1`` the averaging
    weight of :func:`next_schedule`; :meth:`hyper` reads them for the group's next step, and the
    optimizer passes those of each step it takes (after advancing the group's schedule).
    """

    name = "schedule_free_adamw"

    #: One step's hyperparameters: the scheduled lr, the averaging weight, and AdamW's betas, eps and decay.
    Hyper = NamedTuple("Hyper", [(name, float) for name in ("lr", "ckp1", "beta1", "beta2", "eps", "weight_decay")])

    group_keys = ("lr", "betas", "eps", "weight_decay", "warmup_steps", "r", "weight_lr_power", "maximize")
    state_slots = (("z",), ("exp_avg_sq",))
    numba_kernel = "schedule_free_step"
    triton_kernel = "schedule_free_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"))
    device_powers = ("beta1", "beta2")

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0, step_dependent=True)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("z", "exp_avg_sq")

    def hyper(self, group: Mapping[str, Any]) -> tuple[Any, ...]:
        """The hyperparameters of the group's next step (its schedule is not advanced)."""
        schedule = next_schedule(group)
        beta1, beta2 = group["betas"]
        return self.Hyper(schedule.lr, schedule.ckp1, beta1, beta2, group["eps"], group["weight_decay"])

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``beta2, one_minus_beta2, bias_correction2`` (1 - beta2**t), ``eps, wd``, the lerp weights
        ``ckp1, one_minus_ckp1``, and the steps of y and z along the update: ``y_step`` =
        lr (beta1 (1 - ckp1) - 1) and ``z_step`` = lr."""
        lr, ckp1, beta1, beta2, eps, wd = hyper
        return {"beta2": beta2, "one_minus_beta2": 1 - beta2, "bias_correction2": 1 - beta2 ** step, "eps": eps,
                "wd": wd, "ckp1": ckp1, "one_minus_ckp1": 1 - ckp1, "y_step": lr * (beta1 * (1 - ckp1) - 1),
                "z_step": lr}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        names = ("beta2", "one_minus_beta2", "bias_correction2", "eps", "wd", "ckp1", "one_minus_ckp1", "y_step",
                 "z_step")
        return (*(cast(s[k]) for k in names), cast(-1.0 if spec.flag("maximize") else 1.0),
                bool(spec.flag("weight_decay")), bool(s["ckp1"] < 0.5))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        """One step from the group's next schedule (:meth:`hyper`); ``step`` sets the bias correction."""
        lr, ckp1, beta1, beta2, eps, wd = self.hyper(group)
        schedule_free_adamw_update(buffers["param"], buffers["grad"], buffers["z"], buffers["exp_avg_sq"], lr=lr,
                                   ckp1=ckp1, step=step, beta1=beta1, beta2=beta2, eps=eps, weight_decay=wd,
                                   maximize=group["maximize"])


SCHEDULE_FREE_RULE = ScheduleFreeRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def schedule_free_step(y, g, z, v, beta2, omb2, bc2, eps, wd, c, omc, y_step, z_step, sign, use_wd, small_c):
    """Schedule-Free AdamW over flat buffers (``y`` is the parameter); the lerp as torch's (by ``small_c``)."""
    for i in range(y.size):
        gi = g[i] * sign
        vi = v[i] * beta2 + omb2 * gi * gi
        ui = gi / (np.sqrt(vi / bc2) + eps)
        yi = y[i]
        if use_wd:
            ui = ui + wd * yi
        zi = z[i]
        yi = yi + c * (zi - yi) if small_c else zi - (zi - yi) * omc
        v[i] = vi
        y[i] = yi + y_step * ui
        z[i] = zi - z_step * ui


@triton_source
def schedule_free_kernel(p_ptr, g_ptr, z_ptr, v_ptr, lr_ptr, ckp1_ptr, beta1_ptr, beta2_ptr, eps_ptr, wd_ptr,
                         slot_in, slot_out, n, MAXIMIZE: tl.constexpr, WD: tl.constexpr, CT: tl.constexpr,
                         IEEE: tl.constexpr, BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                         SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """Schedule-Free AdamW; 1 - beta2**t from the device step slot, the rest from the step's hyperparameters."""
    pid, offs, mask = block_offsets(n, BLOCK)
    beta1 = tl.load(beta1_ptr)
    beta2 = tl.load(beta2_ptr)
    _, _, pow2 = advance_step(slot_in, slot_out, beta1, beta2, pid)
    lr = tl.load(lr_ptr)
    c = tl.load(ckp1_ptr)
    y_step = (lr * (beta1 * (1.0 - c) - 1.0)).to(CT)
    y = tl.load(p_ptr + offs, mask=mask).to(CT)
    g = tl.load(g_ptr + offs, mask=mask).to(CT)
    if MAXIMIZE:
        g = -g
    v = tl.load(v_ptr + offs, mask=mask).to(CT) * beta2.to(CT) + (1.0 - beta2).to(CT) * g * g
    store_rounded(v_ptr, offs, v, mask, SR_STATE, rng_ptr, 2)
    denom = ieee_sqrt(ieee_div(v, (1.0 - pow2).to(CT), IEEE), IEEE) + tl.load(eps_ptr).to(CT)
    u = ieee_div(g, denom, IEEE)
    if WD:
        u = u + tl.load(wd_ptr).to(CT) * y
    z = tl.load(z_ptr + offs, mask=mask).to(CT)
    diff = z - y
    y = tl.where(c < 0.5, y + c.to(CT) * diff, z - diff * (1.0 - c).to(CT))
    store_param(p_ptr, offs, (y + y_step * u), mask, SR_PARAM, rng_ptr, MASTER, out_ptr)
    store_rounded(z_ptr, offs, (z - lr.to(CT) * u), mask, SR_STATE, rng_ptr, 1)
