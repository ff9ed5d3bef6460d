"""The Triton step of ``precision`` groups (:mod:`inertia.optim.precision_triton`) against the reference path.

On a machine without CUDA the kernels run in the interpreter (``TRITON_INTERPRET=1``, see conftest.py) on CPU
tensors: :data:`inertia.optim.precision_fused.TRITON_ON_CPU` sends the CPU buckets of a group to the Triton
path that CUDA buckets take. The store helpers are compared bit for bit with torch's rounding; whole steps
with the reference path (float32 values within the native fused tolerance, bf16 values within one spacing
and, where the float32 values agree exactly, bit for bit).
"""

from __future__ import annotations

import copy
import warnings
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from precision_cases import FP32_TOLERANCE, PRECISIONS, assert_close_state, build, run

import inertia
from inertia.kernels.jit import compiled, tl, triton_source
from inertia.kernels.low_precision import stochastic_round
from inertia.kernels.rounding_store import bf16_bits_array, store_stochastic_bf16
from inertia.kernels.rule_info import FusedFallbackWarning
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    round_nearest_bf16,
    stochastic_round_bf16,
    store_rounded,
)
from inertia.kernels.triton_precision import PrecisionTritonStepper
from inertia.optim import precision_fused, precision_triton
from inertia.optim.precision import MASTER_KEY, ROUNDING_KEY, Rounder

pytest.importorskip("triton")

SHAPES = ((10, 50), (7,), (443,))  # 950 elements in three parameters, two groups
STEPS = 3
#: (class, options) of the rules compared in every mode (Adam) or in the two stochastic ones.
RULES = [("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)), ("AdamW", dict(lr=0.01, weight_decay=0.1)),
         ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)), ("Lion", dict(lr=1e-3, weight_decay=0.1)),
         ("NAdam", dict(lr=0.01)), ("ASGD", dict(lr=0.01, t0=1.0))]


@triton_source
def store_kernel(x_ptr, out_ptr, rng_ptr, n, SR: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    store_rounded(out_ptr, offs, tl.load(x_ptr + offs, mask=mask), mask, SR, rng_ptr, 2)


@triton_source
def nearest_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, round_nearest_bf16(tl.load(x_ptr + offs, mask=mask)), mask=mask)


