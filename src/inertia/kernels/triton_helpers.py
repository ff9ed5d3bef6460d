"""Triton kernel helpers that every rule's kernels share: IEEE division and square root, a program's block,
the device step counter, a block's parameters and signed gradient, stochastic rounding to bfloat16, and
block-wise 8-bit codes (kernel sources: :mod:`inertia.kernels.jit`).

A rule module that imports one gets it compiled together with its own kernels.
"""

from __future__ import annotations

from inertia.kernels.jit import tl, triton_source

__all__ = ["adam_moments", "advance_step", "block_offsets", "dequantize_codes", "ieee_div", "ieee_sqrt",
           "load_param_grad", "nearest_code", "quantize_block", "round_nearest_bf16", "stochastic_round_bf16",
           "store_param", "store_rounded"]


@triton_source
def ieee_div(a, b, IEEE: tl.constexpr):
    """``a / b``, IEEE-rounded when ``IEEE`` (float32 compute: matches the CPU within rounding)."""
    if IEEE:
        r = tl.div_rn(a, b)
    else:
        r = a / b
    return r


@triton_source
def ieee_sqrt(x, IEEE: tl.constexpr):
    """``sqrt(x)``, IEEE-rounded when ``IEEE``."""
    if IEEE:
        r = tl.sqrt_rn(x)
    else:
        r = tl.sqrt(x)
    return r


@triton_source
def advance_step(slot_in, slot_out, beta1, beta2, pid):
    """Read slot [t, b1^t, b2^t]; program 0 writes [t+1, b1^(t+1), b2^(t+1)]; return the new values."""
    t = tl.load(slot_in) + 1.0
    pow1 = tl.load(slot_in + 1) * beta1
    pow2 = tl.load(slot_in + 2) * beta2
    if pid == 0:
        tl.store(slot_out, t)
        tl.store(slot_out + 1, pow1)
        tl.store(slot_out + 2, pow2)
    return t, pow1, pow2


@triton_source
def block_offsets(n, BLOCK: tl.constexpr):
    """This program's id, the element offsets of its block (64-bit) and the mask of those below ``n``."""
    pid = tl.program_id(0)
    offsets = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    return pid, offsets, offsets < n


@triton_source
def load_param_grad(p_ptr, g_ptr, wd_ptr, offs, mask, MAXIMIZE: tl.constexpr, WD: tl.constexpr, CT: tl.constexpr):
    """A block's parameters and its gradient in the compute type, negated to maximize, plus L2 weight decay."""
    p = tl.load(p_ptr + offs, mask=mask).to(CT)
    g = tl.load(g_ptr + offs, mask=mask).to(CT)
    if MAXIMIZE:
        g = -g
    if WD:
        g = g + tl.load(wd_ptr).to(CT) * p
    return p, g


@triton_source
def adam_moments(p_ptr, g_ptr, m_ptr, v_ptr, offs, mask, lr64, wd64, beta1, beta2,
                 MAXIMIZE: tl.constexpr, WD_MODE: tl.constexpr, CT: tl.constexpr, SR: tl.constexpr = False,
                 rng_ptr=None):
    """Adam's first half for a block: the signed gradient with weight decay (WD_MODE 1: L2 into g, 2:
    decoupled, p *= 1 - lr wd), then m and v updated and stored (state slots 1 and 2 of
    :func:`store_rounded`); returns p, g, m, v in the compute type."""
    p = tl.load(p_ptr + offs, mask=mask).to(CT)
    g = tl.load(g_ptr + offs, mask=mask).to(CT)
    if MAXIMIZE:
        g = -g
    if WD_MODE == 2:
        p = p * (1.0 - lr64 * wd64).to(CT)
    if WD_MODE == 1:
        g = g + wd64.to(CT) * p
    m = tl.load(m_ptr + offs, mask=mask).to(CT)
    m = m + (1.0 - beta1).to(CT) * (g - m)
    v = tl.load(v_ptr + offs, mask=mask).to(CT) * beta2.to(CT) + (1.0 - beta2).to(CT) * g * g
    store_rounded(m_ptr, offs, m, mask, SR, rng_ptr, 1)
    store_rounded(v_ptr, offs, v, mask, SR, rng_ptr, 2)
    return p, g, m, v


@triton_source
def stochastic_round_bf16(x, seed, offsets):
    """float32 ``x`` rounded stochastically to bfloat16 (built from the bit pattern, no float conversion:
    the interpreter's float32-to-bf16 cast mishandles subnormals). The low 16 bits of ``tl.randint(seed, offsets)`` are added to
    the magnitude's bit pattern and the low half cleared; finite values saturate at the bf16 maximum, NaN
    becomes the quiet NaN (the rule of ``inertia.kernels.low_precision.stochastic_round`` with ``seed``)."""
    bits = x.to(tl.uint32, bitcast=True)
    sign = bits & 0x80000000
    magnitude = bits & 0x7FFFFFFF
    random16 = tl.randint(seed, offsets).to(tl.uint32, bitcast=True) & 0xFFFF
    rounded = (magnitude + random16) & 0xFFFF0000
    rounded = tl.where(rounded >= 0x7F800000, 0x7F7F0000, rounded)
    rounded = tl.where(magnitude == 0x7F800000, magnitude, rounded)
    rounded = tl.where(magnitude > 0x7F800000, 0x7FC00000, rounded)
    return ((rounded | sign) >> 16).to(tl.uint16).to(tl.bfloat16, bitcast=True)


