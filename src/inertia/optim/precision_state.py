"""The state of a parameter of a non-native ``precision`` group, as the fused precision steps (numba on the
CPU, :mod:`inertia.optim.precision_fused`; Triton, :mod:`inertia.optim.precision_triton`) make and count
it: the same as the reference path (:mod:`inertia.optim.precision`) makes and counts it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from inertia.kernels.low_precision import Precision
from inertia.kernels.rule_info import StepSpec
from inertia.optim.layout import GroupLayout
from inertia.optim.precision import MASTER_KEY, ROUNDING_KEY

__all__ = ["Float32Layout", "advance_counts", "create_state", "has_state", "step_number"]


def has_state(state: Mapping[str, Any]) -> bool:
    """Whether ``state`` holds the rule's state (anything besides the master and the rounding count)."""
    return any(key not in (MASTER_KEY, ROUNDING_KEY) for key in state)


class Float32Layout:
    """New state of a ``bf16-state`` group, made in float32 (on the parameter's device) as the reference
    path makes it (its shadow group's layout); the step counters stay the group layout's own."""

    def __init__(self, layout: GroupLayout) -> None:
        self.layout = layout

    def view(self, key: str, param: Tensor) -> Tensor:
        """A new float32 zero tensor shaped like ``param`` (``key`` names the state it stands for)."""
        return torch.zeros(param.shape, dtype=torch.float32, device=param.device)

    def step_view(self, param: Tensor) -> Tensor:
        """The step counter of ``param``, the group layout's own."""
        return self.layout.step_view(param)

    def fresh(self, key: str, param: Tensor) -> Tensor:
        """The zeroed step counter for ``key`` "step", else a new float32 zero tensor."""
        return self.step_view(param).zero_() if key == "step" else self.view(key, param)


def create_state(optimizer: Any, group: dict[str, Any], layout: GroupLayout, param: Tensor, spec: StepSpec,
                 precision: Precision) -> dict[str, Tensor]:
    """Make what the state of ``param`` lacks, as the reference path makes it: the master from the parameter,
    the rule's initial state (:meth:`init_state`) and new keys. Under ``bf16-state`` the new keys start in
    float32: these are returned, to be stepped and then rounded into the flat buffers."""
    state = optimizer.state[param]
    if precision.params == "master" and MASTER_KEY not in state:
        state[MASTER_KEY] = param.detach().to(torch.float32, copy=True)
    before = set(state)
    fresh_layout = Float32Layout(layout) if precision.state == "bf16-state" else layout
    if not has_state(state):
        optimizer.init_state(param, state, group, fresh_layout)
    for key in spec.state_keys:
        if key not in state:
            state[key] = fresh_layout.fresh(key, param)
    if precision.state != "bf16-state":
        return {}
    return {key: state[key] for key in set(state) - before if key in optimizer.state_keys
            and isinstance(state[key], Tensor) and state[key].shape == param.shape}


def step_number(state: Mapping[str, Any], spec: StepSpec) -> int:
    """The step about to be taken (t >= 1), as the reference path counts it: ``step + 1``, or for rules
    without a counter (SGD) 2 once their buffers exist, else 1."""
    if spec.counts_steps:
        return int(state.get("step", 0)) + 1
    return 2 if spec.state_keys and all(key in state for key in spec.state_keys) else 1


def advance_counts(state: dict[str, Any], spec: StepSpec, rounder: Any, index: int) -> None:
    """After a fused precision step of the parameter at ``index``: its ``step`` (for rules that count steps)
    and its count of rounded steps (where ``rounder``, an :class:`inertia.optim.precision.Rounder`, rounds)."""
    if spec.counts_steps:
        state["step"] += 1
    if rounder is not None:
        rounder.advance(state, index)
