"""Adafactor: a factored second moment, a relative step size and update clipping (torch.optim's form)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from inertia.checks import argument_error, check_flag, check_real, is_number
from inertia.optim.base import FlatOptimizer, Group, State
from inertia.optim.input_checks import refuse_complex_params
from inertia.optim.layout import GroupLayout
from inertia.optim.validation import lr_value, non_negative

EPS_RULE = "must be a pair (eps1, eps2): eps1 None or a finite number >= 0, eps2 a finite number >= 0"


def factored_variance(grad: Tensor, row_var: Tensor, col_var: Tensor, beta2: float, eps1: float) -> Tensor:
    r"""Update the row and column means of :math:`g^2` (in place, weight ``beta2`` = :math:`1-\beta_{2,t}`)
    and return the factored estimate :math:`R C / \max(\bar R, \epsilon_1)` of the second moment."""
    row_mean = torch.norm(grad, dim=-1, keepdim=True).square_().div_(grad.size(-1))
    row_var.lerp_(row_mean, beta2)
    col_mean = torch.norm(grad, dim=-2, keepdim=True).square_().div_(grad.size(-2))
    col_var.lerp_(col_mean, beta2)
    estimate = row_var @ col_var
    return estimate.div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))


def adafactor_update(
    param: Tensor, grad: Tensor, row_var: Tensor | None, col_var: Tensor | None, variance: Tensor | None, *,
    step: float, lr: float, beta2_decay: float, eps1: float, eps2: float, d: float, weight_decay: float,
    maximize: bool,
) -> None:
    r"""One Adafactor step (Shazeer & Stern, 2018), in place, in torch.optim's operation order.

    With :math:`\beta_{2,t} = 1 - t^{c}` (``beta2_decay`` = :math:`c`), :math:`\rho_t = \min(\eta, 1/\sqrt t)`
    and :math:`\alpha_t = \max(\epsilon_2, \mathrm{RMS}(p))\,\rho_t`: :math:`p \leftarrow p(1-\eta\lambda)`;
    the second moment :math:`V` is kept factored (``row_var``, ``col_var``) for ``grad.dim() > 1`` and
    whole (``variance``) otherwise; :math:`u = g / \sqrt{\max(V, \epsilon_1^2)}` and
    :math:`p \leftarrow p - \alpha_t\, u / \max(1, \mathrm{RMS}(u)/d)`.
    """
    grad = -grad if maximize else grad
    beta2 = step**beta2_decay
    rho = min(lr, 1 / (step**0.5))
    alpha = max(eps2, param.norm(2).item() / (param.numel() ** 0.5)) * rho
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)
    if grad.dim() > 1:
        estimate = factored_variance(grad, row_var, col_var, beta2, eps1)
    else:
        variance.lerp_(grad * grad, beta2)
        estimate = variance.clone()
    update = estimate.clamp_(min=eps1 * eps1).rsqrt_()
    update.mul_(grad)
    denom = max(1.0, update.norm(2).item() / ((update.numel() ** 0.5) * d))
    param.add_(update, alpha=-alpha / denom)


def eps_pair(name: str, value: Any) -> tuple[float | None, float]:
    """The group entry ``eps``: ``(eps1, eps2)``, eps1 None or a finite number >= 0, eps2 a finite number >= 0."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise argument_error(name, value, EPS_RULE)
    eps1, eps2 = value
    finite = [item for item in (eps1, eps2) if item is not None]
    if eps2 is None or not all(is_number(item) and 0 <= item < float("inf") for item in finite):
        raise argument_error(name, value, EPS_RULE)
    return value


def non_positive(name: str, value: Any) -> float:
    """A finite number <= 0."""
    return check_real(name, value, at_most=0.0)


def at_least_one(name: str, value: Any) -> float:
    """A finite number >= 1."""
    return check_real(name, value, at_least=1.0)


class Adafactor(FlatOptimizer):
    r"""Adafactor, a drop-in replacement for :class:`torch.optim.Adafactor`.

    .. math::
        \rho_t = \min(\eta, t^{-1/2}),\quad
        \alpha_t = \max(\epsilon_2, \mathrm{RMS}(p))\,\rho_t,\quad
        V_t = \beta_{2,t} V_{t-1} + (1-\beta_{2,t}) g^2,\quad 1-\beta_{2,t} = t^{c},\\
        u = g / \sqrt{\max(V_t, \epsilon_1^2)},\quad
        p \leftarrow p(1-\eta\lambda) - \alpha_t\,\frac{u}{\max(1, \mathrm{RMS}(u)/d)}

    For a parameter of two or more dimensions :math:`V_t` is kept factored over the last two: its
    row means ``row_var`` (the last dimension reduced to 1) and column means ``col_var`` (the
    second-to-last reduced to 1), :math:`V_t \approx R C / \bar R`; a 1-D or 0-D parameter keeps the
    whole ``variance``. State keys ``step``, ``row_var`` and ``col_var`` or ``variance``, shaped as
    torch.optim keeps them; checkpoints load both ways. ``eps=(None, 1e-3)``: ``eps1`` None takes the
    machine epsilon of the parameter's dtype. Complex parameters are refused, as in torch.optim. No
    fused path: every step runs :func:`adafactor_update`. Extra option: ``nonfinite``.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.Adafactor(model.parameters(), lr=1e-2)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Shazeer & Stern (2018), "Adafactor: Adaptive Learning Rates with Sublinear Memory
    Cost", ICML.
    """

    state_keys = ("variance",)  # row_var and col_var are plain tensors of their own (not parameter-shaped)
    rule = None
    torch_group_flags = ("foreach",)
    group_checks = (("lr", lr_value), ("beta2_decay", non_positive), ("eps", eps_pair), ("d", at_least_one),
                    ("weight_decay", non_negative), ("maximize", check_flag))

    def __init__(
        self, params: Iterable[Any], lr: float | Tensor = 1e-2, beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
        foreach: bool | None = None, maximize: bool = False, nonfinite: str = "ignore", impl: str = "auto",
        **options: Any,
    ) -> None:
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, maximize=maximize,
                        nonfinite=nonfinite, impl=impl)
        super().__init__(params, defaults, dict(options, foreach=foreach))

    def init_state(self, param: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        """``step`` (0); ``row_var`` and ``col_var`` zeros of torch's shapes for ``param.dim() > 1``,
        else ``variance`` (a zero view of the layout)."""
        state["step"] = layout.fresh("step", param)
        if param.dim() > 1:
            state["row_var"] = param.new_zeros((*param.shape[:-1], 1))
            state["col_var"] = param.new_zeros((*param.shape[:-2], 1, param.shape[-1]))
        else:
            state["variance"] = layout.fresh("variance", param)

    def update_params(self, group: Group, params: list[Tensor]) -> None:
        """Refuse complex parameters (as torch.optim, before their state is made), then step each parameter."""
        refuse_complex_params(params, "Adafactor")
        super().update_params(group, params)

    def _update_param(self, param: Tensor, grad: Tensor, state: State, group: Group, layout: GroupLayout) -> None:
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = torch.finfo(param.dtype).eps
        state["step"] += 1
        adafactor_update(
            param, grad, state.get("row_var"), state.get("col_var"), state.get("variance"),
            step=state["step"].item(), lr=group["lr"], beta2_decay=group["beta2_decay"], eps1=eps1, eps2=eps2,
            d=group["d"], weight_decay=group["weight_decay"], maximize=group["maximize"],
        )
