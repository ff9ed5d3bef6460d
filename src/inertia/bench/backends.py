"""Side benchmarks that justify two choices: the CPU backend per rule and the Triton launch shape.

:func:`compare_cpu_backends` times one step of each CPU candidate over the same flat
buffers: the numba kernel, torch's own fused op (where torch has one), and
``torch.compile`` (inductor) of the reference rule. :func:`sweep_launch` times the Triton
Adam kernel at several (elements per program, warps) shapes on CUDA.
"""

from __future__ import annotations

import time
from typing import Any

import torch

import inertia
from inertia.bench.steps import OPTIMIZERS, time_call
from inertia.kernels.cpu import NumbaStepper, TorchFusedStepper, numba_available, torch_supports
from inertia.kernels.rule_info import RuleInfo, StepSpec
from inertia.kernels.triton_steps import TritonStepper


def group_and_spec(name: str) -> tuple[RuleInfo, dict[str, Any], StepSpec, tuple[Any, ...]]:
    """The rule, full param group, spec and hyperparameters of benchmark optimizer ``name``."""
    class_name, kwargs = OPTIMIZERS[name]
    optimizer_class = getattr(inertia, class_name)
    group = optimizer_class([torch.nn.Parameter(torch.zeros(1))], **kwargs).param_groups[0]
    rule = optimizer_class.rule
    found = rule.spec(group)
    assert found is not None
    return rule, group, found[0], found[1]


def flat_buffers(spec: StepSpec, n: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Random flat param/grad buffers and non-negative state of ``n`` elements."""
    buffers = {"param": torch.randn(n, device=device), "grad": torch.randn(n, device=device) * 1e-2}
    for key in spec.state_keys:
        buffers[key] = torch.rand(n, device=device) * 1e-3
    return buffers


def _candidates(rule: RuleInfo, group: dict[str, Any], spec: StepSpec,
                buffers: dict[str, torch.Tensor]) -> dict[str, Any]:
    candidates: dict[str, Any] = {}
    if numba_available():
        candidates["numba"] = NumbaStepper(spec, buffers)
    if torch_supports(spec):
        candidates["torch-fused-op"] = TorchFusedStepper(spec, buffers)
    compiled = torch.compile(lambda: rule.reference(group, buffers, 2), dynamic=False)
    candidates["inductor"] = lambda hyper, step: compiled()
    return candidates


def compare_cpu_backends(n: int, steps: int, optimizers: list[str] | None = None) -> list[dict[str, Any]]:
    """Milliseconds per step of every CPU backend on ``n``-element flat buffers, per optimizer."""
    device = torch.device("cpu")
    rows = []
    for name in optimizers or list(OPTIMIZERS):
        rule, group, spec, hyper = group_and_spec(name)
        buffers = flat_buffers(spec, n, device)
        for backend, stepper in _candidates(rule, group, spec, buffers).items():
            begin = time.perf_counter()
            stepper(hyper, 2)
            first = time.perf_counter() - begin
            seconds = time_call(lambda s=stepper, h=hyper: s(h, 2), device, steps, warmup=1)
            rows.append({"optimizer": name, "backend": backend, "elements": n, "step_ms": seconds * 1e3,
                         "first_call_s": first})
        del buffers
    return rows


def sweep_launch(n: int, steps: int, shapes: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Milliseconds per Adam step of the Triton kernel at each (block, num_warps) shape on CUDA."""
    device = torch.device("cuda")
    _, _, spec, hyper = group_and_spec("adam")
    buffers = flat_buffers(spec, n, device)
    rows = []
    for block, warps in shapes:
        stepper = TritonStepper(spec, buffers, block=block, num_warps=warps)
        counter = iter(range(1, 10**9))
        seconds = time_call(lambda s=stepper, c=counter: s(hyper, next(c)), device, steps, warmup=2)
        rows.append({"block": block, "num_warps": warps, "elements": n, "step_ms": seconds * 1e3})
    return rows
