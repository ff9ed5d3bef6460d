"""RMSprop (Tieleman & Hinton, 2012): Adagrad's cache made leaky, optionally centered and with momentum."""

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


def rmsprop_update(
    param: Tensor, grad: Tensor, square_avg: Tensor, grad_avg: Tensor | None, momentum_buffer: Tensor | None, *,
    lr: float, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
    centered: bool = False, maximize: bool = False, eps_inside_sqrt: bool = False, differentiable: bool = False,
) -> None:
    r"""One RMSprop step (Tieleman & Hinton, 2012, Lecture 6.5), in place.

    .. math::
        s \leftarrow \alpha s + (1 - \alpha) g^2,\qquad
        d = \sqrt{s - \bar g^2 \text{ if centered else } s} + \epsilon,\qquad
        p \leftarrow p - \eta\, g / d

    Centered (Graves, 2013) keeps :math:`\bar g \leftarrow \alpha \bar g + (1-\alpha) g`.
    With momentum :math:`\mu > 0`: :math:`b \leftarrow \mu b + g/d`, :math:`p \leftarrow p - \eta b`.
    ``eps_inside_sqrt`` puts :math:`\epsilon` under the square root (Keras, optax). ``differentiable``:
    ``eps`` is added out of place (autograd saves the square root's output).
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
    if centered:
        assert grad_avg is not None, "centered RMSprop needs grad_avg"
        grad_avg.lerp_(grad, 1 - alpha)
        variance = square_avg.addcmul(grad_avg, grad_avg, value=-1)
    else:
        variance = square_avg
    if eps_inside_sqrt:
        avg = variance.add(eps).sqrt_()
    else:
        avg = variance.sqrt() if variance is square_avg else variance.sqrt_()
        avg = avg.add(eps) if differentiable else avg.add_(eps)
    if momentum > 0:
        assert momentum_buffer is not None, "RMSprop with momentum needs momentum_buffer"
        momentum_buffer.mul_(momentum).addcdiv_(grad, avg)
        param.add_(momentum_buffer, alpha=-lr)
    else:
        param.addcdiv_(grad, avg, value=-lr)


class RMSpropRule(RuleInfo):
    """RMSprop for the fused steps: options ``maximize, weight_decay, centered, momentum, eps_inside``."""

    name = "rmsprop"

    class Hyper(NamedTuple):
        """RMSprop's hyperparameters, read from the param group on every step."""

        lr: float
        alpha: float
        eps: float
        weight_decay: float
        momentum: float

    group_keys = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize", "eps_inside_sqrt")
    state_slots = (("square_avg",), ("grad_avg",), ("momentum_buffer",))
    numba_kernel = "rmsprop_step"
    triton_kernel = "rmsprop_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"), ("CENTERED", "centered"),
                      ("MOMENTUM", "momentum"), ("EPS_INSIDE", "eps_inside"))

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0,
                    centered=group["centered"], momentum=group["momentum"] > 0,
                    eps_inside=group.get("eps_inside_sqrt", False), step_dependent=False)

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        return (("square_avg",) + (("momentum_buffer",) if spec.flag("momentum") else ())
                + (("grad_avg",) if spec.flag("centered") else ()))  # torch.optim's order

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``lr, alpha, one_minus_alpha, eps, wd, momentum``."""
        lr, alpha, eps, wd, momentum = hyper
        return {"lr": lr, "alpha": alpha, "one_minus_alpha": 1 - alpha, "eps": eps, "wd": wd, "momentum": momentum}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        scalars = (cast(s[k]) for k in ("lr", "alpha", "one_minus_alpha", "eps", "wd", "momentum"))
        return (*scalars, cast(-1.0 if spec.flag("maximize") else 1.0), bool(spec.flag("weight_decay")),
                bool(spec.flag("centered")), bool(spec.flag("momentum")), bool(spec.flag("eps_inside")))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        rmsprop_update(buffers["param"], buffers["grad"], buffers["square_avg"], buffers.get("grad_avg"),
                       buffers.get("momentum_buffer"), lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                       weight_decay=group["weight_decay"], momentum=group["momentum"], centered=group["centered"],
                       maximize=group["maximize"], eps_inside_sqrt=group["eps_inside_sqrt"])


RMSPROP_RULE = RMSpropRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy")
def _root(x, eps, eps_inside):
    return np.sqrt(x + eps) if eps_inside else np.sqrt(x) + eps


@numba_source(error_model="numpy")
def _rmsprop_plain_loop(p, g, sq, lr, alpha, oma, eps, wd, sign, use_wd, eps_inside):
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        si = sq[i] * alpha + oma * gi * gi
        sq[i] = si
        p[i] = p[i] - lr * (gi / _root(si, eps, eps_inside))


@numba_source(error_model="numpy")
def _rmsprop_centered_loop(p, g, sq, ga, lr, alpha, oma, eps, wd, sign, use_wd, eps_inside):
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        si = sq[i] * alpha + oma * gi * gi
        ai = ga[i] + oma * (gi - ga[i])
        sq[i] = si
        ga[i] = ai
        p[i] = p[i] - lr * (gi / _root(si - ai * ai, eps, eps_inside))


@numba_source(error_model="numpy")
def _rmsprop_momentum_loop(p, g, sq, ga, b, lr, alpha, oma, eps, wd, mom, sign, use_wd, centered, eps_inside):
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        si = sq[i] * alpha + oma * gi * gi
        sq[i] = si
        if centered:
            ai = ga[i] + oma * (gi - ga[i])
            ga[i] = ai
            si = si - ai * ai
        bi = b[i] * mom + gi / _root(si, eps, eps_inside)
        b[i] = bi
        p[i] = p[i] - lr * bi


@numba_source(error_model="numpy", nogil=True)
def rmsprop_step(p, g, sq, ga, b, lr, alpha, oma, eps, wd, mom, sign, use_wd, centered, has_momentum, eps_inside):
    """RMSprop over flat buffers (``ga``/``b``: stand-ins, untouched, unless centered/momentum)."""
    if has_momentum:
        _rmsprop_momentum_loop(p, g, sq, ga, b, lr, alpha, oma, eps, wd, mom, sign, use_wd, centered, eps_inside)
    elif centered:
        _rmsprop_centered_loop(p, g, sq, ga, lr, alpha, oma, eps, wd, sign, use_wd, eps_inside)
    else:
        _rmsprop_plain_loop(p, g, sq, lr, alpha, oma, eps, wd, sign, use_wd, eps_inside)


@triton_source
def rmsprop_kernel(p_ptr, g_ptr, sq_ptr, ga_ptr, b_ptr, lr_ptr, alpha_ptr, eps_ptr, wd_ptr, momentum_ptr,
                   slot_in, slot_out, n,
                   MAXIMIZE: tl.constexpr, WD: tl.constexpr, CENTERED: tl.constexpr, MOMENTUM: tl.constexpr,
                   EPS_INSIDE: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
                   SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """RMSprop (centered, momentum)."""
    pid, offs, mask = block_offsets(n, BLOCK)
    advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    lr = tl.load(lr_ptr).to(CT)
    alpha64 = tl.load(alpha_ptr)
    alpha = alpha64.to(CT)
    one_minus_alpha = (1.0 - alpha64).to(CT)
    eps = tl.load(eps_ptr).to(CT)
    p, g = load_param_grad(p_ptr, g_ptr, wd_ptr, offs, mask, MAXIMIZE, WD, CT)
    sq = tl.load(sq_ptr + offs, mask=mask).to(CT) * alpha + one_minus_alpha * g * g
    store_rounded(sq_ptr, offs, sq, mask, SR_STATE, rng_ptr, 1)
    var = sq
    if CENTERED:
        ga = tl.load(ga_ptr + offs, mask=mask).to(CT)
        ga = ga + one_minus_alpha * (g - ga)
        store_rounded(ga_ptr, offs, ga, mask, SR_STATE, rng_ptr, 2)
        var = sq - ga * ga
    if EPS_INSIDE:
        avg = ieee_sqrt(var + eps, IEEE)
    else:
        avg = ieee_sqrt(var, IEEE) + eps
    if MOMENTUM:
        b = tl.load(b_ptr + offs, mask=mask).to(CT) * tl.load(momentum_ptr).to(CT) + ieee_div(g, avg, IEEE)
        store_rounded(b_ptr, offs, b, mask, SR_STATE, rng_ptr, 3)
        p = p - lr * b
    else:
        p = p - lr * ieee_div(g, avg, IEEE)
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


class RMSprop(FlatOptimizer):
    r"""RMSprop, a drop-in replacement for :class:`torch.optim.RMSprop`.

    .. math::
        s \leftarrow \alpha s + (1-\alpha) g^2,\qquad p \leftarrow p - \eta\,\frac{g}{\sqrt{s} + \epsilon}

    with optional ``centered`` variance and ``momentum`` (see
    :func:`rmsprop_update`). State keys ``step``, ``square_avg``,
    ``momentum_buffer`` (momentum > 0) and ``grad_avg`` (centered), as in torch.optim.
    The leaky average forgets old gradients, so unlike AdaGrad the step size does not
    decay to zero. Extra options: ``eps_inside_sqrt`` (Keras/optax) and ``nonfinite``.

    Example:
        >>> import torch, inertia
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = inertia.RMSprop([w], lr=0.01)
        >>> (w ** 2).sum().backward(); opt.step()

    Reference: Tieleman & Hinton (2012), Coursera "Neural Networks for Machine Learning",
    Lecture 6.5; Graves (2013), "Generating Sequences With Recurrent Neural Networks".
    """

    state_keys = ("square_avg", "momentum_buffer", "grad_avg")
    rule = RMSPROP_RULE
    torch_group_flags = ("capturable", "foreach", "differentiable")
    group_checks = (("lr", lr_value), ("alpha", probability), ("eps", non_negative), ("weight_decay", non_negative),
                    ("momentum", non_negative), ("centered", check_flag), ("maximize", check_flag),
                    ("eps_inside_sqrt", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
        weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, capturable: bool = False,
        foreach: bool | None = None, maximize: bool = False, differentiable: bool = False, *,
        eps_inside_sqrt: bool = False, nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
                        maximize=maximize, eps_inside_sqrt=eps_inside_sqrt, nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults,
                         dict(options, capturable=capturable, foreach=foreach, differentiable=differentiable))

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        param, grad, square_avg, grad_avg, momentum_buffer = real_views(
            param, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"))
        rmsprop_update(
            param, grad, square_avg, grad_avg, momentum_buffer,
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
            momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"],
            eps_inside_sqrt=group["eps_inside_sqrt"], differentiable=bool(group.get("differentiable")),
        )
