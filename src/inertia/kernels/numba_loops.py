"""numba kernels: one vectorized pass over flat buffers per rule.

Each ``*_step`` function runs over the whole of the (equally long) 1-d arrays it gets,
releasing the GIL, so :class:`inertia.kernels.cpu.NumbaStepper` runs it on chunks in
parallel threads. The loops index from 0 so that LLVM vectorizes them. Options are
loop-invariant flags turned into selects; variants that write a different set of
buffers are separate loops, since a conditional store would block vectorization.
The arithmetic follows :mod:`inertia.rules` operation by operation, in the buffers'
dtype (scalars are passed already cast to it).

Compiled kernels are cached on disk (numba's ``cache=True``: next to this file, else in
``NUMBA_CACHE_DIR`` or the user cache directory). Where none of these is writable (a
read-only install without a writable home), the kernels are compiled in memory in each
process instead: slower to start, same results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

_JIT = dict(error_model="numpy", nogil=True)
_LOOP = dict(error_model="numpy")


def _jit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``njit`` with the on-disk cache, or without it where numba finds no writable cache directory."""

    def decorate(function: Callable[..., Any]) -> Any:
        try:
            return njit(cache=True, **options)(function)
        except RuntimeError as error:  # numba: "cannot cache function ...: no locator available ..."
            if "cannot cache" not in str(error):
                raise
            return njit(cache=False, **options)(function)

    return decorate


@_jit(**_LOOP)
def _signed(g, p, sign, use_wd, wd):
    gi = g * sign
    return gi + wd * p if use_wd else gi


@_jit(**_LOOP)
def _sgd_plain_loop(p, g, lr, wd, sign, use_wd):
    for i in range(p.size):
        gi = _signed(g[i], p[i], sign, use_wd, wd)
        p[i] = p[i] - lr * gi


@_jit(**_LOOP)
def _sgd_momentum_loop(p, g, b, lr, wd, mom, keep, sign, use_wd, nesterov, first):
    for i in range(p.size):
        gi = _signed(g[i], p[i], sign, use_wd, wd)
        bi = gi if first else b[i] * mom + keep * gi
        b[i] = bi
        direction = gi + mom * bi if nesterov else bi
        p[i] = p[i] - lr * direction


@_jit(**_LOOP)
def _sgd_velocity_loop(p, g, v, lr, wd, mom, sign, use_wd, nesterov):
    for i in range(p.size):
        gi = _signed(g[i], p[i], sign, use_wd, wd)
        previous = v[i]
        vi = previous * mom - lr * gi
        v[i] = vi
        p[i] = (p[i] - mom * previous) + (1 + mom) * vi if nesterov else p[i] + vi


@_jit(**_JIT)
def sgd_step(p, g, b, lr, wd, mom, keep, sign, use_wd, has_momentum, nesterov, velocity, first):
    """SGD over flat buffers (``b``: momentum or velocity buffer; any same-size buffer, untouched, without)."""
    if not has_momentum:
        _sgd_plain_loop(p, g, lr, wd, sign, use_wd)
    elif velocity:
        _sgd_velocity_loop(p, g, b, lr, wd, mom, sign, use_wd, nesterov)
    else:
        _sgd_momentum_loop(p, g, b, lr, wd, mom, keep, sign, use_wd, nesterov, first)


@_jit(**_LOOP)
def _adagrad_loop(p, g, acc, clr, eps, wd, sign, use_wd, eps_inside):
    for i in range(p.size):
        gi = _signed(g[i], p[i], sign, use_wd, wd)
        si = acc[i] + gi * gi
        acc[i] = si
        std = np.sqrt(si + eps) if eps_inside else np.sqrt(si) + eps
        p[i] = p[i] - clr * (gi / std)


@_jit(**_JIT)
def adagrad_step(p, g, acc, clr, eps, wd, sign, use_wd, eps_inside):
    """AdaGrad over flat buffers."""
    _adagrad_loop(p, g, acc, clr, eps, wd, sign, use_wd, eps_inside)


@_jit(**_LOOP)
def _root(x, eps, eps_inside):
    return np.sqrt(x + eps) if eps_inside else np.sqrt(x) + eps


@_jit(**_LOOP)
def _rmsprop_plain_loop(p, g, sq, lr, alpha, oma, eps, wd, sign, use_wd, eps_inside):
    for i in range(p.size):
        gi = _signed(g[i], p[i], sign, use_wd, wd)
        si = sq[i] * alpha + oma * gi * gi
        sq[i] = si
        p[i] = p[i] - lr * (gi / _root(si, eps, eps_inside))


