"""The kernel tests' view of the one optimizer table (``optimizer_db``): specs, buffers and the reference step."""

from __future__ import annotations

from typing import Any

import torch
from optimizer_db import CASES, config_id

import inertia
from inertia.kernels.rule_info import RuleInfo, StepSpec

#: Every configuration of every fused class (the one optimizer table): together they switch on every option.
__all__ = ["CASES", "case_id", "fresh_buffers", "group_of", "reference_step", "rule_of", "spec_of"]
case_id = config_id


def group_of(case: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """The param group (all defaults filled in) that inertia builds for ``case``."""
    name, kwargs = case
    optimizer = getattr(inertia, name)([torch.nn.Parameter(torch.zeros(1))], **kwargs)
    return optimizer.param_groups[0]


def rule_of(case: tuple[str, dict[str, Any]]) -> RuleInfo:
    """The rule declaration of ``case``'s optimizer class."""
    return getattr(inertia, case[0]).rule


def spec_of(case: tuple[str, dict[str, Any]]) -> tuple[RuleInfo, StepSpec, tuple[Any, ...], dict[str, Any]]:
    group = group_of(case)
    rule = rule_of(case)
    found = rule.spec(group)
    assert found is not None
    spec, hyper = found
    return rule, spec, hyper, group


def fresh_buffers(spec: StepSpec, group: dict[str, Any], n: int, dtype: torch.dtype,
                  generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random params, zero state (the accumulator at its initial value) and an empty grad buffer."""
    buffers = {"param": torch.randn(n, generator=generator, dtype=dtype), "grad": torch.zeros(n, dtype=dtype)}
    for key in spec.state_keys:
        buffers[key] = torch.zeros(n, dtype=dtype)
    if spec.rule.name == "adagrad":
        buffers["sum"].fill_(group["initial_accumulator_value"])
    return buffers


def reference_step(rule: RuleInfo, group: dict[str, Any], buffers: dict[str, torch.Tensor], step: int) -> None:
    """One step of the rule's torch reference on the flat buffers (the math every kernel must match)."""
    rule.reference(group, buffers, step)
