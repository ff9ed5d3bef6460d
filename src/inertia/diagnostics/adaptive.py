"""The per-coordinate denominator of an adaptive method's step, read from its optimizer state.

Which state key is read and how the step is formed comes from
:data:`inertia.diagnostics.optimizer_roles.ROLES`; an optimizer that table does not know is
read by sniffing torch.optim's AdaGrad, RMSprop and Adam state keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from inertia.diagnostics.optimizer_roles import FALLBACK_SECOND_MOMENT_KEYS, OptimizerRoles
from inertia.optim.nadam import momentum_factor
from inertia.optim.radam import RHO_THRESHOLD, radam_rectification

# Smallest Rprop step size read (its ``step_sizes`` minimum may be 0).
_TINY_STEP = 1e-300


def _as_float(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


class AdaptiveTerms(NamedTuple):
    """The denominator of an adaptive method for one parameter, as scalars around one state tensor.

    The method's per-coordinate effective step (the factor multiplying the gradient or its
    momentum) is ``eff = numerator / (sqrt(S) + eps)``, or ``numerator / sqrt(S + eps)`` when
    ``inside``, with ``S = scale * stat`` the bias-corrected squared-gradient statistic (AdaGrad's
    sum, RMSprop's average, Adam's ``v / (1 - b2^t)``). ``mean_scale * S`` is its per-step mean
    (``1/t`` for AdaGrad's sum, 1 for the leaky averages); ``key`` is the state key read.
    """

    stat: Tensor
    scale: float
    numerator: float
    eps: float
    inside: bool
    mean_scale: float
    key: str


def adaptive_terms(state: dict[str, Any], group: dict[str, Any],
                   roles: OptimizerRoles | None = None) -> AdaptiveTerms | None:
    """Read the denominator of an adaptive method from its state (None if there is none).

    ``roles`` (from :func:`~inertia.diagnostics.optimizer_roles.roles_of`; None: unknown optimizer)
    names the state key and the step's form. Effective steps follow the optimizers' formulas:
    AdaGrad ``lr_t / (sqrt(sum) + eps)`` with ``lr_t = lr / (1 + (t-1) lr_decay)``; RMSprop
    ``lr / (sqrt(square_avg [- grad_avg^2]) + eps)``; Adam ``lr / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps)``
    (inertia's ``eps_inside_sqrt``, ``eps_mode`` and ``bias_correction`` options are honoured); SparseAdam
    ``lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)`` (eps before the bias correction);
    NAdam's and RAdam's numerators (RAdam: none before its rectification starts); Adamax
    ``lr / (1 - b1^t) / u``; Adadelta ``lr sqrt(acc_delta + eps) / sqrt(square_avg + eps)`` (its
    ``acc_delta`` already holds this step's update, so this is the step the state gives next);
    Rprop's ``step_size`` (a step length per coordinate, taken along ``sign(g)``).
    """
    if roles is None:
        return _sniffed_terms(state, group)
    key, reader = roles.second_moment, _READERS.get(roles.step_form)
    if key is None or reader is None or not isinstance(state.get(key), Tensor):
        return None
    return reader(state, group, key, roles.eps_inside_sqrt)


def _sniffed_terms(state: dict[str, Any], group: dict[str, Any]) -> AdaptiveTerms | None:
    key = next((k for k in FALLBACK_SECOND_MOMENT_KEYS if isinstance(state.get(k), Tensor)), None)
    if key is None or _other_formula(state, group, key):
        return None
    return _sqrt_terms(state, group, key, False)


def _other_formula(state: dict[str, Any], group: dict[str, Any], key: str) -> bool:
    """Whether an unknown optimizer's state belongs to a method whose step is not ``numerator / d`` with
    a scalar numerator: Adadelta (``square_avg`` beside ``acc_delta``, a per-coordinate numerator) or
    RAdam (Adam's state without the ``amsgrad`` option, a rectified step that is plain SGD for the first
    steps)."""
    if key == "square_avg":
        return "acc_delta" in state
    return key == "exp_avg_sq" and "amsgrad" not in group and "momentum_decay" not in group


def _step(state: dict[str, Any]) -> float:
    return _as_float(state.get("step", 1.0)) or 1.0


def _betas(group: dict[str, Any]) -> tuple[float, float]:
    beta1, beta2 = group.get("betas", (0.9, 0.999))
    return float(beta1), float(beta2)


def _sqrt_terms(state: dict[str, Any], group: dict[str, Any], key: str, inside: bool,
                hat: bool = False) -> AdaptiveTerms:
    lr, eps, step = _as_float(group["lr"]), float(group.get("eps", 0.0)), _step(state)
    stat, scale, mean_scale = state[key].detach(), 1.0, 1.0
    if key == "sum":
        lr = lr / (1 + (step - 1) * float(group.get("lr_decay", 0.0)))
        mean_scale = 1.0 / step
    elif key == "square_avg" and group.get("centered") and isinstance(state.get("grad_avg"), Tensor):
        stat = stat - state["grad_avg"].detach() ** 2
    elif key == "exp_avg_sq":
        if group.get("amsgrad") and isinstance(state.get("max_exp_avg_sq"), Tensor):
            stat = state["max_exp_avg_sq"].detach()
        if group.get("bias_correction", True):
            beta1, beta2 = _betas(group)
            bias1, bias2 = 1 - beta1**step, 1 - beta2**step
            if hat or group.get("eps_mode") == "hat":
                lr = lr * math.sqrt(bias2) / bias1
            else:
                lr, scale = lr / bias1, 1.0 / bias2
    inside = inside or bool(group.get("eps_inside_sqrt")) or group.get("eps_mode") == "inside"
    return AdaptiveTerms(stat, scale, lr, eps, inside, mean_scale, key)


def _sqrt_hat_terms(state: dict[str, Any], group: dict[str, Any], key: str, inside: bool) -> AdaptiveTerms:
    """SparseAdam's step ``lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)``: eps before the bias correction."""
    return _sqrt_terms(state, group, key, inside, hat=True)


def _nadam_terms(state: dict[str, Any], group: dict[str, Any], key: str, inside: bool) -> AdaptiveTerms:
    """NAdam's step is ``a g / d + b m / d``; the numerator is ``a + b`` (exact for ``beta1 = 0``, where ``m = g``)."""
    lr, step, (beta1, beta2) = _as_float(group["lr"]), _step(state), _betas(group)
    psi = float(group.get("momentum_decay", 4e-3))
    mu, mu_next = momentum_factor(step, beta1, psi), momentum_factor(step + 1, beta1, psi)
    product = state.get("mu_product")
    product = _as_float(product) if isinstance(product, Tensor) else math.prod(
        momentum_factor(float(i), beta1, psi) for i in range(1, int(step) + 1))
    numerator = lr * ((1 - mu) / (1 - product) + mu_next / (1 - product * mu_next))
    return AdaptiveTerms(state[key].detach(), 1.0 / (1 - beta2**step), numerator, float(group.get("eps", 0.0)),
                         inside, 1.0, key)


def _radam_terms(state: dict[str, Any], group: dict[str, Any], key: str, inside: bool) -> AdaptiveTerms | None:
    lr, step, (beta1, beta2) = _as_float(group["lr"]), _step(state), _betas(group)
    rho_t, rect = radam_rectification(step, beta2)
    if not rho_t > RHO_THRESHOLD:
        return None  # an unrectified step: plain SGD on the bias-corrected momentum
    numerator = lr * rect * math.sqrt(1 - beta2**step) / (1 - beta1**step)
    return AdaptiveTerms(state[key].detach(), 1.0, numerator, float(group.get("eps", 0.0)), inside, 1.0, key)


def _adamax_terms(state: dict[str, Any], group: dict[str, Any], key: str, inside: bool) -> AdaptiveTerms:
    """Adamax divides by ``u`` itself (eps is inside its max): ``S = u^2`` and no eps added."""
    lr, step, (beta1, _) = _as_float(group["lr"]), _step(state), _betas(group)
    return AdaptiveTerms(state[key].detach() ** 2, 1.0, lr / (1 - beta1**step), 0.0, False, 1.0, key)


def _adadelta_terms(state: dict[str, Any], group: dict[str, Any], key: str, inside: bool) -> AdaptiveTerms | None:
    """Adadelta's ``lr / d`` with ``d = sqrt((square_avg + eps) / (acc_delta + eps))``."""
    if not isinstance(state.get("acc_delta"), Tensor):
        return None
    eps = float(group.get("eps", 0.0))
    stat = (state[key].detach() + eps) / (state["acc_delta"].detach() + eps)
    return AdaptiveTerms(stat, 1.0, _as_float(group["lr"]), 0.0, False, 1.0, key)


def _rprop_terms(state: dict[str, Any], group: dict[str, Any], key: str, inside: bool) -> AdaptiveTerms:
    """Rprop's effective step is ``step_size``: ``numerator / d`` with ``numerator = lr`` (its initial step
    size) and ``d = lr / step_size``, so the step in units of lr is ``step_size / lr``."""
    lr = _as_float(group["lr"])
    lr = lr if lr > 0 else 1.0
    stat = (lr / torch.clamp_min(state[key].detach(), _TINY_STEP)) ** 2
    return AdaptiveTerms(stat, 1.0, lr, 0.0, False, 1.0, key)


_Reader = Callable[[dict[str, Any], dict[str, Any], str, bool], AdaptiveTerms | None]
_READERS: dict[str, _Reader] = {
    "sqrt": _sqrt_terms, "sqrt_hat": _sqrt_hat_terms, "nadam": _nadam_terms, "radam": _radam_terms, "infinity_norm": _adamax_terms,
    "adadelta": _adadelta_terms, "step_size": _rprop_terms,
}
