"""The fused CPU step of ``precision`` groups (:mod:`inertia.optim.precision_fused`) against the reference path."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from optimizer_db import OPTIMIZER_DB, config_id
from precision_cases import BF16_TOLERANCE, FP32_TOLERANCE, PRECISIONS, assert_close_state, build, run

import inertia
from inertia.kernels.low_precision import stochastic_round
from inertia.kernels.rounding_store import bf16_bits_array, store_stochastic_bf16
from inertia.kernels.rule_info import FusedFallbackWarning
from inertia.optim import fuse_into_backward, precision_fused
from inertia.optim.precision import MASTER_KEY, Rounder

pytest.importorskip("numba")

#: Every configuration of every class whose rule has a numba kernel (schedule-free steps its buckets its own way).
CONFIGS = [(info.name, kw) for info in OPTIMIZER_DB for kw in info.torch_configs + info.inertia_configs
           if getattr(info.optimizer_class.rule, "numba_kernel", None) and info.name != "AdamWScheduleFree"
           and not kw.get("differentiable")]
SHAPES = ((6, 10), (7,), (150,))
STEPS = 4


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 32 elements, so that the small test tensors span several chunks each."""
    monkeypatch.setattr(precision_fused, "CHUNK", 32)


def make_params(seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator).bfloat16().requires_grad_() for shape in SHAPES]


def count_fused(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spy on the fused precision step: the list gets the elements of each call."""
    calls: list[int] = []
    original = precision_fused._run

    def spy(jobs: list[Any]) -> None:
        calls.append(sum(job.n for job in jobs))
        original(jobs)

    monkeypatch.setattr(precision_fused, "_run", spy)
    return calls


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_fused_precision_matches_reference(config: tuple[str, dict[str, Any]], precision: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Parameters and state of a few fused steps equal the reference path's (float32 values within the native
    fused tolerance, bf16 ones within one bf16 spacing and nearly all bit for bit); step counts exactly."""
    name, kwargs = config
    calls = count_fused(monkeypatch)
    runs = {}
    for impl in ("reference", "fused"):
        params = make_params()
        optimizer = build(name, params, kwargs, impl, precision)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FusedFallbackWarning)
            run(optimizer, params, range(STEPS))
        runs[impl] = optimizer, params
    # Every step of every parameter is fused, the first (which makes the state) included.
    assert sum(calls) == STEPS * sum(p.numel() for p in runs["fused"][1])
    assert_close_state(runs["fused"][1], runs["reference"][1], runs["fused"][0], runs["reference"][0])


@pytest.mark.parametrize("precision", ["stochastic+fp32-state", "stochastic+bf16-state"])
def test_rounding_decisions_agree_where_float32_values_agree(precision: str) -> None:
    """SGD with a power-of-two learning rate computes the same float32 values on both paths (one exact
    product, one rounding): the stochastically rounded bf16 parameters are then identical, bit for bit."""
    runs = []
    for impl in ("reference", "fused"):
        params = make_params()
        optimizer = build("SGD", params, dict(lr=2.0**-4), impl, precision)
        run(optimizer, params, range(STEPS))
        runs.append(params)
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a.detach().view(torch.int16), b.detach().view(torch.int16))


