"""The per-step cache of the fused path: a cached decision is reused only while nothing it depends on changed.

Cached: a group's plan (reused while the parameters, the group values and the flat views are
unchanged; the steppers' own cache of hyperparameter arguments is tested in
``tests/kernels/test_stepper_cache.py``). Each test changes one of those inputs after some
cached steps and compares against the reference path.
"""

from __future__ import annotations

import pytest
import torch
from test_fused_fallbacks import check, run
from test_fused_optimizer import assert_fused, build, loss_of, make_params

from inertia.kernels.rule_info import FusedFallbackWarning
from inertia.optim import base
from inertia.optim.fused_buckets import FusedBucket


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
    (bucket_of_group_0,) = optimizer.fused_groups[id(optimizer.param_groups[0])].buckets
    assert step() == [id(bucket_of_group_0)]
    assert step() == []
    optimizer.zero_grad()
    loss_of(params).backward()
    params[3].grad = params[3].grad.clone()  # group 1
    calls.clear()
    with pytest.warns(FusedFallbackWarning, match="replaced"):
        optimizer.step()
    (bucket_of_group_1,) = optimizer.fused_groups[id(optimizer.param_groups[1])].buckets
    assert calls == [id(bucket_of_group_1)]
    assert_fused(optimizer)


CHANGES = [
    ("SGD", dict(lr=0.05, momentum=0.9), dict(lr=0.02, momentum=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), dict(weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1), dict(lr_decay=0.05)),
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


def test_step_and_zero_grad_behind_the_dynamo_guard_match_the_direct_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where dynamo watches frames (or torch cannot tell), step and zero_grad go through the guard: same result."""
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
