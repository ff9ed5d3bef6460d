"""Rprop (Riedmiller & Braun, 1993): per-coordinate step sizes adapted by the sign of the gradient alone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from inertia.checks import check_flag, is_number
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import signed_grad
from inertia.kernels.rule_info import RuleInfo, StepSpec
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    advance_step,
    block_offsets,
    load_param_grad,
    round_nearest_bf16,
    stochastic_round_bf16,
    store_param,
    store_rounded,
)
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.layout import GroupLayout
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import lr_value, non_negative


def rprop_update(
    param: Tensor, grad: Tensor, prev: Tensor, step_size: Tensor, *, etaminus: float = 0.5, etaplus: float = 1.2,
    step_size_min: float = 1e-6, step_size_max: float = 50.0, weight_decay: float = 0.0, maximize: bool = False,
    differentiable: bool = False,
) -> None:
    r"""One Rprop step (Riedmiller & Braun, 1993; torch.optim's variant, Rprop without backtracking), in place.

    .. math::
        \Delta \leftarrow \operatorname{clip}\bigl(\Delta \cdot
        \{\eta_+ \text{ if } g\,g_{prev} > 0,\ \eta_- \text{ if } g\,g_{prev} < 0,\ 1 \text{ else}\},
        \Gamma_{min}, \Gamma_{max}\bigr),\qquad
        p \leftarrow p - \operatorname{sign}(g)\,\Delta

    where the sign flipped, :math:`g` is set to 0 (no step, and no flip counted next time);
    ``prev`` keeps that :math:`g`. ``weight_decay`` is L2: :math:`g \leftarrow g + \lambda p`
    (inertia's option; torch.optim's Rprop has none). ``differentiable``: ``prev`` is cloned before the
    product (autograd saves it, and it is overwritten at the end).
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    sign = grad.mul(prev.clone() if differentiable else prev).sign()
    sign[sign.gt(0)] = etaplus
    sign[sign.lt(0)] = etaminus
    sign[sign.eq(0)] = 1
    step_size.mul_(sign).clamp_(step_size_min, step_size_max)
    grad = grad.clone(memory_format=torch.preserve_format)
    grad[sign.eq(etaminus)] = 0
    param.addcmul_(grad.sign(), step_size, value=-1)
    prev.copy_(grad)


class RpropRule(RuleInfo):
    """Rprop for the fused steps: options ``maximize, weight_decay`` (no step dependence)."""

    name = "rprop"

    class Hyper(NamedTuple):
        """Rprop's hyperparameters (``etas`` and ``step_sizes`` unpacked), read from the param group every step;
        ``lr`` only sets the initial step size."""

        lr: float
        etaminus: float
        etaplus: float
        step_size_min: float
        step_size_max: float
        weight_decay: float

    group_keys = ("lr", "etas", "step_sizes", "weight_decay", "maximize")
    state_slots = (("prev",), ("step_size",))
    numba_kernel = "rprop_step"
    triton_kernel = "rprop_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"))

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0, step_dependent=False)

    def hyper(self, group: Mapping[str, Any]) -> tuple[Any, ...]:
        """The group's ``lr``, ``etas`` and ``step_sizes`` (pairs, unpacked) and ``weight_decay``."""
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        return self.Hyper(group["lr"], etaminus, etaplus, low, high, group["weight_decay"])

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("prev", "step_size")

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``etaminus, etaplus, step_size_min, step_size_max, wd``."""
        _, etaminus, etaplus, low, high, wd = hyper
        return {"etaminus": etaminus, "etaplus": etaplus, "step_size_min": low, "step_size_max": high, "wd": wd}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        scalars = (cast(s[k]) for k in ("etaminus", "etaplus", "step_size_min", "step_size_max", "wd"))
        return (*scalars, cast(-1.0 if spec.flag("maximize") else 1.0), bool(spec.flag("weight_decay")))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        rprop_update(buffers["param"], buffers["grad"], buffers["prev"], buffers["step_size"], etaminus=etaminus,
                     etaplus=etaplus, step_size_min=low, step_size_max=high, weight_decay=group["weight_decay"],
                     maximize=group["maximize"])


RPROP_RULE = RpropRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def rprop_step(p, g, prev, ss, etaminus, etaplus, ss_min, ss_max, wd, sign, use_wd):
    """Rprop over flat buffers (a NaN product ``g * prev`` makes the step size NaN, as torch's)."""
    zero = sign - sign
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        gp = gi * prev[i]
        si = ss[i]
        if gp > 0:
            si = si * etaplus
        elif gp < 0:
            si = si * etaminus
            gi = zero
        elif gp != 0:
            si = si * gp
        si = np.minimum(np.maximum(si, ss_min), ss_max)
        ss[i] = si
        prev[i] = gi
        p[i] = p[i] - np.sign(gi) * si


@triton_source
def rprop_kernel(p_ptr, g_ptr, prev_ptr, ss_ptr, lr_ptr, etaminus_ptr, etaplus_ptr, ss_min_ptr, ss_max_ptr, wd_ptr,
                 slot_in, slot_out, n,
                 MAXIMIZE: tl.constexpr, WD: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr,
                 BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                 SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """Rprop (``lr`` is unused: it only sets the initial step size)."""
    pid, offs, mask = block_offsets(n, BLOCK)
    advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    p, g = load_param_grad(p_ptr, g_ptr, wd_ptr, offs, mask, MAXIMIZE, WD, CT)
    gp = g * tl.load(prev_ptr + offs, mask=mask).to(CT)
    factor = tl.where(gp > 0, tl.load(etaplus_ptr).to(CT),
                      tl.where(gp < 0, tl.load(etaminus_ptr).to(CT), tl.where(gp == 0, 1.0, gp)))
    ss = tl.load(ss_ptr + offs, mask=mask).to(CT) * factor
    ss = tl.maximum(ss, tl.load(ss_min_ptr).to(CT), propagate_nan=tl.PropagateNan.ALL)
    ss = tl.minimum(ss, tl.load(ss_max_ptr).to(CT), propagate_nan=tl.PropagateNan.ALL)
    g = tl.where(gp < 0, 0.0, g)
    direction = tl.where(g > 0, 1.0, tl.where(g < 0, -1.0, g))
    store_rounded(ss_ptr, offs, ss, mask, SR_STATE, rng_ptr, 2)
    store_rounded(prev_ptr, offs, g, mask, SR_STATE, rng_ptr, 1)
    p = p - direction * ss
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


def etas_value(name: str, value: Any) -> tuple[float, float]:
    """``etas``: a pair ``(etaminus, etaplus)`` with 0 < etaminus < 1 < etaplus."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2 or not all(map(is_number, value))
            or not 0.0 < value[0] < 1.0 < value[1]):
        raise ValueError(f"Invalid {name}: {value!r} (must be a pair (etaminus, etaplus) with "
                         "0 < etaminus < 1 < etaplus)")
    return value[0], value[1]


def step_sizes_value(name: str, value: Any) -> tuple[float, float]:
    """``step_sizes``: a pair ``(min, max)`` with 0 <= min <= max, max finite."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2 or not all(map(is_number, value))
            or not 0.0 <= value[0] <= value[1] < float("inf")):
        raise ValueError(f"Invalid {name}: {value!r} (must be a pair (step_size_min, step_size_max) with "
                         "0 <= step_size_min <= step_size_max < inf)")
    return value[0], value[1]


class Rprop(FlatOptimizer):
    r"""Rprop, a drop-in replacement for :class:`torch.optim.Rprop`.

    .. math::
        \Delta \leftarrow \operatorname{clip}(\Delta\cdot\eta_\pm, \Gamma_{min}, \Gamma_{max}),\qquad
        p \leftarrow p - \operatorname{sign}(g)\,\Delta

    Each coordinate keeps its own step size :math:`\Delta` (starting at ``lr``), grown by
    :math:`\eta_+` while the gradient keeps its sign and shrunk by :math:`\eta_-` when it flips
    (that step is then skipped). Only the sign of the gradient is used, so Rprop suits full-batch
    problems. State keys ``step``, ``prev`` and ``step_size``, as in torch.optim; checkpoints
    load both ways. Extra options: ``weight_decay`` (L2, added to the gradient) and ``nonfinite``.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.Rprop(model.parameters(), lr=0.01)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Riedmiller & Braun (1993), "A Direct Adaptive Method for Faster Backpropagation
    Learning: The RPROP Algorithm", IEEE International Conference on Neural Networks.
    """

    state_keys = ("prev", "step_size")
    rule = RPROP_RULE
    torch_group_flags = ("foreach", "differentiable", "capturable")
    group_checks = (("lr", lr_value), ("etas", etas_value), ("step_sizes", step_sizes_value),
                    ("weight_decay", non_negative), ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False, foreach: bool | None = None,
        maximize: bool = False, differentiable: bool = False, weight_decay: float = 0.0, nonfinite: str = "ignore",
        impl: str = "auto", **options: Any,
    ) -> None:
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, weight_decay=weight_decay, maximize=maximize,
                        nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults,
                         dict(options, capturable=capturable, foreach=foreach, differentiable=differentiable))

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` and ``prev`` zero, ``step_size`` filled with ``lr`` (both parts of a complex one), as torch."""
        state["step"] = layout.fresh("step", param)
        state["prev"] = layout.fresh("prev", param)
        state["step_size"] = layout.view("step_size", param)
        lr = group["lr"]
        state["step_size"].fill_(complex(lr, lr) if param.is_complex() else lr)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        param, grad, prev, step_size = real_views(param, grad, state["prev"], state["step_size"])
        rprop_update(param, grad, prev, step_size, etaminus=etaminus, etaplus=etaplus, step_size_min=low,
                     step_size_max=high, weight_decay=group["weight_decay"], maximize=group["maximize"],
                     differentiable=bool(group.get("differentiable")))
