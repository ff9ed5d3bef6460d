"""The ``precision`` option of every optimizer: fp32 master weights, stochastic rounding, bf16 state."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import pytest
import torch
from optimizer_db import INFO, OPTIMIZER_DB, config_id

import inertia
from inertia.bench.report import markdown_tables
from inertia.bench.steps import floor_bytes_per_element, state_bytes_per_element
from inertia.kernels.low_precision import memory_per_parameter, parse_precision
from inertia.kernels.rule_info import FusedFallbackWarning
from inertia.optim import fuse_into_backward, precision_fused
from inertia.optim.precision import MASTER_KEY

#: Every configuration of every class in the table (differentiable ones refuse a non-native precision).
ALL_CONFIGS = [(info.name, kw) for info in OPTIMIZER_DB for kw in info.torch_configs + info.inertia_configs
               if not kw.get("differentiable")]
SHAPES = ((6, 10), (7,))
STEPS = 3


def make_params(dtype: torch.dtype, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator).to(dtype).requires_grad_() for shape in SHAPES]


def grads(step: int, dtype: torch.dtype) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + step)
    return [torch.randn(shape, generator=generator).to(dtype) for shape in SHAPES]


def build(name: str, params: list[torch.Tensor], kwargs: dict[str, Any], **extra: Any) -> torch.optim.Optimizer:
    kwargs = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    return getattr(inertia, name)(params, **kwargs, **extra)


def run(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], steps: range, dtype: torch.dtype) -> None:
    for step in steps:
        for param, grad in zip(params, grads(step, dtype), strict=True):
            param.grad = grad.to(param.dtype)
        optimizer.step()


def bits(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return [t.detach().clone() for t in tensors]


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=config_id)
@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_master_steps_exactly_as_a_float32_run(config: tuple[str, dict[str, Any]], low: torch.dtype) -> None:
    """The master weights are bit for bit the parameters of a float32 run fed the same (upcast) gradients,
    and the low-precision parameters are those masters rounded to nearest."""
    name, kwargs = config
    low_params = make_params(low)
    fp32_params = [p.detach().float().requires_grad_() for p in low_params]
    mixed = build(name, low_params, kwargs, precision="master")
    reference = build(name, fp32_params, kwargs)
    run(mixed, low_params, range(STEPS), low)
    run(reference, fp32_params, range(STEPS), low)
    for low_param, fp32_param in zip(low_params, fp32_params, strict=True):
        master = mixed.state[low_param][MASTER_KEY]
        assert master.dtype == torch.float32
        assert torch.equal(master, fp32_param.detach())
        assert torch.equal(low_param.detach(), fp32_param.detach().to(low))
        for key, value in reference.state[fp32_param].items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(mixed.state[low_param][key], value), key


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=config_id)
def test_bf16_state_is_stored_in_bf16_and_tracks_fp32_state(config: tuple[str, dict[str, Any]]) -> None:
    """``stochastic+bf16-state``: parameters and parameter-shaped state stay bf16; the run stays within a few
    bf16 spacings of the float32 run over a few steps."""
    name, kwargs = config
    params = make_params(torch.bfloat16)
    fp32_params = [p.detach().float().requires_grad_() for p in params]
    optimizer = build(name, params, kwargs, precision="stochastic+bf16-state")
    reference = build(name, fp32_params, kwargs)
    run(optimizer, params, range(STEPS), torch.bfloat16)
    run(reference, fp32_params, range(STEPS), torch.bfloat16)
    keys = getattr(inertia, name).state_keys
    for param, fp32_param in zip(params, fp32_params, strict=True):
        assert param.dtype == torch.bfloat16
        state = optimizer.state[param]
        assert MASTER_KEY not in state
        for key in keys:
            if key in state and state[key].shape == param.shape:
                assert state[key].dtype == torch.bfloat16, key
        spacing = torch.finfo(torch.bfloat16).eps * fp32_param.detach().abs().max().clamp(min=1.0)
        gap = (param.detach().float() - fp32_param.detach()).abs().max()
        # each step rounds once (at most one spacing) and a bf16 state perturbs its update by a relative eps
        assert gap <= 2 * STEPS * spacing + 1e-3 * STEPS


def quadratic_run(precision: str | None, elements: int, steps: int, lr_curvature: float, start: float,
                  target: float) -> torch.Tensor:
    """SGD on 0.5 * (x - target)**2 (curvature 1, so lr = lr_curvature) from bf16 ``start``."""
    x = torch.full((elements,), start, dtype=torch.bfloat16, requires_grad=True)
    options = {} if precision is None else {"precision": precision}
    optimizer = inertia.SGD([x], lr=lr_curvature, **options)
    for _ in range(steps):
        x.grad = (x.detach().float() - target).to(torch.bfloat16)
        optimizer.step()
    return x.detach().float()


def test_stochastic_rounding_is_unbiased_on_a_quadratic_where_round_to_nearest_stalls() -> None:
    """The law: the mean over many coordinates follows the float32 trajectory within four standard errors
    of the accumulated rounding noise; bf16 round-to-nearest does not move at all."""
    elements, steps, rate, start = 4096, 200, 0.01, 1.0
    spacing = torch.finfo(torch.bfloat16).eps  # at [1, 2)
    target = start + 0.75 * spacing * 0.5 / rate  # the first update, 0.375 spacings, rounds back to nearest
    fp32 = target - (target - start) * (1 - rate) ** steps
    stochastic = quadratic_run("stochastic", elements, steps, rate, start, target)
    nearest = quadratic_run(None, elements, steps, rate, start, target)
    assert torch.equal(nearest, torch.full_like(nearest, start))  # stalled: why the option exists
    # each rounding error has variance <= spacing**2 / 4; the contraction sums them geometrically
    per_element = spacing / 2 * math.sqrt(1 / (1 - (1 - rate) ** 2))
    assert abs(stochastic.mean().item() - fp32) <= 4 * per_element / math.sqrt(elements)
    assert abs(stochastic.mean().item() - fp32) < abs(start - fp32) / 10


@pytest.mark.parametrize("precision", ["stochastic", "stochastic+bf16-state", "master+bf16-state"])
def test_rounding_is_reproducible_from_the_seed(precision: str) -> None:
    """Two runs with the same seed give the same bits; another seed gives other bits."""
    results = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        params = make_params(torch.bfloat16)
        optimizer = inertia.Adam(params, lr=0.01, precision=precision)
        run(optimizer, params, range(STEPS), torch.bfloat16)
        results.append(bits(params) + [optimizer.state[params[0]]["exp_avg"].clone()])
    assert all(torch.equal(a, b) for a, b in zip(results[0], results[1], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(results[0], results[2], strict=True))


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "AdamWScheduleFree"])
@pytest.mark.parametrize("precision", ["master", "master+bf16-state", "stochastic+bf16-state"])
def test_resume_from_a_checkpoint_is_bit_exact(name: str, precision: str) -> None:
    """Three steps, a state_dict, a fresh optimizer loading it, three more steps: the same bits as six steps."""
    kwargs = dict(INFO[name].torch_configs[-1] if INFO[name].torch_configs else INFO[name].inertia_configs[-1])
    kwargs = {k: v for k, v in kwargs.items() if k != "differentiable"}
    params = make_params(torch.bfloat16)
    torch.manual_seed(5)  # the rounding seed is drawn from torch's default generator
    straight = build(name, params, kwargs, precision=precision)
    run(straight, params, range(6), torch.bfloat16)
    resumed_params = make_params(torch.bfloat16)
    torch.manual_seed(5)
    first = build(name, resumed_params, kwargs, precision=precision)
    run(first, resumed_params, range(3), torch.bfloat16)
    checkpoint = copy.deepcopy(first.state_dict())
    second_params = [p.detach().clone().requires_grad_() for p in resumed_params]
    second = build(name, second_params, kwargs, precision=precision)
    second.load_state_dict(checkpoint)
    run(second, second_params, range(3, 6), torch.bfloat16)
    for a, b in zip(params, second_params, strict=True):
        assert torch.equal(a.detach(), b.detach())
        for key, value in straight.state[a].items():
            if isinstance(value, torch.Tensor):
                assert value.dtype == second.state[b][key].dtype, key
                assert torch.equal(value, second.state[b][key]), key


def test_bf16_state_round_trips_through_torch_optim() -> None:
    """torch.optim.Adam loads bf16 state cast to its parameters' dtype (float32 here) and goes on; inertia
    loads torch's float32 state back into bf16 buffers (rounded to nearest)."""
    params = make_params(torch.float32)
    optimizer = inertia.Adam(params, lr=0.01, precision="native+bf16-state")
    run(optimizer, params, range(STEPS), torch.float32)
    saved = copy.deepcopy(optimizer.state_dict())
    assert saved["state"][0]["exp_avg"].dtype == torch.bfloat16
    torch_params = [p.detach().clone().requires_grad_() for p in params]
    twin = torch.optim.Adam(torch_params, lr=0.01)
    twin.load_state_dict(saved)
    assert twin.state[torch_params[0]]["exp_avg"].dtype == torch.float32
    assert torch.equal(twin.state[torch_params[0]]["exp_avg"], saved["state"][0]["exp_avg"].float())
    run(twin, torch_params, range(STEPS, STEPS + 1), torch.float32)
    back = inertia.Adam([p.detach().clone().requires_grad_() for p in torch_params], lr=0.01,
                        precision="native+bf16-state")
    back.load_state_dict(twin.state_dict())
    loaded = back.state[back.param_groups[0]["params"][0]]["exp_avg"]
    assert loaded.dtype == torch.bfloat16
    assert torch.equal(loaded, twin.state[torch_params[0]]["exp_avg"].to(torch.bfloat16))


