"""ASGD (Polyak & Juditsky, 1992): SGD with a decaying step size and a running average of the iterates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from inertia.checks import check_flag
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
from inertia.optim.layout import GroupLayout, scalar_dtype
from inertia.optim.param_helpers import real_views
from inertia.optim.validation import lr_value, non_negative


def asgd_update(
    param: Tensor, grad: Tensor, ax: Tensor, *, eta: float, mu: float | Tensor, lambd: float = 1e-4,
    weight_decay: float = 0.0, maximize: bool = False,
) -> None:
    r"""One ASGD step with this step's ``eta`` and ``mu`` (see :func:`averaging_scalars`), in place.

    .. math::
        p \leftarrow p\,(1 - \lambda\eta_{t-1}) - \eta_{t-1}\, g,\qquad
        \bar p \leftarrow \bar p + \mu_{t-1} (p - \bar p)

    (:math:`\bar p = p` while :math:`\mu = 1`). ``weight_decay`` is L2: :math:`g \leftarrow g + w p`.
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    param.mul_(1 - lambd * eta)
    param.add_(grad, alpha=-eta)
    if float(mu) != 1:
        ax.add_(param.sub(ax).mul_(mu))
    else:
        ax.copy_(param)


def rounded_scalar(value: float, wide: bool | None = None) -> float:
    """``value`` as torch.optim stores ``eta`` and ``mu``: through a default-dtype tensor into a 0-d tensor of
    the step counters' dtype (float64 if ``wide``; None: :func:`inertia.optim.layout.scalar_dtype`)."""
    dtype = scalar_dtype() if wide is None else (torch.float64 if wide else torch.float32)
    return torch.as_tensor(value).to(dtype).item()


def averaging_scalars(lr: float, lambd: float, alpha: float, t0: float, done: int,
                      wide: bool | None = None) -> tuple[float, float]:
    r"""``eta`` and ``mu`` after ``done`` steps, as torch.optim's ASGD stores them (rounded by
    :func:`rounded_scalar`): :math:`\eta_t = \text{lr} / (1 + \lambda\,\text{lr}\,t)^\alpha`,
    :math:`\mu_t = 1 / \max(1, t - t_0)`; ``done`` = 0 gives ``lr`` and 1."""
    eta = lr / ((1 + lambd * lr * done) ** alpha)
    mu = 1 / max(1, done - t0)
    return rounded_scalar(eta, wide), rounded_scalar(mu, wide)


