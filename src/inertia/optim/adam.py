"""Adam (Kingma & Ba, 2015): momentum plus an RMSprop cache, with bias correction; AdamW subclasses it
(:mod:`inertia.optim.adamw`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from inertia.checks import check_flag
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import adam_moments_element
from inertia.kernels.rule_info import RuleInfo, StepSpec, TorchFusedOp
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
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.layout import GroupLayout
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import betas_value, check_betas, lr_value, non_negative, one_of

#: Where ``eps`` goes: outside the square root (torch), inside it (optax ``eps_root``), or TF's "epsilon hat".
EPS_MODES = ("outside", "inside", "hat")


def signed_decayed_grad(param: Tensor, grad: Tensor, *, lr: float, weight_decay: float,
                        decoupled_weight_decay: bool, maximize: bool) -> Tensor:
    """The Adam family's first lines: the gradient negated to maximize, then L2 weight decay added to it,
    or decoupled decay applied to ``param`` in place (``p *= 1 - lr*wd``); returns the gradient to use."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param.mul_(1 - lr * weight_decay)
        else:
            grad = grad.add(param, alpha=weight_decay)
    return grad


def adam_update(
    param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, max_exp_avg_sq: Tensor | None, *,
    step: float | Tensor, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
    weight_decay: float = 0.0, decoupled_weight_decay: bool = False, amsgrad: bool = False,
    bias_correction: bool = True, maximize: bool = False, eps_mode: str = "outside", differentiable: bool = False,
) -> None:
    r"""One Adam step (Kingma & Ba, 2015), in place. ``step`` is :math:`t \geq 1`.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\qquad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    - ``bias_correction=False`` drops both :math:`1-\beta^t` factors: the notes'
      uncorrected Adam. Because :math:`m` and :math:`v` start at 0, its first update is
      :math:`\eta(1-\beta_1)/\sqrt{1-\beta_2} \approx 3.16\,\eta` per coordinate with the
      default betas, instead of :math:`\eta`: the first steps are too large.
    - ``amsgrad`` (Reddi et al., 2018) uses the running maximum of :math:`v`.
    - ``weight_decay``: L2 (added to :math:`g`), or decoupled (AdamW, Loshchilov &
      Hutter, 2019): :math:`p \leftarrow p(1 - \eta\lambda)` before the update.
    - ``eps_mode``: ``"outside"`` as above (torch); ``"inside"``:
      :math:`\hat m / \sqrt{\hat v + \epsilon}` (optax's ``eps_root``);
      ``"hat"``: TF/Keras "epsilon hat",
      :math:`p \leftarrow p - \eta\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\frac{m}{\sqrt{v}+\epsilon}`.
    - ``differentiable``: autograd-safe operations (no in-place change of a tensor autograd saved); with
      torch's bias correction and ``eps`` outside, torch.optim's differentiable form, whose bias
      corrections are 0-d tensors of ``step``'s dtype (``step`` is then the step tensor).
    """
    grad = signed_decayed_grad(param, grad, lr=lr, weight_decay=weight_decay,
                               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    second_moment = exp_avg_sq
    if amsgrad:
        assert max_exp_avg_sq is not None, "amsgrad needs max_exp_avg_sq"
        running_max = max_exp_avg_sq.clone() if differentiable else max_exp_avg_sq
        max_exp_avg_sq.copy_(running_max.maximum(exp_avg_sq))
        second_moment = max_exp_avg_sq
    if differentiable and bias_correction and eps_mode == "outside":
        _differentiable_adam_tail(param, exp_avg, second_moment, step, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        return
    if differentiable:
        exp_avg, step = exp_avg.clone(), float(step)
    if bias_correction:
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
    else:
        bias_correction1 = bias_correction2 = 1.0
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    if eps_mode == "hat":
        denom = second_moment.sqrt() + eps
        step_size = step_size * bias_correction2_sqrt
    elif eps_mode == "inside":
        denom = (second_moment / bias_correction2).add_(eps).sqrt_()
    else:
        denom = (second_moment.sqrt() / bias_correction2_sqrt).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-step_size)


def _differentiable_adam_tail(param: Tensor, exp_avg: Tensor, second_moment: Tensor, step: float | Tensor, *,
                              lr: float, beta1: float, beta2: float, eps: float) -> None:
    """torch.optim's differentiable Adam update of ``param``: 0-d tensor bias corrections folded into the
    denominator, ``exp_avg`` cloned (autograd saves it, and the next step changes it in place)."""
    step = step if isinstance(step, Tensor) else torch.tensor(float(step), dtype=torch.float64)
    step_size_neg = (lr / (1 - beta1**step)).neg()
    bias_correction2_sqrt = (1 - beta2**step).sqrt()
    denom = (second_moment.sqrt() / (bias_correction2_sqrt * step_size_neg)).add_(eps / step_size_neg)
    param.addcdiv_(exp_avg.clone(), denom)


class AdamRule(RuleInfo):
    """Adam for the fused steps: options ``maximize``, ``wd_mode`` (0 none, 1 L2, 2 decoupled),
    ``amsgrad, bias_correction``, ``eps_mode`` (the index of :data:`EPS_MODES`) and
    ``step_dependent`` (= bias_correction)."""

    name = "adam"

    class Hyper(NamedTuple):
        """Adam's hyperparameters, read from the param group on every step."""

        lr: float
        beta1: float
        beta2: float
        eps: float
        weight_decay: float

    group_keys = ("lr", "betas", "eps", "weight_decay", "amsgrad", "bias_correction", "decoupled_weight_decay",
                  "maximize", "eps_mode")
    state_slots = (("exp_avg",), ("exp_avg_sq",), ("max_exp_avg_sq",))
    cpu_backend = "torch"
    numba_kernel = "adam_step"
    triton_kernel = "adam_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD_MODE", "wd_mode"), ("AMSGRAD", "amsgrad"),
                      ("BIAS_CORRECTION", "bias_correction"), ("EPS_MODE", "eps_mode"))
    device_powers = ("beta1", "beta2")

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        wd = group["weight_decay"]
        bias_correction = group.get("bias_correction", True)
        return dict(maximize=group["maximize"],
                    wd_mode=0 if wd == 0 else (2 if group["decoupled_weight_decay"] else 1),
                    amsgrad=group["amsgrad"], bias_correction=bias_correction,
                    eps_mode=EPS_MODES.index(group.get("eps_mode", "outside")), step_dependent=bias_correction)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if spec.flag("amsgrad") else ())

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay`` (1 - lr wd), ``step_size`` and
        ``denom_scale`` (sqrt(bias_correction2), or bias_correction2 itself with eps inside the sqrt)."""
        lr, beta1, beta2, eps, wd = hyper
        if spec.flag("bias_correction"):
            bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
        else:
            bias_correction1 = bias_correction2 = 1.0
        step_size = lr / bias_correction1
        eps_mode = EPS_MODES[spec.flag("eps_mode")]
        if eps_mode == "inside":
            denom_scale = bias_correction2
        elif eps_mode == "hat":
            step_size, denom_scale = step_size * bias_correction2**0.5, 1.0
        else:
            denom_scale = bias_correction2**0.5
        return {"one_minus_beta1": 1 - beta1, "beta2": beta2, "one_minus_beta2": 1 - beta2, "eps": eps,
                "wd": wd, "decay": 1 - lr * wd, "step_size": step_size, "denom_scale": denom_scale}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        names = ("one_minus_beta1", "beta2", "one_minus_beta2", "eps", "wd", "decay", "step_size", "denom_scale")
        return (*(cast(s[k]) for k in names), cast(-1.0 if spec.flag("maximize") else 1.0), spec.flag("wd_mode"),
                bool(spec.flag("amsgrad")), EPS_MODES[spec.flag("eps_mode")] == "inside")

    def torch_op(self, spec: StepSpec) -> TorchFusedOp | None:
        if not spec.flag("bias_correction") or EPS_MODES[spec.flag("eps_mode")] != "outside":
            return None
        return TorchFusedOp("_fused_adamw_" if spec.flag("wd_mode") == 2 else "_fused_adam_",
                            ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                            options=(("amsgrad", bool(spec.flag("amsgrad"))), ("maximize", bool(spec.flag("maximize")))))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        beta1, beta2 = group["betas"]
        adam_update(buffers["param"], buffers["grad"], buffers["exp_avg"], buffers["exp_avg_sq"],
                    buffers.get("max_exp_avg_sq"), step=step, lr=group["lr"], beta1=beta1, beta2=beta2,
                    eps=group["eps"], weight_decay=group["weight_decay"],
                    decoupled_weight_decay=group["decoupled_weight_decay"], amsgrad=group["amsgrad"],
                    bias_correction=group["bias_correction"], maximize=group["maximize"], eps_mode=group["eps_mode"])


ADAM_RULE = AdamRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy")
def _adam_denom(s, eps, scale, eps_inside):
    return np.sqrt(s / scale + eps) if eps_inside else np.sqrt(s) / scale + eps


@numba_source(error_model="numpy")
def _adam_loop(p, g, m, v, omb1, beta2, omb2, eps, wd, decay, step_size, scale, sign, wd_mode, eps_inside):
    for i in range(p.size):
        pi, gi, mi, vi = adam_moments_element(p[i], g[i], m[i], v[i], omb1, beta2, omb2, wd, decay, sign, wd_mode)
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * (mi / _adam_denom(vi, eps, scale, eps_inside))


@numba_source(error_model="numpy")
def _adam_amsgrad_loop(p, g, m, v, vmax, omb1, beta2, omb2, eps, wd, decay, step_size, scale, sign, wd_mode,
                       eps_inside):
    for i in range(p.size):
        pi, gi, mi, vi = adam_moments_element(p[i], g[i], m[i], v[i], omb1, beta2, omb2, wd, decay, sign, wd_mode)
        top = np.maximum(vmax[i], vi)
        m[i] = mi
        v[i] = vi
        vmax[i] = top
        p[i] = pi - step_size * (mi / _adam_denom(top, eps, scale, eps_inside))


@numba_source(error_model="numpy", nogil=True)
def adam_step(p, g, m, v, vmax, omb1, beta2, omb2, eps, wd, decay, step_size, scale, sign, wd_mode, amsgrad,
              eps_inside):
    """Adam/AdamW over flat buffers (``vmax``: a stand-in, untouched, unless amsgrad)."""
    if amsgrad:
        _adam_amsgrad_loop(p, g, m, v, vmax, omb1, beta2, omb2, eps, wd, decay,
                           step_size, scale, sign, wd_mode, eps_inside)
    else:
        _adam_loop(p, g, m, v, omb1, beta2, omb2, eps, wd, decay, step_size, scale, sign, wd_mode, eps_inside)


@triton_source
def adam_kernel(p_ptr, g_ptr, m_ptr, v_ptr, vmax_ptr, lr_ptr, beta1_ptr, beta2_ptr, eps_ptr, wd_ptr,
                slot_in, slot_out, n,
                MAXIMIZE: tl.constexpr, WD_MODE: tl.constexpr, AMSGRAD: tl.constexpr,
                BIAS_CORRECTION: tl.constexpr, EPS_MODE: tl.constexpr,
                CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """Adam/AdamW; WD_MODE 1 = L2, 2 = decoupled; EPS_MODE 0 = outside the sqrt (torch),
    1 = inside (optax eps_root), 2 = TF's epsilon hat."""
    pid, offs, mask = block_offsets(n, BLOCK)
    lr64 = tl.load(lr_ptr)
    beta1 = tl.load(beta1_ptr)
    beta2 = tl.load(beta2_ptr)
    wd64 = tl.load(wd_ptr)
    _, pow1, pow2 = advance_step(slot_in, slot_out, beta1, beta2, pid)
    if BIAS_CORRECTION:
        bc1 = 1.0 - pow1
        bc2 = 1.0 - pow2
    else:
        bc1 = pow1 * 0.0 + 1.0
        bc2 = pow2 * 0.0 + 1.0
    step_size = lr64 / bc1
    if EPS_MODE == 1:
        scale = bc2
    elif EPS_MODE == 2:
        step_size = step_size * tl.sqrt(bc2)
        scale = bc2 * 0.0 + 1.0
    else:
        scale = tl.sqrt(bc2)
    eps = tl.load(eps_ptr).to(CT)
    p, g, m, v = adam_moments(p_ptr, g_ptr, m_ptr, v_ptr, offs, mask, lr64, wd64, beta1, beta2, MAXIMIZE, WD_MODE, CT,
                              SR_STATE, rng_ptr)
    if AMSGRAD:
        v = tl.maximum(tl.load(vmax_ptr + offs, mask=mask).to(CT), v, propagate_nan=tl.PropagateNan.ALL)
        store_rounded(vmax_ptr, offs, v, mask, SR_STATE, rng_ptr, 3)
    if EPS_MODE == 1:
        denom = ieee_sqrt(ieee_div(v, scale.to(CT), IEEE) + eps, IEEE)
    else:
        denom = ieee_div(ieee_sqrt(v, IEEE), scale.to(CT), IEEE) + eps
    p = p - step_size.to(CT) * ieee_div(m, denom, IEEE)
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


