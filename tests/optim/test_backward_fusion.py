"""The step fused into backward gives what ``optimizer.step()`` gives, frees every gradient, and refuses
what a per-parameter step cannot do."""

from __future__ import annotations

import gc
import importlib.util
import math
import sys
import weakref
from pathlib import Path

import pytest
import torch
from optim_cases import loss_of, make_params, param_groups
from optimizer_db import CASES, CONFIGS, config_id

import inertia
from inertia.optim.backward_fusion import GROUP_STEPPED, fuse_into_backward

STEPS = 5
#: The fused-path configurations of the classes a per-parameter step serves.
KERNEL_CASES = [case for case in CASES if case[0] not in {cls.__name__ for cls in GROUP_STEPPED}]


def exact(got: object, want: object) -> None:
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def close(got: object, want: object) -> None:
    """Equal within float64 rounding: a vectorised kernel body and its scalar tail may round one element
    differently, and a one-parameter call puts elements in the tail that a whole-bucket call vectorises."""
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)


def same_state_dict(got: dict, want: dict, compare: object = exact) -> None:
    compare(got["state"], want["state"])
    assert got["param_groups"] == want["param_groups"]


def plain_run(module: object, name: str, kwargs: dict, steps: int = STEPS) -> tuple[list, object]:
    params = make_params(torch.float64)
    optimizer = getattr(module, name)(param_groups(params, kwargs["lr"]), **kwargs)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(params).backward()
        optimizer.step()
    return params, optimizer


def fused_run(name: str, kwargs: dict, steps: int = STEPS) -> tuple[list, object]:
    params = make_params(torch.float64)
    optimizer = getattr(inertia, name)(param_groups(params, kwargs["lr"]), **kwargs)
    fusion = fuse_into_backward(None, optimizer)
    for _ in range(steps):
        loss_of(params).backward()
        assert all(p.grad is None for p in params)
    assert fusion.steps_taken == steps * len(params)
    return params, optimizer


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_fused_backward_equals_step_and_torch_twin(config: tuple) -> None:
    name, kwargs = config
    fused_params, fused_opt = fused_run(name, kwargs)
    plain_params, plain_opt = plain_run(inertia, name, kwargs)
    torch_params, _ = plain_run(torch.optim, name, kwargs)
    for fused, plain, twin in zip(fused_params, plain_params, torch_params, strict=True):
        exact(fused, plain)
        exact(fused, twin)
    same_state_dict(fused_opt.state_dict(), plain_opt.state_dict())


@pytest.mark.parametrize("config", KERNEL_CASES, ids=config_id)
def test_one_parameter_kernels_equal_the_fused_step(config: tuple) -> None:
    pytest.importorskip("numba")
    name, kwargs = config
    kwargs = dict(kwargs, impl="fused")
    plain_params, plain_opt = plain_run(inertia, name, kwargs)
    params = make_params(torch.float64)
    optimizer = getattr(inertia, name)(param_groups(params, kwargs["lr"]), **kwargs)
    fusion = fuse_into_backward(None, optimizer)
    for _ in range(STEPS):
        loss_of(params).backward()
    assert fusion.kernel_steps == fusion.steps_taken == STEPS * len(params)
    close(params, plain_params)
    same_state_dict(optimizer.state_dict(), plain_opt.state_dict(), close)


def test_muon_per_parameter_matches_its_step() -> None:
    generator = torch.Generator().manual_seed(3)
    runs = []
    for fused in (False, True):
        params = [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=torch.float64))
                  for shape in ((5, 3), (5, 3), (4, 6))]
        generator.manual_seed(3)
        optimizer = inertia.Muon(params, lr=0.05)
        if fused:
            fuse_into_backward(None, optimizer)
        for _ in range(STEPS):
            (params[0].sin().sum() + (params[1] * params[0]).sum() + params[2].pow(2).sum()).backward()
            if not fused:
                optimizer.step()
                optimizer.zero_grad()
        runs.append(params)
    for fused, plain in zip(runs[1], runs[0], strict=True):
        torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)


def test_group_hyperparameters_changed_mid_run_apply() -> None:
    runs = []
    for fused in (False, True):
        params = make_params(torch.float64)
        optimizer = inertia.Adam(param_groups(params, 0.1), lr=0.1)
        if fused:
            fuse_into_backward(None, optimizer)
        for step in range(STEPS):
            optimizer.param_groups[1]["lr"] = 0.01 * (step + 1)
            loss_of(params).backward()
            if not fused:
                optimizer.step()
                optimizer.zero_grad()
        runs.append((params, optimizer.state_dict()))
    exact(runs[1][0], runs[0][0])
    same_state_dict(runs[1][1], runs[0][1])


