"""The fused path inside the optimizers: flat buffers, same trajectories, O(1) kernel calls per step."""

from __future__ import annotations

import io
import pickle
import warnings

import pytest
import torch
from kernel_cases import CASES, case_id

import inertia
from inertia.kernels import FusedFallbackWarning
from inertia.optim import fused_dispatch

SHAPES = [(6, 4), (4,), (3, 2, 2), (1,), (5, 3)]
CUDA = torch.cuda.is_available()
# where the fused trajectories run: CPU always; CUDA (Triton, and Triton replayed from a CUDA graph) if present
MODES = ["cpu"] + (["cuda", "cuda-graph"] if CUDA else [])


def make_params(dtype: torch.dtype = torch.float32, seed: int = 0, device: str = "cpu") -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=generator, dtype=dtype).to(device)) for s in SHAPES]


def loss_of(params: list[torch.Tensor]) -> torch.Tensor:
    total = params[0].sin().pow(2).sum() + (params[1] ** 4).sum() / 4 + params[4].tanh().sum()
    return total + (params[2] * params[2].flip(0)).sum() + params[3].cos().sum()


def build(name: str, kwargs: dict, params: list, impl: str, **extra) -> torch.optim.Optimizer:
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": kwargs["lr"] / 2}]
    return getattr(inertia, name)(groups, impl=impl, **kwargs, **extra)


def train(optimizer: torch.optim.Optimizer, params: list, steps: int) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(params).backward()
        optimizer.step()


def assert_fused(optimizer: torch.optim.Optimizer) -> None:
    """Every bucket of every group ran the fused path on the last step."""
    groups = list(optimizer.fused_groups.values())
    assert groups and all(b.stepper is not None and b.done is not None for g in groups for b in g.buckets)
    for group in optimizer.param_groups:
        assert len({p.untyped_storage().data_ptr() for p in group["params"]}) == 1
        assert len({p.grad.untyped_storage().data_ptr() for p in group["params"]}) == 1


def assert_same(got: list, want: list, exact: bool = False) -> None:
    tolerance = dict(rtol=0, atol=0) if exact else dict(rtol=1e-4, atol=1e-5)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), **tolerance)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fused_trajectory_matches_reference(case, mode: str) -> None:
    name, kwargs = case
    device = mode.split("-")[0]
    runs = {}
    for impl in ("reference", "fused"):
        params = make_params(device=device)
        optimizer = build(name, kwargs, params, impl, capturable=mode == "cuda-graph")
        train(optimizer, params, 6)
        runs[impl] = params
    assert_fused(optimizer)
    if mode == "cuda-graph":
        assert all(b.stepper.graphs is not None for g in optimizer.fused_groups.values() for b in g.buckets)
    assert_same(runs["fused"], runs["reference"])


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_each_cpu_backend_drives_the_optimizer(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inertia.Adam.rule, "cpu_backend", backend)
    runs = []
    for impl in ("reference", "fused"):
        params = make_params(torch.float64)
        optimizer = build("AdamW", dict(lr=0.01, amsgrad=True), params, impl)
        train(optimizer, params, 4)
        runs.append(params)
    assert optimizer.fused_groups[id(optimizer.param_groups[0])].buckets[0].stepper_key[1] == backend
    assert_same(runs[1], runs[0])


def test_one_kernel_call_per_bucket_whatever_the_number_of_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    params = [torch.nn.Parameter(torch.randn(7)) for _ in range(300)]
    optimizer = inertia.Adam(params, lr=0.01, impl="fused")
    for p in params:
        p.grad = torch.randn(7)
    optimizer.step()
    stepper = optimizer.fused_groups[id(optimizer.param_groups[0])].buckets[0].stepper
    monkeypatch.setattr(type(stepper), "__call__", lambda self, hyper, step: calls.append(step))
    optimizer.step()
    optimizer.step()
    assert calls == [2, 3]


