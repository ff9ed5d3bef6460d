"""The fused 8-bit Adam/AdamW step (``precision="...+8bit-state"`` under the default ``impl``): one kernel call
per parameter (numba on CPU), against the torch reference path (``impl="reference"``) of the same optimizer,
and the numba kernel against the reference's float32 operations with correctly rounded square roots, bit
for bit."""

from __future__ import annotations

import copy

import pytest
import torch

import inertia
from inertia.kernels.blockwise_quant import dynamic_code, linear_code
from inertia.optim import adam_8bit
from inertia.optim.adam_8bit import (
    QUANTIZED_KEYS,
    export_state,
    fused_quantized_adam_step,
    fused_tensor_step,
    import_state,
    init_quantized_state,
)
from inertia.optim.adam_8bit_kernels import threshold_table

pytest.importorskip("numba")

FLOAT32_EPS = torch.finfo(torch.float32).eps
STEPS = 4
BIG = (64, 80)  # at least MIN_8BIT_SIZE values: 8-bit moments
CONFIGS = {
    "adam": ("Adam", dict(weight_decay=0.0)),
    "adam, L2 decay, maximize": ("Adam", dict(weight_decay=0.05, maximize=True)),
    "adamw": ("AdamW", dict(weight_decay=0.1)),
    "adamw, maximize": ("AdamW", dict(weight_decay=0.1, maximize=True)),
}


def make_params(dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """A contiguous and a transposed (strided) tensor with 8-bit state, and a small one with float32 state."""
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn(BIG, generator=generator), torch.randn(BIG[::-1], generator=generator).t(),
               torch.randn(7, generator=generator)]
    return [tensor.to(dtype).requires_grad_() for tensor in tensors]


def set_grads(params: list[torch.Tensor], step: int) -> None:
    generator = torch.Generator().manual_seed(100 + step)
    for param in params:  # gradients over 11 binary decades
        scale = torch.exp2(torch.randint(-8, 3, param.shape, generator=generator)).float()
        param.grad = (torch.randn(param.shape, generator=generator) * scale).to(param.dtype)


class KernelCalls:
    """Counts the numba kernel's runs (wraps ``adam_8bit.numba_step``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count, self.sizes = 0, []
        original = adam_8bit.numba_step

        def spy(buffers: tuple[torch.Tensor, ...], *args: object) -> None:
            self.count += 1
            self.sizes.append(buffers[0].numel())
            original(buffers, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(adam_8bit, "numba_step", spy)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_default_step_is_the_kernel_and_agrees_with_the_reference_path(
        config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the same parameters and state each step: the same codes and absmax, the parameters within float32
    rounding of the update (the kernel's square root is IEEE's, torch's vectorised one is not always)."""
    name, kwargs = CONFIGS[config]
    calls = KernelCalls(monkeypatch)
    fused_params, reference_params = make_params(), make_params()
    fused = getattr(inertia, name)(fused_params, lr=0.01, precision="native+8bit-state", **kwargs)
    reference = getattr(inertia, name)(reference_params, lr=0.01, precision="native+8bit-state", impl="reference",
                                       **kwargs)
    for step in range(STEPS):
        set_grads(fused_params, step)
        set_grads(reference_params, step)
        before = [param.detach().clone() for param in reference_params]
        fused.step()
        reference.step()
        for got, expected, start in zip(fused_params, reference_params, before, strict=True):
            update = (expected.detach() - start).abs()
            bound = 2 * FLOAT32_EPS * (expected.detach().abs() + update)
            assert bool(((got.detach() - expected.detach()).abs() <= bound).all()), f"step {step}"
        for got, expected in zip(fused_params[:2], reference_params[:2], strict=True):
            for key in QUANTIZED_KEYS:
                assert torch.equal(fused.state[got][key], reference.state[expected][key]), f"{key}, step {step}"
        assert torch.equal(fused_params[2].detach(), reference_params[2].detach())  # float32 state: one path
        with torch.no_grad():  # the next step starts from the same point on both paths
            for got, expected in zip(fused_params, reference_params, strict=True):
                expected.copy_(got)
    assert calls.count == 2 * STEPS and set(calls.sizes) == {BIG[0] * BIG[1]}