class Adam(FlatOptimizer):
    r"""Adam, a drop-in replacement for :class:`torch.optim.Adam`.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    Momentum (:math:`m`) plus an RMSprop cache (:math:`v`); the bias correction keeps
    the first steps from being too large while :math:`m, v` are still near their zero
    start. State keys ``step``, ``exp_avg``, ``exp_avg_sq`` and ``max_exp_avg_sq``
    (amsgrad), as in torch.optim; checkpoints load both ways.

    Extra options:

    - ``bias_correction=False``: the notes' uncorrected Adam (first update about
      :math:`3.16\eta` per coordinate with the default betas).
    - ``eps_mode``: ``"outside"`` (torch, default), ``"inside"`` (optax ``eps_root``:
      :math:`\hat m/\sqrt{\hat v+\epsilon}`) or ``"hat"`` (TF/Keras epsilon hat).
    - ``decoupled_weight_decay``: AdamW's decay, see :class:`AdamW`.
    - ``nonfinite``: ``"ignore"`` | ``"raise"`` | ``"skip"``.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.Adam(model.parameters(), lr=1e-3)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    References: Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization";
    Reddi, Kale & Kumar (2018), "On the Convergence of Adam and Beyond" (amsgrad).
    """

    state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    rule = ADAM_RULE
    torch_group_flags = ("foreach", "capturable", "differentiable", "fused")
    group_checks = (("lr", lr_value), ("betas", betas_value), ("eps", non_negative), ("weight_decay", non_negative),
                    ("eps_mode", one_of(EPS_MODES)), ("amsgrad", check_flag), ("bias_correction", check_flag),
                    ("decoupled_weight_decay", check_flag), ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, bias_correction: bool = True,
        decoupled_weight_decay: bool = False, maximize: bool = False, *, eps_mode: str = "outside",
        nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        betas = check_betas(betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        bias_correction=bias_correction, decoupled_weight_decay=decoupled_weight_decay,
                        maximize=maximize, eps_mode=eps_mode, nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, options)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if isinstance(group["lr"], Tensor) and group.get("foreach") and not group.get("capturable"):
            raise ValueError(f"Invalid lr: {group['lr']!r} (a Tensor lr with foreach=True needs capturable=True, "
                             "as torch.optim.Adam has it)")

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        beta1, beta2 = group["betas"]
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq = real_views(
            param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"))
        differentiable = bool(group.get("differentiable"))
        adam_update(
            param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq,
            step=state["step"] if differentiable else state["step"].item(), lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], decoupled_weight_decay=group["decoupled_weight_decay"],
            amsgrad=group["amsgrad"], bias_correction=group["bias_correction"],
            maximize=group["maximize"], eps_mode=group["eps_mode"], differentiable=differentiable,
        )
