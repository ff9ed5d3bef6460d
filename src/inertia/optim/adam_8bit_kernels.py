"""The fused kernels of Adam/AdamW with 8-bit block-wise state (:mod:`inertia.optim.adam_8bit`).

Each kernel takes a quantisation block (``block_size`` values sharing one absmax per moment) in one pass
over memory: it loads the parameters, the gradient and both moments' codes, dequantises the moments,
applies Adam's update in float32, finds each moment's new absmax and stores the new codes, the new absmax
and the new parameters. The numba kernel runs a block through short typed loops while it sits in the
cache (dequantise, update, absmax, normalise, choose the codes), each either vectorised or free of
branches on the data; the Triton kernel keeps a program's blocks in registers. Both store the code
:func:`inertia.kernels.blockwise_quant.nearest_code_index` chooses; the numba kernel finds it from the
float32's upper 16 bits and one comparison with the threshold where the choice moves up
(:func:`threshold_table`, :func:`nearest_index_steps`; :func:`nearest_index_table` is the search by code values).
"""

from __future__ import annotations

import numpy as np
import torch

from inertia.kernels.blockwise_quant import (  # noqa: F401 (compiled with the kernels below)
    dequantize_element,
    nearest_code_index,
)
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import adam_moments_element  # noqa: F401 (compiled with the kernels below)
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    dequantize_codes,
    ieee_div,
    ieee_sqrt,
    nearest_code,
    quantize_block,
)

__all__ = ["adam_8bit_blocks", "adam_8bit_kernel", "code_table", "nearest_index_table", "threshold_table"]


@numba_source(error_model="numpy")
def nan_max(running, value):
    """``max(running, |value|)``, NaN once either is NaN (as ``torch.amax``)."""
    magnitude = abs(value)
    return magnitude if (magnitude > running or magnitude != magnitude) and running == running else running


def code_table(code: np.ndarray) -> np.ndarray:
    """The search table of a sorted float32 code of 256 values for :func:`nearest_index_table`: for each
    of the 65536 values of a float32's upper 16 bits (sign, exponent, 7 fraction bits), the number of code
    values below the lowest float32 with those bits (at most 255)."""
    buckets = np.arange(2**16, dtype=np.uint32) << np.uint32(16)
    negative = (buckets & np.uint32(0x80000000)) != 0
    lowest = np.where(negative, buckets | np.uint32(0xFFFF), buckets).view(np.float32)
    lowest = np.where(np.isnan(lowest), buckets.view(np.float32), lowest)  # -inf's bucket holds NaNs above it
    return np.minimum(np.searchsorted(code, lowest, side="left"), 255).astype(np.uint8)


@numba_source(error_model="numpy")
def nearest_index_table(normalized, code, table, bits, bits_u32):
    """``nearest_index_sorted``'s choice for a code of 256 values: the table entry of ``normalized``'s upper
    16 bits counts the code values below its bucket, a step or two more the values below ``normalized``
    (the leaf's ``high``), then the lower neighbour wins ties. ``bits``: a float32 scratch array of one
    value, ``bits_u32`` its uint32 view."""
    bits[0] = normalized
    high = np.int64(table[bits_u32[0] >> np.uint32(16)])
    while high < 256 and code[high] < normalized:
        high += 1
    upper = min(max(high, 1), 255)
    return upper - (1 - (code[upper] - normalized < normalized - code[upper - 1]))


#: Ordered integer keys of the float32 values from -inf to +inf (-0.0 and 0.0 share key 0).
KEY_RANGE = (-0x7F800000, 0x7F800000)


def key_floats(keys: np.ndarray) -> np.ndarray:
    """The float32 values of ordered keys (a key's magnitude is the value's bit pattern less the sign)."""
    keys = np.asarray(keys, dtype=np.int64)
    return np.where(keys >= 0, keys, -keys | 0x80000000).astype(np.uint32).view(np.float32)


def nearest_of(values: np.ndarray, code: np.ndarray) -> np.ndarray:
    """:func:`~inertia.kernels.blockwise_quant.nearest_code_index` of float32 ``values`` (no NaN)."""
    return nearest_code_index(torch.from_numpy(values), torch.from_numpy(code)).numpy()