def test_store_kernel_draws_the_bits_of_rounder() -> None:
    """The chunked numba store rounds each element as torch's ``stochastic_round`` does on the stream of
    ``Rounder`` for its parameter, slot and step (``Rounder.round`` takes the kernel itself where numba is)."""
    generator = torch.Generator().manual_seed(3)
    values = torch.randn(1000, generator=generator) * torch.logspace(-30, 30, 1000)
    values[:6] = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), 3.39e38, -3.39e38])
    rounder = Rounder({"rounding_seed": 2**62 + 12345})
    rounder.start({"rounding_step": 5}, 3)
    for slot in (0, 2):
        seed, offset = rounder.stream(3, slot)
        want = stochastic_round(values, torch.bfloat16, seed=seed, offset=offset)
        assert torch.equal(rounder.round(values, 3, slot).view(torch.int16), want.view(torch.int16))
        got = torch.empty(1000, dtype=torch.bfloat16)
        bits = bf16_bits_array(got)
        for lo in range(0, 1000, 128):
            store_stochastic_bf16(values.numpy()[lo:lo + 128], bits[lo:lo + 128], seed, offset + lo)
        assert torch.equal(got.view(torch.int16), want.view(torch.int16))
    with pytest.raises(ValueError, match="Invalid values/out"):
        store_stochastic_bf16(values.numpy(), np.zeros(3, np.uint16), 0, 0)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_state_dict_round_trip_and_resume(precision: str) -> None:
    """A fused run resumed from its ``state_dict`` equals the uninterrupted one bit for bit; the ``state_dict``
    holds what the reference path's holds (keys and dtypes)."""
    params = make_params()
    optimizer = build("Adam", params, dict(lr=0.01, weight_decay=0.1), "fused", precision)
    run(optimizer, params, range(2))
    saved, saved_params = copy.deepcopy(optimizer.state_dict()), [p.detach().clone() for p in params]
    run(optimizer, params, range(2, STEPS))
    resumed_params = [p.clone().requires_grad_() for p in saved_params]
    resumed = build("Adam", resumed_params, dict(lr=0.01, weight_decay=0.1), "fused", precision, seed=99)
    resumed.load_state_dict(saved)
    run(resumed, resumed_params, range(2, STEPS))
    for a, b in zip(params, resumed_params, strict=True):
        assert torch.equal(a.detach(), b.detach())
    for got, want in zip(resumed.state_dict()["state"].values(), optimizer.state_dict()["state"].values(),
                         strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert torch.equal(got[key], value) if isinstance(value, torch.Tensor) else got[key] == value
    reference_params = make_params()
    reference = build("Adam", reference_params, dict(lr=0.01, weight_decay=0.1), "reference", precision)
    run(reference, reference_params, range(2))
    for got, want in zip(saved["state"].values(), reference.state_dict()["state"].values(), strict=True):
        assert got.keys() == want.keys()
        assert all(not isinstance(v, torch.Tensor) or got[k].dtype == v.dtype for k, v in want.items())


def test_reference_impl_and_8bit_state_keep_the_reference_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_fused(monkeypatch)
    params = make_params()
    run(build("Adam", params, dict(lr=0.01), "reference", "stochastic+bf16-state"), params, range(STEPS))
    fp32_params = [p.detach().float().requires_grad_() for p in params]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FusedFallbackWarning)  # its quantised tensors take the 8-bit kernels
        run(build("Adam", fp32_params, dict(lr=0.01), "fused", "native+8bit-state"), fp32_params, range(2))
    assert calls == []


def test_auto_fuses_large_groups_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``impl="auto"`` a group fuses from the native path's size threshold on, as native groups do."""
    calls = count_fused(monkeypatch)
    params = make_params()
    run(build("Adam", params, dict(lr=0.01), "auto", "master"), params, range(STEPS))
    assert calls == []
    monkeypatch.setattr(precision_fused, "AUTO_CPU_MIN_ELEMENTS", 16)
    run(build("Adam", params, dict(lr=0.01), "auto", "master"), params, range(STEPS))
    assert sum(calls) == STEPS * sum(p.numel() for p in params)


def test_nonfinite_skip_leaves_a_fused_group_untouched() -> None:
    params = make_params()
    optimizer = build("AdamW", params, dict(lr=0.01, nonfinite="skip"), "fused", "stochastic+bf16-state")
    run(optimizer, params, range(2))
    before = copy.deepcopy(optimizer.state_dict()), [p.detach().clone() for p in params]
    for param in params:
        param.grad = torch.ones_like(param)
    params[2].grad[3] = float("nan")
    optimizer.step()
    assert optimizer.skipped_steps == 1
    assert all(torch.equal(a.detach(), b) for a, b in zip(params, before[1], strict=True))
    after = optimizer.state_dict()["state"]
    for index, state in before[0]["state"].items():
        assert all(torch.equal(after[index][k], v) if isinstance(v, torch.Tensor) else after[index][k] == v
                   for k, v in state.items())


