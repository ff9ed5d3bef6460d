"""The per-step caches of the fused path: a cached decision is reused only while nothing it depends on changed.

Cached: a group's plan (reused while the parameters, the group values and the flat views are
unchanged) and, inside the steppers, the hyperparameter arguments (reused while the same tuple
of Python numbers comes back). Each test changes one of those inputs after some cached steps
and compares against the reference path.
"""

from __future__ import annotations

import pytest
import torch
from kernel_cases import CASES, fresh_buffers, reference_step, spec_of
from test_fused_fallbacks import check, run
from test_fused_optimizer import assert_fused, build, loss_of, make_params

from inertia.kernels.cpu import NumbaStepper, TorchFusedStepper, numba_available, torch_supports
from inertia.kernels.dispatch import FusedFallbackWarning
from inertia.kernels.flat import FusedBucket
from inertia.kernels.triton_steps import triton_available


def test_plan_is_reused_until_a_group_value_or_a_grad_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    full_check = FusedBucket.ready

    def counting_ready(self, *args, **kwargs):
        calls.append(id(self))
        return full_check(self, *args, **kwargs)

    monkeypatch.setattr(FusedBucket, "ready", counting_ready)
    params = make_params()
    optimizer = build("Adam", dict(lr=0.01), params, "fused")

    def step() -> list[int]:
        calls.clear()
        optimizer.zero_grad()
        loss_of(params).backward()
        optimizer.step()
        return list(calls)

    assert len(step()) == 2  # first step: the full path for the bucket of each group
    assert step() == [] and step() == []  # nothing changed: the cached plans
    optimizer.param_groups[0]["lr"] = 0.02
    (bucket_of_group_0,) = optimizer._fused[id(optimizer.param_groups[0])].buckets
    assert step() == [id(bucket_of_group_0)]
    assert step() == []
    optimizer.zero_grad()
    loss_of(params).backward()
    params[3].grad = params[3].grad.clone()  # group 1
    calls.clear()
    with pytest.warns(FusedFallbackWarning, match="replaced"):
        optimizer.step()
    (bucket_of_group_1,) = optimizer._fused[id(optimizer.param_groups[1])].buckets
    assert calls == [id(bucket_of_group_1)]
    assert_fused(optimizer)


CHANGES = [
    ("SGD", dict(lr=0.05, momentum=0.9), dict(lr=0.02, momentum=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), dict(weight_decay=0.1, maximize=True)),
    ("AdaGrad", dict(lr=0.1), dict(lr_decay=0.05)),
    ("RMSprop", dict(lr=0.01), dict(alpha=0.5, eps=1e-3)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9), dict(weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01), dict(betas=(0.5, 0.9), lr=0.03)),
    ("AdamW", dict(lr=0.01), dict(weight_decay=0.5, amsgrad=True)),
]


@pytest.mark.parametrize(("name", "kwargs", "change"), CHANGES, ids=lambda v: str(v))
def test_hyperparameter_changed_after_cached_steps_matches_reference(name: str, kwargs: dict,
                                                                    change: dict) -> None:
    def set_values(step: int, optimizer, params: list) -> None:
        if step == 3:
            for group in optimizer.param_groups:
                group.update(change)

    messages, optimizer = check(set_values, name=name, kwargs=kwargs)
    assert messages == []
    assert_fused(optimizer)


def test_grad_replaced_after_cached_steps_is_copied_in() -> None:
    def replace_one(step: int, optimizer, params: list) -> None:
        if step == 4:
            params[4].grad = params[4].grad * 3

    messages, optimizer = check(replace_one, name="RMSprop", kwargs=dict(lr=0.01, momentum=0.9))
    assert len(messages) == 1 and "replaced" in messages[0]
    assert_fused(optimizer)


def test_zero_grad_resets_a_replaced_grad_and_zeroes_the_flat_ones() -> None:
    params, _, optimizer = run("fused", lambda *args: None, name="Adam", steps=3)
    foreign = torch.ones_like(params[1])
    params[1].grad = foreign
    optimizer.zero_grad(set_to_none=False)
    assert torch.equal(foreign, torch.zeros_like(foreign)) and params[1].grad is foreign
    assert all(float(p.grad.abs().sum()) == 0.0 for p in params)
    params[1].grad = torch.ones_like(params[1])
    optimizer.zero_grad()
    assert params[1].grad is None
    assert all(float(p.grad.abs().sum()) == 0.0 for i, p in enumerate(params) if i != 1)


def _steppers() -> list[tuple[str, int]]:
    found = []
    for index in (2, 8, 12, 16):  # SGD momentum, AdaGrad lr_decay, RMSprop momentum, Adam
        if torch_supports(spec_of(CASES[index])[1]):
            found.append(("torch", index))
        if numba_available():
            found.append(("numba", index))
        if triton_available():  # through the interpreter on CPU
            found.append(("triton", index))
    return found


def _stepper(backend: str, spec, buffers: dict) -> object:
    if backend == "triton":
        from inertia.kernels.triton_steps import TritonStepper

        return TritonStepper(spec, buffers)
    return (NumbaStepper if backend == "numba" else TorchFusedStepper)(spec, buffers)


@pytest.mark.parametrize(("backend", "index"), _steppers(), ids=lambda v: str(v))
@pytest.mark.parametrize("lr_kind", ["new-tuple", "tensor-in-place"])
def test_steppers_reread_changed_hyperparameters(backend: str, index: int, lr_kind: str) -> None:
    rule, spec, hyper, group = spec_of(CASES[index])
    generator = torch.Generator().manual_seed(index)
    got = fresh_buffers(spec, group, 37, torch.float64, generator)
    want = {key: value.clone() for key, value in got.items()}
    stepper = _stepper(backend, spec, got)
    lr = torch.tensor(float(hyper[0]), dtype=torch.float64)
    arguments = (lr, *hyper[1:]) if lr_kind == "tensor-in-place" else hyper
    for step in (1, 2, 3, 4):
        if step == 3:  # a new learning rate, as a new tuple or written into the same tensor
            group = dict(group, lr=float(hyper[0]) * 4)
            if lr_kind == "tensor-in-place":
                lr.fill_(group["lr"])
            else:
                arguments = (group["lr"], *hyper[1:])
        grad = torch.randn(37, generator=generator, dtype=torch.float64)
        got["grad"].copy_(grad)
        want["grad"].copy_(grad)
        stepper(arguments, step)
        reference_step(rule, group, want, step)
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-12, atol=1e-12, msg=f"{key} at step {step}")


def test_step_and_zero_grad_behind_the_dynamo_guard_match_the_direct_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where dynamo watches frames (or torch cannot tell), step and zero_grad go through the guard: same result."""
    from inertia.optim import base

    direct, _, _ = run("fused", lambda *args: None, name="RMSprop", kwargs=dict(lr=0.01, momentum=0.9))
    asked = []

    def watched() -> bool:
        asked.append(1)
        return base._always_watched()

    monkeypatch.setattr(base, "_eval_frame_callback", watched)
    guarded, _, optimizer = run("fused", lambda *args: None, name="RMSprop", kwargs=dict(lr=0.01, momentum=0.9))
    assert len(asked) == 2 * 6  # one zero_grad and one step per training step, each took the guarded call
    assert_fused(optimizer)
    for got, want in zip(guarded, direct, strict=True):
        torch.testing.assert_close(got.detach(), want.detach(), rtol=0, atol=0)