class ASGDRule(RuleInfo):
    """ASGD for the fused steps: options ``maximize, weight_decay, scalar64`` (every step depends on t).

    ``eta`` and ``mu`` are computed from t: on the host for numba, on the device for Triton (rounded to
    the counters' dtype, float64 when ``scalar64``).
    """

    name = "asgd"

    class Hyper(NamedTuple):
        """ASGD's hyperparameters, read from the param group on every step."""

        lr: float
        lambd: float
        alpha: float
        t0: float
        weight_decay: float

    group_keys = ("lr", "lambd", "alpha", "t0", "weight_decay", "maximize")
    state_slots = (("ax",),)
    numba_kernel = "asgd_step"
    derived_keys = ("eta", "mu")
    triton_kernel = "asgd_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"), ("SCALAR64", "scalar64"))

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0,
                    scalar64=scalar_dtype() == torch.float64, step_dependent=True)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return ("ax",)

    def floor_elements(self, spec: StepSpec) -> int:
        """Elements a step must move per parameter while ``mu`` is 1 (the first ``t0`` + 2 steps: every
        step of a timing with torch's default ``t0`` = 1e6): read p and g, write p and ``ax`` (a copy of
        p, not read). Averaging steps read ``ax`` too (5)."""
        return 4

    def averaging_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], done: int) -> tuple[float, float]:
        """``eta`` and ``mu`` after ``done`` steps with ``hyper``."""
        lr, lambd, alpha, t0, _ = hyper
        return averaging_scalars(lr, lambd, alpha, t0, done, bool(spec.flag("scalar64")))

    def derived_state(self, spec: StepSpec, hyper: tuple[Any, ...], done: int, dtype: Any) -> dict[str, float]:
        """``eta`` and ``mu`` after ``done`` steps (every parameter of a bucket took the same steps)."""
        eta, mu = self.averaging_scalars(spec, hyper, done)
        return {"eta": eta, "mu": mu}

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``decay`` = 1 - lambd * eta, ``eta``, ``mu`` (those of t - 1, as stored by the last step) and ``wd``."""
        _, lambd, _, _, wd = hyper
        eta, mu = self.averaging_scalars(spec, hyper, step - 1)
        return {"decay": 1 - lambd * eta, "eta": eta, "mu": mu, "wd": wd}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        scalars = (cast(s[k]) for k in ("decay", "eta", "mu", "wd"))
        return (*scalars, cast(-1.0 if spec.flag("maximize") else 1.0), bool(spec.flag("weight_decay")),
                s["mu"] != 1)

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        eta, mu = averaging_scalars(group["lr"], group["lambd"], group["alpha"], group["t0"], step - 1)
        asgd_update(buffers["param"], buffers["grad"], buffers["ax"], eta=eta, mu=mu, lambd=group["lambd"],
                    weight_decay=group["weight_decay"], maximize=group["maximize"])


ASGD_RULE = ASGDRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy", nogil=True)
def asgd_step(p, g, ax, decay, eta, mu, wd, sign, use_wd, average):
    """ASGD over flat buffers (``average``: mu != 1; else the average is the iterate, and ``ax`` is
    written without being read, as torch copies it: one loop per case, so no load of ``ax`` remains)."""
    if average:
        for i in range(p.size):
            pi = p[i] * decay - eta * signed_grad(g[i], p[i], sign, use_wd, wd)
            p[i] = pi
            ax[i] = ax[i] + (pi - ax[i]) * mu
    else:
        for i in range(p.size):
            pi = p[i] * decay - eta * signed_grad(g[i], p[i], sign, use_wd, wd)
            p[i] = pi
            ax[i] = pi


@triton_source
def asgd_kernel(p_ptr, g_ptr, ax_ptr, lr_ptr, lambd_ptr, alpha_ptr, t0_ptr, wd_ptr, slot_in, slot_out, n,
                MAXIMIZE: tl.constexpr, WD: tl.constexpr, SCALAR64: tl.constexpr, CT: tl.constexpr,
                IEEE: tl.constexpr, BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """ASGD; eta and mu of t - 1 from the device step slot, in float64."""
    pid, offs, mask = block_offsets(n, BLOCK)
    t, _, _ = advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    done = t - 1.0
    lr = tl.load(lr_ptr)
    lambd = tl.load(lambd_ptr)
    eta = lr / tl.exp(tl.load(alpha_ptr) * tl.log(1.0 + lambd * lr * done))
    mu = 1.0 / tl.maximum(done - tl.load(t0_ptr), 1.0)
    if not SCALAR64:
        eta = eta.to(tl.float32).to(tl.float64)
        mu = mu.to(tl.float32).to(tl.float64)
    p, g = load_param_grad(p_ptr, g_ptr, wd_ptr, offs, mask, MAXIMIZE, WD, CT)
    p = p * (1.0 - lambd * eta).to(CT) - eta.to(CT) * g
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)
    if mu != 1.0:  # one branch per launch (mu is a scalar): while mu is 1, ax is written, never read
        ax = tl.load(ax_ptr + offs, mask=mask).to(CT)
        store_rounded(ax_ptr, offs, (ax + (p - ax) * mu.to(CT)), mask, SR_STATE, rng_ptr, 1)
    else:
        store_rounded(ax_ptr, offs, p, mask, SR_STATE, rng_ptr, 1)


class ASGD(FlatOptimizer):
    r"""ASGD, a drop-in replacement for :class:`torch.optim.ASGD`.

    .. math::
        p \leftarrow p\,(1 - \lambda\eta_{t-1}) - \eta_{t-1}\, g,\quad
        \bar p \leftarrow \bar p + \mu_{t-1}(p - \bar p),\quad
        \eta_t = \frac{\text{lr}}{(1 + \lambda\,\text{lr}\,t)^\alpha},\quad \mu_t = \frac{1}{\max(1, t - t_0)}

    The averaged iterate :math:`\bar p` (state ``ax``) starts averaging after ``t0`` steps; read
    it for evaluation. State keys ``step``, ``eta``, ``mu`` (0-d tensors, kept on the CPU like
    ``step``) and ``ax``, as in torch.optim; checkpoints load both ways. The fused path computes
    ``eta`` and ``mu`` from the step count and the group's current hyperparameters and writes them
    back after each step. Extra option: ``nonfinite``.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.ASGD(model.parameters(), lr=0.01, t0=100)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Polyak & Juditsky (1992), "Acceleration of Stochastic Approximation by Averaging",
    SIAM Journal on Control and Optimization 30(4); Bottou (2012), "Stochastic Gradient Descent Tricks".
    """

    state_keys = ("ax",)
    rule = ASGD_RULE
    torch_group_flags = ("foreach", "differentiable", "capturable")
    group_checks = (("lr", lr_value), ("lambd", non_negative), ("alpha", non_negative), ("t0", non_negative),
                    ("weight_decay", non_negative), ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
        weight_decay: float = 0.0, foreach: bool | None = None, maximize: bool = False, differentiable: bool = False,
        capturable: bool = False, *, nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize,
                        nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults,
                         dict(options, foreach=foreach, differentiable=differentiable, capturable=capturable))

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` 0, ``eta`` = lr and ``mu`` = 1 (0-d, the counters' dtype) and ``ax`` 0, as torch."""
        state["step"] = layout.fresh("step", param)
        state["eta"] = torch.as_tensor(group["lr"], dtype=scalar_dtype()).clone()
        state["mu"] = torch.ones((), dtype=scalar_dtype())
        state["ax"] = layout.fresh("ax", param)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        param, grad, ax = real_views(param, grad, state["ax"])
        asgd_update(param, grad, ax, eta=state["eta"].item(), mu=state["mu"], lambd=group["lambd"],
                    weight_decay=group["weight_decay"], maximize=group["maximize"])
        step, lr = state["step"].item(), group["lr"]
        state["eta"].copy_(torch.as_tensor(lr / ((1 + group["lambd"] * lr * step) ** group["alpha"])))
        state["mu"].copy_(torch.as_tensor(1 / max(1, step - group["t0"])))