def test_master_checkpoint_loads_into_torch_and_a_torch_checkpoint_makes_masters() -> None:
    """torch.optim.Adam over bf16 parameters loads a master checkpoint (its fp32 state cast to bf16; the master
    carried along unused, so it goes stale); inertia loading torch's checkpoint drops a master that its
    parameter no longer rounds from and makes it from the parameter on its next step."""
    params = make_params(torch.bfloat16)
    optimizer = inertia.Adam(params, lr=0.01, precision="master")
    run(optimizer, params, range(STEPS), torch.bfloat16)
    torch_params = [p.detach().clone().requires_grad_() for p in params]
    twin = torch.optim.Adam(torch_params, lr=0.01)
    twin.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    assert twin.state[torch_params[0]]["exp_avg"].dtype == torch.bfloat16
    run(twin, torch_params, range(STEPS, STEPS + 1), torch.bfloat16)
    back_params = [p.detach().clone().requires_grad_() for p in torch_params]
    back = inertia.Adam(back_params, lr=0.01, precision="master")
    back.load_state_dict(twin.state_dict())
    assert MASTER_KEY not in back.state[back_params[0]]
    assert back.state[back_params[0]]["exp_avg"].dtype == torch.float32
    expected = back_params[0].detach().float()
    run(back, back_params, range(STEPS + 1, STEPS + 2), torch.bfloat16)
    assert not torch.equal(back.state[back_params[0]][MASTER_KEY], expected)  # made from the param, then stepped
    assert torch.equal(back_params[0].detach(), back.state[back_params[0]][MASTER_KEY].to(torch.bfloat16))