@_jit(**_LOOP)
def _rmsprop_centered_loop(p, g, sq, ga, lr, alpha, oma, eps, wd, sign, use_wd, eps_inside):
    for i in range(p.size):
        gi = _signed(g[i], p[i], sign, use_wd, wd)
        si = sq[i] * alpha + oma * gi * gi
        ai = ga[i] + oma * (gi - ga[i])
        sq[i] = si
        ga[i] = ai
        p[i] = p[i] - lr * (gi / _root(si - ai * ai, eps, eps_inside))


@_jit(**_LOOP)
def _rmsprop_momentum_loop(p, g, sq, ga, b, lr, alpha, oma, eps, wd, mom, sign, use_wd, centered,
                           eps_inside):
    for i in range(p.size):
        gi = _signed(g[i], p[i], sign, use_wd, wd)
        si = sq[i] * alpha + oma * gi * gi
        sq[i] = si
        if centered:
            ai = ga[i] + oma * (gi - ga[i])
            ga[i] = ai
            si = si - ai * ai
        bi = b[i] * mom + gi / _root(si, eps, eps_inside)
        b[i] = bi
        p[i] = p[i] - lr * bi


@_jit(**_JIT)
def rmsprop_step(p, g, sq, ga, b, lr, alpha, oma, eps, wd, mom, sign, use_wd, centered, has_momentum,
                 eps_inside):
    """RMSprop over flat buffers (``ga``/``b``: any same-size buffer, untouched, unless centered/momentum)."""
    if has_momentum:
        _rmsprop_momentum_loop(p, g, sq, ga, b, lr, alpha, oma, eps, wd, mom, sign, use_wd, centered, eps_inside)
    elif centered:
        _rmsprop_centered_loop(p, g, sq, ga, lr, alpha, oma, eps, wd, sign, use_wd, eps_inside)
    else:
        _rmsprop_plain_loop(p, g, sq, lr, alpha, oma, eps, wd, sign, use_wd, eps_inside)


@_jit(**_LOOP)
def _adam_moments(p, g, m, v, omb1, beta2, omb2, wd, decay, sign, wd_mode):
    pi = p * decay if wd_mode == 2 else p
    gi = g * sign
    gi = gi + wd * pi if wd_mode == 1 else gi
    mi = m + omb1 * (gi - m)
    vi = v * beta2 + omb2 * gi * gi
    return pi, mi, vi


@_jit(**_LOOP)
def _adam_denom(s, eps, scale, eps_inside):
    return np.sqrt(s / scale + eps) if eps_inside else np.sqrt(s) / scale + eps


@_jit(**_LOOP)
def _adam_loop(p, g, m, v, omb1, beta2, omb2, eps, wd, decay, step_size, scale, sign, wd_mode, eps_inside):
    for i in range(p.size):
        pi, mi, vi = _adam_moments(p[i], g[i], m[i], v[i], omb1, beta2, omb2, wd, decay, sign, wd_mode)
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * (mi / _adam_denom(vi, eps, scale, eps_inside))


@_jit(**_LOOP)
def _adam_amsgrad_loop(p, g, m, v, vmax, omb1, beta2, omb2, eps, wd, decay, step_size, scale, sign, wd_mode,
                       eps_inside):
    for i in range(p.size):
        pi, mi, vi = _adam_moments(p[i], g[i], m[i], v[i], omb1, beta2, omb2, wd, decay, sign, wd_mode)
        top = np.maximum(vmax[i], vi)
        m[i] = mi
        v[i] = vi
        vmax[i] = top
        p[i] = pi - step_size * (mi / _adam_denom(top, eps, scale, eps_inside))


@_jit(**_JIT)
def adam_step(p, g, m, v, vmax, omb1, beta2, omb2, eps, wd, decay, step_size, scale, sign, wd_mode, amsgrad,
              eps_inside):
    """Adam/AdamW over flat buffers (``vmax``: any same-size buffer, untouched, unless amsgrad)."""
    if amsgrad:
        _adam_amsgrad_loop(p, g, m, v, vmax, omb1, beta2, omb2, eps, wd, decay,
                           step_size, scale, sign, wd_mode, eps_inside)
    else:
        _adam_loop(p, g, m, v, omb1, beta2, omb2, eps, wd, decay, step_size, scale,
                   sign, wd_mode, eps_inside)
