"""NAdam (Dozat, 2016): Adam with Nesterov momentum and a momentum schedule ``mu_t``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
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
from inertia.optim.layout import GroupLayout, scalar_dtype
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import betas_value, check_betas, lr_value, non_negative


def momentum_factor(step: float, beta1: float, momentum_decay: float) -> float:
    r""":math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\psi})`, in float64 as torch.optim computes it."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))


def nadam_update(
    param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, mu_product: Tensor, *, step: float,
    lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
    momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, maximize: bool = False,
    differentiable: bool = False,
) -> None:
    r"""One NAdam step (Dozat, 2016), in place; ``mu_product`` (a 0-d tensor) is multiplied by :math:`\mu_t`.

    .. math::
        \mu_t = \beta_1(1 - \tfrac12 0.96^{t\psi}),\quad
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\\
        p \leftarrow p - \eta\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i}\frac{g}{d}
            - \eta\frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i}\frac{m}{d},\qquad
        d = \sqrt{v/(1-\beta_2^t)} + \epsilon

    ``psi`` is ``momentum_decay``; ``weight_decay`` is L2, or decoupled (NAdamW):
    :math:`p \leftarrow p(1-\eta\lambda)` first. ``mu_product`` keeps its dtype's rounding, as torch's.
    ``differentiable``: torch.optim's differentiable form, the scales 0-d tensors computed from
    ``mu_product`` and applied to ``grad`` and ``exp_avg`` before the division (autograd records them).
    """
    grad = signed_decayed_grad(param, grad, lr=lr, weight_decay=weight_decay,
                               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
    bias_correction2 = 1 - beta2**step
    mu = momentum_factor(step, beta1, momentum_decay)
    mu_next = momentum_factor(step + 1, beta1, momentum_decay)
    mu_product *= mu
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = exp_avg_sq.div(bias_correction2).sqrt()
    if differentiable:
        denom = denom.add(eps)
        mu_product_next = mu_product * mu_next
        param.addcdiv_(grad * (-lr * (1.0 - mu) / (1.0 - mu_product)), denom)
        param.addcdiv_(exp_avg * (-lr * mu_next / (1.0 - mu_product_next)), denom)
        return
    product = mu_product.item()
    mu_product_next = product * mu_next
    denom.add_(eps)
    param.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - product))
    param.addcdiv_(exp_avg, denom, value=(-lr * mu_next) / (1.0 - mu_product_next))


class MuProducts:
    r""":math:`\prod_{i \le t} \mu_i` after ``t`` steps, rounded as a 0-d tensor of ``dtype`` multiplied in place
    (the reference's ``mu_product``). The last :attr:`KEEP` results per ``(beta1, momentum_decay, dtype)`` are
    kept, and a new one is multiplied out from the nearest earlier one: steps asked in increasing order (by
    any number of param groups) cost one multiply each."""

    KEEP = 8

    def __init__(self) -> None:
        self.known: dict[tuple[float, float, torch.dtype], dict[int, float]] = {}

    def after(self, steps: int, beta1: float, momentum_decay: float, dtype: torch.dtype) -> float:
        """The product after ``steps`` steps (1.0 after none)."""
        known = self.known.setdefault((beta1, momentum_decay, dtype), {0: 1.0})
        if steps in known:
            return known[steps]
        done = max(step for step in known if step <= steps)
        product = torch.tensor(known[done], dtype=dtype)
        for step in range(done + 1, steps + 1):
            product *= momentum_factor(float(step), beta1, momentum_decay)
        value = known[steps] = product.item()
        if len(known) > self.KEEP + 1:
            del known[next(step for step in known if step)]  # the oldest result (step 0 stays)
        return value


MU_PRODUCTS = MuProducts()


class NAdamRule(RuleInfo):
    """NAdam for the fused steps: options ``maximize``, ``wd_mode`` (0 none, 1 L2, 2 decoupled) and
    ``mu_float32`` (``mu_product`` kept in float32, torch's scalar dtype unless float64 is the default)."""

    name = "nadam"

    #: NAdam's hyperparameters, read from the param group on every step: Adam's and ``momentum_decay``.
    Hyper = NamedTuple("Hyper", [(name, float) for name in (*AdamRule.Hyper._fields, "momentum_decay")])

    group_keys = ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay", "maximize")
    state_slots = (("exp_avg",), ("exp_avg_sq",))
    numba_kernel = "nadam_step"
    triton_kernel = "nadam_kernel"
    derived_keys = ("mu_product",)
    triton_options = (("MAXIMIZE", "maximize"), ("WD_MODE", "wd_mode"), ("MU_F32", "mu_float32"))
    device_powers = ("beta1", "beta2")

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        wd = group["weight_decay"]
        return dict(maximize=group["maximize"], wd_mode=0 if wd == 0 else (2 if group["decoupled_weight_decay"] else 1),
                    mu_float32=scalar_dtype() == torch.float32, step_dependent=True)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    @staticmethod
    def mu_dtype(spec: StepSpec) -> torch.dtype:
        """The dtype of ``mu_product`` for ``spec``."""
        return torch.float32 if spec.flag("mu_float32") else torch.float64

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``one_minus_beta1, beta2, one_minus_beta2, wd, decay`` (1 - lr wd), ``bias_correction2``, and the
        coefficients ``grad_scale`` and ``avg_scale`` of g/d and m/d, from mu_product derived from ``step``."""
        lr, beta1, beta2, eps, wd, psi = hyper
        mu, mu_next = momentum_factor(float(step), beta1, psi), momentum_factor(float(step + 1), beta1, psi)
        product_tensor = torch.tensor(MU_PRODUCTS.after(step - 1, beta1, psi, self.mu_dtype(spec)),
                                      dtype=self.mu_dtype(spec))
        product_tensor *= mu
        product = product_tensor.item()
        return {"one_minus_beta1": 1 - beta1, "beta2": beta2, "one_minus_beta2": 1 - beta2, "eps": eps, "wd": wd,
                "decay": 1 - lr * wd, "bias_correction2": 1 - beta2**step,
                "grad_scale": -lr * (1.0 - mu) / (1.0 - product),
                "avg_scale": (-lr * mu_next) / (1.0 - product * mu_next)}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        names = ("one_minus_beta1", "beta2", "one_minus_beta2", "eps", "wd", "decay", "bias_correction2",
                 "grad_scale", "avg_scale")
        return (*(cast(s[k]) for k in names), cast(-1.0 if spec.flag("maximize") else 1.0), spec.flag("wd_mode"))

    def derived_state(self, spec: StepSpec, hyper: tuple[Any, ...], done: int, dtype: Any) -> dict[str, float]:
        """``mu_product`` after ``done`` steps, rounded as the reference path keeps it in ``dtype``."""
        values = dict(zip(self.Hyper._fields, hyper, strict=True))
        return {"mu_product": MU_PRODUCTS.after(done, values["beta1"], values["momentum_decay"], dtype)}

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        beta1, beta2 = group["betas"]
        dtype = scalar_dtype()
        mu_product = torch.tensor(MU_PRODUCTS.after(step - 1, beta1, group["momentum_decay"], dtype), dtype=dtype)
        nadam_update(buffers["param"], buffers["grad"], buffers["exp_avg"], buffers["exp_avg_sq"], mu_product,
                     step=step, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                     weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
                     decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])


NADAM_RULE = NAdamRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def nadam_step(p, g, m, v, omb1, beta2, omb2, eps, wd, decay, bc2, grad_scale, avg_scale, sign, wd_mode):
    """NAdam over flat buffers (the mu_t coefficients come from the host)."""
    for i in range(p.size):
        pi, gi, mi, vi = adam_moments_element(p[i], g[i], m[i], v[i], omb1, beta2, omb2, wd, decay, sign, wd_mode)
        d = np.sqrt(vi / bc2) + eps
        m[i] = mi
        v[i] = vi
        pi = pi + grad_scale * (gi / d)
        p[i] = pi + avg_scale * (mi / d)


@triton_source
def nadam_mu(t, beta1, psi):
    """mu_t = beta1 (1 - 0.96**(t psi) / 2), in float64."""
    return beta1 * (1.0 - 0.5 * tl.exp(t * psi * tl.log(t * 0.0 + 0.96)))


@triton_source
def nadam_times_mu(product, mu, MU_F32: tl.constexpr):
    """``product * mu`` rounded as the reference's 0-d tensor (float32 operands and product when MU_F32)."""
    if MU_F32:
        r = (product.to(tl.float32) * mu.to(tl.float32)).to(tl.float64)
    else:
        r = product * mu
    return r


@triton_source
def nadam_mu_product(t, slot_in, slot_out, beta1, psi, pid, MU_F32: tl.constexpr):
    """The product of mu_1..mu_t. Slot entry 3 keeps 1 - product (never 0 after a step); the 0 that the host
    writes when it rewrites the slot means: multiply it out again from step 1. Program 0 stores the new one."""
    kept = tl.load(slot_in + 3)
    product = 1.0 - kept
    if kept == 0.0:
        product = kept * 0.0 + 1.0
        for i in range(1, t.to(tl.int32)):
            product = nadam_times_mu(product, nadam_mu(kept + i, beta1, psi), MU_F32)
    product = nadam_times_mu(product, nadam_mu(t, beta1, psi), MU_F32)
    if pid == 0:
        tl.store(slot_out + 3, 1.0 - product)
    return product


@triton_source
def nadam_kernel(p_ptr, g_ptr, m_ptr, v_ptr, lr_ptr, beta1_ptr, beta2_ptr, eps_ptr, wd_ptr, psi_ptr,
                 slot_in, slot_out, n, MAXIMIZE: tl.constexpr, WD_MODE: tl.constexpr, MU_F32: tl.constexpr,
                 CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                 SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """NAdam; WD_MODE 1 = L2, 2 = decoupled; mu_t and their product from the device step slot."""
    pid, offs, mask = block_offsets(n, BLOCK)
    lr64 = tl.load(lr_ptr)
    beta1 = tl.load(beta1_ptr)
    beta2 = tl.load(beta2_ptr)
    wd64 = tl.load(wd_ptr)
    psi = tl.load(psi_ptr)
    t, _, pow2 = advance_step(slot_in, slot_out, beta1, beta2, pid)
    mu = nadam_mu(t, beta1, psi)
    mu_next = nadam_mu(t + 1.0, beta1, psi)
    product = nadam_mu_product(t, slot_in, slot_out, beta1, psi, pid, MU_F32)
    grad_scale = (-lr64 * (1.0 - mu) / (1.0 - product)).to(CT)
    avg_scale = ((-lr64 * mu_next) / (1.0 - product * mu_next)).to(CT)
    bc2 = (1.0 - pow2).to(CT)
    eps = tl.load(eps_ptr).to(CT)
    p, g, m, v = adam_moments(p_ptr, g_ptr, m_ptr, v_ptr, offs, mask, lr64, wd64, beta1, beta2, MAXIMIZE, WD_MODE, CT,
                              SR_STATE, rng_ptr)
    denom = ieee_sqrt(ieee_div(v, bc2, IEEE), IEEE) + eps
    p = p + grad_scale * ieee_div(g, denom, IEEE)
    p = p + avg_scale * ieee_div(m, denom, IEEE)
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


class NAdam(FlatOptimizer):
    r"""NAdam, a drop-in replacement for :class:`torch.optim.NAdam`.

    .. math::
        \mu_t = \beta_1\bigl(1 - \tfrac12\,0.96^{t\psi}\bigr),\quad
        p \leftarrow p - \eta\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i}\frac{g}{d}
            - \eta\frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i}\frac{m}{d},\quad
        d = \sqrt{v/(1-\beta_2^t)} + \epsilon

    Adam whose momentum looks one step ahead (Nesterov), with the momentum coefficient warmed up by
    the schedule :math:`\mu_t` (``momentum_decay`` is :math:`\psi`); :math:`m, v` are Adam's moments.
    ``decoupled_weight_decay=True`` is NAdamW. State keys ``step``, ``mu_product``, ``exp_avg`` and
    ``exp_avg_sq``, as in torch.optim; checkpoints load both ways. Extra options: ``nonfinite``, ``impl``.

    ``mu_product`` (:math:`\prod_{i\le t}\mu_i`) is a 0-d tensor per parameter, in torch's scalar dtype,
    outside the flat buffers. The reference path multiplies it in place as torch does. The fused path
    derives it on the host from the step count (it depends only on :math:`t`, :math:`\beta_1` and
    :math:`\psi`, so it is the same for every parameter of a bucket that took the same number of
    steps), rounded as the reference rounds it, and writes it into each parameter's state after the
    step, so both paths leave equal state dicts, as long as ``betas[0]`` and ``momentum_decay`` kept
    their values since step 1. The Triton kernel keeps the product on the device beside its step count.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.NAdam(model.parameters(), lr=2e-3)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    References: Dozat (2016), "Incorporating Nesterov Momentum into Adam" (ICLR workshop);
    Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization" (decoupled decay).
    """

    state_keys = ("exp_avg", "exp_avg_sq")
    rule = NADAM_RULE
    torch_group_flags = ("foreach", "capturable", "differentiable")
    group_checks = (("lr", lr_value), ("betas", betas_value), ("eps", non_negative), ("weight_decay", non_negative),
                    ("momentum_decay", non_negative), ("decoupled_weight_decay", check_flag),
                    ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
        nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        betas = check_betas(betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, nonfinite=nonfinite,
                        impl=impl)
        super().__init__(params, defaults, dict(options, foreach=foreach))

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` (0), ``mu_product`` (1, a 0-d tensor of its own), ``exp_avg`` and ``exp_avg_sq`` (zero views)."""
        state["step"] = layout.fresh("step", param)
        state["mu_product"] = torch.ones((), dtype=scalar_dtype())
        for key in self.state_keys:
            state[key] = layout.fresh(key, param)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """torch.optim's ``__setstate__`` (``load_state_dict`` ends with it); ``mu_product`` goes back to a
        0-d host tensor of torch's scalar dtype (torch.optim's loader casts it to the parameter's dtype, so
        that a resumed float64 run would round it differently from an uninterrupted one)."""
        super().__setstate__(state)
        for param_state in self.state.values():
            value = param_state.get("mu_product")
            if value is None:
                continue
            if not isinstance(value, Tensor):  # checkpoints of torch < 1.12 hold a Python number
                param_state["mu_product"] = torch.tensor(float(value), dtype=scalar_dtype())
            elif value.dtype != scalar_dtype() or value.device.type != "cpu" or value.dim() != 0:
                param_state["mu_product"] = value.detach().to(device="cpu", dtype=scalar_dtype()).reshape(())

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        beta1, beta2 = group["betas"]
        param, grad, exp_avg, exp_avg_sq = real_views(param, grad, state["exp_avg"], state["exp_avg_sq"])
        nadam_update(
            param, grad, exp_avg, exp_avg_sq, state["mu_product"], step=state["step"].item(), lr=group["lr"],
            beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            momentum_decay=group["momentum_decay"], decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"], differentiable=bool(group.get("differentiable")),
        )
