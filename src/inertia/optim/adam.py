"""``inertia.Adam`` and ``inertia.AdamW``: momentum plus RMSprop, with bias correction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from torch import Tensor

from inertia.optim.base import FlatOptimizer, real_views
from inertia.optim.layout import GroupLayout
from inertia.optim.validation import (
    check_betas,
    check_choice,
    check_finite_at_least,
    check_flag,
    check_lr,
    split_torch_options,
)
from inertia.rules.adam import adam_update

EPS_MODES = ("outside", "inside", "hat")


class Adam(FlatOptimizer):
    r"""Adam, a drop-in replacement for :class:`torch.optim.Adam`.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    Momentum (:math:`m`) plus an RMSprop cache (:math:`v`); the bias correction keeps
    the first steps from being too large while :math:`m, v` are still near their zero
    start. State keys ``step``, ``exp_avg``, ``exp_avg_sq`` and ``max_exp_avg_sq``
    (amsgrad), as in torch.optim; checkpoints load both ways.

    Extra options:

    - ``bias_correction=False``: the notes' uncorrected Adam (first update about
      :math:`3.16\eta` per coordinate with the default betas).
    - ``eps_mode``: ``"outside"`` (torch, default), ``"inside"`` (optax ``eps_root``:
      :math:`\hat m/\sqrt{\hat v+\epsilon}`) or ``"hat"`` (TF/Keras epsilon hat).
    - ``decoupled_weight_decay``: AdamW's decay, see :class:`AdamW`.
    - ``nonfinite``: ``"ignore"`` | ``"raise"`` | ``"skip"``.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.Adam(model.parameters(), lr=1e-3)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    References: Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization";
    Reddi, Kale & Kumar (2018), "On the Convergence of Adam and Beyond" (amsgrad).
    """

    state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    fused_rule = "adam"

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        bias_correction: bool = True,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        *,
        eps_mode: str = "outside",
        nonfinite: str = "ignore",
        impl: str = "auto",
        **options: Any,
    ) -> None:
        betas = check_betas(betas)
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            bias_correction=bias_correction, decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize, eps_mode=eps_mode, nonfinite=nonfinite, impl=impl,
            **split_torch_options(type(self).__name__, options),
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_lr(group["lr"])
        check_betas(group["betas"])
        check_finite_at_least("eps", group["eps"])
        check_finite_at_least("weight_decay", group["weight_decay"])
        check_choice("eps_mode", group["eps_mode"], EPS_MODES)
        for flag in ("amsgrad", "bias_correction", "decoupled_weight_decay", "maximize"):
            check_flag(flag, group[flag])

    def _init_state(
        self, param: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        state["step"] = layout.fresh("step", param)
        state["exp_avg"] = layout.fresh("exp_avg", param)
        state["exp_avg_sq"] = layout.fresh("exp_avg_sq", param)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = layout.fresh("max_exp_avg_sq", param)

    def _update_param(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = layout.fresh("max_exp_avg_sq", param)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq = real_views(
            param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"))
        adam_update(
            param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq,
            step=state["step"].item(), lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
            weight_decay=group["weight_decay"], decoupled_weight_decay=group["decoupled_weight_decay"],
            amsgrad=group["amsgrad"], bias_correction=group["bias_correction"],
            maximize=group["maximize"], eps_mode=group["eps_mode"],
        )


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, a drop-in for :class:`torch.optim.AdamW`.

    Before each Adam update, :math:`p \leftarrow p\,(1 - \eta\lambda)` with
    ``weight_decay`` :math:`\lambda` (default 1e-2, as torch). Accepts every option of
    :class:`Adam`.

    Example:
        >>> import torch, inertia
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = inertia.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
        >>> model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()

    Reference: Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization".
    """

    #: Values every param group holds, whatever a loaded state dict says (as torch.optim.AdamW).
    forced_group_values: ClassVar[dict[str, Any]] = {"decoupled_weight_decay": True}

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        bias_correction: bool = True,
        maximize: bool = False,
        **kwargs: Any,
    ) -> None:
        if "decoupled_weight_decay" in kwargs and not kwargs["decoupled_weight_decay"]:
            raise ValueError("Invalid decoupled_weight_decay: False (AdamW always decouples; use Adam)")
        kwargs.pop("decoupled_weight_decay", None)
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            bias_correction=bias_correction, decoupled_weight_decay=True, maximize=maximize, **kwargs,
        )

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if not group["decoupled_weight_decay"]:
            raise ValueError(f"Invalid decoupled_weight_decay: {group['decoupled_weight_decay']!r} "
                             "(AdamW always decouples; use Adam)")

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore (or load) state; every group decouples its weight decay, as in torch.optim.AdamW,
        even when the state was saved by Adam with L2-coupled decay."""
        for group in state.get("param_groups", ()):
            group.update(self.forced_group_values)
        super().__setstate__(state)
