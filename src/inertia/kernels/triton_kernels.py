"""Triton kernels: one pass over flat buffers per rule, for CUDA (and the Triton interpreter).

Every kernel reads its hyperparameters from a small float64 device tensor ``hyper``
(``lr`` first, then as :data:`inertia.kernels.spec.HYPER_NAMES`) and its step from a
float64 "slot" ``[t, beta1**t, beta2**t, 0]``. Program 0 writes the next slot
``[t+1, beta1**(t+1), beta2**(t+1)]`` into a second buffer, so a step needs no host to
device copy and the same launch can be captured once in a CUDA graph and replayed
(the stepper alternates the two slots). Scalars are derived in float64 as
:mod:`inertia.rules` does and cast once to the compute type, float32 (float64 for
float64 buffers); IEEE-rounded division and square root keep the results within
float32 rounding of the reference.

Importing this module decorates the kernels: set ``TRITON_INTERPRET=1`` before the first
import to run them on CPU tensors through the interpreter.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _div(a, b, IEEE: tl.constexpr):
    if IEEE:
        r = tl.div_rn(a, b)
    else:
        r = a / b
    return r


@triton.jit
def _sqrt(x, IEEE: tl.constexpr):
    if IEEE:
        r = tl.sqrt_rn(x)
    else:
        r = tl.sqrt(x)
    return r


@triton.jit
def _advance_step(slot_in, slot_out, beta1, beta2, pid):
    """Read slot [t, b1^t, b2^t]; program 0 writes [t+1, b1^(t+1), b2^(t+1)]; return the new values."""
    t = tl.load(slot_in) + 1.0
    pow1 = tl.load(slot_in + 1) * beta1
    pow2 = tl.load(slot_in + 2) * beta2
    if pid == 0:
        tl.store(slot_out, t)
        tl.store(slot_out + 1, pow1)
        tl.store(slot_out + 2, pow2)
    return t, pow1, pow2


@triton.jit
def _block(n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offsets = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    return pid, offsets, offsets < n


@triton.jit
def sgd_kernel(p_ptr, g_ptr, b_ptr, hyper, slot_in, slot_out, n,
               MAXIMIZE: tl.constexpr, WD: tl.constexpr, MOMENTUM: tl.constexpr, NESTEROV: tl.constexpr,
               VELOCITY: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr):
    """SGD, torch form (first step ``b = g``) or velocity form; hyper = [lr, momentum, dampening, wd]."""
    pid, offs, mask = _block(n, BLOCK)
    t, _, _ = _advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    lr = tl.load(hyper).to(CT)
    mom64 = tl.load(hyper + 1)
    mom = mom64.to(CT)
    keep = (1.0 - tl.load(hyper + 2)).to(CT)
    wd = tl.load(hyper + 3).to(CT)
    p = tl.load(p_ptr + offs, mask=mask).to(CT)
    g = tl.load(g_ptr + offs, mask=mask).to(CT)
    if MAXIMIZE:
        g = -g
    if WD:
        g = g + wd * p
    if MOMENTUM:
        b = tl.load(b_ptr + offs, mask=mask).to(CT)
        if VELOCITY:
            nb = b * mom - lr * g
            if NESTEROV:
                p = (p - mom * b) + (1.0 + mom64).to(CT) * nb
            else:
                p = p + nb
        else:
            nb = tl.where(t == 1.0, g, b * mom + keep * g)
            if NESTEROV:
                p = p - lr * (g + mom * nb)
            else:
                p = p - lr * nb
        tl.store(b_ptr + offs, nb.to(b_ptr.dtype.element_ty), mask=mask)
    else:
        p = p - lr * g
    tl.store(p_ptr + offs, p.to(p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def adagrad_kernel(p_ptr, g_ptr, sum_ptr, hyper, slot_in, slot_out, n,
                   MAXIMIZE: tl.constexpr, WD: tl.constexpr, EPS_INSIDE: tl.constexpr,
                   CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr):
    """AdaGrad; hyper = [lr, lr_decay, eps, wd]; clr = lr / (1 + (t-1) lr_decay)."""
    pid, offs, mask = _block(n, BLOCK)
    t, _, _ = _advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    clr = (tl.load(hyper) / (1.0 + (t - 1.0) * tl.load(hyper + 1))).to(CT)
    eps = tl.load(hyper + 2).to(CT)
    wd = tl.load(hyper + 3).to(CT)
    p = tl.load(p_ptr + offs, mask=mask).to(CT)
    g = tl.load(g_ptr + offs, mask=mask).to(CT)
    if MAXIMIZE:
        g = -g
    if WD:
        g = g + wd * p
    s = tl.load(sum_ptr + offs, mask=mask).to(CT) + g * g
    if EPS_INSIDE:
        std = _sqrt(s + eps, IEEE)
    else:
        std = _sqrt(s, IEEE) + eps
    p = p - clr * _div(g, std, IEEE)
    tl.store(sum_ptr + offs, s.to(sum_ptr.dtype.element_ty), mask=mask)
    tl.store(p_ptr + offs, p.to(p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def rmsprop_kernel(p_ptr, g_ptr, sq_ptr, ga_ptr, b_ptr, hyper, slot_in, slot_out, n,
                   MAXIMIZE: tl.constexpr, WD: tl.constexpr, CENTERED: tl.constexpr, MOMENTUM: tl.constexpr,
                   EPS_INSIDE: tl.constexpr, CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr):
    """RMSprop (centered, momentum); hyper = [lr, alpha, eps, wd, momentum]."""
    pid, offs, mask = _block(n, BLOCK)
    _advance_step(slot_in, slot_out, 1.0, 1.0, pid)
    lr = tl.load(hyper).to(CT)
    alpha64 = tl.load(hyper + 1)
    alpha = alpha64.to(CT)
    one_minus_alpha = (1.0 - alpha64).to(CT)
    eps = tl.load(hyper + 2).to(CT)
    wd = tl.load(hyper + 3).to(CT)
    p = tl.load(p_ptr + offs, mask=mask).to(CT)
    g = tl.load(g_ptr + offs, mask=mask).to(CT)
    if MAXIMIZE:
        g = -g
    if WD:
        g = g + wd * p
    sq = tl.load(sq_ptr + offs, mask=mask).to(CT) * alpha + one_minus_alpha * g * g
    tl.store(sq_ptr + offs, sq.to(sq_ptr.dtype.element_ty), mask=mask)
    var = sq
    if CENTERED:
        ga = tl.load(ga_ptr + offs, mask=mask).to(CT)
        ga = ga + one_minus_alpha * (g - ga)
        tl.store(ga_ptr + offs, ga.to(ga_ptr.dtype.element_ty), mask=mask)
        var = sq - ga * ga
    if EPS_INSIDE:
        avg = _sqrt(var + eps, IEEE)
    else:
        avg = _sqrt(var, IEEE) + eps
    if MOMENTUM:
        b = tl.load(b_ptr + offs, mask=mask).to(CT) * tl.load(hyper + 4).to(CT) + _div(g, avg, IEEE)
        tl.store(b_ptr + offs, b.to(b_ptr.dtype.element_ty), mask=mask)
        p = p - lr * b
    else:
        p = p - lr * _div(g, avg, IEEE)
    tl.store(p_ptr + offs, p.to(p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def adam_kernel(p_ptr, g_ptr, m_ptr, v_ptr, vmax_ptr, hyper, slot_in, slot_out, n,
                MAXIMIZE: tl.constexpr, WD_MODE: tl.constexpr, AMSGRAD: tl.constexpr,
                BIAS_CORRECTION: tl.constexpr, EPS_MODE: tl.constexpr,
                CT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr):
    """Adam/AdamW; hyper = [lr, beta1, beta2, eps, wd]; WD_MODE 1 = L2, 2 = decoupled;
    EPS_MODE 0 = outside the sqrt (torch), 1 = inside (optax eps_root), 2 = TF's epsilon hat."""
    pid, offs, mask = _block(n, BLOCK)
    lr64 = tl.load(hyper)
    beta1 = tl.load(hyper + 1)
    beta2 = tl.load(hyper + 2)
    wd64 = tl.load(hyper + 4)
    _, pow1, pow2 = _advance_step(slot_in, slot_out, beta1, beta2, pid)
    if BIAS_CORRECTION:
        bc1 = 1.0 - pow1
        bc2 = 1.0 - pow2
    else:
        bc1 = pow1 * 0.0 + 1.0
        bc2 = pow2 * 0.0 + 1.0
    step_size = lr64 / bc1
    if EPS_MODE == 1:
        scale = bc2
    elif EPS_MODE == 2:
        step_size = step_size * tl.sqrt(bc2)
        scale = bc2 * 0.0 + 1.0
    else:
        scale = tl.sqrt(bc2)
    eps = tl.load(hyper + 3).to(CT)
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
    tl.store(m_ptr + offs, m.to(m_ptr.dtype.element_ty), mask=mask)
    tl.store(v_ptr + offs, v.to(v_ptr.dtype.element_ty), mask=mask)
    if AMSGRAD:
        v = tl.maximum(tl.load(vmax_ptr + offs, mask=mask).to(CT), v, propagate_nan=tl.PropagateNan.ALL)
        tl.store(vmax_ptr + offs, v.to(vmax_ptr.dtype.element_ty), mask=mask)
    if EPS_MODE == 1:
        denom = _sqrt(_div(v, scale.to(CT), IEEE) + eps, IEEE)
    else:
        denom = _div(_sqrt(v, IEEE), scale.to(CT), IEEE) + eps
    p = p - step_size.to(CT) * _div(m, denom, IEEE)
    tl.store(p_ptr + offs, p.to(p_ptr.dtype.element_ty), mask=mask)
