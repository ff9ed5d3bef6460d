"""Block-wise 8-bit codes (``inertia.kernels.blockwise_quant``) against a float64 reference of the
algorithm of Dettmers et al. 2022 ("8-bit Optimizers via Block-wise Quantization") written here: the
dynamic code's construction, per-block absmax scaling, nearest-code quantisation, and the numba element
helpers in the two-pass shape a fused dequantise-update-requantise kernel uses."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inertia.kernels.blockwise_quant import (
    CODE_SIZE,
    check_code,
    dequantize_blockwise,
    dequantize_element,
    dynamic_code,
    linear_code,
    nearest_code_index,
    nearest_index_sorted,  # noqa: F401 (compiled with the kernels below)
    quantize_blockwise,
    quantize_element,
)
from inertia.kernels.jit import compiled, numba_source, tl, triton_source
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    dequantize_codes,
    nearest_code,
    quantize_block,
)

CODES = {"dynamic signed": dynamic_code(True), "dynamic unsigned": dynamic_code(False),
         "linear signed": linear_code(True), "linear unsigned": linear_code(False)}
FLOAT32_EPS = torch.finfo(torch.float32).eps


@numba_source()
def requantize_ema(codes, absmax, g, code, beta, block_size, scratch):
    """A fused kernel's shape: per block, pass 1 dequantises, updates (m = beta m + (1 - beta) g) into
    ``scratch`` and takes the new absmax; pass 2 stores the codes of the new values."""
    n = codes.size
    for block in range(absmax.size):
        start = block * block_size
        stop = min(start + block_size, n)
        new_absmax = np.float32(0.0)
        for i in range(start, stop):
            m = dequantize_element(codes[i], absmax[block], code)
            m = np.float32(beta * m + (np.float32(1.0) - beta) * g[i])
            scratch[i - start] = m
            new_absmax = max(new_absmax, abs(m))
        absmax[block] = new_absmax
        for i in range(start, stop):
            codes[i] = quantize_element(scratch[i - start], new_absmax, code)


@numba_source()
def numba_nearest_loop(values, code, out):
    for i in range(values.size):
        out[i] = quantize_element(values[i], np.float32(1.0), code)


@triton_source
def triton_nearest_kernel(values_ptr, code_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    index = nearest_code(tl.load(values_ptr + offsets, mask=mask, other=0.0), code_ptr)
    tl.store(out_ptr + offsets, index, mask=mask)


@triton_source
def triton_requantize_ema(codes_ptr, absmax_ptr, g_ptr, code_ptr, beta, n, BLOCK: tl.constexpr,
                          QBLOCK: tl.constexpr):
    """The Triton shape of ``requantize_ema``: the program holds its blocks in registers between passes."""
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    m = dequantize_codes(codes_ptr, absmax_ptr, code_ptr, offsets, mask, QBLOCK)
    m = beta * m + (1.0 - beta) * tl.load(g_ptr + offsets, mask=mask, other=0.0)
    codes, absmax = quantize_block(m, mask, code_ptr, BLOCK, QBLOCK)
    tl.store(codes_ptr + offsets, codes, mask=mask)
    blocks = tl.program_id(0) * (BLOCK // QBLOCK) + tl.arange(0, BLOCK // QBLOCK)
    tl.store(absmax_ptr + blocks, absmax, mask=blocks * QBLOCK < n)


def reference_dynamic_code(signed: bool) -> list[float]:
    """The paper's dynamic tree code in float64: per exponent e = 0..6, the fraction interval [0.1, 1] cut
    into 2**e (signed) or 2**(e+1) (unsigned) equal bins, each bin's centre times 10**(e - 6); negatives
    too when signed; then 0 and 1."""
    values = [0.0, 1.0]
    for e in range(7):
        bins = 2**e if signed else 2 ** (e + 1)
        width = 0.9 / bins
        centres = [(0.1 + (j + 0.5) * width) * 10.0 ** (e - 6) for j in range(bins)]
        values += centres + ([-c for c in centres] if signed else [])
    return sorted(values)


def reference_quantize(x: np.ndarray, code: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """float64: absmax per block, then the index of the nearest code value to value / absmax."""
    flat = x.astype(np.float64).reshape(-1)
    n_blocks = math.ceil(flat.size / block_size)
    absmax = np.array([np.abs(flat[b * block_size:(b + 1) * block_size]).max() for b in range(n_blocks)])
    scale = np.where(absmax > 0, absmax, 1.0)
    normalized = flat / np.repeat(scale, block_size)[:flat.size]
    indices = np.abs(normalized[:, None] - code.astype(np.float64)[None, :]).argmin(axis=1)
    return indices, absmax


# ---- the codes


@pytest.mark.parametrize("signed", [True, False])
def test_the_dynamic_code_is_the_papers_construction(signed: bool) -> None:
    expected = torch.tensor(reference_dynamic_code(signed), dtype=torch.float64)
    torch.testing.assert_close(dynamic_code(signed).double(), expected, rtol=FLOAT32_EPS, atol=0)


@pytest.mark.parametrize("signed", [True, False])
def test_the_dynamic_code_has_256_sorted_values_with_0_and_1(signed: bool) -> None:
    code = dynamic_code(signed)
    assert code.shape == (CODE_SIZE,) and code.dtype == torch.float32
    assert bool((code[1:] > code[:-1]).all())  # strictly increasing: every code is used
    assert (code == 0).sum().item() == 1 and code.max().item() == 1.0
    assert code[code > 0].min().item() == pytest.approx(reference_dynamic_code(signed)[1 if not signed else 128])
    if signed:
        # 127 negative values mirror the positive ones below 1: the construction has no -1
        assert (code < 0).sum().item() == (code > 0).sum().item() - 1
        torch.testing.assert_close(-code[code < 0].flip(0), code[(code > 0) & (code < 1)], rtol=0, atol=0)
        assert -1.0 < code.min().item() < code[code < 0].max().item()
    else:
        assert code.min().item() == 0.0


@pytest.mark.parametrize("signed", [True, False])
def test_the_linear_code_is_evenly_spaced_from_its_low_end_to_1(signed: bool) -> None:
    code = linear_code(signed)
    distinct = code.unique()
    low = -1.0 if signed else 0.0
    assert code.shape == (CODE_SIZE,) and bool((code[1:] >= code[:-1]).all())
    assert distinct.min().item() == low and distinct.max().item() == 1.0 and bool((code == 0).any())
    gaps = (distinct[1:] - distinct[:-1]).double()
    torch.testing.assert_close(gaps, torch.full_like(gaps, (1.0 - low) / (distinct.numel() - 1)),
                               rtol=0, atol=4 * FLOAT32_EPS)


@pytest.mark.parametrize(("code", "pattern"), [
    (torch.zeros(255), "Invalid code: torch.float32 tensor of shape (255,)"),
    (torch.zeros(256, dtype=torch.float64), "Invalid code: torch.float64"),
    (dynamic_code().flip(0), "sorted"),
    (dynamic_code() * 2, "[-1, 1]"),
    ([0.0] * 256, "Invalid code: [0.0"),
])
def test_a_bad_code_is_refused(code: torch.Tensor, pattern: str) -> None:
    with pytest.raises(ValueError, match=re.escape(pattern)):
        check_code(code)


# ---- quantising against the float64 reference


def assert_matches_reference(x: torch.Tensor, code: torch.Tensor, block_size: int) -> None:
    codes, absmax = quantize_blockwise(x, code, block_size)
    expected, expected_absmax = reference_quantize(x.numpy(), code.numpy(), block_size)
    np.testing.assert_array_equal(absmax.double().numpy(), expected_absmax)  # a max of float32 values is exact
    got = codes.long().numpy()
    differ = got != expected
    if differ.any():  # only where float32's value / absmax falls within rounding of a midpoint
        normalized = x.double().numpy().reshape(-1) / np.repeat(np.where(expected_absmax > 0, expected_absmax, 1),
                                                                 block_size)[:x.numel()]
        code64 = code.double().numpy()
        gap = np.abs(np.abs(normalized - code64[got]) - np.abs(normalized - code64[expected]))
        assert (gap[differ] <= 4 * FLOAT32_EPS).all()


@pytest.mark.parametrize("name", list(CODES))
@pytest.mark.parametrize("n", [1, 255, 256, 257, 1000])
def test_quantize_matches_the_float64_reference(name: str, n: int) -> None:
    generator = torch.Generator().manual_seed(n)
    x = torch.randn(n, generator=generator) * torch.exp2(torch.randint(-12, 4, (n,), generator=generator)).float()
    if "unsigned" in name:
        x = x.abs()
    assert_matches_reference(x, CODES[name], 256)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=600), st.sampled_from(list(CODES)),
       st.sampled_from([1, 16, 256]))
def test_quantize_matches_the_reference_on_any_values(values: list[float], name: str, block_size: int) -> None:
    x = torch.tensor(values, dtype=torch.float32)
    assert_matches_reference(x.abs() if "unsigned" in name else x, CODES[name], block_size)


@pytest.mark.parametrize("name", list(CODES))
def test_the_round_trip_error_is_within_half_the_code_spacing_times_absmax(name: str) -> None:
    code = CODES[name]
    x = torch.randn(4, 300, generator=torch.Generator().manual_seed(3))
    if "unsigned" in name:
        x = x.abs()
    codes, absmax = quantize_blockwise(x, code)
    back = dequantize_blockwise(codes, absmax, code, x.shape)
    assert back.shape == x.shape and back.dtype == torch.float32
    scale = absmax.double().repeat_interleave(256)[:x.numel()]
    normalized = x.double().reshape(-1) / scale
    code64 = code.double()
    upper = torch.searchsorted(code64, normalized).clamp(1, CODE_SIZE - 1)
    lower_value, upper_value = code64[upper - 1], code64[upper]
    inside = (normalized >= lower_value) & (normalized <= upper_value)
    bound = torch.where(inside, (upper_value - lower_value) / 2,
                        torch.minimum((normalized - lower_value).abs(), (normalized - upper_value).abs())) * scale
    error = (back.double().reshape(-1) - x.double().reshape(-1)).abs()
    assert bool((error <= bound * (1 + 8 * FLOAT32_EPS) + scale * 4 * FLOAT32_EPS).all())
    assert bool(inside.all()) or name == "dynamic signed"  # only -1 lies outside that code


def test_a_block_of_zeros_keeps_absmax_zero_and_comes_back_zero() -> None:
    x = torch.cat([torch.zeros(256), torch.ones(10)])
    codes, absmax = quantize_blockwise(x, dynamic_code())
    assert absmax.tolist() == [0.0, 1.0]
    torch.testing.assert_close(dequantize_blockwise(codes, absmax, dynamic_code(), x.shape), x, rtol=0, atol=0)


@pytest.mark.parametrize(("call", "error", "pattern"), [
    (lambda: quantize_blockwise(torch.zeros(3), dynamic_code(), block_size=0), ValueError, "Invalid block_size: 0"),
    (lambda: quantize_blockwise(torch.zeros(3, dtype=torch.int64), dynamic_code()), TypeError, "Invalid x"),
    (lambda: dequantize_blockwise(torch.zeros(3, dtype=torch.int32), torch.zeros(1), dynamic_code(), (3,)),
     ValueError, "Invalid codes: torch.int32"),
    (lambda: dequantize_blockwise(torch.zeros(3, dtype=torch.uint8), torch.zeros(2), dynamic_code(), (3,)),
     ValueError, "Invalid absmax"),
])
def test_bad_arguments_are_refused_by_name(call: object, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=re.escape(pattern)):
        call()  # type: ignore[operator]


# ---- the numba element helpers


@pytest.mark.parametrize("name", list(CODES))
def test_numba_quantizes_as_torch_does(name: str) -> None:
    pytest.importorskip("numba")
    code = CODES[name]
    x = torch.randn(1000, generator=torch.Generator().manual_seed(8))
    x = x.abs() if "unsigned" in name else x
    codes, absmax = np.zeros(1000, np.uint8), np.zeros(4, np.float32)
    compiled("inertia.kernels.blockwise_quant", "quantize_blockwise_numba", "numba")(
        x.numpy(), code.numpy(), 256, codes, absmax)
    expected_codes, expected_absmax = quantize_blockwise(x, code)
    np.testing.assert_array_equal(absmax, expected_absmax.numpy())
    np.testing.assert_array_equal(codes, expected_codes.numpy())


def test_a_two_pass_requantising_kernel_matches_dequantise_update_quantise() -> None:
    pytest.importorskip("numba")
    code, beta = dynamic_code(True), np.float32(0.9)
    generator = torch.Generator().manual_seed(9)
    m = torch.randn(700, generator=generator) * 1e-3
    codes, absmax = quantize_blockwise(m, code)
    for _ in range(3):
        g = torch.randn(700, generator=generator)
        expected_m = beta * dequantize_blockwise(codes, absmax, code, m.shape) + (1 - beta) * g
        expected_codes, expected_absmax = quantize_blockwise(expected_m, code)
        codes_np, absmax_np = codes.numpy().copy(), absmax.numpy().copy()
        compiled(__name__, "requantize_ema", "numba")(codes_np, absmax_np, g.numpy(), code.numpy(), beta, 256,
                                                     np.zeros(256, np.float32))
        torch.testing.assert_close(torch.from_numpy(absmax_np), expected_absmax, rtol=0, atol=0)
        torch.testing.assert_close(torch.from_numpy(codes_np), expected_codes, rtol=0, atol=0)
        codes, absmax = expected_codes, expected_absmax


def tie_values(code: torch.Tensor) -> torch.Tensor:
    """Every code value, the float32 midpoints of neighbours, zeros and the ends: where choices are close."""
    midpoints = (code[1:] + code[:-1]) / 2
    return torch.cat([code, midpoints, torch.zeros(3), torch.tensor([-1.0, 1.0])])


@pytest.mark.parametrize("name", list(CODES))
def test_numba_and_triton_choose_the_index_torch_chooses(name: str) -> None:
    code = CODES[name]
    values = tie_values(code)
    expected = nearest_code_index(values, code)
    pytest.importorskip("numba")
    out = np.zeros(values.numel(), np.uint8)
    compiled(__name__, "numba_nearest_loop", "numba")(values.numpy(), code.numpy(), out)
    np.testing.assert_array_equal(out.astype(np.int64), expected.numpy())
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    found = torch.empty(values.numel(), dtype=torch.int32, device=device)
    compiled(__name__, "triton_nearest_kernel", "triton")[(-(-values.numel() // 256),)](
        values.to(device), code.to(device), found, values.numel(), BLOCK=256)
    np.testing.assert_array_equal(found.cpu().long().numpy(), expected.numpy())


@pytest.mark.parametrize("program_block", [256, 512])
def test_a_triton_requantising_kernel_matches_dequantise_update_quantise(program_block: int) -> None:
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    code, beta = dynamic_code(True), np.float32(0.5)  # exact products: a contracted multiply-add rounds alike
    generator = torch.Generator().manual_seed(10)
    n = 1300
    codes, absmax = quantize_blockwise(torch.randn(n, generator=generator) * 1e-3, code)
    kernel = compiled(__name__, "triton_requantize_ema", "triton")
    for _ in range(3):
        g = torch.randn(n, generator=generator)
        expected_m = beta * dequantize_blockwise(codes, absmax, code, (n,)) + (1 - beta) * g
        expected_codes, expected_absmax = quantize_blockwise(expected_m, code)
        codes_dev, absmax_dev = codes.to(device), absmax.to(device)
        kernel[(-(-n // program_block),)](codes_dev, absmax_dev, g.to(device), code.to(device), float(beta), n,
                                          BLOCK=program_block, QBLOCK=256)
        torch.testing.assert_close(absmax_dev.cpu(), expected_absmax, rtol=0, atol=0)
        torch.testing.assert_close(codes_dev.cpu(), expected_codes, rtol=0, atol=0)
        codes, absmax = expected_codes, expected_absmax
