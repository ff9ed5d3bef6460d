"""RAdam (Liu et al., 2020): Adam whose adaptive step is switched on, and rectified, once the variance of the
adaptive learning rate is tractable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from torch import Tensor

from inertia.checks import check_flag
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import adam_moments_element
from inertia.kernels.rule_info import RuleInfo, StepSpec
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    adam_moments,
    advance_step,
    block_offsets,
    ieee_div,
    ieee_sqrt,
    round_nearest_bf16,
    stochastic_round_bf16,
    store_param,
    store_rounded,
)
from inertia.optim.adam import AdamRule, signed_decayed_grad
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.layout import GroupLayout
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import betas_value, check_betas, lr_value, non_negative

#: The rectified (adaptive) update is taken once the SMA length rho_t exceeds this, as torch.optim.
RHO_THRESHOLD = 5.0


def radam_rectification(step: float, beta2: float) -> tuple[float, float]:
    r"""``(rho_t, r_t)``: the length of the approximated simple moving average and the rectification term
    :math:`r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}`
    (NaN where :math:`\rho_t \le 4`, where no rectified step is taken), in float64 as torch.optim computes them."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / (1 - beta2**step)
    square = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    return rho_t, square**0.5 if square >= 0 else float("nan")


def radam_update(
    param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, *, step: float, lr: float,
    beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False, maximize: bool = False, differentiable: bool = False,
) -> None:
    r"""One RAdam step (Liu et al., 2020), in place. ``step`` is :math:`t \geq 1`.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        \hat m = \frac{m}{1-\beta_1^t},\\
        p \leftarrow p - \eta\,\hat m\, r_t \frac{\sqrt{1-\beta_2^t}}{\sqrt{v}+\epsilon}
        \ \text{if}\ \rho_t > 5,\ \text{else}\ p \leftarrow p - \eta\,\hat m

    with :math:`\rho_\infty = 2/(1-\beta_2) - 1`, :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)` and
    :math:`r_t` of :func:`radam_rectification`. ``weight_decay`` is L2, or decoupled:
    :math:`p \leftarrow p(1-\eta\lambda)` first. ``differentiable``: ``eps`` is added out of place
    (autograd saves the square root's output).
    """
    grad = signed_decayed_grad(param, grad, lr=lr, weight_decay=weight_decay,
                               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    bias_corrected_exp_avg = exp_avg / bias_correction1
    rho_t, rect = radam_rectification(step, beta2)
    if rho_t > RHO_THRESHOLD:
        root = exp_avg_sq.sqrt()
        adaptive_lr = (bias_correction2**0.5) / (root.add(eps) if differentiable else root.add_(eps))
        param.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
    else:
        param.add_(bias_corrected_exp_avg * lr, alpha=-1.0)


class RAdamRule(RuleInfo):
    """RAdam for the fused steps: options ``maximize`` and ``wd_mode`` (0 none, 1 L2, 2 decoupled); whether a
    step is rectified (rho_t > 5) is a per-step decision on the host (numba: a flag) or from the device step
    slot (Triton)."""

    name = "radam"

    Hyper = AdamRule.Hyper  # Adam's five hyperparameters: lr, beta1, beta2, eps, weight_decay

    group_keys = ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "maximize")
    state_slots = (("exp_avg",), ("exp_avg_sq",))
    numba_kernel = "radam_step"
    triton_kernel = "radam_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD_MODE", "wd_mode"))
    device_powers = ("beta1", "beta2")

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        wd = group["weight_decay"]
        return dict(maximize=group["maximize"], wd_mode=0 if wd == 0 else (2 if group["decoupled_weight_decay"] else 1),
                    step_dependent=True)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay`` (1 - lr wd), ``lr``,
        ``bias_correction1``, ``sqrt_bias_correction2``, ``rect`` (r_t) and ``rectified`` (1.0 if rho_t > 5)."""
        lr, beta1, beta2, eps, wd = hyper
        rho_t, rect = radam_rectification(float(step), beta2)
        return {"one_minus_beta1": 1 - beta1, "beta2": beta2, "one_minus_beta2": 1 - beta2, "eps": eps, "wd": wd,
                "decay": 1 - lr * wd, "lr": lr, "bias_correction1": 1 - beta1**step,
                "sqrt_bias_correction2": (1 - beta2**step) ** 0.5, "rect": rect,
                "rectified": 1.0 if rho_t > RHO_THRESHOLD else 0.0}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        names = ("one_minus_beta1", "beta2", "one_minus_beta2", "eps", "wd", "decay", "lr", "bias_correction1",
                 "sqrt_bias_correction2")
        rect = cast(s["rect"]) if s["rectified"] else cast(0.0)
        return (*(cast(s[k]) for k in names), rect, cast(-1.0 if spec.flag("maximize") else 1.0),
                spec.flag("wd_mode"), bool(s["rectified"]))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        beta1, beta2 = group["betas"]
        radam_update(buffers["param"], buffers["grad"], buffers["exp_avg"], buffers["exp_avg_sq"], step=step,
                     lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                     decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])


RADAM_RULE = RAdamRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def radam_step(p, g, m, v, omb1, beta2, omb2, eps, wd, decay, lr, bc1, sqrt_bc2, rect, sign, wd_mode, rectified):
    """RAdam over flat buffers; ``rectified``: this step takes the rectified adaptive update (rho_t > 5)."""
    for i in range(p.size):
        pi, gi, mi, vi = adam_moments_element(p[i], g[i], m[i], v[i], omb1, beta2, omb2, wd, decay, sign, wd_mode)
        m[i] = mi
        v[i] = vi
        update = mi / bc1 * lr
        if rectified:
            update = update * (sqrt_bc2 / (np.sqrt(vi) + eps)) * rect
        p[i] = pi - update


@triton_source
def radam_kernel(p_ptr, g_ptr, m_ptr, v_ptr, lr_ptr, beta1_ptr, beta2_ptr, eps_ptr, wd_ptr, slot_in, slot_out, n,
                 MAXIMIZE: tl.constexpr, WD_MODE: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr,
                 BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                 SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """RAdam; WD_MODE 1 = L2, 2 = decoupled; rho_t, r_t and the rho_t > 5 decision from the device step slot."""
    pid, offs, mask = block_offsets(n, BLOCK)
    lr64 = tl.load(lr_ptr)
    beta1 = tl.load(beta1_ptr)
    beta2 = tl.load(beta2_ptr)
    wd64 = tl.load(wd_ptr)
    t, pow1, pow2 = advance_step(slot_in, slot_out, beta1, beta2, pid)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * t * pow2 / (1.0 - pow2)
    rectified = rho_t > 5.0
    rect = tl.sqrt(tl.abs((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)))
    bc1 = (1.0 - pow1).to(CT)
    sqrt_bc2 = tl.sqrt(1.0 - pow2).to(CT)
    eps = tl.load(eps_ptr).to(CT)
    p, g, m, v = adam_moments(p_ptr, g_ptr, m_ptr, v_ptr, offs, mask, lr64, wd64, beta1, beta2, MAXIMIZE, WD_MODE, CT,
                              SR_STATE, rng_ptr)
    update = ieee_div(m, bc1, IEEE) * lr64.to(CT)
    adaptive = ieee_div(tl.zeros_like(v) + sqrt_bc2, ieee_sqrt(v, IEEE) + eps, IEEE)
    update = tl.where(rectified, update * adaptive * rect.to(CT), update)
    store_param(p_ptr, offs, (p - update), mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


class RAdam(FlatOptimizer):
    r"""RAdam, a drop-in replacement for :class:`torch.optim.RAdam`.

    .. math::
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\quad
        p \leftarrow p - \eta\,\frac{m}{1-\beta_1^t}\, r_t\, \frac{\sqrt{1-\beta_2^t}}{\sqrt{v}+\epsilon}
        \ \ (\rho_t > 5),\quad\text{else}\ \ p \leftarrow p - \eta\,\frac{m}{1-\beta_1^t}

    Adam's adaptive step has a variance that diverges in the first steps (few squared gradients
    averaged); RAdam takes plain bias-corrected momentum steps until the approximated SMA length
    :math:`\rho_t` exceeds 5, then the adaptive step times the rectification :math:`r_t`
    (:func:`radam_rectification`), which tends to 1. Which of the two a step takes depends only on
    :math:`t` and :math:`\beta_2`: the fused kernels take it as a flag (numba) or decide from the device
    step count (Triton). ``decoupled_weight_decay=True`` decays as AdamW. State keys ``step``,
    ``exp_avg`` and ``exp_avg_sq``, as in torch.optim; checkpoints load both ways. Extra options:
    ``nonfinite``, ``impl``.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.RAdam(model.parameters(), lr=1e-3)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Liu, Jiang, He, Chen, Liu, Gao & Han (2020), "On the Variance of the Adaptive Learning
    Rate and Beyond" (ICLR).
    """

    state_keys = ("exp_avg", "exp_avg_sq")
    rule = RADAM_RULE
    torch_group_flags = ("foreach", "capturable", "differentiable")
    group_checks = (("lr", lr_value), ("betas", betas_value), ("eps", non_negative), ("weight_decay", non_negative),
                    ("decoupled_weight_decay", check_flag), ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
        foreach: bool | None = None, maximize: bool = False, nonfinite: str = "ignore", impl: str = "auto",
        **options: Any,
    ) -> None:
        betas = check_betas(betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, nonfinite=nonfinite,
                        impl=impl)
        super().__init__(params, defaults, dict(options, foreach=foreach))

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        beta1, beta2 = group["betas"]
        param, grad, exp_avg, exp_avg_sq = real_views(param, grad, state["exp_avg"], state["exp_avg_sq"])
        radam_update(
            param, grad, exp_avg, exp_avg_sq, step=state["step"].item(), lr=group["lr"], beta1=beta1, beta2=beta2,
            eps=group["eps"], weight_decay=group["weight_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"],
            differentiable=bool(group.get("differentiable")),
        )
