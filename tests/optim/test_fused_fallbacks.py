"""When the flat layout is broken the step stays correct (possibly slower) with exactly one warning."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
from test_fused_nonfinite import refused_step_changes_nothing
from test_fused_optimizer import assert_fused, assert_same, build, loss_of, make_params

import inertia
from inertia.kernels import FusedFallbackWarning

Disturb = Callable[[int, torch.optim.Optimizer, list], None]


def run(impl: str, disturb: Disturb, name: str = "Adam", kwargs: dict | None = None, steps: int = 6,
        dtype: torch.dtype = torch.float32) -> tuple[list, list[str], torch.optim.Optimizer]:
    """Train with ``disturb(step, optimizer, params)`` called after each backward; collect warnings."""
    params = make_params(dtype)
    optimizer = build(name, kwargs or dict(lr=0.01), params, impl)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(steps):
            optimizer.zero_grad()
            loss_of(params).backward()
            disturb(step, optimizer, params)
            optimizer.step()
    messages = [str(w.message) for w in caught if issubclass(w.category, FusedFallbackWarning)]
    return params, messages, optimizer


def check(disturb: Disturb, **options) -> tuple[list[str], torch.optim.Optimizer]:
    reference, reference_warnings, _ = run("reference", disturb, **options)
    fused, messages, optimizer = run("fused", disturb, **options)
    assert reference_warnings == []
    assert_same(fused, reference)
    return messages, optimizer


def replace_grads(step: int, optimizer, params: list) -> None:
    for p in params:
        p.grad = p.grad.clone()


def test_replaced_grads_are_copied_in_with_one_warning() -> None:
    messages, optimizer = check(replace_grads)
    assert len(messages) == 1 and "`.grad` tensors were replaced" in messages[0]
    assert_fused(optimizer)


def test_model_zero_grad_setting_none_is_handled() -> None:
    def set_none_then_backward(step: int, optimizer, params: list) -> None:
        for p in params:
            p.grad = None
        loss_of(params).backward()

    messages, _ = check(set_none_then_backward, name="RMSprop", kwargs=dict(lr=0.01, momentum=0.9))
    assert len(messages) == 1


def test_missing_grads_take_the_reference_path_like_torch() -> None:
    def drop_some(step: int, optimizer, params: list) -> None:
        if step in (2, 3):
            params[1].grad = None
            params[3].grad = None

    messages, optimizer = check(drop_some, kwargs=dict(lr=0.01, amsgrad=True))
    assert len(messages) == 1 and "no gradient" in messages[0]
    steps = [optimizer.state[p]["step"].item() for p in optimizer.param_groups[0]["params"]]
    assert steps == [6.0, 4.0]


def test_replaced_param_storage_is_copied_back() -> None:
    def replace_data(step: int, optimizer, params: list) -> None:
        if step == 3:
            params[2].data = params[2].data.clone()

    messages, optimizer = check(replace_data, name="SGD", kwargs=dict(lr=0.05, momentum=0.9, nesterov=True))
    assert len(messages) == 1 and "storage was replaced" in messages[0]
    assert_fused(optimizer)


MOVES = [torch.float64] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("target", MOVES, ids=str)
def test_moving_the_model_rebuilds_the_flat_buffers_there(target) -> None:
    def move(step: int, optimizer, params: list) -> None:
        if step == 3:
            for p in params:  # what Module.to() does to each parameter and its gradient
                p.data = p.data.to(target)
                p.grad = p.grad.to(target)

    messages, optimizer = check(move, name="AdamW", kwargs=dict(lr=0.01))
    assert len(messages) == 1 and "moved" in messages[0]
    assert_fused(optimizer)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]["exp_avg"]
    assert state.dtype == target or state.device.type == target


def test_added_params_are_stepped() -> None:
    extra = {}

    def add_params(step: int, optimizer, params: list) -> None:
        if step == 2:
            extra["p"] = torch.nn.Parameter(torch.linspace(-1, 1, 9))
            optimizer.param_groups[0]["params"].append(extra["p"])
            optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(3))]})
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None and p is not None and not any(p is q for q in params):
                    p.grad = torch.full_like(p, 0.5)

    messages, optimizer = check(add_params, name="Adagrad", kwargs=dict(lr=0.1))
    assert len(messages) == 1 and "changed" in messages[0]
    assert_fused(optimizer)


def test_unsupported_dtype_warns_once_and_stays_correct() -> None:
    messages, _ = check(lambda *args: None, name="RMSprop", kwargs=dict(lr=0.01), dtype=torch.bfloat16)
    assert len(messages) == 1 and "bfloat16" in messages[0]


@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_nonfinite_policy_on_the_fused_path(policy: str) -> None:
    params = make_params()
    optimizer = build("Adam", dict(lr=0.01), params, "fused")
    optimizer.param_groups[0]["nonfinite"] = optimizer.param_groups[1]["nonfinite"] = policy
    for _ in range(3):
        optimizer.zero_grad()
        loss_of(params).backward()
        optimizer.step()
    assert_fused(optimizer)
    before = refused_step_changes_nothing(optimizer, params, policy, (2, (1, 0, 1)), "param group 1, index 0")
    params[2].grad.zero_()
    optimizer.step()
    assert not torch.equal(params[0].detach(), before[0])


def test_a_param_swapped_in_place_is_stepped() -> None:
    swapped = {}

    def swap(step: int, optimizer, params: list) -> None:
        if step == 2:
            swapped["p"] = torch.nn.Parameter(torch.linspace(0, 1, 4))
            optimizer.param_groups[0]["params"][1] = swapped["p"]
        if "p" in swapped and swapped["p"].grad is None:
            swapped["p"].grad = torch.full((4,), 0.25)
        elif "p" in swapped:
            swapped["p"].grad.fill_(0.25)

    messages, optimizer = check(swap, name="SGD", kwargs=dict(lr=0.1))
    assert len(messages) == 1 and "changed" in messages[0]
    assert_fused(optimizer)
    assert not torch.equal(swapped["p"].detach(), torch.linspace(0, 1, 4))


def test_plain_sgd_state_dict_matches_torch() -> None:
    runs = {}
    for module, impl in ((torch.optim, None), (inertia, "fused")):
        params = make_params()
        extra = {"impl": impl} if impl else {}
        optimizer = module.SGD(params, lr=0.1, **extra)
        for _ in range(2):
            optimizer.zero_grad()
            loss_of(params).backward()
            optimizer.step()
        runs[impl] = optimizer.state_dict()["state"]
    assert_fused(optimizer)
    assert runs["fused"] == runs[None] == {}