def awkward_values(n: int = 1000) -> torch.Tensor:
    """float32 values over many binades, with infinities, the largest finite values, zeros and subnormals."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(n, generator=generator) * torch.exp2(torch.randint(-140, 128, (n,), generator=generator)).float()
    specials = [float("inf"), -float("inf"), 3.4028235e38, -3.4028235e38, 3.39e38, 0.0, -0.0, 1e-40, -1e-42, 1.0,
                1.00390625, 1.01171875]  # the last two: bf16 ties (to even: down, up)
    x[:len(specials)] = torch.tensor(specials)
    return x


def as_int64(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


def rounded_reference(x: torch.Tensor, seed: int, offset: int) -> torch.Tensor:
    """``x`` rounded on the stream (seed, offset + i): by torch (offsets below 2**63), else the numba store."""
    if offset + x.numel() < 2**63:
        return stochastic_round(x, torch.bfloat16, seed=seed, offset=offset)
    pytest.importorskip("numba")
    out = torch.empty(x.shape, dtype=torch.bfloat16)
    store_stochastic_bf16(x.numpy(), bf16_bits_array(out), seed, offset)
    return out


@pytest.mark.parametrize(("seed", "offset"), [(12345, 0), (2**64 - 5, (3 * 64 + 2) << 36),
                                              (2**63 + 9, 2**63 - 500), (7, 2**64 - 2**40)])
def test_store_rounded_draws_the_bits_of_stochastic_round(seed: int, offset: int) -> None:
    """``store_rounded`` with SR into bfloat16 rounds element ``i`` as ``stochastic_round(seed, offset + i)``,
    bit for bit (seeds and offsets at and above 2**63 included: the int64 table holds their 64 bits); into
    float32 it stores the value itself."""
    x = awkward_values()
    x[-1] = float("nan")
    kernel = compiled(__name__, "store_kernel", "triton")
    table = torch.tensor([as_int64(seed), 0, 0, as_int64(offset)], dtype=torch.int64)
    got = torch.empty(x.shape, dtype=torch.bfloat16)
    kernel[(4,)](x, got, table, x.numel(), SR=True, BLOCK=256)
    want = rounded_reference(x, seed, offset)
    assert torch.isnan(got[-1]) and torch.isnan(want[-1])
    assert torch.equal(got[:-1].view(torch.int16), want[:-1].view(torch.int16))
    plain = torch.empty_like(x)
    kernel[(4,)](x, plain, table, x.numel(), SR=True, BLOCK=256)
    assert torch.equal(plain[:-1], x[:-1])


def test_round_nearest_bf16_is_torchs_cast() -> None:
    """The master store's rounding to nearest (ties to even) equals torch's float32 -> bfloat16 cast bit for
    bit, overflow to infinity included; NaN stays NaN (its bit pattern is the platform's own)."""
    x = torch.cat([awkward_values(), torch.tensor([3.3961776e38, -3.3961776e38, float("nan"), -float("nan")])])
    got = torch.empty(x.shape, dtype=torch.bfloat16)
    compiled(__name__, "nearest_kernel", "triton")[(4,)](x, got, x.numel(), BLOCK=256)
    assert torch.equal(got[:-2].view(torch.int16), x[:-2].to(torch.bfloat16).view(torch.int16))
    assert torch.isnan(got[-2:]).all()


def test_stepper_refuses_bad_streams_and_outputs() -> None:
    spec, _ = inertia.SGD.rule.spec({"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                                      "nesterov": False, "maximize": False})
    buffers = {"param": torch.zeros(8), "grad": torch.zeros(8)}
    with pytest.raises(ValueError, match="Invalid out"):
        PrecisionTritonStepper(spec, buffers, sr_param=False, sr_state=False, out=torch.zeros(7))
    stepper = PrecisionTritonStepper(spec, buffers, sr_param=True, sr_state=True)
    with pytest.raises(ValueError, match="Invalid offsets"):
        stepper.set_streams(1, [0])
    with pytest.raises(ValueError, match="Invalid seed/offsets"):
        stepper.set_streams(2**64, [0, 0])


# ---------------------------------------------------------------------- whole steps against the reference


@pytest.fixture
def triton_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """CPU buckets take the Triton path; the list gets the elements of each Triton precision step."""
    monkeypatch.setattr(precision_fused, "TRITON_ON_CPU", True)
    calls: list[int] = []
    original = precision_fused.step_params_triton

    def spy(optimizer: Any, group: dict[str, Any], params: list[torch.Tensor], *args: Any) -> None:
        calls.append(sum(param.numel() for param in params))
        original(optimizer, group, params, *args)

    monkeypatch.setattr(precision_fused, "step_params_triton", spy)
    return calls


def make_params(dtype: torch.dtype = torch.bfloat16) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=generator).to(dtype).requires_grad_() for shape in SHAPES]


def compare(name: str, kwargs: dict[str, Any], precision: str, dtype: torch.dtype = torch.bfloat16
            ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.optim.Optimizer, torch.optim.Optimizer]:
    runs = {}
    for impl in ("reference", "fused"):
        params = make_params(dtype)
        optimizer = build(name, params, kwargs, impl, precision)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FusedFallbackWarning)
            run(optimizer, params, range(STEPS))
        runs[impl] = optimizer, params
    (fused, got), (reference, want) = runs["fused"], runs["reference"]
    return got, want, fused, reference


@pytest.mark.parametrize("precision", PRECISIONS)
def test_adam_matches_reference_in_every_mode(precision: str, triton_calls: list[int]) -> None:
    """Adam (amsgrad, L2 decay): every step of every parameter takes the Triton path, the first (which makes
    the state) included; parameters, masters and state as the reference path's; the counts exactly."""
    got, want, fused, reference = compare("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True), precision)
    assert sum(triton_calls) == STEPS * sum(p.numel() for p in got)
    assert_close_state(got, want, fused, reference)
    if precision.startswith("stochastic"):
        assert all(fused.state[p][ROUNDING_KEY] == STEPS for p in got)


@pytest.mark.parametrize("precision", ["master+bf16-state", "stochastic+bf16-state", "stochastic+fp32-state"])
@pytest.mark.parametrize(("name", "kwargs"), RULES, ids=[name for name, _ in RULES])
def test_rules_match_reference(name: str, kwargs: dict[str, Any], precision: str, triton_calls: list[int]) -> None:
    got, want, fused, reference = compare(name, kwargs, precision)
    assert sum(triton_calls) == STEPS * sum(p.numel() for p in got)
    assert_close_state(got, want, fused, reference)


def test_float16_master_weights(triton_calls: list[int]) -> None:
    """float16 parameters under ``master``: the kernel writes them from the float32 master, rounded to nearest."""
    got, want, fused, reference = compare("Adam", dict(lr=0.01), "master+fp32-state", torch.float16)
    assert sum(triton_calls) == STEPS * sum(p.numel() for p in got)
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a.detach(), fused.state[a][MASTER_KEY].half())  # the master, rounded by torch's cast
        torch.testing.assert_close(fused.state[a][MASTER_KEY], reference.state[b][MASTER_KEY], **FP32_TOLERANCE)


