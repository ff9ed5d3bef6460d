"""L-BFGS's vector work: the new (s, y) pair, the two-loop recursion ``-H g`` (Nocedal & Wright,
Algorithm 7.4) and the slope of each trial point, as torch operations and as compiled kernels that give
the same numbers bit for bit.

As torch operations, one iteration at ``history_size=10`` takes some 50 calls of a microsecond or two
each (per pair one ``dot`` and one ``add_`` in each loop of the recursion), more than scipy's whole
L-BFGS-B iteration at small n. :class:`VectorWork` runs them as three compiled calls where it can: numba
kernels that call the very ``ddot_`` that ``torch.dot`` calls (:mod:`inertia.kernels.torch_blas`), do the
elementwise products and differences (exact in any order), and round each ``x + a * y`` as ATen's
``add_`` does on this CPU: once (an FMA) or twice. A probe decides which on first use, comparing the
kernels with the torch operations on random vectors; where neither way matches every entry, or numba is
missing, or the vectors are not float64 CPU ones, the torch operations run. So L-BFGS's iterates do not
depend on which of the two ran.
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from inertia.kernels.torch_blas import numba_blas

__all__ = ["VectorWork", "infinity_norm", "scalar_reader", "two_loop"]


def _same(value: torch.Tensor) -> torch.Tensor:
    return value


def scalar_reader(dtype: torch.dtype) -> Callable[[torch.Tensor], Any]:
    """How the two-loop recursion holds a 0-d result of ``dtype``: ``float`` for float64 (the same
    number, and float64 arithmetic on it rounds as the tensor's would), the tensor itself otherwise."""
    return float if dtype == torch.float64 else _same


def infinity_norm(vector: torch.Tensor) -> float:
    """``max |v_i|`` as a float; NaN when ``vector`` holds a NaN (torch's max propagates it), so one
    reduction tells both the norm and whether every entry is finite."""
    return float(vector.abs().max())


def two_loop(g: torch.Tensor, steps: list[torch.Tensor], changes: list[torch.Tensor], rho: list[Any],
             h_diag: Any, number: Callable[[torch.Tensor], Any]) -> torch.Tensor:  # fmt: skip
    """``-H g`` from the pairs ``(steps[i], changes[i])`` = (s_i, y_i), oldest first, with
    ``rho[i] = 1 / s_i'y_i`` and ``H0 = h_diag * I`` (Nocedal & Wright, Algorithm 7.4)."""
    alphas: list[Any] = [0.0] * len(steps)
    q = g.neg()
    for i in range(len(steps) - 1, -1, -1):
        alphas[i] = number(steps[i].dot(q)) * rho[i]
        q.add_(changes[i], alpha=-alphas[i])
    r = q.mul_(h_diag)
    for i, (step, change) in enumerate(zip(steps, changes, strict=True)):
        beta = number(change.dot(r)) * rho[i]
        r.add_(step, alpha=alphas[i] - beta)
    return r


def torch_pair(g: torch.Tensor, g_old: torch.Tensor, d: torch.Tensor, t: Any,
               number: Callable[[torch.Tensor], Any]) -> tuple[torch.Tensor, torch.Tensor, Any, Any, Any]:  # fmt: skip
    """``y = g - g_old``, ``s = t d``, and ``s'y``, ``g_old's``, ``y'y``, as torch operations."""
    y, s = g.sub(g_old), d.mul(t)
    return y, s, number(y.dot(s)), number(g_old.dot(s)), number(y.dot(y))


# ---------------------------------------------------------------------- kernels (numba; compiled on first use)
# Names not defined here (fma, call_ddot, as_double_ptr, numba, and the kernels' helpers) are those of the
# namespace the kernels are compiled in (see _compile).
def _vector(address, n):  # pragma: no cover (compiled)
    """The ``n`` float64 values at ``address``, as an array."""
    return numba.carray(as_double_ptr(address), n)  # noqa: F821


def _dot(x, y, n, ddot):  # pragma: no cover (compiled)
    """``torch.dot`` of the vectors at addresses ``x`` and ``y``: the same ``ddot_`` call."""
    sizes = np.empty(2, dtype=np.int32)
    sizes[0], sizes[1] = n, 1
    length, one = sizes.ctypes.data, sizes.ctypes.data + 4
    return call_ddot(ddot, length, x, one, y, one)  # noqa: F821


def _abs_max(v):  # pragma: no cover (compiled)
    """``float(v.abs().max())``: NaN as soon as an entry is NaN."""
    largest = 0.0
    for j in range(v.shape[0]):
        magnitude = abs(v[j])
        if magnitude != magnitude:
            return magnitude
        largest = max(largest, magnitude)
    return largest


def _axpy(q, x, a, fused):  # pragma: no cover (compiled)
    """``q += a * x`` as ATen's ``q.add_(x, alpha=a)`` rounds it."""
    if fused:
        for j in range(q.shape[0]):
            q[j] = fma(x[j], a, q[j])  # noqa: F821
    else:
        for j in range(q.shape[0]):
            q[j] = q[j] + a * x[j]


def _pair_kernel(at_g, at_g_old, at_d, t, at_y, at_s, n, ddot):  # pragma: no cover (compiled)
    """:func:`torch_pair` into the vectors at ``at_y`` and ``at_s``; returns ``(s'y, g_old's, y'y)``."""
    g, g_old, d, y, s = vector(at_g, n), vector(at_g_old, n), vector(at_d, n), vector(at_y, n), vector(at_s, n)  # noqa: F821
    for j in range(n):
        y[j] = g[j] - g_old[j]
        s[j] = d[j] * t
    return dot(at_y, at_s, n, ddot), dot(at_g_old, at_s, n, ddot), dot(at_y, at_y, n, ddot)  # noqa: F821


def _two_loop_kernel(at_g, at_q, steps, changes, rho, h_diag, n, fused, ddot):  # pragma: no cover (compiled)
    """:func:`two_loop` into the vector at ``at_q``, the pairs given by the addresses of their data;
    returns ``(g'q, max|q|)``."""
    g, q, pairs = vector(at_g, n), vector(at_q, n), steps.shape[0]  # noqa: F821
    alphas = np.empty(pairs)
    for j in range(n):
        q[j] = -g[j]
    for i in range(pairs - 1, -1, -1):
        alphas[i] = dot(steps[i], at_q, n, ddot) * rho[i]  # noqa: F821
        axpy(q, vector(changes[i], n), -alphas[i], fused)  # noqa: F821
    for j in range(n):
        q[j] = q[j] * h_diag
    for i in range(pairs):
        beta = dot(changes[i], at_q, n, ddot) * rho[i]  # noqa: F821
        axpy(q, vector(steps[i], n), alphas[i] - beta, fused)  # noqa: F821
    return dot(at_g, at_q, n, ddot), abs_max(q)  # noqa: F821


def _slope_kernel(at_grad, at_d, n, ddot):  # pragma: no cover (compiled)
    """``(grad'd, max|grad|)``."""
    return dot(at_grad, at_d, n, ddot), abs_max(vector(at_grad, n))  # noqa: F821


def _jit(numba: Any, source: Callable[..., Any], namespace: dict[str, Any]) -> Any:
    """``source`` compiled over ``namespace``, cached on disk where numba can write its cache (as
    :mod:`inertia.kernels.jit` does)."""
    function = types.FunctionType(source.__code__, namespace, source.__name__)
    function.__qualname__, function.__module__ = source.__qualname__, source.__module__
    try:
        return numba.njit(cache=True)(function)
    except RuntimeError as error:  # "cannot cache function ...: no locator available ..."
        if "cannot cache" not in str(error):
            raise
        return numba.njit(cache=False)(function)


def _compile(blas: types.SimpleNamespace) -> types.SimpleNamespace:
    namespace = {"np": np, "numba": blas.numba, "call_ddot": blas.call_ddot, "fma": blas.fma,
                 "as_double_ptr": blas.as_double_ptr}  # fmt: skip
    for name, source in (("vector", _vector), ("dot", _dot), ("abs_max", _abs_max), ("axpy", _axpy)):
        namespace[name] = _jit(blas.numba, source, namespace)
    ddot = np.uint64(blas.ddot_address)
    kernels = {name: functools.partial(_jit(blas.numba, source, namespace), ddot=ddot)
               for name, source in (("pair", _pair_kernel), ("two_loop", _two_loop_kernel), ("slope", _slope_kernel))}
    return types.SimpleNamespace(**kernels, fused=False)




def _run_two_loop(kernels: Any, g: torch.Tensor, steps: list[torch.Tensor], changes: list[torch.Tensor],
                  rho: list[float], h_diag: float) -> tuple[torch.Tensor, float, float]:  # fmt: skip
    q = torch.empty_like(g)
    addresses = np.array([t.data_ptr() for t in steps] + [t.data_ptr() for t in changes], dtype=np.uint64)
    gtd, largest = kernels.two_loop(g.data_ptr(), q.data_ptr(), addresses[:len(steps)], addresses[len(steps):],
                                    np.array(rho, dtype=np.float64), float(h_diag), g.numel(), kernels.fused)
    return q, gtd, largest


def _run_pair(kernels: Any, g: torch.Tensor, g_old: torch.Tensor, d: torch.Tensor,
              t: float) -> tuple[torch.Tensor, torch.Tensor, float, float, float]:  # fmt: skip
    y, s = torch.empty_like(g), torch.empty_like(g)
    ys, g_old_s, yy = kernels.pair(g.data_ptr(), g_old.data_ptr(), d.data_ptr(), t, y.data_ptr(), s.data_ptr(),
                                   g.numel())
    return y, s, ys, g_old_s, yy


def _random_vector(n: int, generator: torch.Generator) -> torch.Tensor:
    """Normal entries scaled by powers of ten from 1e-3 to 1e3 (so that products round in many ways)."""
    scale = 10.0 ** torch.randint(-3, 4, (n,), generator=generator).to(torch.float64)
    return torch.randn(n, dtype=torch.float64, generator=generator) * scale


def _same_numbers(got: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    """Bit for bit: tensors by ``torch.equal``, floats by their bits (NaN equal to NaN)."""
    for a, b in zip(got, expected, strict=True):
        if isinstance(b, torch.Tensor):
            if not torch.equal(a, b):
                return False
        elif not (a == b or (math.isnan(a) and math.isnan(b))) or math.copysign(1.0, a) != math.copysign(1.0, b):
            return False
    return True


def _matches(kernels: Any) -> bool:
    """Whether the kernels give the torch operations' numbers, bit for bit, on random vectors of lengths
    that exercise the vector loops and their tails."""
    generator = torch.Generator().manual_seed(20261202)
    for n in (1, 2, 3, 5, 8, 9, 15, 17, 33, 64, 100, 1003):
        for pairs in (0, 1, 4, 10):
            g, g_old, d = (_random_vector(n, generator) for _ in range(3))
            steps = [_random_vector(n, generator) for _ in range(pairs)]
            changes = [_random_vector(n, generator) for _ in range(pairs)]
            rho = [float(torch.rand((), dtype=torch.float64, generator=generator)) for _ in range(pairs)]
            q = two_loop(g, steps, changes, rho, 0.37, float)
            expected = (q, float(g.dot(q)), infinity_norm(q))
            if not _same_numbers(_run_two_loop(kernels, g, steps, changes, rho, 0.37), expected):
                return False
            if not _same_numbers(_run_pair(kernels, g, g_old, d, 0.61), torch_pair(g, g_old, d, 0.61, float)):
                return False
            slope = kernels.slope(g.data_ptr(), d.data_ptr(), n)
            if not _same_numbers(slope, (float(g.dot(d)), infinity_norm(g))):
                return False
    return True


@functools.cache
def compiled_kernels() -> types.SimpleNamespace | None:
    """The compiled kernels (``pair``, ``two_loop``, ``slope``) with the ``fused`` rounding that makes them
    equal the torch operations on this machine, or None (no numba, no ``ddot_``, or no rounding matches)."""
    blas = numba_blas()
    if blas is None:
        return None
    kernels = _compile(blas)
    for fused in (True, False):
        kernels.fused = fused
        if _matches(kernels):
            return kernels
    return None


#: Longest vectors the kernels take: beyond, torch's own (threaded) operations cost more than their calls.
MAX_KERNEL_LENGTH = 1 << 16


def _plain(vector: torch.Tensor, n: int) -> bool:
    return (vector.dtype is torch.float64 and vector.is_cpu and vector.layout is torch.strided and vector.dim() == 1
            and vector.numel() == n and vector.is_contiguous() and not vector.requires_grad
            and not vector.is_conj() and not vector.is_neg())  # fmt: skip


class VectorWork:
    """One L-BFGS's vector work: the compiled kernels where they apply, else the torch operations; the same
    numbers either way.

    The kernels take float64 CPU vectors of at most :data:`MAX_KERNEL_LENGTH` entries. Each vector is
    checked once, the first time it is seen (the vectors the kernels make are known from the start); it is
    then known by identity (held here, so that no other tensor takes its ``id``) until it has left the
    memory. A vector of the memory resized in place afterwards is not checked again.
    """

    def __init__(self) -> None:
        self.known: dict[int, torch.Tensor] = {}
        self.length = 0

    def _kernels(self, n: int, vectors: list[torch.Tensor]) -> Any:
        """The compiled kernels if they may take ``vectors`` (all of length ``n``), else None."""
        if not 0 < n <= MAX_KERNEL_LENGTH:
            return None
        if n != self.length:
            self.known, self.length = {}, n
        known = self.known
        if not known.keys() >= set(map(id, vectors)):
            for vector in vectors:
                if id(vector) not in known:
                    if not _plain(vector, n):
                        return None
                    known[id(vector)] = vector
        return compiled_kernels()

    def _made(self, *vectors: torch.Tensor) -> None:
        for vector in vectors:
            self.known[id(vector)] = vector

    def pair(self, g: torch.Tensor, g_old: torch.Tensor, d: torch.Tensor, t: Any,
             number: Callable[[torch.Tensor], Any]) -> tuple[torch.Tensor, torch.Tensor, Any, Any, Any]:  # fmt: skip
        """``(y, s, s'y, g_old's, y'y)`` with ``y = g - g_old``, ``s = t d`` (:func:`torch_pair`)."""
        kernels = self._kernels(g.numel(), [g, g_old, d]) if type(t) is float and number is float else None
        if kernels is None:
            return torch_pair(g, g_old, d, t, number)
        y, s, ys, g_old_s, yy = _run_pair(kernels, g, g_old, d, t)
        self._made(y, s)
        return y, s, ys, g_old_s, yy

    def direction(self, g: torch.Tensor, steps: list[torch.Tensor], changes: list[torch.Tensor], rho: list[Any],
                  h_diag: Any, number: Callable[[torch.Tensor], Any]) -> tuple[torch.Tensor, float, float | None]:  # fmt: skip
        """``(d, g'd, max|d|)`` with ``d = -H g`` (:func:`two_loop`); ``max|d|`` is None where not computed."""
        kernels = None
        if number is float and type(h_diag) in (float, int) and all(type(value) is float for value in rho):
            if len(self.known) > 2 * len(steps) + 16:  # forget the vectors that left the memory
                self.known = {id(vector): vector for vector in (g, *steps, *changes)}
            kernels = self._kernels(g.numel(), [g, *steps, *changes])
        if kernels is None:
            d = two_loop(g, steps, changes, rho, h_diag, number)
            return d, float(g.dot(d)), None
        d, gtd, d_max = _run_two_loop(kernels, g, steps, changes, rho, h_diag)
        self._made(d)
        return d, gtd, d_max

    def slope(self, grad: torch.Tensor, d: torch.Tensor) -> tuple[float, float | None]:
        """``(grad'd, max|grad|)``; ``max|grad|`` is None where not computed."""
        kernels = self._kernels(grad.numel(), [grad, d])
        if kernels is None:
            return float(grad.dot(d)), None
        return kernels.slope(grad.data_ptr(), d.data_ptr(), grad.numel())
