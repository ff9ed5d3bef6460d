"""Adamax (Kingma & Ba, 2015, section 7.1): Adam with an infinity norm in place of the squared-gradient cache."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inertia.checks import check_flag
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import signed_grad
from inertia.kernels.rule_info import RuleInfo, StepSpec
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    advance_step,
    block_offsets,
    ieee_div,
    load_param_grad,
    round_nearest_bf16,
    stochastic_round_bf16,
    store_param,
    store_rounded,
)
from inertia.optim.adam import AdamRule
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.layout import GroupLayout
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import betas_value, check_betas, lr_value, non_negative


def adamax_update(
    param: Tensor, grad: Tensor, exp_avg: Tensor, exp_inf: Tensor, *, step: float, lr: float,
    beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
    maximize: bool = False, differentiable: bool = False,
) -> None:
    r"""One Adamax step (Kingma & Ba, 2015, section 7.1), in place. ``step`` is :math:`t \geq 1`.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\qquad
        u \leftarrow \max(\beta_2 u,\ |g| + \epsilon),\qquad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{u}

    The exponentially weighted infinity norm :math:`u` needs no bias correction (it does not
    start biased towards zero the way a mean does); ``eps`` inside the max, as torch.optim.
    ``weight_decay`` is L2: :math:`g \leftarrow g + \lambda p`. ``differentiable``: the max is the
    ``amax`` of the two stacked, as torch.optim's differentiable path (``out=`` is not differentiable).
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    if differentiable:
        both = torch.cat([exp_inf.mul_(beta2).unsqueeze(0), grad.abs().add_(eps).unsqueeze_(0)], 0)
        exp_inf.copy_(torch.amax(both, 0, keepdim=False))
    else:
        torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)
    param.addcdiv_(exp_avg, exp_inf, value=-lr / (1 - beta1**step))


class AdamaxRule(RuleInfo):
    """Adamax for the fused steps: options ``maximize, weight_decay`` (every step depends on t)."""

    name = "adamax"

    Hyper = AdamRule.Hyper  # Adam's five hyperparameters: lr, beta1, beta2, eps, weight_decay

    group_keys = ("lr", "betas", "eps", "weight_decay", "maximize")
    state_slots = (("exp_avg",), ("exp_inf",))
    numba_kernel = "adamax_step"
    triton_kernel = "adamax_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"))
    device_powers = ("beta1", "beta2")

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0, step_dependent=True)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("exp_avg", "exp_inf")

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``one_minus_beta1, beta2, eps, wd`` and ``clr`` = lr / (1 - beta1**t)."""
        lr, beta1, beta2, eps, wd = hyper
        return {"one_minus_beta1": 1 - beta1, "beta2": beta2, "eps": eps, "wd": wd, "clr": lr / (1 - beta1**step)}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        scalars = (cast(s[k]) for k in ("one_minus_beta1", "beta2", "eps", "wd", "clr"))
        return (*scalars, cast(-1.0 if spec.flag("maximize") else 1.0), bool(spec.flag("weight_decay")))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        beta1, beta2 = group["betas"]
        adamax_update(buffers["param"], buffers["grad"], buffers["exp_avg"], buffers["exp_inf"], step=step,
                      lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                      weight_decay=group["weight_decay"], maximize=group["maximize"])


ADAMAX_RULE = AdamaxRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def adamax_step(p, g, m, u, omb1, beta2, eps, wd, clr, sign, use_wd):
    """Adamax over flat buffers."""
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        mi = m[i] + omb1 * (gi - m[i])
        ui = np.maximum(u[i] * beta2, np.abs(gi) + eps)
        m[i] = mi
        u[i] = ui
        p[i] = p[i] - clr * (mi / ui)


@triton_source
def adamax_kernel(p_ptr, g_ptr, m_ptr, u_ptr, lr_ptr, beta1_ptr, beta2_ptr, eps_ptr, wd_ptr, slot_in, slot_out, n,
                  MAXIMIZE: tl.constexpr, WD: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr,
                  BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                  SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """Adamax; clr = lr / (1 - beta1**t) from the device step slot."""
    pid, offs, mask = block_offsets(n, BLOCK)
    beta1 = tl.load(beta1_ptr)
    beta2 = tl.load(beta2_ptr)
    _, pow1, _ = advance_step(slot_in, slot_out, beta1, beta2, pid)
    clr = (tl.load(lr_ptr) / (1.0 - pow1)).to(CT)
    eps = tl.load(eps_ptr).to(CT)
    p, g = load_param_grad(p_ptr, g_ptr, wd_ptr, offs, mask, MAXIMIZE, WD, CT)
    m = tl.load(m_ptr + offs, mask=mask).to(CT)
    m = m + (1.0 - beta1).to(CT) * (g - m)
    u = tl.maximum(tl.load(u_ptr + offs, mask=mask).to(CT) * beta2.to(CT), tl.abs(g) + eps,
                   propagate_nan=tl.PropagateNan.ALL)
    store_rounded(m_ptr, offs, m, mask, SR_STATE, rng_ptr, 1)
    store_rounded(u_ptr, offs, u, mask, SR_STATE, rng_ptr, 2)
    p = p - clr * ieee_div(m, u, IEEE)
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


class Adamax(FlatOptimizer):
    r"""Adamax, a drop-in replacement for :class:`torch.optim.Adamax`.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        u \leftarrow \max(\beta_2 u, |g| + \epsilon),\quad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{u}

    Adam's second moment replaced by an exponentially weighted infinity norm: the step of each
    coordinate is bounded by :math:`\eta/(1-\beta_1^t)`. State keys ``step``, ``exp_avg`` and
    ``exp_inf``, as in torch.optim; checkpoints load both ways. Extra option: ``nonfinite``.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.Adamax(model.parameters(), lr=2e-3)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", section 7.1.
    """

    state_keys = ("exp_avg", "exp_inf")
    rule = ADAMAX_RULE
    torch_group_flags = ("foreach", "differentiable", "capturable")
    group_checks = (("lr", lr_value), ("betas", betas_value), ("eps", non_negative), ("weight_decay", non_negative),
                    ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8, weight_decay: float = 0.0, foreach: bool | None = None, *, maximize: bool = False,
        nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        betas = check_betas(betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, nonfinite=nonfinite,
                        impl=impl)
        super().__init__(params, defaults, dict(options, foreach=foreach))

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        beta1, beta2 = group["betas"]
        param, grad, exp_avg, exp_inf = real_views(param, grad, state["exp_avg"], state["exp_inf"])
        adamax_update(
            param, grad, exp_avg, exp_inf, step=state["step"].item(), lr=group["lr"], beta1=beta1, beta2=beta2,
            eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"],
            differentiable=bool(group.get("differentiable")),
        )