@pytest.mark.parametrize("precision", ["stochastic+fp32-state", "stochastic+bf16-state"])
def test_rounding_decisions_agree_where_float32_values_agree(precision: str, triton_calls: list[int]) -> None:
    """SGD with momentum 1/2 and a power-of-two learning rate computes the same float32 values on both paths
    (exact products, one rounding per sum): the stochastically rounded parameters and bf16 momentum buffers
    are then identical bit for bit."""
    got, want, fused, reference = compare("SGD", dict(lr=2.0**-4, momentum=0.5), precision)
    assert triton_calls
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a.detach().view(torch.int16), b.detach().view(torch.int16))
        buffer, expected = fused.state[a]["momentum_buffer"], reference.state[b]["momentum_buffer"]
        assert buffer.dtype == expected.dtype
        assert torch.equal(buffer, expected)


def test_resume_from_state_dict_matches_the_uninterrupted_run(triton_calls: list[int]) -> None:
    """A run resumed from its ``state_dict`` (new state tensors, so new steppers) equals the uninterrupted one."""
    kwargs, precision = dict(lr=0.01, weight_decay=0.1), "stochastic+bf16-state"
    params = make_params()
    optimizer = build("NAdam", params, kwargs, "fused", precision)
    run(optimizer, params, range(2))
    saved, saved_params = copy.deepcopy(optimizer.state_dict()), [p.detach().clone() for p in params]
    run(optimizer, params, range(2, 4))
    resumed_params = [p.clone().requires_grad_() for p in saved_params]
    resumed = build("NAdam", resumed_params, kwargs, "fused", precision, seed=99)
    resumed.load_state_dict(saved)
    run(resumed, resumed_params, range(2, 4))
    for a, b in zip(params, resumed_params, strict=True):
        assert torch.equal(a.detach(), b.detach())
        for key, value in optimizer.state[a].items():
            assert torch.equal(resumed.state[b][key], value) if isinstance(value, torch.Tensor) else (
                resumed.state[b][key] == value)


def test_streams_are_those_of_rounder(triton_calls: list[int]) -> None:
    """The table a parameter's stepper holds after its step: the seed and slot offsets of ``Rounder``."""
    params = make_params()
    optimizer = build("Adam", params, dict(lr=0.01), "fused", "stochastic+bf16-state")
    run(optimizer, params, range(1))
    group = optimizer.param_groups[0]
    rounder = Rounder(group)
    rounder.start({}, 1)
    stepper = precision_triton._steppers[params[1]][1]
    seed, offset = rounder.stream(1, 0)
    keys = optimizer.state_keys
    want = [seed, offset, rounder.stream(1, 1 + keys.index("exp_avg"))[1],
            rounder.stream(1, 1 + keys.index("exp_avg_sq"))[1], 0]
    assert stepper.rng.tolist() == [as_int64(v) for v in want]


def test_8bit_state_and_reference_impl_keep_their_paths(triton_calls: list[int]) -> None:
    params = make_params()
    run(build("Adam", params, dict(lr=0.01), "reference", "stochastic+bf16-state"), params, range(2))
    fp32_params = [p.detach().float().requires_grad_() for p in params]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FusedFallbackWarning)  # its quantised tensors take the 8-bit kernels
        run(build("Adam", fp32_params, dict(lr=0.01), "fused", "native+8bit-state"), fp32_params, range(2))
    assert triton_calls == []


def test_buckets_route_by_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA buckets of a covered group take the Triton step, CPU ones numba, sharded ones and dtypes without
    a Triton kernel the reference path (with its warning)."""
    def bucket(device: str, dtype: torch.dtype = torch.bfloat16, sharded: bool = False) -> Any:
        return SimpleNamespace(device=torch.device(device), dtype=dtype, sharded=sharded)

    both = ("numba", "triton")
    assert precision_fused._bucket_backend(bucket("cuda"), both) == "triton"
    assert precision_fused._bucket_backend(bucket("cuda", torch.float16), ("triton",)) == "triton"
    assert precision_fused._bucket_backend(bucket("cuda"), ("numba",)) is None
    assert precision_fused._bucket_backend(bucket("cuda", torch.float8_e4m3fn), both) is None
    assert precision_fused._bucket_backend(bucket("cuda", sharded=True), both) is None
    assert precision_fused._bucket_backend(bucket("cpu"), both) == "numba"
    assert precision_fused._bucket_backend(bucket("meta"), both) is None
    monkeypatch.setattr(precision_fused, "TRITON_ON_CPU", True)
    assert precision_fused._bucket_backend(bucket("cpu"), both) == "triton"
