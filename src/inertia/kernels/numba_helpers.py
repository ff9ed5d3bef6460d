"""numba kernel helpers that every rule's kernels share (kernel sources: :mod:`inertia.kernels.jit`).

A helper is compiled over the namespace of the module that imports it, so that module also imports the
helpers it calls by name and, for the stochastic-rounding helpers, ``numpy as np``.
"""

from __future__ import annotations

import numpy as np

from inertia.kernels.jit import numba_source

__all__ = ["adam_moments_element", "bf16_bits_to_float", "multiply_high_low", "philox_uint32", "signed_grad",
           "stochastic_round_bf16_bits"]


@numba_source(error_model="numpy")
def signed_grad(g, p, sign, use_wd, wd):
    """The gradient, negated to maximize (``sign`` -1), plus L2 weight decay ``wd * p`` when ``use_wd``."""
    gi = g * sign
    return gi + wd * p if use_wd else gi


@numba_source(error_model="numpy")
def adam_moments_element(p, g, m, v, omb1, beta2, omb2, wd, decay, sign, wd_mode):
    """Adam's first half for one element: decoupled decay (wd_mode 2) or L2 into the signed gradient
    (wd_mode 1), then both moments; returns the decayed p, the gradient used, m and v."""
    pi = p * decay if wd_mode == 2 else p
    gi = g * sign
    gi = gi + wd * pi if wd_mode == 1 else gi
    mi = m + omb1 * (gi - m)
    vi = v * beta2 + omb2 * gi * gi
    return pi, gi, mi, vi


@numba_source(error_model="numpy")
def multiply_high_low(a, b):
    """The high and low 32-bit words of ``a * b`` for two uint64 values below 2**32."""
    product = np.uint64(a) * np.uint64(b)
    return product >> np.uint64(32), product & np.uint64(0xFFFFFFFF)


@numba_source(error_model="numpy")
def philox_uint32(seed, index):
    """Philox-4x32-10's first word for key ``seed`` and counter (index low, index high, 0, 0), as a uint64
    below 2**32: the stream of Triton's ``tl.randint(seed, index)`` (torch: ``low_precision.philox_random_bits``).
    A kernel that calls it imports ``multiply_high_low`` too."""
    mask = np.uint64(0xFFFFFFFF)
    key0, key1 = np.uint64(seed) & mask, np.uint64(seed) >> np.uint64(32)
    c0, c1 = np.uint64(index) & mask, np.uint64(index) >> np.uint64(32)
    c2 = np.uint64(0)
    c3 = np.uint64(0)
    for _ in range(10):
        high_b, low_b = multiply_high_low(np.uint64(0xCD9E8D57), c2)
        high_a, low_a = multiply_high_low(np.uint64(0xD2511F53), c0)
        c0, c1, c2, c3 = high_b ^ c1 ^ key0, low_b, high_a ^ c3 ^ key1, low_a
        key0 = (key0 + np.uint64(0x9E3779B9)) & mask
        key1 = (key1 + np.uint64(0xBB67AE85)) & mask
    return c0


@numba_source(error_model="numpy")
def stochastic_round_bf16_bits(x, seed, index):
    """The bfloat16 bit pattern (uint16) of float32 ``x`` rounded stochastically with the Philox word of
    (``seed``, ``index``): its low 16 bits added to the magnitude, the low half cleared, finite values
    saturated at the bf16 maximum, NaN made quiet. Store it into a ``uint16`` view of a bf16 tensor.
    A kernel that calls it imports ``philox_uint32`` and ``multiply_high_low`` too."""
    bits = np.uint64(np.float32(x).view(np.uint32))
    sign = bits & np.uint64(0x80000000)
    magnitude = bits & np.uint64(0x7FFFFFFF)
    if magnitude > np.uint64(0x7F800000):
        rounded = np.uint64(0x7FC00000)
    elif magnitude == np.uint64(0x7F800000):
        rounded = magnitude
    else:
        random16 = philox_uint32(seed, index) & np.uint64(0xFFFF)
        rounded = (magnitude + random16) & np.uint64(0xFFFF0000)
        if rounded >= np.uint64(0x7F800000):
            rounded = np.uint64(0x7F7F0000)
    return np.uint16((rounded | sign) >> np.uint64(16))


@numba_source(error_model="numpy")
def bf16_bits_to_float(bits):
    """The float32 value of a bfloat16 bit pattern (read from a ``uint16`` view of a bf16 tensor)."""
    return np.uint32(np.uint32(bits) << np.uint32(16)).view(np.float32)
