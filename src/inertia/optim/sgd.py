"""SGD with momentum and Nesterov momentum: the rule, its declaration to the fused steps, its kernels and
``inertia.SGD`` (the layout of every rule module is described in :mod:`inertia.optim`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from torch import Tensor

from inertia.checks import check_flag
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import signed_grad
from inertia.kernels.rule_info import RuleInfo, StepSpec, TorchFusedOp
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
from inertia.optim.validation import lr_value, non_negative, one_of, probability


def sgd_update(
    param: Tensor, grad: Tensor, momentum_buffer: Tensor | None, *, lr: float, momentum: float = 0.0,
    dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0, maximize: bool = False,
    first_step: bool = False, momentum_form: str = "torch", differentiable: bool = False,
) -> None:
    r"""One SGD step, in place on ``param`` and ``momentum_buffer``.

    Plain SGD (Robbins & Monro, 1951): :math:`p \leftarrow p - \eta g`, with
    :math:`g \leftarrow g + \lambda p` when ``weight_decay`` is :math:`\lambda > 0`.

    ``momentum_form="torch"`` (the default, as torch.optim; Sutskever et al., 2013):

    .. math::
        b \leftarrow \mu b + (1 - \tau) g \quad (b = g \text{ on the first step}),\qquad
        p \leftarrow p - \eta\,(g + \mu b \text{ if Nesterov else } b).

    ``momentum_form="velocity"`` (CS231n / Keras): the buffer holds a velocity
    :math:`v \leftarrow \mu v - \eta g`, then :math:`p \leftarrow p + v`, or for Nesterov
    :math:`p \leftarrow p - \mu v_{prev} + (1 + \mu) v`. Both forms give the same
    trajectory while :math:`\eta` is constant; under a schedule the torch form rescales the
    whole accumulated buffer by the new rate and the velocity form does not.

    ``differentiable``: as torch.optim, the first step's buffer is a detached copy of the gradient.
    """
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    if momentum == 0 or momentum_buffer is None:
        param.add_(grad, alpha=-lr)
        return
    if momentum_form == "velocity":
        previous = momentum_buffer.clone() if nesterov else None
        momentum_buffer.mul_(momentum).add_(grad, alpha=-lr)
        if previous is None:
            param.add_(momentum_buffer)
        else:
            param.add_(previous, alpha=-momentum).add_(momentum_buffer, alpha=1 + momentum)
        return
    if first_step:
        momentum_buffer.copy_(grad.detach() if differentiable else grad)
    else:
        momentum_buffer.mul_(momentum).add_(grad, alpha=1 - dampening)
    direction = grad.add(momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    param.add_(direction, alpha=-lr)


def refuse_sparse_weight_decay(weight_decay: float) -> None:
    """RuntimeError (torch.optim.SGD's type) for a nonzero ``weight_decay`` with a sparse gradient."""
    if weight_decay != 0:
        raise RuntimeError(f"Invalid weight_decay: {weight_decay!r} with a sparse gradient (SGD's weight decay "
                           "needs dense gradients, as in torch.optim; use weight_decay=0)")


def sgd_sparse_update(
    param: Tensor, grad: Tensor, momentum_buffer: Tensor | None, *, lr: float, momentum: float = 0.0,
    dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0, maximize: bool = False,
) -> Tensor | None:
    r"""One SGD step of a dense ``param`` with a sparse COO ``grad`` (torch's momentum form), in place;
    returns the momentum buffer (None without momentum).

    The same math as :func:`sgd_update`, in torch.optim's order on the sparse tensors: the first
    buffer is a sparse copy of the gradient (``b = g``), later ones ``b <- mu b + (1 - tau) g`` (a
    sparse buffer keeps every gradient's entries, uncoalesced, as torch's does). Weight decay needs
    a dense gradient: a nonzero ``weight_decay`` raises RuntimeError, as torch.optim.SGD does.
    """
    refuse_sparse_weight_decay(weight_decay)
    if maximize:
        grad = -grad
    direction = grad
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = grad.detach().clone()
        else:
            momentum_buffer.mul_(momentum).add_(grad, alpha=1 - dampening)
        direction = grad.add(momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    param.add_(direction, alpha=-lr)
    return momentum_buffer


class SGDRule(RuleInfo):
    """SGD for the fused steps: options ``maximize, weight_decay, momentum, nesterov, velocity``."""

    name = "sgd"

    class Hyper(NamedTuple):
        """SGD's hyperparameters, read from the param group on every step."""

        lr: float
        momentum: float
        dampening: float
        weight_decay: float

    group_keys = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize", "momentum_form")
    state_slots = (("momentum_buffer", "velocity"),)
    counts_steps = False
    cpu_backend = "torch"
    numba_kernel = "sgd_step"
    triton_kernel = "sgd_kernel"
    triton_options = (("MAXIMIZE", "maximize"), ("WD", "weight_decay"), ("MOMENTUM", "momentum"),
                      ("NESTEROV", "nesterov"), ("VELOCITY", "velocity"))

    def options(self, group: Mapping[str, Any]) -> dict[str, int]:
        return dict(maximize=group["maximize"], weight_decay=group["weight_decay"] != 0,
                    momentum=group["momentum"] != 0, nesterov=group["nesterov"],
                    velocity=group.get("momentum_form", "torch") == "velocity")

    def state_keys(self, spec: StepSpec) -> tuple[str, ...]:
        if not spec.flag("momentum"):
            return ()
        return ("velocity",) if spec.flag("velocity") else ("momentum_buffer",)

    def host_scalars(self, spec: StepSpec, hyper: tuple[Any, ...], step: int) -> dict[str, float]:
        """``lr, wd, momentum, dampening_keep`` (1 - dampening) and ``first`` (1.0 on the first step)."""
        lr, momentum, dampening, wd = hyper
        return {"lr": lr, "wd": wd, "momentum": momentum, "dampening_keep": 1 - dampening,
                "first": 1.0 if step == 1 else 0.0}

    def numba_arguments(self, spec: StepSpec, hyper: tuple[Any, ...], step: int, cast: Any) -> tuple[Any, ...]:
        s = self.host_scalars(spec, hyper, step)
        return (cast(s["lr"]), cast(s["wd"]), cast(s["momentum"]), cast(s["dampening_keep"]),
                cast(-1.0 if spec.flag("maximize") else 1.0), bool(spec.flag("weight_decay")),
                bool(spec.flag("momentum")), bool(spec.flag("nesterov")), bool(spec.flag("velocity")),
                bool(s["first"]))

    def step_key(self, spec: StepSpec, step: int) -> Any:
        return step == 1  # the torch form's first step copies the gradient into the buffer

    def fresh_state_matches(self, group: Mapping[str, Any]) -> bool:
        # New buffers are zero: b = mu*0 + (1 - dampening)*g equals torch's first-step b = g if dampening = 0.
        return float(group["dampening"]) == 0.0

    def torch_op(self, spec: StepSpec) -> TorchFusedOp | None:
        if spec.flag("velocity"):
            return None
        return TorchFusedOp("_fused_sgd_", ("momentum_buffer",), takes_step=False, first_step=True,
                            options=(("nesterov", bool(spec.flag("nesterov"))),
                                     ("maximize", bool(spec.flag("maximize")))))

    def reference(self, group: Mapping[str, Any], buffers: dict[str, Tensor], step: int) -> None:
        key = "velocity" if group["momentum_form"] == "velocity" else "momentum_buffer"
        sgd_update(buffers["param"], buffers["grad"], buffers.get(key), lr=group["lr"],
                   momentum=group["momentum"], dampening=group["dampening"], nesterov=group["nesterov"],
                   weight_decay=group["weight_decay"], maximize=group["maximize"], first_step=step == 1,
                   momentum_form=group["momentum_form"])


SGD_RULE = SGDRule()


# ---------------------------------------------------------------------- kernels (numba, then Triton)
@numba_source(error_model="numpy")
def _sgd_plain_loop(p, g, lr, wd, sign, use_wd):
    for i in range(p.size):
        p[i] = p[i] - lr * signed_grad(g[i], p[i], sign, use_wd, wd)


@numba_source(error_model="numpy")
def _sgd_momentum_loop(p, g, b, lr, wd, mom, keep, sign, use_wd, nesterov, first):
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        bi = gi if first else b[i] * mom + keep * gi
        b[i] = bi
        direction = gi + mom * bi if nesterov else bi
        p[i] = p[i] - lr * direction


@numba_source(error_model="numpy")
def _sgd_velocity_loop(p, g, v, lr, wd, mom, sign, use_wd, nesterov):
    for i in range(p.size):
        gi = signed_grad(g[i], p[i], sign, use_wd, wd)
        previous = v[i]
        vi = previous * mom - lr * gi
        v[i] = vi
        p[i] = (p[i] - mom * previous) + (1 + mom) * vi if nesterov else p[i] + vi


@numba_source(error_model="numpy", nogil=True)
def sgd_step(p, g, b, lr, wd, mom, keep, sign, use_wd, has_momentum, nesterov, velocity, first):
    """SGD over flat buffers (``b``: momentum or velocity buffer; a stand-in, untouched, without)."""
    if not has_momentum:
        _sgd_plain_loop(p, g, lr, wd, sign, use_wd)
    elif velocity:
        _sgd_velocity_loop(p, g, b, lr, wd, mom, sign, use_wd, nesterov)
    else:
        _sgd_momentum_loop(p, g, b, lr, wd, mom, keep, sign, use_wd, nesterov, first)


@triton_source
def sgd_kernel(p_ptr, g_ptr, b_ptr, lr_ptr, momentum_ptr, dampening_ptr, wd_ptr, slot_in, slot_out, n,
               MAXIMIZE: tl.constexpr, WD: tl.constexpr, MOMENTUM: tl.constexpr, NESTEROV: tl.constexpr,
               VELOCITY: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr, rng_ptr=None, out_ptr=None,
               SR_PARAM: tl.constexpr = False, SR_STATE: tl.constexpr = False, MASTER: tl.constexpr = False):
    """SGD, torch form (first step ``b = g``) or velocity form."""
    pid, offs, mask = block_offsets(n, BLOCK)
    t, _, _ = advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    lr = tl.load(lr_ptr).to(CT)
    mom64 = tl.load(momentum_ptr)
    mom = mom64.to(CT)
    keep = (1.0 - tl.load(dampening_ptr)).to(CT)
    p, g = load_param_grad(p_ptr, g_ptr, wd_ptr, offs, mask, MAXIMIZE, WD, CT)
    if MOMENTUM:
        b = tl.load(b_ptr + offs, mask=mask).to(CT)
        if VELOCITY:
            nb = b * mom - lr * g
            if NESTEROV:
                p = (p - mom * b) + (1.0 + mom64).to(CT) * nb
            else:
                p = p + nb
        else:
            nb = tl.where(t == 1.0, g, b * mom + keep * g)
            if NESTEROV:
                p = p - lr * (g + mom * nb)
            else:
                p = p - lr * nb
        store_rounded(b_ptr, offs, nb, mask, SR_STATE, rng_ptr, 1)
    else:
        p = p - lr * g
    store_param(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, MASTER, out_ptr)


MOMENTUM_FORMS = ("torch", "velocity")


class SGD(FlatOptimizer):
    r"""Stochastic gradient descent, optionally with momentum or Nesterov momentum.

    A drop-in replacement for :class:`torch.optim.SGD` with the same arguments,
    defaults, state keys (``momentum_buffer``) and trajectories. The math is
    :func:`sgd_update`:

    .. math::
        b \leftarrow \mu b + (1-\tau) g,\qquad p \leftarrow p - \eta\,(g + \mu b \text{ if Nesterov else } b)

    Extra options:

    - ``momentum_form="velocity"``: CS231n's velocity form :math:`v \leftarrow \mu v - \eta g;\ p
      \leftarrow p + v` (state key ``velocity``). Same trajectory as the default while the
      learning rate is constant; different under a schedule. Needs ``dampening=0``.
    - ``nonfinite``: ``"ignore"`` (default) | ``"raise"`` | ``"skip"``, see
      :class:`inertia.optim.base.FlatOptimizer`.

    Example:
        >>> import torch, inertia
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = inertia.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
        >>> (w ** 2).sum().backward(); opt.step()

    References: Robbins & Monro (1951); Polyak (1964); Sutskever et al. (2013), "On the
    importance of initialization and momentum in deep learning".
    """

    state_keys = ("momentum_buffer", "velocity")
    rule = SGD_RULE
    #: Sparse gradients (``nn.Embedding(sparse=True)``) take the reference path (:func:`sgd_sparse_update`).
    supports_sparse_grads = True
    torch_group_flags = ("foreach", "differentiable", "fused")
    group_checks = (("lr", lr_value), ("momentum", non_negative), ("dampening", probability),
                    ("weight_decay", non_negative), ("nesterov", check_flag), ("maximize", check_flag),
                    ("momentum_form", one_of(MOMENTUM_FORMS)))

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
        weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
        momentum_form: str = "torch", nonfinite: str = "ignore", impl: str = "auto", **options: Any,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                        maximize=maximize, momentum_form=momentum_form, nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, options)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        momentum, dampening, nesterov = group["momentum"], group["dampening"], group["nesterov"]
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"Invalid nesterov: {nesterov!r} (Nesterov momentum requires momentum > 0 and "
                f"dampening = 0, got momentum={momentum!r}, dampening={dampening!r})"
            )
        if group["momentum_form"] == "velocity" and dampening != 0:
            raise ValueError(f"Invalid dampening: {dampening!r} (momentum_form='velocity' requires 0)")

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        if grad.is_sparse:
            self._update_sparse(param, grad, state, group, layout)
            return
        momentum = group["momentum"]
        key = "velocity" if group["momentum_form"] == "velocity" else "momentum_buffer"
        first_step = False
        buffer = None
        if momentum != 0:
            buffer = state.get(key)
            if buffer is None:
                buffer = state[key] = layout.fresh(key, param)
                first_step = True
        sgd_update(
            param, grad, buffer, lr=group["lr"], momentum=momentum, dampening=group["dampening"],
            nesterov=group["nesterov"], weight_decay=group["weight_decay"], maximize=group["maximize"],
            first_step=first_step, momentum_form=group["momentum_form"],
            differentiable=bool(group.get("differentiable")),
        )

    def _adopt_state(self, group: dict[str, Any], layout: GroupLayout) -> None:
        """The base's adoption of state into flat buffers; a sparse ``momentum_buffer`` (kept by steps on
        sparse gradients, as torch.optim keeps it) stays the sparse tensor it is."""
        sparse: dict[Tensor, Tensor] = {}
        for param in group["params"]:
            buffer = self.state[param].get("momentum_buffer") if param in self.state else None
            if isinstance(buffer, Tensor) and buffer.is_sparse:
                sparse[param] = self.state[param].pop("momentum_buffer")
        super()._adopt_state(group, layout)
        for param, buffer in sparse.items():
            self.state[param]["momentum_buffer"] = buffer

    def _update_sparse(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """A sparse gradient's step: torch's form keeps a sparse ``momentum_buffer``, as torch.optim does;
        the velocity form's dense buffer takes the sparse gradient as it is. ``fused=True`` raises, as torch."""
        if group.get("fused"):
            raise RuntimeError("Invalid fused: True with a sparse gradient (the fused SGD step does not support "
                               "sparse gradients, as in torch.optim; use fused=None)")
        if group["momentum_form"] == "velocity":
            refuse_sparse_weight_decay(group["weight_decay"])
            buffer = state.get("velocity")
            if buffer is None and group["momentum"] != 0:
                buffer = state["velocity"] = layout.fresh("velocity", param)
            sgd_update(param, grad, buffer, lr=group["lr"], momentum=group["momentum"], nesterov=group["nesterov"],
                       maximize=group["maximize"], momentum_form="velocity")
            return
        buffer = sgd_sparse_update(
            param, grad, state.get("momentum_buffer"), lr=group["lr"], momentum=group["momentum"],
            dampening=group["dampening"], nesterov=group["nesterov"], weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )
        if buffer is not None:
            state["momentum_buffer"] = buffer