def test_load_state_dict_while_fused_takes_effect() -> None:
    plain_params, plain_opt = plain_run(inertia, "Adam", dict(lr=0.1))
    plain_opt.param_groups[1]["lr"] = 0.02
    for _ in range(STEPS):
        plain_opt.zero_grad()
        loss_of(plain_params).backward()
        plain_opt.step()
    params = make_params(torch.float64)
    optimizer = inertia.Adam(param_groups(params, 0.1), lr=0.1)
    fuse_into_backward(None, optimizer)
    for _ in range(STEPS):
        loss_of(params).backward()
    saved = optimizer.state_dict()
    saved["param_groups"][1]["lr"] = 0.02
    optimizer.load_state_dict(saved)  # new param group dicts: the hooks look their group up by index
    for _ in range(STEPS):
        loss_of(params).backward()
    exact(params, plain_params)
    same_state_dict(optimizer.state_dict(), plain_opt.state_dict())


def test_micro_batches_accumulate_then_step_once() -> None:
    halves = [(0.25, 0.75), (0.6, 0.4)]
    plain_params, _ = plain_run(inertia, "SGD", dict(lr=0.1, momentum=0.9), steps=0)
    plain_opt = inertia.SGD(plain_params, lr=0.1, momentum=0.9)
    params = make_params(torch.float64)
    optimizer = inertia.SGD(params, lr=0.1, momentum=0.9)
    fusion = fuse_into_backward(None, optimizer)
    for weights in halves:
        plain_opt.zero_grad()
        for weight in weights:
            (weight * loss_of(plain_params)).backward()
        plain_opt.step()
        with fusion.accumulating():
            (weights[0] * loss_of(params)).backward()
        assert all(p.grad is not None for p in params)
        (weights[1] * loss_of(params)).backward()
        assert all(p.grad is None for p in params)
    exact(params, plain_params)
    assert fusion.steps_taken == len(halves) * len(params)


def test_each_backward_outside_accumulating_is_one_step() -> None:
    params = make_params(torch.float64)
    optimizer = inertia.Adam(params, lr=0.1)
    fuse_into_backward(None, optimizer)
    for _ in range(3):
        loss_of(params).backward()
    assert [int(optimizer.state[p]["step"]) for p in params] == [3] * len(params)


def test_per_parameter_clipping_clips_each_gradient_on_its_own() -> None:
    plain_params = make_params(torch.float64)
    plain_opt = inertia.Adagrad(plain_params, lr=0.1)
    params = make_params(torch.float64)
    optimizer = inertia.Adagrad(params, lr=0.1)
    fuse_into_backward(None, optimizer, per_parameter_max_grad_norm=0.5)
    for _ in range(STEPS):
        plain_opt.zero_grad()
        (3 * loss_of(plain_params)).backward()
        for param in plain_params:
            torch.nn.utils.clip_grad_norm_(param, 0.5)
        plain_opt.step()
        (3 * loss_of(params)).backward()
    exact(params, plain_params)


def test_remove_restores_normal_behaviour() -> None:
    plain_params, plain_opt = plain_run(inertia, "RMSprop", dict(lr=0.01, momentum=0.5), steps=2 * STEPS)
    params = make_params(torch.float64)
    optimizer = inertia.RMSprop(param_groups(params, 0.01), lr=0.01, momentum=0.5)
    with fuse_into_backward(None, optimizer) as fusion:
        for _ in range(STEPS):
            loss_of(params).backward()
    assert not fusion.active
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss_of(params).backward()
        assert all(p.grad is not None for p in params)
        optimizer.step()
    exact(params, plain_params)
    same_state_dict(optimizer.state_dict(), plain_opt.state_dict())
    fuse_into_backward(None, optimizer).remove()  # the same parameters may be fused again once removed


def test_zero_grad_after_a_fused_backward_changes_nothing() -> None:
    params = make_params(torch.float64)
    optimizer = inertia.SGD(params, lr=0.1)
    fuse_into_backward(None, optimizer)
    loss_of(params).backward()
    before = [p.detach().clone() for p in params]
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)
    exact(params, before)


def test_flat_gradient_buffers_of_an_earlier_fused_step_are_dropped() -> None:
    pytest.importorskip("numba")
    params = make_params(torch.float64)
    optimizer = inertia.SGD(params, lr=0.1, momentum=0.9, impl="fused")
    loss_of(params).backward()
    optimizer.step()
    assert optimizer.fused_groups
    fusion = fuse_into_backward(None, optimizer)
    assert not optimizer.fused_groups
    loss_of(params).backward()
    assert all(p.grad is None for p in params)
    fusion.remove()
    optimizer.zero_grad()
    loss_of(params).backward()
    optimizer.step()
    assert optimizer.fused_groups


