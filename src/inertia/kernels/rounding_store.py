"""Storing float32 values into bfloat16 tensors with stochastic rounding, on the CPU (numba).

:func:`store_stochastic_bf16` rounds element ``i`` of a float32 chunk with the Philox word of
(``seed``, ``offset + i``) (:func:`inertia.kernels.numba_helpers.philox_uint32`), the stream that
:func:`inertia.kernels.low_precision.stochastic_round` draws with the same seed and offset: a chunk
rounded here takes, for finite values and infinities, exactly the bits that rounding the whole tensor
with torch takes at those element indices (NaNs stay NaN).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from inertia.kernels import numba_helpers
from inertia.kernels.jit import compiled, numba_source

__all__ = ["bf16_bits_array", "store_stochastic_bf16"]

# The shared Philox helpers, compiled here to be inlined into the store loop: called across compiled
# functions they keep the loop scalar; inlined, with the rounding below written without branches, it
# vectorises (over ten times faster on an AVX-512 CPU).
multiply_high_low = numba_source(error_model="numpy", inline="always")(numba_helpers.multiply_high_low.function)
philox_uint32 = numba_source(error_model="numpy", inline="always")(numba_helpers.philox_uint32.function)


@numba_source(error_model="numpy", nogil=True)
def stochastic_store_kernel(bits, out, seed, offset):
    """``out[i]`` (bf16 bit patterns, uint16) = float32 ``bits[i]`` (their uint32 patterns) rounded
    stochastically with the Philox word of (``seed``, ``offset + i``); ``seed`` and ``offset`` are uint64.

    The recipe of :func:`inertia.kernels.numba_helpers.stochastic_round_bf16_bits` written with selects
    instead of branches, so that the loop vectorises (the word is drawn for NaN and infinity too)."""
    for i in range(bits.size):
        random16 = philox_uint32(seed, offset + np.uint64(i)) & np.uint64(0xFFFF)
        pattern = np.uint64(bits[i])
        magnitude = pattern & np.uint64(0x7FFFFFFF)
        rounded = (magnitude + random16) & np.uint64(0xFFFF0000)
        rounded = np.uint64(0x7F7F0000) if rounded >= np.uint64(0x7F800000) else rounded
        rounded = magnitude if magnitude == np.uint64(0x7F800000) else rounded
        rounded = np.uint64(0x7FC00000) if magnitude > np.uint64(0x7F800000) else rounded
        out[i] = np.uint16((rounded | (pattern & np.uint64(0x80000000))) >> np.uint64(16))


def bf16_bits_array(tensor: Tensor) -> np.ndarray:
    """A 1-d ``uint16`` numpy view of the bit patterns of a contiguous bfloat16 CPU tensor (same memory)."""
    if tensor.dtype != torch.bfloat16 or tensor.device.type != "cpu" or not tensor.is_contiguous():
        raise ValueError(f"Invalid tensor: {tensor.dtype} on {tensor.device} (a contiguous bfloat16 CPU tensor "
                         "is needed)")
    return tensor.detach().view(-1).view(torch.int16).numpy().view(np.uint16)


def store_stochastic_bf16(values: np.ndarray, out: np.ndarray, seed: int, offset: int) -> None:
    """Write ``values`` (1-d float32) rounded stochastically into ``out`` (1-d uint16 bf16 bit patterns of
    the same length, e.g. from :func:`bf16_bits_array`), element ``i`` with Philox index ``offset + i``."""
    if values.dtype != np.float32 or out.dtype != np.uint16 or values.shape != out.shape:
        raise ValueError(f"Invalid values/out: {values.dtype}{values.shape} and {out.dtype}{out.shape} (float32 "
                         "values and uint16 bit patterns of one length)")
    if not 0 <= seed < 2**64 or not 0 <= offset <= 2**64 - 1 - values.size:
        raise ValueError(f"Invalid seed/offset: {seed!r}, {offset!r} (the Philox key and counters are 64-bit)")
    kernel = compiled(__name__, "stochastic_store_kernel", "numba")
    kernel(values.view(np.uint32), out, np.uint64(seed), np.uint64(offset))
