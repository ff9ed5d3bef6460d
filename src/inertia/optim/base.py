"""The shared front end: param groups, flat state, closures and the non-finite policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.optim import Optimizer

from inertia.optim.layout import GroupLayout
from inertia.optim.validation import IMPL_CHOICES, NONFINITE_CHOICES, check_choice


class NonFiniteGradientError(FloatingPointError):
    """A gradient held NaN or inf and the optimizer was built with ``nonfinite="raise"``."""


class FlatOptimizer(Optimizer):
    """Base class of inertia's first-order optimizers.

    Subclasses declare the per-parameter state keys they keep (:attr:`state_keys`) and
    implement :meth:`_init_state` and :meth:`_update_param`, which calls one rule of
    :mod:`inertia.rules`. This class keeps every state tensor as a view into a flat
    per-(group, device, dtype) buffer (:mod:`inertia.optim.layout`), handles closures
    and applies the ``nonfinite`` policy:

    - ``"ignore"`` (torch's behaviour): non-finite gradients flow into the update;
    - ``"raise"``: :class:`NonFiniteGradientError` naming the group and index of the
      offending parameter, before anything is modified;
    - ``"skip"``: the whole step is skipped, parameters and state stay untouched, and
      :attr:`skipped_steps` counts it.
    """

    state_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        check_choice("nonfinite", defaults.get("nonfinite", "ignore"), NONFINITE_CHOICES)
        check_choice("impl", defaults.get("impl", "auto"), IMPL_CHOICES)
        self.skipped_steps = 0
        self._layouts: dict[int, GroupLayout] = {}
        super().__init__(params, defaults)

    # ----------------------------------------------------------------- state layout
    def _layout(self, group: dict[str, Any]) -> GroupLayout:
        """The flat layout of ``group``, rebuilt if its parameters changed."""
        layout = self._layouts.get(id(group))
        if layout is None or not layout.matches(group["params"]):
            layout = GroupLayout(group["params"])
            self._layouts[id(group)] = layout
            self._adopt_state(group, layout)
        return layout

    def _adopt_state(self, group: dict[str, Any], layout: GroupLayout) -> None:
        """Copy existing state tensors into the layout's buffers and keep views."""
        for param in group["params"]:
            state = self.state.get(param)
            if not state:
                continue
            for key, value in list(state.items()):
                if key == "step" and isinstance(value, Tensor):
                    view = layout.step_view(param)
                elif key in self.state_keys and isinstance(value, Tensor):
                    view = layout.view(key, param)
                else:
                    continue
                if view.data_ptr() != value.data_ptr():
                    view.copy_(value.detach().reshape(view.shape))
                state[key] = view

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load torch.optim-format state; tensors are copied into fresh flat buffers."""
        super().load_state_dict(state_dict)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("skipped_steps", 0)
        self._layouts = {}
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
            self._layout(group)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_layouts", None)
        return state

    # ----------------------------------------------------------------- stepping
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` re-evaluates the loss (with grad)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not self._passes_nonfinite_policy():
            return loss
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        layout = self._layout(group)
        for param in group["params"]:
            if param.grad is None:
                continue
            state = self.state.get(param)
            if not state:
                state = {}
                self._init_state(param, state, group, layout)
            self._update_param(param, param.grad, state, group, layout)
            if state and param not in self.state:
                self.state[param] = state

    def _passes_nonfinite_policy(self) -> bool:
        policies = {group["nonfinite"] for group in self.param_groups}
        for group_index, group in enumerate(self.param_groups):
            for param_index, param in enumerate(group["params"]):
                grad = param.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise RuntimeError(
                        f"inertia.{type(self).__name__} does not support sparse gradients "
                        f"(param group {group_index}, index {param_index}); use a dense gradient"
                    )
                if policies == {"ignore"} or group["nonfinite"] == "ignore":
                    continue
                if bool(torch.isfinite(grad).all()):
                    continue
                if group["nonfinite"] == "raise":
                    raise NonFiniteGradientError(
                        f"non-finite gradient in param group {group_index}, index {param_index} "
                        f"(shape {tuple(param.shape)}): {_describe_nonfinite(grad)}; "
                        "parameters and optimizer state were left untouched"
                    )
                self.skipped_steps += 1
                return False
        return True

    # ----------------------------------------------------------------- subclass hooks
    def _init_state(
        self, param: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        """Create the state of ``param`` as views of ``layout`` (called while it is empty)."""

    def _update_param(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout
    ) -> None:
        """Apply the update rule to one parameter."""
        raise NotImplementedError


def _describe_nonfinite(grad: Tensor) -> str:
    nan = int(torch.isnan(grad).sum())
    inf = int(torch.isinf(grad).sum())
    return f"{nan} NaN and {inf} inf of {grad.numel()} values"
