"""Lion (Chen et al., 2023): the sign of an interpolated momentum, one state buffer per parameter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
from torch import Tensor

from inertia.checks import check_flag
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.rule_info import RuleInfo, StepSpec
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    advance_step,
    block_offsets,
    round_nearest_bf16,
    stochastic_round_bf16,
    store_param,
    store_rounded,
)
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.layout import GroupLayout
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import betas_value, check_betas, lr_value, non_negative


def lion_update(
    param: Tensor, grad: Tensor, exp_avg: Tensor, *, lr: float, beta1: float = 0.9, beta2: float = 0.99,
    weight_decay: float = 0.0, maximize: bool = False,
) -> None:
    r"""One Lion step (Chen et al., 2023, Algorithm 2), in place.

    .. math::
        c = \beta_1 m + (1-\beta_1) g,\qquad
        p \leftarrow p\,(1 - \eta\lambda) - \eta\,\operatorname{sign}(c),\qquad
        m \leftarrow \beta_2 m + (1-\beta_2) g

    Every coordinate moves by exactly :math:`\eta` (or not at all where :math:`c = 0`), so Lion
    wants a learning rate 3-10x smaller than AdamW's and a decoupled weight decay :math:`\lambda`
    3-10x larger, as the paper recommends. The update interpolates with :math:`\beta_1`, the
    momentum tracks with :math:`\beta_2`.
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)
    update = exp_avg.lerp(grad, 1 - beta1).sign_()
    param.add_(update, alpha=-lr)
    exp_avg.lerp_(grad, 1 - beta2)


class LionRule(RuleInfo):
    """Lion for the fused steps: options ``maximize, weight_decay`` (no dependence on t)."""

    name = "lion"

    class Hyper(NamedTuple):
        """Lion's hyperparameters, read from the param group on every step."""

        lr: float
        beta1: float
        beta2: float
        weight_decay: float

    group_keys = ("lr", "betas", "weight_decay", "maximize")
    state_slots = (("exp_avg",),)
    numba_kernel = "lion_step"
    triton_kernel = "lion_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"))

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0, step_dependent=False)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("exp_avg",)

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``lr``, ``one_minus_beta1``, ``one_minus_beta2`` and ``decay`` = 1 - lr * weight_decay."""
        lr, beta1, beta2, wd = hyper
        return {"lr": lr, "one_minus_beta1": 1 - beta1, "one_minus_beta2": 1 - beta2, "decay": 1 - lr * wd}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        scalars = (cast(s[k]) for k in ("lr", "one_minus_beta1", "one_minus_beta2", "decay"))
        return (*scalars, cast(-1.0 if spec.flag("maximize") else 1.0), bool(spec.flag("weight_decay")))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        beta1, beta2 = group["betas"]
        lion_update(buffers["param"], buffers["grad"], buffers["exp_avg"], lr=group["lr"], beta1=beta1,
                    beta2=beta2, weight_decay=group["weight_decay"], maximize=group["maximize"])


LION_RULE = LionRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def lion_step(p, g, m, lr, omb1, omb2, decay, sign, decoupled):
    """Lion over flat buffers."""
    for i in range(p.size):
        gi = g[i] * sign
        mi = m[i]
        pi = p[i] * decay if decoupled else p[i]
        p[i] = pi - lr * np.sign(mi + omb1 * (gi - mi))
        m[i] = mi + omb2 * (gi - mi)


@triton_source
def lion_kernel(p_ptr, g_ptr, m_ptr, lr_ptr, beta1_ptr, beta2_ptr, wd_ptr, slot_in, slot_out, n,
                MAXIMIZE: tl.constexpr, WD: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr,
                BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """Lion; the sign keeps NaN (as torch.sign does)."""
    pid, offs, mask = block_offsets(n, BLOCK)
    advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    lr64 = tl.load(lr_ptr)
    p = tl.load(p_ptr + offs, mask=mask).to(CT)
    g = tl.load(g_ptr + offs, mask=mask).to(CT)
    m = tl.load(m_ptr + offs, mask=mask).to(CT)
    if MAXIMIZE:
        g = -g
    if WD:
        p = p * (1.0 - lr64 * tl.load(wd_ptr)).to(CT)
    c = m + (1.0 - tl.load(beta1_ptr)).to(CT) * (g - m)
    direction = tl.where(c > 0, 1.0, tl.where(c < 0, -1.0, tl.where(c == c, 0.0, c)))
    p = p - lr64.to(CT) * direction.to(CT)
    m = m + (1.0 - tl.load(beta2_ptr)).to(CT) * (g - m)
    store_rounded(m_ptr, offs, m, mask, SR_STATE, rng_ptr, 1)
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


class Lion(FlatOptimizer):
    r"""Lion, "EvoLved Sign Momentum" (Chen et al., 2023), found by program search.

    .. math::
        p \leftarrow p\,(1 - \eta\lambda) - \eta\,\operatorname{sign}(\beta_1 m + (1-\beta_1) g),\quad
        m \leftarrow \beta_2 m + (1-\beta_2) g

    One state buffer (``exp_avg``) where Adam keeps two, and every coordinate moves by the same
    :math:`\eta`. Defaults as the paper's: ``lr=1e-4``, ``betas=(0.9, 0.99)``, ``weight_decay=0``
    (decoupled and multiplied by ``lr``, as AdamW's; optax's ``lion`` defaults to ``1e-3``, see
    docs/conventions.md). Extra options: ``maximize``, ``nonfinite``. torch.optim has no Lion.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.Lion(model.parameters(), lr=1e-4, weight_decay=1.0)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Chen et al. (2023), "Symbolic Discovery of Optimization Algorithms", NeurIPS.
    """

    state_keys = ("exp_avg",)
    rule = LION_RULE
    torch_group_flags = ("foreach", "fused")
    group_checks = (("lr", lr_value), ("betas", betas_value), ("weight_decay", non_negative),
                    ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0, *, maximize: bool = False, nonfinite: str = "ignore", impl: str = "auto",
        **options: Any,
    ) -> None:
        defaults = dict(lr=lr, betas=check_betas(betas), weight_decay=weight_decay, maximize=maximize,
                        nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, options)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        beta1, beta2 = group["betas"]
        param, grad, exp_avg = real_views(param, grad, state["exp_avg"])
        lion_update(param, grad, exp_avg, lr=group["lr"], beta1=beta1, beta2=beta2,
                    weight_decay=group["weight_decay"], maximize=group["maximize"])
