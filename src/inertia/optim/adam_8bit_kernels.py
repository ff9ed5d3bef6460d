"""The fused kernels of Adam/AdamW with 8-bit block-wise state (:mod:`inertia.optim.adam_8bit`).

Each kernel takes a quantisation block (``block_size`` values sharing one absmax per moment) in one pass
over memory: it loads the parameters, the gradient and both moments' codes, dequantises the moments,
applies Adam's update in float32, finds each moment's new absmax and stores the new codes, the new absmax
and the new parameters. The numba kernel walks the block twice while it sits in the cache (first for the
new absmax, then for the codes and the parameters: the update is recomputed, so no scratch buffer is
needed and both passes give the same values); the Triton kernel keeps a program's blocks in registers.
Both store the code :func:`inertia.kernels.blockwise_quant.nearest_code_index` chooses; the numba
kernel finds it from a table of the float32's upper 16 bits and a step or two through the code
(:func:`nearest_index_table`, in place of a binary search's eight dependent loads and mispredicted branches).
"""

from __future__ import annotations

import numpy as np

from inertia.kernels.blockwise_quant import (  # noqa: F401 (compiled with the kernels below)
    dequantize_element,
)
from inertia.kernels.jit import numba_source, tl, triton_source
from inertia.kernels.numba_helpers import adam_moments_element
from inertia.kernels.triton_helpers import (  # noqa: F401 (compiled with the kernels below)
    dequantize_codes,
    ieee_div,
    ieee_sqrt,
    nearest_code,
    quantize_block,
)

__all__ = ["adam_8bit_blocks", "adam_8bit_kernel", "code_table", "nearest_index_table"]


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


@numba_source(error_model="numpy")
def quantize_table(value, absmax, code, table, bits, bits_u32):
    """``quantize_element`` with :func:`nearest_index_table`."""
    scale = absmax if absmax > 0 else np.float32(1.0)
    return np.uint8(nearest_index_table(np.float32(value / scale), code, table, bits, bits_u32))


@numba_source(error_model="numpy")
def adam_8bit_element(p, g, m_index, m_absmax, v_index, v_absmax, code_m, code_v, omb1, beta2, omb2, wd, decay,
                      sign, wd_mode):
    """One element's dequantised moments, updated: returns the decayed p, m and v in float32."""
    m = dequantize_element(m_index, m_absmax, code_m)
    v = dequantize_element(v_index, v_absmax, code_v)
    pi, _, mi, vi = adam_moments_element(p, g, m, v, omb1, beta2, omb2, wd, decay, sign, wd_mode)
    return pi, mi, vi


@numba_source(error_model="numpy", nogil=True)
def adam_8bit_blocks(p, g, m_codes, m_absmax, v_codes, v_absmax, code_m, code_v, table_m, table_v, omb1, beta2, omb2,
                     eps, wd, decay, step_size, denom_scale, sign, wd_mode, block_size):
    """Adam/AdamW over flat float32 ``p``, ``g`` whose blocks of ``block_size`` own ``m_absmax[b]`` and
    ``v_absmax[b]`` (``wd_mode`` 0 none, 1 L2, 2 decoupled; ``sign`` -1 to maximize); ``table_m``,
    ``table_v``: the codes' :func:`code_table`."""
    n = p.size
    bits = np.empty(1, np.float32)
    bits_u32 = bits.view(np.uint32)
    for block in range(m_absmax.size):
        start = block * block_size
        stop = min(start + block_size, n)
        old_m, old_v = m_absmax[block], v_absmax[block]
        new_m = np.float32(0.0)
        new_v = np.float32(0.0)
        for i in range(start, stop):
            _, mi, vi = adam_8bit_element(p[i], g[i], m_codes[i], old_m, v_codes[i], old_v, code_m, code_v,
                                          omb1, beta2, omb2, wd, decay, sign, wd_mode)
            new_m = nan_max(new_m, mi)
            new_v = nan_max(new_v, vi)
        for i in range(start, stop):
            pi, mi, vi = adam_8bit_element(p[i], g[i], m_codes[i], old_m, v_codes[i], old_v, code_m, code_v,
                                           omb1, beta2, omb2, wd, decay, sign, wd_mode)
            p[i] = pi + (-step_size * mi) / (np.sqrt(vi) / denom_scale + eps)
            m_codes[i] = quantize_table(mi, new_m, code_m, table_m, bits, bits_u32)
            v_codes[i] = quantize_table(vi, new_v, code_v, table_v, bits, bits_u32)
        m_absmax[block] = new_m
        v_absmax[block] = new_v


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
