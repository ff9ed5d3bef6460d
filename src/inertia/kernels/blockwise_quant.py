"""Block-wise 8-bit codes for optimizer state (Dettmers et al. 2022, "8-bit Optimizers via Block-wise
Quantization"): a tensor is cut into blocks of ``block_size`` (256) values; each block keeps one float32
scale, its absolute maximum, and each value the uint8 index of the code value nearest to ``value / absmax``.

Two codes of 256 sorted values in [-1, 1]:

- the dynamic code (:func:`dynamic_code`): for each of 7 decades ``10**(k - 6)`` (``k`` = 0..6), the
  interval [0.1, 1] cut into ``2**k`` equal parts (``2**(k + 1)`` for the unsigned code), whose midpoints,
  times the decade, are code values; the signed code adds their negatives. 0 and 1 complete the 256
  values. Its resolution follows the magnitude, as a float's does: the signed code is for Adam's first
  moment, the unsigned one (twice the fraction values per decade) for the second;
- the linear code (:func:`linear_code`): evenly spaced values, from -1 (signed) or 0 to 1.

A fused kernel dequantises, updates and requantises a block in one pass over memory, but a block's new
codes need the block's new absmax. It therefore works in two passes within a block: pass 1 loads each
value's code, dequantises it (:func:`dequantize_element`), applies the update in float32, keeps the new
value (Triton: in registers, the program owns the block; numba: in a scratch array of ``block_size``
floats) and takes the running maximum of its magnitude; pass 2 divides by that maximum and stores the
nearest code (:func:`quantize_element`) and the new absmax. Memory sees one read and one write per value.
The numba helpers compile over the namespace of the kernel module that imports them: it imports
``numpy as np`` and ``nearest_index_sorted`` beside ``quantize_element``. The Triton counterparts are
``dequantize_codes``, ``nearest_code`` and ``quantize_block`` in :mod:`inertia.kernels.triton_helpers`;
all three paths choose the same code index as :func:`nearest_code_index` (ties go to the lower value).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from inertia.checks import check_int
from inertia.kernels.jit import numba_source

__all__ = [
    "CODE_SIZE", "DEFAULT_BLOCK_SIZE", "check_code", "dequantize_blockwise", "dequantize_element",
    "dynamic_code", "linear_code", "nearest_code_index", "nearest_index_sorted", "quantize_blockwise", "quantize_blockwise_numba",
    "quantize_element",
]

CODE_SIZE = 256
DEFAULT_BLOCK_SIZE = 256
DECADES = 7  # the dynamic code's exponent range: 1e-6 .. 1


def dynamic_code(signed: bool = True) -> torch.Tensor:
    """The 256 sorted float32 values of the dynamic code (signed: first moment; unsigned: second)."""
    values = [0.0, 1.0]
    for k in range(DECADES):
        parts = 2**k if signed else 2 ** (k + 1)
        edges = np.linspace(0.1, 1.0, parts + 1)
        midpoints = 10.0 ** (k - (DECADES - 1)) * (edges[:-1] + edges[1:]) / 2
        values += midpoints.tolist()
        if signed:
            values += (-midpoints).tolist()
    return torch.tensor(sorted(values), dtype=torch.float32)


def linear_code(signed: bool = True) -> torch.Tensor:
    """The 256 sorted float32 values of the linear code: 255 evenly spaced values from -1 to 1 (0
    included) and a second 0 when ``signed``, else 256 evenly spaced values from 0 to 1."""
    if signed:
        values = np.concatenate([np.linspace(-1.0, 1.0, CODE_SIZE - 1), [0.0]])
    else:
        values = np.linspace(0.0, 1.0, CODE_SIZE)
    return torch.tensor(np.sort(values), dtype=torch.float32)


def check_code(code: torch.Tensor) -> torch.Tensor:
    """``code`` if it is a float32 tensor of 256 sorted values in [-1, 1], else ValueError."""
    if not isinstance(code, torch.Tensor) or code.dtype != torch.float32 or code.shape != (CODE_SIZE,):
        what = f"{code.dtype} tensor of shape {tuple(code.shape)}" if isinstance(code, torch.Tensor) else repr(code)
        raise ValueError(f"Invalid code: {what} (must be a float32 tensor of {CODE_SIZE} values)")
    if bool((code[1:] < code[:-1]).any()) or float(code.abs().max()) > 1.0:
        raise ValueError("Invalid code: its values must be sorted and lie in [-1, 1]")
    return code


def _check_block_size(block_size: int) -> int:
    return check_int("block_size", block_size, low=1)


def nearest_code_index(normalized: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """The index (int64) of the value of sorted ``code`` nearest to each of ``normalized``; a tie goes to
    the lower value."""
    upper = torch.searchsorted(code, normalized.contiguous()).clamp(1, CODE_SIZE - 1)
    lower = upper - 1
    go_up = (code[upper] - normalized) < (normalized - code[lower])
    return torch.where(go_up, upper, lower)


def quantize_blockwise(x: torch.Tensor, code: torch.Tensor,
                       block_size: int = DEFAULT_BLOCK_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` as (uint8 codes of ``x.numel()`` values in row-major order, float32 absmax of each block).

    Each value becomes the index of the code value nearest to ``value / absmax`` (float32 arithmetic); a
    block of zeros keeps absmax 0 and the code of 0. A block holding a non-finite value has a non-finite
    absmax, and it dequantises to non-finite values.
    """
    check_code(code)
    _check_block_size(block_size)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"Invalid x: {getattr(x, 'dtype', type(x).__name__)} (must be a floating-point tensor)")
    flat = x.detach().reshape(-1).to(torch.float32)
    n_blocks = math.ceil(flat.numel() / block_size)
    padded = torch.zeros(n_blocks * block_size, dtype=torch.float32, device=x.device)
    padded[:flat.numel()] = flat
    blocks = padded.view(n_blocks, block_size)
    absmax = blocks.abs().amax(dim=1) if n_blocks else torch.zeros(0, device=x.device)
    scale = torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    indices = nearest_code_index(blocks / scale[:, None], code.to(x.device))
    return indices.reshape(-1)[:flat.numel()].to(torch.uint8), absmax