@pytest.mark.parametrize("precision", ["master+bf16-state", "stochastic+bf16-state"])
def test_fused_into_backward_takes_the_fused_precision_step(precision: str) -> None:
    """``fuse_into_backward`` steps each parameter with the fused precision step, bit for bit as ``step()``."""
    models = []
    for _ in range(2):
        torch.manual_seed(4)
        model = torch.nn.Linear(80, 64).bfloat16()
        models.append((model, inertia.RMSprop(model.parameters(), lr=0.01, momentum=0.9, impl="fused",
                                              precision=precision)))
    fusion = fuse_into_backward(*models[1])
    inputs = torch.randn(5, 80, generator=torch.Generator().manual_seed(0)).bfloat16()
    for model, optimizer in models:
        for _ in range(3):
            model(inputs).float().pow(2).mean().backward()
            if model is models[0][0]:
                optimizer.step()
                optimizer.zero_grad()
    assert fusion.kernel_steps == fusion.steps_taken == 3 * 2
    for a, b in zip(models[0][0].parameters(), models[1][0].parameters(), strict=True):
        assert torch.equal(a.detach(), b.detach())


def test_native_params_with_bf16_state_match_reference() -> None:
    """``native+bf16-state`` (float32 parameters stepped in place, bf16 state) takes the fused step too."""
    runs = []
    for impl in ("reference", "fused"):
        params = [p.detach().float().requires_grad_() for p in make_params()]
        optimizer = build("Adam", params, dict(lr=0.01, amsgrad=True), impl, "native+bf16-state")
        run(optimizer, params, range(STEPS))
        runs.append((optimizer, params))
    (reference, reference_params), (fused, fused_params) = runs
    for a, b in zip(fused_params, reference_params, strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), **FP32_TOLERANCE)
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert fused.state[a][key].dtype == torch.bfloat16
            torch.testing.assert_close(fused.state[a][key].float(), reference.state[b][key].float(), **BF16_TOLERANCE)


def test_threads_step_as_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks split between threads (each with its own scratch) give what one thread gives, bit for bit."""
    runs = []
    threads = torch.get_num_threads()
    try:
        for parallel_min in (2**62, 1):
            monkeypatch.setattr(precision_fused, "PARALLEL_MIN", parallel_min)
            torch.set_num_threads(3)
            params = make_params()
            run(build("Lion", params, dict(lr=0.01), "fused", "stochastic+bf16-state"), params, range(STEPS))
            runs.append(params)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a.detach(), b.detach())


def test_torch_checkpoint_without_masters_resumes_on_the_fused_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch.optim checkpoint (no ``master_param``) loaded into a fused ``master`` group: the masters are made
    from the parameters on the next step, fused, as the reference path makes them."""
    calls = count_fused(monkeypatch)
    params = make_params()
    torch_optimizer = torch.optim.Adam(params, lr=0.01)
    run(torch_optimizer, params, range(2))
    saved = torch_optimizer.state_dict()
    runs = []
    for impl in ("reference", "fused"):
        copies = [p.detach().clone().requires_grad_() for p in params]
        optimizer = inertia.Adam(copies, lr=0.01, impl=impl, precision="master")
        optimizer.load_state_dict(copy.deepcopy(saved))
        assert all(MASTER_KEY not in optimizer.state[p] for p in copies)
        run(optimizer, copies, range(2, STEPS))
        runs.append((optimizer, copies))
    assert sum(calls) == (STEPS - 2) * sum(p.numel() for p in params)
    (reference, reference_params), (fused, fused_params) = runs
    for a, b in zip(fused_params, reference_params, strict=True):
        assert fused.state[a][MASTER_KEY].dtype == torch.float32
        torch.testing.assert_close(fused.state[a][MASTER_KEY], reference.state[b][MASTER_KEY], **FP32_TOLERANCE)
        torch.testing.assert_close(a.detach().float(), b.detach().float(), **BF16_TOLERANCE)
        assert torch.equal(fused.state[a]["step"], reference.state[b]["step"])
