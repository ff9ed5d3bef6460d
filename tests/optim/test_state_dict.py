"""state_dict: torch.optim's format, cross-loading both ways, bit-exact resume."""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import pytest
import torch
from optim_cases import loss_of, make_params, param_groups
from optimizer_db import CONFIGS, INFO, config_id

import inertia
from inertia.kernels.rule_info import FusedFallbackWarning


def train(optimizer: torch.optim.Optimizer, params: list, steps: int) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(params).backward()
        optimizer.step()


def build(module: object, name: str, kwargs: dict, params: list) -> torch.optim.Optimizer:
    return getattr(module, name)(param_groups(params, kwargs["lr"]), **kwargs)


def snapshot(params: list) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def roundtrip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
@pytest.mark.parametrize("direction", ["torch->inertia", "inertia->torch", "inertia->inertia"])
def test_checkpoint_resumes_bit_for_bit(config: tuple, direction: str) -> None:
    name, kwargs = config
    source_module, target_module = {
        "torch->inertia": (torch.optim, inertia),
        "inertia->torch": (inertia, torch.optim),
        "inertia->inertia": (inertia, inertia),
    }[direction]
    # uninterrupted reference run, entirely in the source library
    reference_params = make_params(torch.float64)
    train(build(source_module, name, kwargs, reference_params), reference_params, 12)

    params = make_params(torch.float64)
    first = build(source_module, name, kwargs, params)
    train(first, params, 5)
    checkpoint = roundtrip({"params": snapshot(params), "optimizer": first.state_dict()})

    resumed_params = [torch.nn.Parameter(t.clone()) for t in checkpoint["params"]]
    second = build(target_module, name, kwargs, resumed_params)
    second.load_state_dict(checkpoint["optimizer"])
    train(second, resumed_params, 7)
    exact = target_module is not torch.optim or INFO[name].torch_resumes_exactly
    for got, want in zip(snapshot(resumed_params), snapshot(reference_params), strict=True):
        torch.testing.assert_close(got, want, rtol=0 if exact else 1e-9, atol=0 if exact else 1e-10, equal_nan=True)


def test_state_keys_match_torch_for_every_config() -> None:
    for name, kwargs in CONFIGS:
        keys = []
        for module in (torch.optim, inertia):
            params = make_params(torch.float32)
            optimizer = build(module, name, kwargs, params)
            train(optimizer, params, 2)
            state = optimizer.state_dict()["state"]
            keys.append({index: sorted(value) for index, value in state.items()})
        assert keys[0] == keys[1], name


def test_step_is_a_scalar_tensor_like_torch() -> None:
    params = make_params(torch.float32)
    optimizer = inertia.Adam(params, lr=0.1)
    train(optimizer, params, 3)
    step = optimizer.state_dict()["state"][0]["step"]
    assert step.dtype == torch.float32 and step.dim() == 0 and float(step) == 3.0


def test_loaded_state_is_copied_into_fresh_flat_buffers() -> None:
    params = make_params(torch.float32)
    optimizer = inertia.RMSprop(params, lr=0.01, momentum=0.9)
    train(optimizer, params, 2)
    state = copy.deepcopy(optimizer.state_dict())
    other = inertia.RMSprop(params, lr=0.01, momentum=0.9)
    other.load_state_dict(state)
    pointers = {other.state[p]["square_avg"].untyped_storage().data_ptr() for p in params}
    assert len(pointers) == 1
    assert pointers != {state["state"][0]["square_avg"].untyped_storage().data_ptr()}


def test_pickled_optimizer_continues_identically() -> None:
    params = make_params(torch.float64)
    optimizer = inertia.Adam(param_groups(params, 0.05), lr=0.05, amsgrad=True)
    train(optimizer, params, 3)
    restored = pickle.loads(pickle.dumps(optimizer))
    restored_params = [p for group in restored.param_groups for p in group["params"]]
    train(optimizer, params, 4)
    train(restored, restored_params, 4)
    for got, want in zip(snapshot(restored_params), snapshot(params), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize("name", ["Adagrad", "RMSprop", "Adam", "AdamW"])
def test_checkpoint_with_python_number_steps_loads(name: str, impl: str) -> None:
    """torch < 1.12 saved ``step`` as a Python number; torch.optim still loads such checkpoints."""
    runs = []
    for module in (torch.optim, inertia):
        params = make_params(torch.float64)
        options = {"impl": impl} if module is inertia else {}
        first = getattr(module, name)(params, lr=0.01, **options)
        train(first, params, 2)
        checkpoint = copy.deepcopy(first.state_dict())
        for state in checkpoint["state"].values():
            state["step"] = int(state["step"])
        second = getattr(module, name)(params, lr=0.01, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FusedFallbackWarning)
            second.load_state_dict(checkpoint)
            train(second, params, 2)
        runs.append((snapshot(params), second.state_dict()["state"][0]["step"]))
    (got, got_step), (want, want_step) = runs[1], runs[0]
    assert isinstance(got_step, torch.Tensor) and float(got_step) == float(want_step) == 4.0
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **({} if impl == "fused" else dict(rtol=0, atol=0)))


@pytest.mark.parametrize("source", ["torch", "inertia"])
@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_adamw_loading_an_adam_state_decouples_its_weight_decay_as_torch(source: str, impl: str) -> None:
    """torch.optim.AdamW forces decoupled decay on load; a coupled (L2) Adam state must not stay coupled."""
    params = make_params(torch.float64)
    adam = (torch.optim if source == "torch" else inertia).Adam(params, lr=0.05, weight_decay=0.2)
    train(adam, params, 3)
    checkpoint = roundtrip({"params": snapshot(params), "optimizer": adam.state_dict()})
    assert checkpoint["optimizer"]["param_groups"][0]["decoupled_weight_decay"] is False
    runs = {}
    for name, make in [("torch AdamW", lambda p: torch.optim.AdamW(p)),
                       ("inertia AdamW", lambda p: inertia.AdamW(p, impl=impl)),
                       ("torch Adam", lambda p: torch.optim.Adam(p))]:
        resumed = [torch.nn.Parameter(t.clone()) for t in checkpoint["params"]]
        optimizer = make(resumed)
        optimizer.load_state_dict(copy.deepcopy(checkpoint["optimizer"]))  # torch keeps the step tensors
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FusedFallbackWarning)
            train(optimizer, resumed, 4)
        runs[name] = (snapshot(resumed), optimizer.param_groups[0]["decoupled_weight_decay"])
    assert runs["inertia AdamW"][1] is True and runs["torch AdamW"][1] is True
    exact = {} if impl == "fused" else dict(rtol=0, atol=0)
    for got, want, coupled in zip(runs["inertia AdamW"][0], runs["torch AdamW"][0], runs["torch Adam"][0],
                                  strict=True):
        torch.testing.assert_close(got, want, **exact)
        assert not torch.allclose(got, coupled, rtol=1e-6, atol=1e-9)  # the decay mode changes the result