def test_grads_accumulate_in_the_flat_buffer_and_zero_grad_keeps_views() -> None:
    params = make_params()
    optimizer = inertia.SGD(params, lr=0.1, momentum=0.9, impl="fused")
    train(optimizer, params, 1)
    views = [p.grad for p in params]
    flat = optimizer.fused_groups[id(optimizer.param_groups[0])].buckets[0].grad_flat
    optimizer.zero_grad()
    assert all(p.grad is v for p, v in zip(params, views, strict=True)) and not flat.any()
    loss_of(params).backward()
    loss_of(params).backward()
    expected = torch.autograd.grad(2 * loss_of(params), params)
    assert all(p.grad is v for p, v in zip(params, views, strict=True))
    assert_same([p.grad for p in params], list(expected))


def test_auto_fuses_large_cpu_buckets_only() -> None:
    small, large = torch.nn.Parameter(torch.randn(10)), torch.nn.Parameter(torch.randn(fused_dispatch.AUTO_CPU_MIN_ELEMENTS))
    optimizer = inertia.Adam([{"params": [small]}, {"params": [large]}], lr=0.01)
    for p in (small, large):
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert small.untyped_storage().nbytes() == small.numel() * 4
    assert large.untyped_storage().nbytes() >= large.numel() * 4
    assert optimizer.fused_groups[id(optimizer.param_groups[1])].buckets[0].stepper is not None
    torch_flag = inertia.Adam([torch.nn.Parameter(torch.randn(10))], lr=0.01, fused=True)
    assert fused_dispatch.resolve_impl(torch_flag.param_groups[0]) == "fused"


def test_state_dict_round_trip_is_bit_exact_and_torch_compatible() -> None:
    reference = make_params()
    train(build("Adam", dict(lr=0.01, amsgrad=True), reference, "fused"), reference, 10)
    params = make_params()
    first = build("Adam", dict(lr=0.01, amsgrad=True), params, "fused")
    train(first, params, 4)
    buffer = io.BytesIO()
    torch.save({"params": [p.detach().clone() for p in params], "optimizer": first.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed = [torch.nn.Parameter(t) for t in checkpoint["params"]]
    second = build("Adam", dict(lr=0.01, amsgrad=True), resumed, "fused")
    second.load_state_dict(checkpoint["optimizer"])
    train(second, resumed, 6)
    assert_same(resumed, reference, exact=True)
    torch_params = [torch.nn.Parameter(t.clone()) for t in checkpoint["params"]]
    torch_optimizer = torch.optim.Adam([{"params": torch_params[:2]}, {"params": torch_params[2:], "lr": 0.005}],
                                       lr=0.01, amsgrad=True)
    torch_optimizer.load_state_dict(checkpoint["optimizer"])
    train(torch_optimizer, torch_params, 6)
    assert_same(torch_params, reference)


def test_pickled_fused_optimizer_stays_fused_and_continues() -> None:
    params = make_params()
    optimizer = build("RMSprop", dict(lr=0.01, centered=True), params, "fused")
    train(optimizer, params, 3)
    restored = pickle.loads(pickle.dumps(optimizer))
    restored_params = [p for group in restored.param_groups for p in group["params"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FusedFallbackWarning)
        train(restored, restored_params, 3)
    train(optimizer, params, 3)
    assert_fused(restored)
    assert_same(restored_params, params, exact=True)


def test_closure_and_several_groups() -> None:
    runs = []
    for impl in ("reference", "fused"):
        params = make_params()
        optimizer = build("Adagrad", dict(lr=0.1, lr_decay=0.01), params, impl)

        def closure(optimizer=optimizer, params=params) -> torch.Tensor:
            optimizer.zero_grad()
            loss = loss_of(params)
            loss.backward()
            return loss

        losses = [float(optimizer.step(closure).detach()) for _ in range(5)]
        runs.append((params, losses))
    assert_same(runs[1][0], runs[0][0])
    assert runs[1][1] == pytest.approx(runs[0][1], rel=1e-5)


def test_step_hooks_still_run() -> None:
    params = make_params()
    optimizer = build("SGD", dict(lr=0.1, momentum=0.9), params, "fused")
    calls = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: calls.append("pre"))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append("post"))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    train(optimizer, params, 2)
    scheduler.step()
    assert calls == ["pre", "post", "pre", "post"]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