@pytest.mark.parametrize("options", [dict(impl="reference"), dict(fused=False), dict(foreach=True)])
def test_the_reference_path_is_kept_where_the_group_asks_for_it(
        options: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = KernelCalls(monkeypatch)
    params = make_params()
    optimizer = inertia.AdamW(params, lr=0.01, precision="native+8bit-state", **options)
    set_grads(params, 0)
    optimizer.step()
    assert calls.count == 0
    assert QUANTIZED_KEYS[0] in optimizer.state[params[0]]


def test_a_fused_checkpoint_has_the_reference_format_and_resumes_bit_exactly() -> None:
    """The state_dict of the fused path holds the keys, dtypes and shapes of the reference path's, its
    float32 moments are the codes' values, and a run resumed from it steps as the straight run."""
    def run(steps: range, optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> None:
        for step in steps:
            set_grads(params, step)
            optimizer.step()

    straight_params, first_params, reference_params = (make_params(torch.bfloat16) for _ in range(3))
    straight = inertia.AdamW(straight_params, lr=0.01, precision="master+8bit-state")
    run(range(4), straight, straight_params)
    first = inertia.AdamW(first_params, lr=0.01, precision="master+8bit-state")
    reference = inertia.AdamW(reference_params, lr=0.01, precision="master+8bit-state", impl="reference")
    run(range(2), first, first_params)
    run(range(2), reference, reference_params)
    checkpoint, expected = copy.deepcopy(first.state_dict()), reference.state_dict()
    for index, saved in expected["state"].items():
        got = checkpoint["state"][index]
        assert set(got) == set(saved)
        for key, value in saved.items():
            if isinstance(value, torch.Tensor):
                assert (got[key].dtype, got[key].shape) == (value.dtype, value.shape), (index, key)
    quantized = {key: checkpoint["state"][0][key] for key in QUANTIZED_KEYS}
    for key, value in export_state(quantized).items():
        assert torch.equal(checkpoint["state"][0][key], value), key
    second_params = [param.detach().clone().requires_grad_() for param in first_params]
    second = inertia.AdamW(second_params, lr=0.01, precision="master+8bit-state")
    second.load_state_dict(checkpoint)
    run(range(2, 4), second, second_params)
    for got, want in zip(second_params, straight_params, strict=True):
        assert torch.equal(got.detach(), want.detach())
        if got.numel() >= BIG[0] * BIG[1]:
            for key in QUANTIZED_KEYS:
                assert torch.equal(second.state[got][key], straight.state[want][key]), key



@pytest.mark.parametrize(("param", "grad"), [(torch.zeros(4096, dtype=torch.float64), torch.zeros(4096)),
                                             (torch.zeros(4096), torch.zeros(4095))])
def test_a_tensor_the_kernel_cannot_step_is_refused_by_name_before_any_write(param: torch.Tensor,
                                                                            grad: torch.Tensor) -> None:
    state = init_quantized_state(param)
    before = {key: value.clone() for key, value in state.items()}
    with pytest.raises(ValueError, match="Invalid param: torch.float"):
        fused_tensor_step(param, grad, state, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                          decoupled=False, maximize=False, step=1, backend="numba")
    assert all(torch.equal(state[key], value) for key, value in before.items())

# ---- the kernel against the reference's operations, bit for bit


def exact_root_reference(param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], *, lr: float,
                         beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool, maximize: bool,
                         step: int, code_m: torch.Tensor, code_v: torch.Tensor) -> None:
    """``quantized_adam_update``'s float32 operations in its order, with the square root correctly rounded
    (float64's root of a float32, rounded once to float32, is), in place."""
    moments = export_state(state, code_m=code_m, code_v=code_v)
    exp_avg, exp_avg_sq = moments["exp_avg"], moments["exp_avg_sq"]
    grad = -grad if maximize else grad
    if weight_decay != 0 and decoupled:
        param.mul_(1 - lr * weight_decay)
    elif weight_decay != 0:
        grad = grad.add(param.mul(weight_decay))
    exp_avg.add_(grad.sub(exp_avg).mul_(1 - beta1))
    exp_avg_sq.mul_(beta2).add_(grad.mul(1 - beta2).mul_(grad))
    root = exp_avg_sq.double().sqrt().float()
    denom = (root / (1 - beta2**step) ** 0.5).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-lr / (1 - beta1**step))
    for key, value in import_state(exp_avg, exp_avg_sq, code_m=code_m, code_v=code_v).items():
        state[key].copy_(value)


def crowded_code() -> torch.Tensor:
    """A code with ten values within 1e-5 (several thresholds in one table bucket: the general search)."""
    return torch.sort(torch.cat([torch.linspace(0.0, 1.0, 246), 0.5 + 1e-6 * torch.arange(10.0)])).values


@pytest.mark.parametrize("codes", ["dynamic", "linear", "crowded"])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_numba_kernel_is_the_reference_with_exact_roots_bit_for_bit(codes: str, threads: int) -> None:
    """Values over 40 binary decades, zero blocks, a partial last block; the dynamic and linear codes take
    the one-step search, a crowded code the general one."""
    code_m, code_v = {"dynamic": (dynamic_code(True), dynamic_code(False)),
                      "linear": (linear_code(True), linear_code(False)),
                      "crowded": (linear_code(True), crowded_code())}[codes]
    assert (threshold_table(code_v.numpy())[2] > 1) == (codes == "crowded")
    n = 256 * (adam_8bit.PARALLEL_MIN_BLOCKS + 40) + 17  # split between the threads when there are two
    generator = torch.Generator().manual_seed(threads)
    p_ref = torch.randn(n, generator=generator) * torch.exp2(torch.randint(-20, 20, (n,), generator=generator)).float()
    p_ref[256:512] = 0.0
    state_ref = init_quantized_state(p_ref)
    p, state = p_ref.clone(), {key: value.clone() for key, value in state_ref.items()}
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for step, (weight_decay, decoupled, maximize) in enumerate([(0.0, False, False), (0.05, False, True),
                                                                     (0.1, True, False)], start=1):
            g = torch.randn(n, generator=generator) * torch.exp2(torch.randint(-30, 4, (n,), generator=generator))
            g[256:512] = 0.0
            hyper = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=weight_decay, decoupled=decoupled,
                         maximize=maximize, step=step, code_m=code_m, code_v=code_v)
            exact_root_reference(p_ref, g, state_ref, **hyper)
            fused_quantized_adam_step(p, g, state, backend="numba", **hyper)
            assert torch.equal(p, p_ref), f"step {step}"
            for key in QUANTIZED_KEYS:
                assert torch.equal(state[key], state_ref[key]), f"{key}, step {step}"
    finally:
        torch.set_num_threads(old_threads)
