"""Adagrad (Duchi, Hazan & Singer, 2011): per-coordinate step sizes from accumulated squared gradients."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from inertia.checks import check_flag
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import signed_grad
from inertia.kernels.rule_info import RuleInfo, StepSpec, TorchFusedOp
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
from inertia.optim.validation import lr_value, non_negative


def adagrad_update(
    param: Tensor, grad: Tensor, state_sum: Tensor, *, step: float, lr: float, lr_decay: float = 0.0,
    weight_decay: float = 0.0, eps: float = 1e-10, maximize: bool = False, eps_inside_sqrt: bool = False,
    differentiable: bool = False,
) -> None:
    r"""One AdaGrad step (Duchi, Hazan & Singer, 2011), in place.

    .. math::
        \eta_t = \frac{\eta}{1 + (t - 1)\,\delta},\qquad
        G \leftarrow G + g^2,\qquad
        p \leftarrow p - \eta_t \frac{g}{\sqrt{G} + \epsilon}

    ``step`` is :math:`t`, already incremented (1 on the first step). With
    ``eps_inside_sqrt`` the denominator is :math:`\sqrt{G + \epsilon}` (optax, Keras).
    Because :math:`G` only grows, each coordinate's effective step never grows: the rule
    can stop learning too early, which RMSprop's leaky average fixes. ``differentiable``: ``eps`` is added
    out of place (the square root's output is saved by autograd).
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum.addcmul_(grad, grad, value=1)
    if eps_inside_sqrt:
        std = state_sum.add(eps).sqrt_()
    elif differentiable:
        std = state_sum.sqrt() + eps
    else:
        std = state_sum.sqrt().add_(eps)
    param.addcdiv_(grad, std, value=-clr)


def sparse_like(grad: Tensor, values: Tensor) -> Tensor:
    """A sparse COO tensor with the indices and size of the coalesced ``grad`` and the given ``values``."""
    return torch.sparse_coo_tensor(grad._indices(), values, grad.size(), check_invariants=False)


def adagrad_sparse_update(
    param: Tensor, grad: Tensor, state_sum: Tensor, *, step: float, lr: float, lr_decay: float = 0.0,
    weight_decay: float = 0.0, eps: float = 1e-10, maximize: bool = False, eps_inside_sqrt: bool = False,
) -> None:
    r"""One AdaGrad step of a dense ``param`` with a sparse COO ``grad``, in place, in torch.optim's order.

    :func:`adagrad_update`'s math on the coordinates :math:`S` the coalesced gradient stores:
    :math:`G_S \leftarrow G_S + g_S^2,\ p_S \leftarrow p_S - \eta_t\, g_S / (\sqrt{G_S} + \epsilon)`.
    A nonzero ``weight_decay`` raises RuntimeError, as torch.optim.Adagrad does.
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        raise RuntimeError(f"Invalid weight_decay: {weight_decay!r} with a sparse gradient (the weight_decay option "
                           "is not compatible with sparse gradients, as in torch.optim; use weight_decay=0)")
    clr = lr / (1 + (step - 1) * lr_decay)
    grad = grad.coalesce()  # the update is not linear in g: each index once
    values = grad._values()
    state_sum.add_(sparse_like(grad, values.pow(2)))
    sums = state_sum.sparse_mask(grad)._values()
    std = sums.add_(eps).sqrt_() if eps_inside_sqrt else sums.sqrt_().add_(eps)
    param.add_(sparse_like(grad, values / std), alpha=-clr)


class AdagradRule(RuleInfo):
    """Adagrad for the fused steps: options ``maximize, weight_decay, eps_inside, step_dependent``
    (``lr_decay != 0``)."""

    name = "adagrad"

    class Hyper(NamedTuple):
        """Adagrad's hyperparameters, read from the param group on every step."""

        lr: float
        lr_decay: float
        eps: float
        weight_decay: float

    group_keys = ("lr", "lr_decay", "weight_decay", "eps", "maximize", "eps_inside_sqrt")
    state_slots = (("sum",),)
    cpu_backend = "torch"
    numba_kernel = "adagrad_step"
    triton_kernel = "adagrad_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"), ("EPS_INSIDE", "eps_inside"))

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0,
                    eps_inside=group.get("eps_inside_sqrt", False), step_dependent=group["lr_decay"] != 0)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("sum",)

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``clr`` = lr / (1 + (t-1) lr_decay), ``eps`` and ``wd``."""
        lr, lr_decay, eps, wd = hyper
        return {"clr": lr / (1 + (step - 1) * lr_decay), "eps": eps, "wd": wd}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        return (cast(s["clr"]), cast(s["eps"]), cast(s["wd"]), cast(-1.0 if spec.flag("maximize") else 1.0),
                bool(spec.flag("weight_decay")), bool(spec.flag("eps_inside")))

    def torch_op(self, spec: StepSpec) -> TorchFusedOp | None:
        if spec.flag("eps_inside"):
            return None
        return TorchFusedOp("_fused_adagrad_", ("sum",), options=(("maximize", bool(spec.flag("maximize"))),))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        adagrad_update(buffers["param"], buffers["grad"], buffers["sum"], step=step, lr=group["lr"],
                       lr_decay=group["lr_decay"], weight_decay=group["weight_decay"], eps=group["eps"],
                       maximize=group["maximize"], eps_inside_sqrt=group["eps_inside_sqrt"])


ADAGRAD_RULE = AdagradRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def adagrad_step(p, g, acc, clr, eps, wd, sign, use_wd, eps_inside):
    """Adagrad over flat buffers."""
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        si = acc[i] + gi * gi
        acc[i] = si
        std = np.sqrt(si + eps) if eps_inside else np.sqrt(si) + eps
        p[i] = p[i] - clr * (gi / std)


@triton_source
def adagrad_kernel(p_ptr, g_ptr, sum_ptr, lr_ptr, lr_decay_ptr, eps_ptr, wd_ptr, slot_in, slot_out, n,
                   MAXIMIZE: tl.constexpr, WD: tl.constexpr, EPS_INSIDE: tl.constexpr,
                   CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                   SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """Adagrad; clr = lr / (1 + (t-1) lr_decay)."""
    pid, offs, mask = block_offsets(n, BLOCK)
    t, _, _ = advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    clr = (tl.load(lr_ptr) / (1.0 + (t - 1.0) * tl.load(lr_decay_ptr))).to(CT)
    eps = tl.load(eps_ptr).to(CT)
    p, g = load_param_grad(p_ptr, g_ptr, wd_ptr, offs, mask, MAXIMIZE, WD, CT)
    s = tl.load(sum_ptr + offs, mask=mask).to(CT) + g * g
    if EPS_INSIDE:
        std = ieee_sqrt(s + eps, IEEE)
    else:
        std = ieee_sqrt(s, IEEE) + eps
    p = p - clr * ieee_div(g, std, IEEE)
    store_rounded(sum_ptr, offs, s, mask, SR_STATE, rng_ptr, 1)
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


class Adagrad(FlatOptimizer):
    r"""Adagrad, a drop-in replacement for :class:`torch.optim.Adagrad`.

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
        >>> opt = inertia.Adagrad([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()

    Reference: Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12.
    """

    state_keys = ("sum",)
    rule = ADAGRAD_RULE
    #: Sparse gradients (``nn.Embedding(sparse=True)``) take the reference path (:func:`adagrad_sparse_update`).
    supports_sparse_grads = True
    torch_group_flags = ("foreach", "differentiable", "fused")
    group_checks = (("lr", lr_value), ("lr_decay", non_negative), ("weight_decay", non_negative),
                    ("initial_accumulator_value", non_negative), ("eps", non_negative), ("maximize", check_flag),
                    ("eps_inside_sqrt", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0, eps: float = 1e-10, foreach: bool | None = None, *,
        maximize: bool = False, eps_inside_sqrt: bool = False, nonfinite: str = "ignore", impl: str = "auto",
        **options: Any,
    ) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
                        eps_inside_sqrt=eps_inside_sqrt, nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, dict(options, foreach=foreach))
        for group in self.param_groups:  # torch.optim.Adagrad creates its state at construction
            layout = self.layout_of(group)
            for param in group["params"]:
                state = self.state[param]
                if not state:
                    self.init_state(param, state, group, layout)

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        state["step"] = layout.fresh("step", param)
        state["sum"] = layout.view("sum", param)
        value = group["initial_accumulator_value"]
        state["sum"].fill_(complex(value, value) if param.is_complex() else value)  # as torch.optim

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        if grad.is_sparse:
            self._update_sparse(param, grad, state, group)
            return
        param, grad, state_sum = real_views(param, grad, state["sum"])
        adagrad_update(
            param, grad, state_sum, step=state["step"].item(), lr=group["lr"],
            lr_decay=group["lr_decay"], weight_decay=group["weight_decay"], eps=group["eps"],
            maximize=group["maximize"], eps_inside_sqrt=group["eps_inside_sqrt"],
            differentiable=bool(group.get("differentiable")),
        )

    def _update_sparse(self, param: Tensor, grad: Tensor, state: State, group: Group) -> None:
        """A sparse gradient's step (:func:`adagrad_sparse_update`); ``fused=True`` raises, as torch."""
        if group.get("fused"):
            raise RuntimeError("Invalid fused: True with a sparse gradient (the fused Adagrad step does not support "
                               "sparse gradients, as in torch.optim; use fused=None)")
        adagrad_sparse_update(
            param, grad, state["sum"], step=state["step"].item(), lr=group["lr"], lr_decay=group["lr_decay"],
            weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
            eps_inside_sqrt=group["eps_inside_sqrt"],
        )