@triton_source
def round_nearest_bf16(x):
    """float32 ``x`` rounded to the nearest bfloat16, ties to even (torch's cast: beyond the maximum to
    infinity; NaN to the quiet NaN 0x7FC0), built from the bit pattern: the interpreter's cast truncates."""
    bits = x.to(tl.uint32, bitcast=True)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    rounded = tl.where((bits & 0x7FFFFFFF) > 0x7F800000, 0x7FC0, rounded)
    return rounded.to(tl.uint16).to(tl.bfloat16, bitcast=True)


@triton_source
def store_rounded(ptr, offs, value, mask, SR: tl.constexpr, rng_ptr, slot: tl.constexpr):
    """Store ``value`` at ``ptr + offs``: rounded to nearest in the pointer's type, or (``SR`` and a bfloat16
    target) rounded stochastically, element ``i`` with the Philox stream of ``slot`` in the int64 table
    ``rng_ptr``: ``[seed (its 64 bits), offset of slot 0, offset of slot 1, ...]``, drawn at offset + offs.
    Slot 0 is the parameter, slot 1 + k the kernel's state argument k."""
    rounded = value.to(ptr.dtype.element_ty)
    if SR:
        if ptr.dtype.element_ty == tl.bfloat16:
            seed = tl.load(rng_ptr).to(tl.uint64, bitcast=True)
            rounded = stochastic_round_bf16(value.to(tl.float32), seed, tl.load(rng_ptr + 1 + slot) + offs)
    tl.store(ptr + offs, rounded, mask=mask)


@triton_source
def store_param(p_ptr, offs, p, mask, SR_PARAM: tl.constexpr, rng_ptr, MASTER: tl.constexpr, out_ptr):
    """Store a block's new parameters: into ``p_ptr`` (see :func:`store_rounded`, slot 0), and with ``MASTER``
    (``p_ptr`` is then the float32 master) also into ``out_ptr``, the low-precision parameter, rounded to
    nearest as ``param.copy_(master)`` rounds (bfloat16: :func:`round_nearest_bf16`)."""
    store_rounded(p_ptr, offs, p, mask, SR_PARAM, rng_ptr, 0)
    if MASTER:
        if out_ptr.dtype.element_ty == tl.bfloat16:
            tl.store(out_ptr + offs, round_nearest_bf16(p.to(tl.float32)), mask=mask)
        else:
            tl.store(out_ptr + offs, p.to(out_ptr.dtype.element_ty), mask=mask)


@triton_source
def dequantize_codes(codes_ptr, absmax_ptr, code_ptr, offs, mask, QBLOCK: tl.constexpr):
    """The float32 values of a block's 8-bit codes: ``code[codes[i]] * absmax[i // QBLOCK]``."""
    index = tl.load(codes_ptr + offs, mask=mask, other=0).to(tl.int32)
    scale = tl.load(absmax_ptr + offs // QBLOCK, mask=mask, other=0.0)
    return tl.load(code_ptr + index, mask=mask, other=0.0) * scale


@triton_source
def nearest_code(normalized, code_ptr):
    """The index (int32) of the value of the sorted 256-value code nearest to each of ``normalized``, chosen
    as ``inertia.kernels.blockwise_quant.nearest_code_index`` chooses it (ties go to the lower value)."""
    low = tl.full(normalized.shape, -1, tl.int32)
    high = tl.full(normalized.shape, 256, tl.int32)
    for _ in tl.static_range(9):  # 9 halvings of 257 gaps; invariant code[low] < normalized <= code[high]
        active = high - low > 1
        middle = (low + high) // 2
        below = tl.load(code_ptr + middle, mask=active, other=0.0) < normalized
        low = tl.where(active & below, middle, low)
        high = tl.where(active & ~below, middle, high)
    upper = tl.minimum(tl.maximum(high, 1), 255)
    go_up = tl.load(code_ptr + upper) - normalized < normalized - tl.load(code_ptr + upper - 1)
    return tl.where(go_up, upper, upper - 1)


@triton_source
def quantize_block(values, mask, code_ptr, BLOCK: tl.constexpr, QBLOCK: tl.constexpr):
    """uint8 codes of a program's float32 ``values`` and the absmax of each of its ``BLOCK // QBLOCK``
    quantisation blocks (the program's block starts on a multiple of ``QBLOCK``): the reduction between a
    fused kernel's two passes happens in registers."""
    magnitudes = tl.reshape(tl.where(mask, tl.abs(values), 0.0), (BLOCK // QBLOCK, QBLOCK))
    absmax = tl.max(magnitudes, axis=1)
    scale = tl.reshape(tl.broadcast_to(absmax[:, None], (BLOCK // QBLOCK, QBLOCK)), (BLOCK,))
    normalized = tl.div_rn(values, tl.where(scale > 0, scale, 1.0))
    return nearest_code(normalized, code_ptr).to(tl.uint8), absmax
