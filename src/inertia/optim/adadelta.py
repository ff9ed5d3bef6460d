"""Adadelta (Zeiler, 2012): RMSprop's step rescaled by a running RMS of past updates, so units match."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
from torch import Tensor

from inertia.checks import check_flag
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import signed_grad
from inertia.kernels.rule_info import RuleInfo, StepSpec
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    advance_step,
    block_offsets,
    ieee_div,
    ieee_sqrt,
    load_param_grad,
    round_nearest_bf16,
    stochastic_round_bf16,
    store_param,
    store_rounded,
)
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.layout import GroupLayout
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import lr_value, non_negative, probability


def adadelta_update(
    param: Tensor, grad: Tensor, square_avg: Tensor, acc_delta: Tensor, *, lr: float = 1.0, rho: float = 0.9,
    eps: float = 1e-6, weight_decay: float = 0.0, maximize: bool = False, differentiable: bool = False,
) -> None:
    r"""One Adadelta step (Zeiler, 2012, Algorithm 1), in place.

    .. math::
        s \leftarrow \rho s + (1-\rho) g^2,\qquad
        \Delta = \frac{\sqrt{d + \epsilon}}{\sqrt{s + \epsilon}}\, g,\qquad
        d \leftarrow \rho d + (1-\rho) \Delta^2,\qquad
        p \leftarrow p - \eta \Delta

    ``weight_decay`` is L2: :math:`g \leftarrow g + \lambda p`. ``differentiable``: the square root is
    cloned before it is scaled in place (autograd saves it).
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
    std = square_avg.add(eps).sqrt_()
    delta = acc_delta.add(eps).sqrt_()
    if differentiable:
        delta = delta.clone()
    delta.div_(std).mul_(grad)
    acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
    param.add_(delta, alpha=-lr)


class AdadeltaRule(RuleInfo):
    """Adadelta for the fused steps: options ``maximize, weight_decay`` (no step dependence)."""

    name = "adadelta"

    class Hyper(NamedTuple):
        """Adadelta's hyperparameters, read from the param group on every step."""

        lr: float
        rho: float
        eps: float
        weight_decay: float

    group_keys = ("lr", "rho", "eps", "weight_decay", "maximize")
    state_slots = (("square_avg",), ("acc_delta",))
    numba_kernel = "adadelta_step"
    triton_kernel = "adadelta_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"))

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0, step_dependent=False)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("square_avg", "acc_delta")

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``lr, rho, one_minus_rho, eps, wd``."""
        lr, rho, eps, wd = hyper
        return {"lr": lr, "rho": rho, "one_minus_rho": 1 - rho, "eps": eps, "wd": wd}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        scalars = (cast(s[k]) for k in ("lr", "rho", "one_minus_rho", "eps"))
        # With weight decay, wd in float64: g + wd*p is formed in float64 (it may cancel, and Adadelta's small
        # state keeps the error); without it, wd in the buffers' type, so the element math stays in that type.
        wd = float(s["wd"]) if spec.flag("weight_decay") else cast(0.0)
        return (*scalars, wd, cast(-1.0 if spec.flag("maximize") else 1.0), bool(spec.flag("weight_decay")))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        adadelta_update(buffers["param"], buffers["grad"], buffers["square_avg"], buffers["acc_delta"],
                        lr=group["lr"], rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                        maximize=group["maximize"])


ADADELTA_RULE = AdadeltaRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def adadelta_step(p, g, sq, acc, lr, rho, omr, eps, wd, sign, use_wd):
    """Adadelta over flat buffers (``wd`` is float64, so with it the element math runs in float64)."""
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        si = sq[i] * rho + omr * gi * gi
        di = np.sqrt(acc[i] + eps) / np.sqrt(si + eps) * gi
        sq[i] = si
        acc[i] = acc[i] * rho + omr * di * di
        p[i] = p[i] - lr * di


@triton_source
def adadelta_kernel(p_ptr, g_ptr, sq_ptr, acc_ptr, lr_ptr, rho_ptr, eps_ptr, wd_ptr, slot_in, slot_out, n,
                    MAXIMIZE: tl.constexpr, WD: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr,
                    BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                    SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """Adadelta."""
    pid, offs, mask = block_offsets(n, BLOCK)
    advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    lr = tl.load(lr_ptr).to(CT)
    rho64 = tl.load(rho_ptr)
    rho = rho64.to(CT)
    one_minus_rho = (1.0 - rho64).to(CT)
    eps = tl.load(eps_ptr).to(CT)
    p, g = load_param_grad(p_ptr, g_ptr, wd_ptr, offs, mask, MAXIMIZE, False, CT)
    if WD:  # g + wd*p in float64, rounded once: it may cancel, and the small state keeps the error
        g = (g.to(tl.float64) + tl.load(wd_ptr) * p.to(tl.float64)).to(CT)
    sq = tl.load(sq_ptr + offs, mask=mask).to(CT) * rho + one_minus_rho * g * g
    acc = tl.load(acc_ptr + offs, mask=mask).to(CT)
    delta = ieee_div(ieee_sqrt(acc + eps, IEEE), ieee_sqrt(sq + eps, IEEE), IEEE) * g
    acc = acc * rho + one_minus_rho * delta * delta
    store_rounded(sq_ptr, offs, sq, mask, SR_STATE, rng_ptr, 1)
    store_rounded(acc_ptr, offs, acc, mask, SR_STATE, rng_ptr, 2)
    p = p - lr * delta
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


class Adadelta(FlatOptimizer):
    r"""Adadelta, a drop-in replacement for :class:`torch.optim.Adadelta`.

    .. math::
        s \leftarrow \rho s + (1-\rho) g^2,\quad
        \Delta = \frac{\sqrt{d + \epsilon}}{\sqrt{s + \epsilon}}\, g,\quad
        d \leftarrow \rho d + (1-\rho) \Delta^2,\quad
        p \leftarrow p - \eta \Delta

    The ratio of two running RMS values gives each coordinate a step in the parameter's own
    units, so the default ``lr`` is 1. State keys ``step``, ``square_avg`` and ``acc_delta``,
    as in torch.optim; checkpoints load both ways. Extra option: ``nonfinite``.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.Adadelta(model.parameters())
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701.
    """

    state_keys = ("square_avg", "acc_delta")
    rule = ADADELTA_RULE
    torch_group_flags = ("capturable", "foreach", "differentiable")
    group_checks = (("lr", lr_value), ("rho", probability), ("eps", non_negative), ("weight_decay", non_negative),
                    ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
        weight_decay: float = 0.0, foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
        differentiable: bool = False, nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, nonfinite=nonfinite,
                        impl=impl)
        super().__init__(params, defaults,
                         dict(options, foreach=foreach, capturable=capturable, differentiable=differentiable))

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        maximize, weight_decay = group["maximize"], group["weight_decay"]
        if param.is_complex() and weight_decay != 0:  # torch adds the decay in complex arithmetic, then views
            grad, maximize, weight_decay = (-grad if maximize else grad).add(param, alpha=weight_decay), False, 0.0
        param, grad, square_avg, acc_delta = real_views(param, grad, state["square_avg"], state["acc_delta"])
        adadelta_update(param, grad, square_avg, acc_delta, lr=group["lr"], rho=group["rho"], eps=group["eps"],
                        weight_decay=weight_decay, maximize=maximize,
                        differentiable=bool(group.get("differentiable")))