def test_native_is_torch_exactly() -> None:
    """The default adds no group entry and no state key; explicit 'native+fp32-state' is the same."""
    runs = []
    for options in ({}, {"precision": "native"}, {"precision": "native+fp32-state"}):
        params = make_params(torch.float32)
        optimizer = inertia.Adam(params, lr=0.01, **options)
        run(optimizer, params, range(STEPS), torch.float32)
        assert "precision" not in optimizer.param_groups[0] and "rounding_seed" not in optimizer.param_groups[0]
        runs.append((optimizer.state_dict(), bits(params)))
    twin_params = make_params(torch.float32)
    twin = torch.optim.Adam(twin_params, lr=0.01)
    run(twin, twin_params, range(STEPS), torch.float32)
    for state_dict, params in runs:
        assert set(state_dict["state"][0]) == set(twin.state_dict()["state"][0])
        assert all(torch.equal(a, b) for a, b in zip(params, bits(twin_params), strict=True))


def test_state_bytes_per_parameter_match_the_table() -> None:
    """The state each mode holds, measured from its tensors, is what ``memory_per_parameter`` counts."""
    for precision in ("master", "master+bf16-state", "stochastic", "stochastic+bf16-state"):
        params = make_params(torch.bfloat16)
        optimizer = inertia.Adam(params, lr=0.01, precision=precision)
        run(optimizer, params, range(1), torch.bfloat16)
        numel = sum(p.numel() for p in params)
        state = [v for p in params for k, v in optimizer.state[p].items() if k in ("exp_avg", "exp_avg_sq")]
        masters = [optimizer.state[p][MASTER_KEY] for p in params if MASTER_KEY in optimizer.state[p]]
        expected = memory_per_parameter(parse_precision(precision), torch.bfloat16)
        assert sum(t.numel() * t.element_size() for t in state) / numel == expected["state"]
        assert sum(t.numel() * t.element_size() for t in masters) / numel == expected["master"]


REFUSED = [
    ("stochastic", torch.float32, r"Invalid precision: 'stochastic\+fp32-state' for parameters of dtype torch.float32"),
    ("stochastic", torch.float16, r"Invalid precision: 'stochastic\+fp32-state' for parameters of dtype torch.float16"),
    ("master", torch.float32, r"Invalid precision: 'master\+fp32-state' for parameters of dtype torch.float32"),
    ("native+bf16-state", torch.bfloat16, r"Invalid precision: 'native\+bf16-state' for parameters of dtype "
                                          r"torch.bfloat16"),
    ("master", torch.complex64, r"Invalid precision: 'master\+fp32-state' for parameters of dtype torch.complex64"),
    ("fp8", torch.bfloat16, r"Invalid precision: 'fp8'"),
    ("master+8bit-state", torch.bfloat16, r"Invalid precision: 'master\+8bit-state' for inertia.SGD \(8-bit state is "
                                          r"offered for Adam and AdamW only"),
]


