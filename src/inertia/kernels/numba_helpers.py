"""numba kernel helpers that every rule's kernels share (kernel sources: :mod:`inertia.kernels.jit`)."""

from __future__ import annotations

from inertia.kernels.jit import numba_source

__all__ = ["adam_moments_element", "signed_grad"]


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