def dequantize_blockwise(codes: torch.Tensor, absmax: torch.Tensor, code: torch.Tensor,
                         shape: tuple[int, ...] | torch.Size, block_size: int = DEFAULT_BLOCK_SIZE) -> torch.Tensor:
    """The float32 tensor of ``shape`` that ``quantize_blockwise`` encoded as ``codes`` and ``absmax``:
    ``code[codes[i]] * absmax[i // block_size]``."""
    check_code(code)
    _check_block_size(block_size)
    n = math.prod(shape)
    if not isinstance(codes, torch.Tensor) or codes.dtype != torch.uint8 or codes.numel() != n:
        what = f"{codes.dtype} tensor of {codes.numel()} values" if isinstance(codes, torch.Tensor) else repr(codes)
        raise ValueError(f"Invalid codes: {what} (must be a uint8 tensor of {n} values for shape {tuple(shape)})")
    if absmax.dtype != torch.float32 or absmax.numel() != math.ceil(n / block_size):
        raise ValueError(f"Invalid absmax: {absmax.dtype} tensor of {absmax.numel()} values (must be float32, "
                         f"one per block of {block_size}: {math.ceil(n / block_size)})")
    block_of = torch.arange(n, device=codes.device) // block_size
    values = code.to(codes.device)[codes.reshape(-1).long()] * absmax.reshape(-1)[block_of]
    return values.reshape(shape)


@numba_source(error_model="numpy")
def dequantize_element(index, absmax, code):
    """The float32 value of code ``index`` (uint8) in a block of scale ``absmax``."""
    return np.float32(code[index] * absmax)


@numba_source(error_model="numpy")
def nearest_index_sorted(normalized, code):
    """The index of the value of sorted ``code`` nearest to ``normalized``, chosen as
    :func:`nearest_code_index` chooses it: ``upper``, the first index whose value is >= ``normalized``
    (kept within 1..size-1), or the one below it, which wins ties."""
    low, high = -1, code.size
    while high - low > 1:  # invariant: code[low] < normalized <= code[high], the ends standing for -inf, +inf
        middle = (low + high) // 2
        if code[middle] < normalized:
            low = middle
        else:
            high = middle
    upper = min(max(high, 1), code.size - 1)
    return upper if code[upper] - normalized < normalized - code[upper - 1] else upper - 1


@numba_source(error_model="numpy")
def quantize_element(value, absmax, code):
    """The uint8 code of float32 ``value`` in a block of scale ``absmax`` (0 scale: the code nearest 0).
    A kernel that calls it imports ``nearest_index_sorted`` too."""
    scale = absmax if absmax > 0 else np.float32(1.0)
    return np.uint8(nearest_index_sorted(np.float32(value / scale), code))


@numba_source(error_model="numpy")
def quantize_blockwise_numba(x, code, block_size, codes_out, absmax_out):
    """``quantize_blockwise`` of float32 ``x`` (1-D) with the element helpers: per block, pass 1 takes
    the absmax, pass 2 stores the codes (the shape of a fused requantising kernel)."""
    n = x.size
    for block in range(absmax_out.size):
        start = block * block_size
        stop = min(start + block_size, n)
        absmax = np.float32(0.0)
        for i in range(start, stop):
            absmax = max(absmax, abs(x[i]))
        absmax_out[block] = absmax
        for i in range(start, stop):
            codes_out[i] = quantize_element(x[i], absmax, code)
