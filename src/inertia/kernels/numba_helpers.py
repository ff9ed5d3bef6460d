"""numba kernel helpers that every rule's kernels share (kernel sources: :mod:`inertia.kernels.jit`)."""

from __future__ import annotations

from inertia.kernels.jit import numba_source

__all__ = ["signed_grad"]


@numba_source(error_model="numpy")
def signed_grad(g, p, sign, use_wd, wd):
    """The gradient, negated to maximize (``sign`` -1), plus L2 weight decay ``wd * p`` when ``use_wd``."""
    gi = g * sign
    return gi + wd * p if use_wd else gi
