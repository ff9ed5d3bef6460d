"""AdamWScheduleFree against the paper's algorithm (Defazio et al., 2024), written here in float64 numpy,
and its fused path (numba, Triton) against its reference path.

torch.optim has no Schedule-Free AdamW, so the reference is independent: the three sequences
x, y, z kept explicitly, as the paper writes them, on a noisy quadratic whose gradient is taken at y.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

import inertia
from inertia.kernels import FusedFallbackWarning
from inertia.kernels.cpu import NumbaStepper
from inertia.kernels.triton_steps import TritonStepper, triton_available
from inertia.optim.schedule_free import flat_switchable
from inertia.optim.schedule_free_rule import SCHEDULE_FREE_RULE, next_schedule

if not torch.cuda.is_available():  # the Triton kernel runs through the interpreter (read when it is compiled)
    os.environ.setdefault("TRITON_INTERPRET", "1")

N = 33


def quadratic_grad(y: np.ndarray, t: int) -> np.ndarray:
    """The gradient of a diagonal quadratic at ``y``, plus noise fixed by the step ``t``."""
    generator = np.random.default_rng(t)
    scale = np.linspace(0.5, 3.0, y.size)
    return scale * (y - 1.0) + 0.3 * generator.standard_normal(y.size)


class PaperScheduleFree:
    """Schedule-Free AdamW with x, y, z kept explicitly (the paper's Algorithm 1, AdamW base step)."""

    def __init__(self, x0: np.ndarray, lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0) -> None:
        self.x, self.z, self.v = x0.copy(), x0.copy(), np.zeros_like(x0)
        self.lr, (self.beta1, self.beta2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.warmup, self.r, self.power = warmup_steps, r, weight_lr_power
        self.t, self.lr_max, self.weight_sum = 0, -1.0, 0.0

    @property
    def y(self) -> np.ndarray:
        return (1 - self.beta1) * self.z + self.beta1 * self.x

    def step(self) -> None:
        self.t += 1
        t, y = self.t, self.y
        g = quadratic_grad(y, t)
        lr = self.lr * min(1.0, t / self.warmup) if self.warmup else self.lr
        self.lr_max = max(self.lr_max, lr)
        weight = t ** self.r * self.lr_max ** self.power
        self.weight_sum += weight
        c = weight / self.weight_sum if self.weight_sum else 0.0
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        self.z = self.z - lr * (g / (np.sqrt(self.v / (1 - self.beta2 ** t)) + self.eps) + self.wd * y)
        self.x = (1 - c) * self.x + c * self.z


CONFIGS = [dict(), dict(lr=0.05), dict(lr=0.03, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
           dict(lr=0.04, warmup_steps=4, r=0.5, weight_lr_power=1.0), dict(lr=0.0, weight_decay=0.1)]
IDS = ["defaults", "lr", "weight-decay", "warmup-r-power", "zero-lr"]


def step(optimizer: inertia.AdamWScheduleFree, param: torch.nn.Parameter, t: int) -> None:
    """One training step with the quadratic's gradient taken at the stored parameter (y), written into the
    existing ``.grad`` (on the fused path, the flat gradient buffer's view)."""
    grad = torch.from_numpy(quadratic_grad(param.detach().numpy(), t))
    if param.grad is None:
        param.grad = grad
    else:
        param.grad.copy_(grad)
    optimizer.step()


def backends(optimizer: inertia.AdamWScheduleFree) -> set[str]:
    """The backends of the fused buckets' steppers (empty: every step took the reference path)."""
    return {bucket.stepper_key[1] for group in optimizer.fused_groups.values() for bucket in group.buckets
            if bucket.stepper_key is not None}


IMPLS = {"reference": set(), "fused": {"numba"}}


def close(param: torch.Tensor, want: np.ndarray) -> None:
    np.testing.assert_allclose(param.detach().numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("hyper", CONFIGS, ids=IDS)
def test_train_and_eval_points_follow_the_paper(hyper: dict, impl: str) -> None:
    x0 = np.random.default_rng(0).standard_normal(N)
    paper = PaperScheduleFree(x0, **hyper)
    param = torch.nn.Parameter(torch.tensor(x0))
    optimizer = inertia.AdamWScheduleFree([param], **hyper, impl=impl)
    for t in range(1, 13):
        step(optimizer, param, t)
        paper.step()
        close(param, paper.y)
        if t % 4 == 0:  # evaluate at x, then go back to y and keep training
            optimizer.eval()
            close(param, paper.x)
            optimizer.eval()  # a second eval() changes nothing
            close(param, paper.x)
            optimizer.train()
            close(param, paper.y)
    close(optimizer.state[param]["z"], paper.z)
    assert optimizer.param_groups[0]["k"] == 12 and float(optimizer.state[param]["step"]) == 12
    assert backends(optimizer) == IMPLS[impl]


@pytest.mark.parametrize(("saved_by", "loaded_by"), [("reference", "reference"), ("reference", "fused"),
                                                   ("fused", "reference"), ("fused", "fused")])
@pytest.mark.parametrize("in_eval", [False, True], ids=["train-mode", "eval-mode"])
def test_state_dict_round_trip_resumes_the_trajectory(in_eval: bool, saved_by: str, loaded_by: str) -> None:
    hyper = dict(lr=0.04, weight_decay=0.05, warmup_steps=3, r=1.0)
    x0 = np.random.default_rng(1).standard_normal(N)
    paper = PaperScheduleFree(x0, **hyper)
    param = torch.nn.Parameter(torch.tensor(x0))
    optimizer = inertia.AdamWScheduleFree([param], **hyper, impl=saved_by)
    for t in range(1, 6):
        step(optimizer, param, t)
        paper.step()
    if in_eval:
        optimizer.eval()
    saved = optimizer.state_dict()
    resumed_param = torch.nn.Parameter(param.detach().clone())
    resumed = inertia.AdamWScheduleFree([resumed_param], lr=1.0, impl=loaded_by)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["impl"] == saved_by  # the group's values come with the checkpoint
    resumed.param_groups[0]["impl"] = loaded_by
    assert resumed.param_groups[0]["train_mode"] is (not in_eval)
    if in_eval:
        close(resumed_param, paper.x)
        resumed.train()
    for t in range(6, 11):
        step(resumed, resumed_param, t)
        paper.step()
        close(resumed_param, paper.y)
    resumed.eval()
    close(resumed_param, paper.x)
    assert backends(resumed) == IMPLS[loaded_by]


def test_step_in_eval_mode_raises() -> None:
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = inertia.AdamWScheduleFree([param])
    param.grad = torch.ones(3)
    optimizer.step()
    optimizer.eval()
    with pytest.raises(RuntimeError, match="eval mode"):
        optimizer.step()


def test_eval_before_any_step_keeps_the_parameter() -> None:
    param = torch.nn.Parameter(torch.arange(4.0))
    optimizer = inertia.AdamWScheduleFree([param])
    optimizer.eval()
    optimizer.train()
    assert torch.equal(param.detach(), torch.arange(4.0))


def test_maximize_steps_on_the_negated_gradient() -> None:
    x0 = np.random.default_rng(2).standard_normal(N)
    paper = PaperScheduleFree(x0, lr=0.03, weight_decay=0.1)
    param = torch.nn.Parameter(torch.tensor(x0))
    optimizer = inertia.AdamWScheduleFree([param], lr=0.03, weight_decay=0.1, maximize=True)
    for t in range(1, 6):
        param.grad = torch.from_numpy(-quadratic_grad(param.detach().numpy(), t))
        optimizer.step()
        paper.step()
        close(param, paper.y)


def test_registered_by_name() -> None:
    param = torch.nn.Parameter(torch.ones(2))
    assert isinstance(inertia.make_optimizer("schedule_free_adamw", [param]), inertia.AdamWScheduleFree)


# ---------------------------------------------------------------------- the fused path against the reference path
SHAPES = [(6, 4), (5,), (3, 2, 2), (1,), (7, 3)]
FUSED_CONFIGS = [dict(lr=0.01), dict(lr=0.03, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                 dict(lr=0.02, warmup_steps=3, r=0.5, weight_lr_power=1.0, maximize=True, weight_decay=0.05)]
TOLERANCE = {torch.float64: dict(rtol=1e-12, atol=1e-14), torch.float32: dict(rtol=2e-5, atol=2e-6)}


def model_params(dtype: torch.dtype) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(5)
    return [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=dtype)) for shape in SHAPES]


def train_steps(optimizer: inertia.AdamWScheduleFree, params: list, steps: int, switch_every: int = 0) -> None:
    """``steps`` steps on a smooth loss; with ``switch_every``, eval() and back to train() after every such step."""
    for t in range(1, steps + 1):
        optimizer.zero_grad()
        sum((p.sin() ** 2).sum() + (p ** 4).sum() / 8 for p in params).backward()
        optimizer.step()
        if switch_every and t % switch_every == 0:
            optimizer.eval()
            optimizer.train()


def build(params: list, impl: str, **hyper) -> inertia.AdamWScheduleFree:
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": hyper["lr"] / 2}]
    return inertia.AdamWScheduleFree(groups, impl=impl, **hyper)


@pytest.mark.parametrize("hyper", FUSED_CONFIGS, ids=["lr", "betas-eps-wd", "warmup-r-power-maximize"])
def test_fused_path_follows_the_reference_path_through_eval_and_train(hyper: dict, dtype: torch.dtype) -> None:
    runs = {}
    for impl in IMPLS:
        params = model_params(dtype)
        optimizer = build(params, impl, **hyper)
        train_steps(optimizer, params, 9, switch_every=3)
        assert backends(optimizer) == IMPLS[impl]
        runs[impl] = (optimizer, params)
    (reference, ref_params), (fused, fused_params) = runs["reference"], runs["fused"]
    for group in fused.fused_groups.values():
        assert all(flat_switchable(bucket, fused.state) for bucket in group.buckets)
    for name in ("k", "lr_max", "weight_sum", "scheduled_lr"):
        assert [g[name] for g in fused.param_groups] == [g[name] for g in reference.param_groups]
    for optimizer, _ in runs.values():
        optimizer.eval()
    for got, want in zip(fused_params, ref_params, strict=True):
        torch.testing.assert_close(got.detach(), want.detach(), **TOLERANCE[dtype])
        for key in ("z", "exp_avg_sq", "step"):
            torch.testing.assert_close(fused.state[got][key], reference.state[want][key], **TOLERANCE[dtype])


def test_fused_checkpoint_resumes_bit_for_bit() -> None:
    hyper = dict(lr=0.02, warmup_steps=2, weight_decay=0.1)
    params = model_params(torch.float32)
    whole = build(params, "fused", **hyper)
    train_steps(whole, params, 8)
    halves = model_params(torch.float32)
    first = build(halves, "fused", **hyper)
    train_steps(first, halves, 4)
    saved = first.state_dict()
    resumed_params = [torch.nn.Parameter(p.detach().clone()) for p in halves]
    resumed = build(resumed_params, "fused", lr=1.0)
    resumed.load_state_dict(saved)
    train_steps(resumed, resumed_params, 4)
    assert backends(resumed) == {"numba"}
    for got, want in zip(resumed_params, params, strict=True):
        torch.testing.assert_close(got.detach(), want.detach(), rtol=0, atol=0)
        torch.testing.assert_close(resumed.state[got]["z"], whole.state[want]["z"], rtol=0, atol=0)


def test_fused_step_in_eval_mode_raises_and_changes_nothing() -> None:
    params = model_params(torch.float32)
    optimizer = build(params, "fused", lr=0.02)
    train_steps(optimizer, params, 2)
    optimizer.eval()
    before = [p.detach().clone() for p in params] + [optimizer.state[p]["z"].clone() for p in params]
    with pytest.raises(RuntimeError, match="eval mode"):
        optimizer.step()
    after = [p.detach().clone() for p in params] + [optimizer.state[p]["z"].clone() for p in params]
    assert all(torch.equal(a, b) for a, b in zip(after, before, strict=True))
    assert [g["k"] for g in optimizer.param_groups] == [2, 2]


def test_a_step_without_gradients_keeps_both_paths_on_the_groups_count() -> None:
    """A step with no gradient at all advances k but no step counter; the fused path then steps the
    bucket on the reference path (its bias correction follows k), and both paths agree."""
    runs = {}
    for impl in IMPLS:
        params = model_params(torch.float64)
        optimizer = build(params, impl, lr=0.02)
        train_steps(optimizer, params, 2)
        optimizer.zero_grad(set_to_none=True)
        for param in params:
            param.grad = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FusedFallbackWarning)
            optimizer.step()
            train_steps(optimizer, params, 3)
        assert [g["k"] for g in optimizer.param_groups] == [6, 6]
        assert float(optimizer.state[params[0]]["step"]) == 5
        runs[impl] = params
    for got, want in zip(runs["fused"], runs["reference"], strict=True):
        torch.testing.assert_close(got.detach(), want.detach(), **TOLERANCE[torch.float64])


def kernel_backends() -> list[str]:
    return ["numba"] + (["triton"] if triton_available() else [])


def make_stepper(backend: str, spec, buffers: dict):
    return NumbaStepper(spec, buffers) if backend == "numba" else TritonStepper(spec, buffers)


@pytest.mark.parametrize("backend", kernel_backends())
@pytest.mark.parametrize("done", [1, 2, 5], ids=["ckp1=1/2", "ckp1=1/3", "ckp1=1/6"])
@pytest.mark.parametrize("hyper", FUSED_CONFIGS, ids=["lr", "betas-eps-wd", "warmup-r-power-maximize"])
def test_kernels_match_the_reference_for_any_averaging_weight(hyper: dict, done: int, backend: str,
                                                              dtype: torch.dtype) -> None:
    """Each kernel from a group that already took ``done`` steps (so ``c_{k+1} < 1``, both lerp branches)."""
    group = inertia.AdamWScheduleFree([torch.nn.Parameter(torch.zeros(1))], **hyper).param_groups[0]
    for _ in range(done):
        group.update(zip(("lr_max", "weight_sum"), next_schedule(group)[2:], strict=True), k=group["k"] + 1)
    spec, step_hyper = SCHEDULE_FREE_RULE.spec(group)
    assert step_hyper.ckp1 == next_schedule(group).ckp1 < 1
    device = "cuda" if torch.cuda.is_available() and backend == "triton" else "cpu"
    generator = torch.Generator().manual_seed(done)
    n = 2051
    want = {key: torch.randn(n, generator=generator, dtype=torch.float64) for key in ("param", "grad", "z")}
    want["exp_avg_sq"] = torch.rand(n, generator=generator, dtype=torch.float64) * 1e-2
    got = {key: value.to(dtype).to(device) for key, value in want.items()}
    want = {key: value.to(dtype).double() for key, value in want.items()}  # the same start, exactly
    make_stepper(backend, spec, got)(step_hyper, done + 1)
    SCHEDULE_FREE_RULE.reference(group, want, done + 1)
    for key in ("param", "z", "exp_avg_sq"):
        torch.testing.assert_close(got[key].cpu().double(), want[key], **TOLERANCE[dtype], msg=key)


def test_eval_with_master_weights_moves_the_master_and_rounds_the_param() -> None:
    """precision="master": eval() moves the fp32 master to the evaluation point (the same lerp as an fp32
    parameter takes) and the bf16 param is the master rounded; train() moves it back."""
    param = torch.nn.Parameter(torch.randn(6, generator=torch.Generator().manual_seed(0)).bfloat16())
    optimizer = inertia.AdamWScheduleFree([param], lr=0.1, precision="master", impl="reference")
    for _ in range(3):
        optimizer.zero_grad()
        (param.float() ** 2).sum().backward()
        optimizer.step()
    state = optimizer.state[param]
    before, z = state["master_param"].clone(), state["z"]
    assert z.dtype == torch.float32
    optimizer.eval()
    beta1 = optimizer.param_groups[0]["betas"][0]
    assert torch.equal(state["master_param"], before.lerp(z, 1 - 1 / beta1))
    assert torch.equal(param.detach(), state["master_param"].bfloat16())
    optimizer.train()
    torch.testing.assert_close(state["master_param"], before, rtol=1e-6, atol=1e-6)
    assert torch.equal(param.detach(), state["master_param"].bfloat16())