def threshold_table(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The search tables of :func:`nearest_index_steps` for a sorted float32 code of 256 values.

    ``thresholds[k]`` (k = 1..255) is the lowest float32 whose nearest code index is at least k (the index
    only grows with the value: a value's distances to its two neighbours move in opposite directions), with
    ``thresholds[256]`` NaN; so the index of a value is its bucket's index plus the thresholds above that
    it reaches. ``buckets[b]``, for each value of a float32's upper 16 bits, is the index of the bucket's
    lowest value, or for a bucket holding NaNs, the index :func:`nearest_index_table` gives its NaNs.
    ``steps``: the most thresholds one bucket holds (one for the dynamic codes), at least 1."""
    k = np.arange(1, 256)
    low, high = np.full(255, KEY_RANGE[0] - 1), np.full(255, KEY_RANGE[1])  # index(+inf) = 255 >= k
    while (high - low > 1).any():
        middle = (low + high) // 2
        reached = nearest_of(key_floats(middle), code) >= k
        low, high = np.where(reached, low, middle), np.where(reached, middle, high)
    thresholds = np.concatenate([[-np.inf], key_floats(high), [np.nan]]).astype(np.float32)
    bits = np.arange(2**16, dtype=np.uint32) << np.uint32(16)
    negative = (bits & np.uint32(0x80000000)) != 0
    has_nan = (bits & np.uint32(0x7F800000)) == np.uint32(0x7F800000)
    infinite = has_nan & ((bits & np.uint32(0x007F0000)) == 0)  # +-inf and NaNs
    lowest = np.where(negative & ~infinite, bits | np.uint32(0xFFFF), bits).view(np.float32)
    highest = np.where(negative | infinite, bits, bits | np.uint32(0xFFFF)).view(np.float32)
    finite = ~has_nan | infinite  # the buckets holding a value that is not NaN
    buckets = np.clip(code_table(code).astype(np.int64), 1, 255) - 1  # NaN takes no step and no tie
    buckets[~has_nan] = nearest_of(lowest[~has_nan], code)
    top = nearest_of(highest[finite], code)
    if (top < buckets[finite]).any():
        raise ValueError("Invalid code: its nearest index does not grow with the value")
    return buckets.astype(np.uint8), thresholds, max(1, int((top - buckets[finite]).max()))


@numba_source(error_model="numpy")
def nan_absmax(values):
    """The largest ``|values[j]|`` by :func:`nan_max` in order (for a block holding a NaN)."""
    running = np.float32(0.0)
    for j in range(values.size):
        running = nan_max(running, values[j])
    return running


@numba_source(error_model="numpy")
def magnitude_bits(bits):
    """The bit pattern of ``|x|`` from ``x``'s (uint32): ordered as the magnitudes are, NaNs above +inf."""
    return np.uint32(bits & np.uint32(0x7FFFFFFF))  # kept uint32: numba widens integer arithmetic to 64 bits


@numba_source(error_model="numpy")
def nearest_index_steps(x, bits, buckets, thresholds):
    """The nearest code index of ``x`` (``bits``: its uint32 pattern) from :func:`threshold_table`'s
    ``buckets`` and ``thresholds``: the bucket's index, one step past each threshold reached
    (``thresholds[256]`` is NaN, which no value reaches). :func:`adam_8bit_blocks` takes the one step
    inline, without a branch, where no bucket holds two thresholds."""
    index = np.int64(buckets[bits >> np.uint32(16)])
    while x >= thresholds[index + 1]:
        index += 1
    return np.uint8(index)


@numba_source(error_model="numpy", nogil=True)
def adam_8bit_blocks(p, g, m_codes, m_absmax, v_codes, v_absmax, code_m, code_v, buckets_m, thresholds_m, buckets_v,
                     thresholds_v, omb1, beta2, omb2, eps, wd, decay, step_size, denom_scale, sign, wd_mode, block_size,
                     steps_m, steps_v):
    """Adam/AdamW over flat float32 ``p``, ``g`` whose blocks of ``block_size`` own ``m_absmax[b]`` and
    ``v_absmax[b]`` (``wd_mode`` 0 none, 1 L2, 2 decoupled; ``sign`` -1 to maximize); ``buckets_*``,
    ``thresholds_*``, ``steps_*``: the codes' :func:`threshold_table`.

    Per block, short loops over two scratch arrays of moments (made once per call): dequantise, update
    (vectorised), the new absmax as the largest magnitude bit pattern (vectorised), normalise (vectorised),
    choose the codes. The loops sit in this body and index the buffers from an unsigned offset: a slice, a
    view or a helper taking arrays costs reference counting or a call per block or value, and a signed
    index a wraparound check that stops vectorisation."""
    n = p.size
    m = np.empty(block_size, np.float32)
    v = np.empty(block_size, np.float32)
    m_u32, v_u32 = m.view(np.uint32), v.view(np.uint32)
    bits = np.empty(1, np.float32)
    bits_u32 = bits.view(np.uint32)
    for block in range(m_absmax.size):
        start = np.uint64(block * block_size)
        count = min(block_size, n - block * block_size)
        old_m, old_v = m_absmax[block], v_absmax[block]
        for j in range(count):
            m[j] = dequantize_element(m_codes[start + j], old_m, code_m)
        for j in range(count):
            v[j] = dequantize_element(v_codes[start + j], old_v, code_v)
        for j in range(count):
            i = start + j
            pi, _, mi, vi = adam_moments_element(p[i], g[i], m[j], v[j], omb1, beta2, omb2, wd, decay, sign, wd_mode)
            p[i] = pi + (-step_size * mi) / (np.sqrt(vi) / denom_scale + eps)
            m[j] = mi
            v[j] = vi
        top_m, top_v = np.uint32(0), np.uint32(0)
        for j in range(count):
            top_m = max(top_m, magnitude_bits(m_u32[j]))
            top_v = max(top_v, magnitude_bits(v_u32[j]))
        if top_m > np.uint32(0x7F800000) or top_v > np.uint32(0x7F800000):  # a NaN: torch.amax's NaN
            new_m, new_v = nan_absmax(m[:count]), nan_absmax(v[:count])
        else:
            bits_u32[0] = top_m
            new_m = bits[0]
            bits_u32[0] = top_v
            new_v = bits[0]
        m_absmax[block], v_absmax[block] = new_m, new_v
        scale_m = new_m if new_m > 0 else np.float32(1.0)
        scale_v = new_v if new_v > 0 else np.float32(1.0)
        for j in range(count):
            m[j] = m[j] / scale_m
        for j in range(count):
            v[j] = v[j] / scale_v
        if steps_m == 1 and steps_v == 1:  # nearest_index_steps' one step, inline
            for j in range(count):
                index = np.int64(buckets_m[m_u32[j] >> np.uint32(16)])
                m_codes[start + j] = np.uint8(index + np.int64(m[j] >= thresholds_m[index + 1]))
            for j in range(count):
                index = np.int64(buckets_v[v_u32[j] >> np.uint32(16)])
                v_codes[start + j] = np.uint8(index + np.int64(v[j] >= thresholds_v[index + 1]))
        else:
            for j in range(count):
                m_codes[start + j] = nearest_index_steps(m[j], m_u32[j], buckets_m, thresholds_m)
            for j in range(count):
                v_codes[start + j] = nearest_index_steps(v[j], v_u32[j], buckets_v, thresholds_v)


@triton_source
def adam_8bit_kernel(p_ptr, g_ptr, m_codes_ptr, m_absmax_ptr, v_codes_ptr, v_absmax_ptr, code_m_ptr, code_v_ptr,
                     omb1, beta2, omb2, eps, wd, decay, step_size, denom_scale, n,
                     MAXIMIZE: tl.constexpr, WD_MODE: tl.constexpr, BLOCK: tl.constexpr, QBLOCK: tl.constexpr):
    """Adam/AdamW with 8-bit moments; a program owns ``BLOCK // QBLOCK`` quantisation blocks."""
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    p = tl.load(p_ptr + offs, mask=mask, other=0.0)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0)
    if MAXIMIZE:
        g = -g
    if WD_MODE == 2:
        p = p * decay
    if WD_MODE == 1:
        g = g + wd * p
    m = dequantize_codes(m_codes_ptr, m_absmax_ptr, code_m_ptr, offs, mask, QBLOCK)
    v = dequantize_codes(v_codes_ptr, v_absmax_ptr, code_v_ptr, offs, mask, QBLOCK)
    m = m + omb1 * (g - m)
    v = v * beta2 + omb2 * g * g
    m = tl.where(mask, m, 0.0)
    v = tl.where(mask, v, 0.0)
    p = p + ieee_div(-step_size * m, ieee_div(ieee_sqrt(v, True), denom_scale, True) + eps, True)
    tl.store(p_ptr + offs, p, mask=mask)
    m_codes, m_absmax = quantize_block(m, mask, code_m_ptr, BLOCK, QBLOCK)
    v_codes, v_absmax = quantize_block(v, mask, code_v_ptr, BLOCK, QBLOCK)
    tl.store(m_codes_ptr + offs, m_codes, mask=mask)
    tl.store(v_codes_ptr + offs, v_codes, mask=mask)
    blocks = pid.to(tl.int64) * (BLOCK // QBLOCK) + tl.arange(0, BLOCK // QBLOCK)
    block_mask = blocks * QBLOCK < n
    tl.store(m_absmax_ptr + blocks, m_absmax, mask=block_mask)
    tl.store(v_absmax_ptr + blocks, v_absmax, mask=block_mask)