@pytest.mark.parametrize(("precision", "dtype", "message"), REFUSED, ids=[f"{p}-{d}" for p, d, _ in REFUSED])
def test_refusals_name_precision_value_and_dtype(precision: str, dtype: torch.dtype, message: str) -> None:
    param = torch.zeros(4, dtype=dtype, requires_grad=True)
    with pytest.raises(ValueError, match=message):
        inertia.SGD([param], lr=0.1, precision=precision)
    with pytest.raises(ValueError, match=message):  # a param group of its own, added later
        inertia.SGD([torch.zeros(3, requires_grad=True)], lr=0.1).add_param_group(
            {"params": [param], "precision": precision})


def test_refusals_of_options() -> None:
    param = torch.zeros(4, dtype=torch.bfloat16, requires_grad=True)
    with pytest.raises(ValueError, match=r"Invalid precision: 'master\+fp32-state' with differentiable=True"):
        inertia.Adam([param], lr=0.1, precision="master", differentiable=True)
    with pytest.raises(TypeError, match=r"Invalid precision: 3 \(a int"):
        inertia.Adam([param], lr=0.1, precision=3)


def test_impl_fused_warns_and_steps_on_the_reference_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the fused precision step cannot run (here numba is taken as missing), impl="fused" warns and
    steps exactly as the reference path."""
    monkeypatch.setattr(precision_fused, "numba_available", lambda: False)
    params = make_params(torch.bfloat16)
    reference_params = [p.detach().clone().requires_grad_() for p in params]
    fused = inertia.Adam(params, lr=0.01, precision="master", impl="fused")
    reference = inertia.Adam(reference_params, lr=0.01, precision="master", impl="reference")
    with pytest.warns(FusedFallbackWarning, match=r"precision='master\+fp32-state' steps on the reference path"):
        run(fused, params, range(STEPS), torch.bfloat16)
    run(reference, reference_params, range(STEPS), torch.bfloat16)
    assert all(torch.equal(a, b) for a, b in zip(bits(params), bits(reference_params), strict=True))


@pytest.mark.parametrize("precision", ["master", "stochastic+bf16-state", "native+8bit-state"])
def test_fused_into_backward_steps_as_step(precision: str) -> None:
    """``fuse_into_backward`` with ``impl="fused"`` takes the precision step, as ``step()`` does."""
    dtype = torch.float32 if precision.startswith("native") else torch.bfloat16
    models = []
    for _ in range(2):
        torch.manual_seed(4)
        model = torch.nn.Linear(80, 64).to(dtype)
        models.append((model, inertia.AdamW(model.parameters(), lr=0.01, impl="fused", precision=precision)))
    fuse_into_backward(*models[1])
    inputs = torch.randn(5, 80, generator=torch.Generator().manual_seed(0)).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FusedFallbackWarning)
        for model, optimizer in models:
            for _ in range(2):
                model(inputs).float().pow(2).mean().backward()
                if model is models[0][0]:
                    optimizer.step()
                    optimizer.zero_grad()
    for a, b in zip(models[0][0].parameters(), models[1][0].parameters(), strict=True):
        assert torch.equal(a.detach(), b.detach())


def test_step_benchmark_reports_bytes_per_param() -> None:
    """The step benchmark's rows carry the bytes a step moves and the state bytes held per parameter; for Adam
    the state is what ``memory_per_parameter`` counts for native float32, and the table shows both."""
    state = state_bytes_per_element("adam")
    assert state == memory_per_parameter(parse_precision("native"), torch.float32)["state"]
    moved = floor_bytes_per_element("adam")
    assert moved == 3 * 4 + 2 * state  # read p, g and the state, write p and the state
    row = {"size": "1M/1", "optimizer": "adam", "impl": "inertia-fused", "step_ms": 1.0, "floor_ms": 0.5,
           "percent_of_floor": 50.0, "ratio_to_torch_best": 0.9, "note": "", "bandwidth_GBps": 10.0,
           "bytes_per_param": moved, "state_bytes_per_param": state}
    result = {"machine": {"date": "today"}, "steps": 1, "bandwidth_GBps": 10.0, "rows": [row]}
    assert f"| 0.90x | {moved} | {state} |" in markdown_tables(result)
