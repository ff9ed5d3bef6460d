"""One table of rule options for the kernel tests, and the reference step each rule declares."""

from __future__ import annotations

from typing import Any

import torch

import inertia
from inertia.kernels.rule_info import RuleInfo, StepSpec

# (optimizer class name, keyword arguments): together they switch on every option of every rule.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, momentum_form="velocity")),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, momentum_form="velocity", weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-3, eps_inside_sqrt=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, eps=1e-4, eps_inside_sqrt=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps_inside_sqrt=True, maximize=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, bias_correction=False, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, eps_mode="inside", eps=1e-6, amsgrad=True)),
    ("Adam", dict(lr=0.01, eps_mode="hat", eps=1e-7, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True)),
]


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


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
