"""The fused 8-bit Adam/AdamW kernels (numba; Triton, through the interpreter without CUDA) against the
reference step in torch ops (``inertia.optim.adam_8bit.quantized_adam_update``): the same codes and the
same absmax for every element, and parameters within float32 rounding of the update."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from inertia.kernels.blockwise_quant import dynamic_code, linear_code, nearest_code_index
from inertia.kernels.jit import compiled, numba_source
from inertia.optim.adam_8bit import (
    QUANTIZED_KEYS,
    fused_quantized_adam_step,
    import_state,
    init_quantized_state,
    quantized_adam_update,
)
from inertia.optim.adam_8bit_kernels import code_table, nearest_index_table  # noqa: F401 (compiled below)

FLOAT32_EPS = torch.finfo(torch.float32).eps
LR = 1e-2
CONFIGS = {
    "adam": dict(weight_decay=0.0, decoupled=False, maximize=False),
    "adam, L2 decay, maximize": dict(weight_decay=0.05, decoupled=False, maximize=True),
    "adamw": dict(weight_decay=0.1, decoupled=True, maximize=False),
}


@numba_source()
def nearest_table_loop(values, code, table, out):
    bits = np.empty(1, np.float32)
    bits_u32 = bits.view(np.uint32)
    for i in range(values.size):
        out[i] = nearest_index_table(values[i], code, table, bits, bits_u32)


@pytest.mark.parametrize("code", [dynamic_code(True), dynamic_code(False), linear_code(True), linear_code(False)])
def test_the_table_search_chooses_the_index_torch_chooses(code: torch.Tensor) -> None:
    pytest.importorskip("numba")
    midpoints = (code[1:] + code[:-1]) / 2
    generator = torch.Generator().manual_seed(1)
    values = torch.cat([code, midpoints, torch.nextafter(midpoints, code[1:]), torch.nextafter(midpoints, code[:-1]),
                        torch.rand(2000, generator=generator) * 2.2 - 1.1, torch.tensor([-1.0, -0.0, 0.0, 1.0, 1e-30, -1e-30]),
                        torch.tensor([float("inf"), -float("inf")])])
    out = np.zeros(values.numel(), np.int64)
    compiled(__name__, "nearest_table_loop", "numba")(values.numpy(), code.numpy(), code_table(code.numpy()), out)
    np.testing.assert_array_equal(out, nearest_code_index(values, code).numpy())


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def backend_device(backend: str) -> str:
    pytest.importorskip(backend)
    return device() if backend == "triton" else "cpu"


def gradient(n: int, generator: torch.Generator) -> torch.Tensor:
    """Gradients over 11 binary decades, with a block of zeros (absmax 0) when there is room."""
    g = torch.randn(n, generator=generator) * torch.exp2(torch.randint(-8, 3, (n,), generator=generator)).float()
    if n >= 512:
        g[256:512] = 0.0
    return g


def assert_steps_agree(backend: str, n: int, config: dict[str, object], block_size: int = 256, steps: int = 4) -> None:
    """From the same state each step, the fused step and the reference give the same codes and absmax."""
    where = backend_device(backend)
    generator = torch.Generator().manual_seed(n + block_size)
    p_ref = torch.randn(n, generator=generator)
    if n >= 512:
        p_ref[256:512] = 0.0  # zero parameters with zero gradients: a block that stays zero
    state_ref = init_quantized_state(p_ref, block_size)
    for step in range(1, steps + 1):
        g = gradient(n, generator)
        p = p_ref.clone().to(where)
        state = {key: value.clone().to(where) for key, value in state_ref.items()}
        hyper = dict(lr=LR, beta1=0.9, beta2=0.999, eps=1e-8, step=step, block_size=block_size, **config)
        before = p_ref.clone()
        quantized_adam_update(p_ref, g, state_ref, **hyper)
        fused_quantized_adam_step(p, g.to(where), state, backend=backend, **hyper)
        for key in QUANTIZED_KEYS:
            torch.testing.assert_close(state[key].cpu(), state_ref[key], rtol=0, atol=0, msg=f"{key}, step {step}")
        update = (p_ref - before).abs()
        assert bool(((p.cpu() - p_ref).abs() <= 2 * FLOAT32_EPS * (p_ref.abs() + update)).all()), f"step {step}"


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("n", [1, 255, 256, 257, 1300])
@pytest.mark.parametrize("backend", ["numba", "triton"])
def test_the_fused_step_gives_the_references_codes(backend: str, n: int, name: str) -> None:
    assert_steps_agree(backend, n, CONFIGS[name])


@pytest.mark.parametrize("backend", ["numba", "triton"])
def test_other_block_sizes_give_the_references_codes(backend: str) -> None:
    assert_steps_agree(backend, 700, CONFIGS["adamw"], block_size=64, steps=2)


def test_the_numba_step_split_between_threads_matches_the_reference() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert_steps_agree("numba", 256 * 600 + 17, CONFIGS["adamw"], steps=2)  # above the parallel threshold
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("backend", ["numba", "triton"])
def test_a_state_imported_from_torch_steps_alike(backend: str) -> None:
    where = backend_device(backend)
    generator = torch.Generator().manual_seed(4)
    n = 900
    exp_avg = torch.randn(n, generator=generator) * 1e-2
    state_ref = import_state(exp_avg, exp_avg.square() + torch.rand(n, generator=generator) * 1e-4)
    p_ref = torch.randn(n, generator=generator)
    p, state = p_ref.to(where), {key: value.to(where) for key, value in state_ref.items()}
    g = gradient(n, generator)
    hyper = dict(lr=LR, beta1=0.9, beta2=0.999, eps=1e-8, step=7, **CONFIGS["adam"])
    quantized_adam_update(p_ref, g, state_ref, **hyper)
    fused_quantized_adam_step(p, g.to(where), state, backend=backend, **hyper)
    for key in QUANTIZED_KEYS:
        torch.testing.assert_close(state[key].cpu(), state_ref[key], rtol=0, atol=0)


def flat_case(n: int = 300) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    p = torch.zeros(n)
    return p, torch.zeros(n), init_quantized_state(p)


@pytest.mark.parametrize(("change", "pattern"), [
    (lambda p, g, s: (p, g.double(), s), "Invalid grads_flat: torch.float64"),
    (lambda p, g, s: (p.view(3, 100), g, s), "Invalid params_flat: torch.float32 tensor of shape (3, 100)"),
    (lambda p, g, s: (p, g, {**s, "exp_avg_absmax": torch.zeros(1)}), "Invalid exp_avg_absmax"),
    (lambda p, g, s: (p, g, {**s, "exp_avg_sq_codes": s["exp_avg_sq_codes"].float()}), "Invalid exp_avg_sq_codes"),
])
def test_bad_flat_buffers_are_refused_by_name(change: object, pattern: str) -> None:
    p, g, state = change(*flat_case())  # type: ignore[operator]
    with pytest.raises(ValueError, match=re.escape(pattern)):
        fused_quantized_adam_step(p, g, state, lr=LR, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                                  decoupled=False, maximize=False, step=1)


@pytest.mark.parametrize(("options", "pattern"), [
    (dict(backend="cuda"), "Invalid backend: 'cuda'"),
    (dict(step=0), "Invalid step: 0"),
    (dict(block_size=0), "Invalid block_size: 0"),
    (dict(backend="triton", block_size=100), "Invalid block_size: 100 (the Triton kernel needs a power of two)"),
])
def test_bad_options_are_refused_by_name(options: dict[str, object], pattern: str) -> None:
    p, g, state = flat_case()
    hyper: dict[str, object] = dict(lr=LR, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False,
                                    maximize=False, step=1)
    hyper.update(options)
    if "block_size" in options:
        state = init_quantized_state(p, max(1, int(options["block_size"])))  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=re.escape(pattern)):
        fused_quantized_adam_step(p, g, state, **hyper)  # type: ignore[arg-type]