def test_nonfinite_raise_leaves_the_offending_parameter_untouched() -> None:
    params = make_params(torch.float64)
    optimizer = inertia.Adam(params, lr=0.1, nonfinite="raise")
    fuse_into_backward(None, optimizer)
    before = params[1].detach().clone()
    with pytest.raises(inertia.NonFiniteGradientError, match=r"param group 0, index 1 .*already stepped"):
        (loss_of(params) + params[1].sum() * math.inf).backward()
    exact(params[1], before)
    assert params[1] not in optimizer.state


def test_a_dropped_model_and_optimizer_are_freed() -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = inertia.Adam(model.parameters(), lr=0.1)
    fuse_into_backward(model, optimizer)
    model(torch.randn(4, 3)).sum().backward()
    alive = weakref.ref(model.weight)
    del model, optimizer
    gc.collect()
    assert alive() is None


def _model_and_optimizer() -> tuple[torch.nn.Module, inertia.SGD]:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    return model, inertia.SGD(model[0].parameters(), lr=0.1)


def test_refusals_name_the_argument_and_value() -> None:
    params = make_params(torch.float64)
    with pytest.raises(TypeError, match=r"Invalid optimizer: SGD .*FlatOptimizer"):
        fuse_into_backward(None, torch.optim.SGD(params, lr=0.1))
    with pytest.raises(TypeError, match=r"Invalid optimizer: AdamWScheduleFree .*once per step"):
        fuse_into_backward(None, inertia.AdamWScheduleFree(params, lr=0.1))
    with pytest.raises(ValueError, match=r"Invalid nonfinite: 'skip' in param group 1"):
        fuse_into_backward(None, inertia.SGD([{"params": params[:1]}, {"params": params[1:], "nonfinite": "skip"}],
                                             lr=0.1))
    if "differentiable" in inertia.Adam.torch_group_flags:
        with pytest.raises(ValueError, match=r"Invalid differentiable: True in param group 0"):
            fuse_into_backward(None, inertia.Adam(params, lr=0.1, differentiable=True))
    with pytest.raises(ValueError, match=r"Invalid max_grad_norm: 1\.0 .*per_parameter_max_grad_norm"):
        fuse_into_backward(None, inertia.SGD(params, lr=0.1), max_grad_norm=1.0)
    for bad in (-1.0, 0, math.nan, math.inf, "1", True):
        with pytest.raises(ValueError, match=rf"Invalid per_parameter_max_grad_norm: {bad!r}".replace(".", r"\.")):
            fuse_into_backward(None, inertia.SGD(params, lr=0.1), per_parameter_max_grad_norm=bad)
    model, optimizer = _model_and_optimizer()
    with pytest.raises(ValueError, match=r"Invalid model: parameter '1\.weight' \(shape \(1, 4\)\)"):
        fuse_into_backward(model, optimizer)
    with pytest.raises(TypeError, match=r"Invalid model: list"):
        fuse_into_backward([model], optimizer)


def test_refused_calls_leave_no_hooks_behind() -> None:
    params = make_params(torch.float64)
    optimizer = inertia.SGD(params, lr=0.1)
    with pytest.raises(ValueError, match=r"Invalid max_grad_norm"):
        fuse_into_backward(None, optimizer, max_grad_norm=1.0)
    loss_of(params).backward()
    assert all(p.grad is not None for p in params)
    optimizer.step()


def test_step_and_a_second_fusion_are_refused_while_fused() -> None:
    model, optimizer = _model_and_optimizer()
    model[1].requires_grad_(False)
    fusion = fuse_into_backward(model, optimizer)
    with pytest.raises(RuntimeError, match=r"SGD\.step\(\) called while the step is fused into backward"):
        optimizer.step()
    with pytest.raises(ValueError, match=r"Invalid optimizer: a parameter of shape \(4, 3\) is already fused"):
        fuse_into_backward(None, inertia.Adam(model[0].parameters(), lr=0.1))
    fusion.remove()
    optimizer.step()


def _step_memory_script() -> object:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "step_memory.py"
    spec = importlib.util.spec_from_file_location("step_memory", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["step_memory"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_memory_benchmark_rows_in_backward_keep_no_gradient() -> None:
    script = _step_memory_script()
    results = script.run(scale=0.02, sequence=8)
    assert [r["in_backward"] for r in results].count(True) == len(results) // 2
    by_row = {(r["label"], r["in_backward"]): r for r in results}
    for (label, in_backward), result in by_row.items():
        assert result["peak"] >= result["after"] > 0
        if in_backward:
            plain = by_row[(label, False)]
            assert result["peak"] < plain["peak"]
            assert result["after"] <= plain["after"]
    with pytest.raises(ValueError, match=r"Invalid scale: 0\.0"):
        script.Shape.scaled(0.0)
    with pytest.raises(SystemExit):
        script.main(["--scale", "2"])
