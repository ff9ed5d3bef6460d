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

from inertia.kernels.jit import njit_cached, rebuilt
from inertia.kernels.torch_blas import numba_blas

__all__ = ["VectorWork", "curvature_holds", "infinity_norm", "remember", "scalar_reader", "torch_advance", "two_loop"]


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


def _advance_kernel(addresses, at_y, at_s, at_q, t, rho, h_diag, drop, line_search, eps, n, fused,
                    ddot):  # pragma: no cover (compiled)
    """:meth:`VectorWork.advance` in one pass. ``addresses``: those of ``g``, ``g_old``, ``d``, then of the
    memory's steps and changes (oldest first). The new pair goes into the vectors at ``at_y``, ``at_s``; it
    enters the memory if its curvature holds (the oldest pair left out when ``drop``); ``-H g`` goes into the
    vector at ``at_q``. Returns ``(enters, s'y, y'y, g'q, max|q|)``."""
    at_g, at_g_old, at_d, pairs = addresses[0], addresses[1], addresses[2], (addresses.shape[0] - 3) // 2
    steps, changes = addresses[3:3 + pairs], addresses[3 + pairs:]
    g, g_old, d, y, s, q = (vector(at_g, n), vector(at_g_old, n), vector(at_d, n), vector(at_y, n),  # noqa: F821
                            vector(at_s, n), vector(at_q, n))  # noqa: F821
    for j in range(n):
        y[j] = g[j] - g_old[j]
        s[j] = d[j] * t
    ys = dot(at_y, at_s, n, ddot)  # noqa: F821
    enters = ys > eps * -dot(at_g_old, at_s, n, ddot) if line_search else ys > 1e-10  # noqa: F821
    yy = dot(at_y, at_y, n, ddot) if enters else 1.0  # noqa: F821
    first = drop if enters else 0
    count = steps.shape[0] - first + (1 if enters else 0)
    h = ys / yy if enters else h_diag
    step_at, change_at, rho_of = np.empty(count, dtype=np.uint64), np.empty(count, dtype=np.uint64), np.empty(count)
    for i in range(steps.shape[0] - first):
        step_at[i], change_at[i], rho_of[i] = steps[first + i], changes[first + i], rho[first + i]
    if enters:
        step_at[count - 1], change_at[count - 1], rho_of[count - 1] = at_s, at_y, 1.0 / ys
    alphas = np.empty(count)
    for j in range(n):
        q[j] = -g[j]
    for i in range(count - 1, -1, -1):
        alphas[i] = dot(step_at[i], at_q, n, ddot) * rho_of[i]  # noqa: F821
        axpy(q, vector(change_at[i], n), -alphas[i], fused)  # noqa: F821
    for j in range(n):
        q[j] = q[j] * h
    for i in range(count):
        beta = dot(change_at[i], at_q, n, ddot) * rho_of[i]  # noqa: F821
        axpy(q, vector(step_at[i], n), alphas[i] - beta, fused)  # noqa: F821
    return enters, ys, yy, dot(at_g, at_q, n, ddot), abs_max(q)  # noqa: F821


def _slope_kernel(at_grad, at_d, n, ddot):  # pragma: no cover (compiled)
    """``(grad'd, max|grad|)``."""
    return dot(at_grad, at_d, n, ddot), abs_max(vector(at_grad, n))  # noqa: F821


def _compile(blas: types.SimpleNamespace) -> types.SimpleNamespace:
    namespace = {"np": np, "numba": blas.numba, "call_ddot": blas.call_ddot, "fma": blas.fma,
                 "as_double_ptr": blas.as_double_ptr}  # fmt: skip
    for name, source in (("vector", _vector), ("dot", _dot), ("abs_max", _abs_max), ("axpy", _axpy)):
        namespace[name] = njit_cached(rebuilt(source, namespace))
    ddot = np.uint64(blas.ddot_address)
    kernels = {name: functools.partial(njit_cached(rebuilt(source, namespace)), ddot=ddot)
               for name, source in (("advance", _advance_kernel), ("slope", _slope_kernel))}
    return types.SimpleNamespace(**kernels, fused=False)


def _run_advance(kernels: Any, addresses: np.ndarray, g: torch.Tensor, state: dict[str, Any], history_size: int,
                 line_search: bool) -> tuple[bool, torch.Tensor, torch.Tensor, float, float, torch.Tensor, float, float]:  # fmt: skip
    """The advance kernel on ``addresses`` (of ``g``, ``g_old``, ``d``, then the memory's steps and changes)."""
    pairs = len(state["ro"])
    y, s, q = torch.empty_like(g), torch.empty_like(g), torch.empty_like(g)
    enters, ys, yy, gtd, d_max = kernels.advance(
        addresses, y.data_ptr(), s.data_ptr(), q.data_ptr(), state["t"],
        np.fromiter(state["ro"], dtype=np.float64, count=pairs), float(state["H_diag"]), int(pairs == history_size),
        line_search, _machine_epsilon(torch.float64), g.numel(), kernels.fused,
    )  # fmt: skip
    return enters, y, s, ys, yy, q, gtd, d_max


def _addresses_of(vectors: list[torch.Tensor]) -> np.ndarray:
    return np.fromiter(map(torch.Tensor.data_ptr, vectors), dtype=np.uint64, count=len(vectors))


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


def _random_state(n: int, pairs: int, generator: torch.Generator) -> dict[str, Any]:
    steps = [_random_vector(n, generator) for _ in range(pairs)]
    changes = [_random_vector(n, generator) for _ in range(pairs)]
    rho = [float(torch.rand((), dtype=torch.float64, generator=generator)) for _ in range(pairs)]
    g_old, d = _random_vector(n, generator), _random_vector(n, generator)
    return dict(old_stps=steps, old_dirs=changes, ro=rho, H_diag=0.37, prev_flat_grad=g_old, d=d, t=0.61)


def _matches(kernels: Any) -> bool:
    """Whether the kernels give the torch operations' numbers, bit for bit, on random vectors of lengths
    that exercise the vector loops and their tails (the new pair entering the memory or not)."""
    generator = torch.Generator().manual_seed(20261202)
    for n in (1, 2, 3, 5, 8, 9, 15, 17, 33, 64, 100, 1003):
        for pairs, line_search in ((0, True), (1, False), (4, True), (10, True), (10, False)):
            g, state = _random_vector(n, generator), _random_state(n, pairs, generator)
            if n % 2:  # s'y > 0 (the pair enters), else of either sign
                state["d"] = (g - state["prev_flat_grad"]).abs().mul(torch.sign(state["d"]))
                g = state["prev_flat_grad"] + (g - state["prev_flat_grad"]).abs().mul(torch.sign(state["d"]))
            mirror = {key: list(value) if isinstance(value, list) else value for key, value in state.items()}
            expected = torch_advance(g, mirror, 10, line_search)
            vectors = [g, state["prev_flat_grad"], state["d"], *state["old_stps"], *state["old_dirs"]]
            enters, y, s, ys, yy, q, gtd, d_max = _run_advance(kernels, _addresses_of(vectors), g, state, 10,
                                                               line_search)  # fmt: skip
            if enters:
                remember(state, y, s, ys, yy, 10)
            if not _same_numbers((q, gtd, d_max), (expected[0], expected[1], infinity_norm(expected[0]))):
                return False
            if not (state["ro"] == mirror["ro"] and state["H_diag"] == mirror["H_diag"]
                    and all(map(torch.equal, state["old_dirs"] + state["old_stps"], mirror["old_dirs"] + mirror["old_stps"]))):  # fmt: skip
                return False
            slope = kernels.slope(g.data_ptr(), q.data_ptr(), n)
            if not _same_numbers(slope, (float(g.dot(q)), infinity_norm(g))):
                return False
    return True


@functools.cache
def compiled_kernels() -> types.SimpleNamespace | None:
    """The compiled kernels (``advance``, ``slope``) with the ``fused`` rounding that makes them equal the
    torch operations on this machine, or None (no numba, no ``ddot_``, or no rounding matches)."""
    blas = numba_blas()
    if blas is None:
        return None
    kernels = _compile(blas)
    for fused in (True, False):
        kernels.fused = fused
        if _matches(kernels):
            return kernels
    return None


# ---------------------------------------------------------------------- the memory
@functools.cache
def _machine_epsilon(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def curvature_holds(ys: Any, g_old_s: Any, line_search: bool, dtype: torch.dtype) -> bool:
    """Whether the pair with ``s'y = ys`` enters the memory: torch's ``s'y > 1e-10`` for the fixed
    step, L-BFGS-B's scale-free ``s'y > eps * (-g_old' s)`` with the line search."""
    if not line_search:
        return bool(ys > 1e-10)
    return bool(ys > _machine_epsilon(dtype) * -g_old_s)


def remember(state: dict[str, Any], y: torch.Tensor, s: torch.Tensor, ys: Any, yy: Any, history_size: int) -> None:
    """Append the pair ``(s, y)`` to the memory in ``state`` (the oldest one dropped when it is full); the
    scale of ``H0`` becomes ``s'y / y'y``."""
    if len(state["old_dirs"]) == history_size:
        state["old_dirs"].pop(0), state["old_stps"].pop(0), state["ro"].pop(0)
    state["old_dirs"].append(y)
    state["old_stps"].append(s)
    state["ro"].append(1.0 / ys)
    state["H_diag"] = ys / yy


def torch_advance(g: torch.Tensor, state: dict[str, Any], history_size: int,
                  line_search: bool) -> tuple[torch.Tensor, float]:  # fmt: skip
    """The memory of ``state`` updated with the last step (``prev_flat_grad``, ``d``, ``t``), and
    ``(d, g'd)`` for ``d = -H g``, as torch operations."""
    number = scalar_reader(g.dtype)
    y, s, ys, g_old_s, yy = torch_pair(g, state["prev_flat_grad"], state["d"], state["t"], number)
    if curvature_holds(ys, g_old_s, line_search, s.dtype):
        remember(state, y, s, ys, yy, history_size)
    d = two_loop(g, state["old_stps"], state["old_dirs"], state["ro"], state["H_diag"], number)
    return d, float(g.dot(d))


#: Longest vectors the kernels take: beyond, torch's own (threaded) operations cost more than their calls.
MAX_KERNEL_LENGTH = 1 << 16


def _plain(vector: torch.Tensor, n: int) -> bool:
    return (vector.dtype is torch.float64 and vector.is_cpu and vector.layout is torch.strided and vector.dim() == 1
            and vector.numel() == n and vector.is_contiguous() and not vector.requires_grad
            and not vector.is_conj() and not vector.is_neg())  # fmt: skip


class VectorWork:
    """One L-BFGS's vector work: the compiled kernels where they apply, else the torch operations; the same
    numbers either way.

    The kernels take float64 CPU vectors of at most :data:`MAX_KERNEL_LENGTH` entries and Python-float
    scalars. Each vector is checked once, the first time it is seen (the vectors the kernels make are known
    from the start), and its data address noted; it is then known by identity (held here, so that no other
    tensor takes its ``id``) until it has left the memory. A vector of the memory whose storage is replaced
    in place afterwards (``set_``, ``resize_``) is not checked again.
    """

    def __init__(self) -> None:
        self.known: dict[int, torch.Tensor] = {}
        self.address: dict[int, int] = {}
        self.length = 0

    def made(self, *vectors: torch.Tensor) -> None:
        """Note ``vectors`` as known without checking them: new contiguous float64 CPU vectors, each of the
        length of the vectors this instance works on, made by the caller."""
        if vectors and vectors[0].numel() == self.length:
            self._know(*vectors)

    def _know(self, *vectors: torch.Tensor) -> None:
        for vector in vectors:
            self.known[id(vector)], self.address[id(vector)] = vector, vector.data_ptr()

    def _forget_all_but(self, vectors: list[torch.Tensor]) -> None:
        kept = [id(vector) for vector in vectors if id(vector) in self.known]
        self.known = {key: self.known[key] for key in kept}
        self.address = {key: self.address[key] for key in kept}

    def _addresses(self, vectors: list[torch.Tensor]) -> np.ndarray | None:
        """The data addresses of ``vectors`` (of one length) where the kernels may take them all, else None."""
        n = vectors[0].numel()
        if not 0 < n <= MAX_KERNEL_LENGTH or compiled_kernels() is None:
            return None
        if n != self.length:
            self.known, self.address, self.length = {}, {}, n
        try:
            return np.fromiter(map(self.address.__getitem__, map(id, vectors)), dtype=np.uint64, count=len(vectors))
        except KeyError:  # a vector not seen yet
            for vector in vectors:
                if id(vector) not in self.known:
                    if not _plain(vector, n):
                        return None
                    self._know(vector)
            return np.fromiter(map(self.address.__getitem__, map(id, vectors)), dtype=np.uint64, count=len(vectors))

    def advance(self, g: torch.Tensor, state: dict[str, Any], history_size: int,
                line_search: bool) -> tuple[torch.Tensor, float, float | None]:  # fmt: skip
        """Update the memory in ``state`` with the last step (:func:`torch_advance`); return ``(d, g'd,
        max|d|)`` for ``d = -H g``, ``max|d|`` None where not computed."""
        steps, changes, rho = state["old_stps"], state["old_dirs"], state["ro"]
        addresses = None
        if (g.dtype is torch.float64 and type(state["t"]) is float and type(state["H_diag"]) in (float, int)
                and set(map(type, rho)) <= {float} and len(steps) == len(changes) == len(rho) <= history_size):
            vectors = [g, state["prev_flat_grad"], state["d"], *steps, *changes]
            if len(self.known) > len(vectors) + 32:  # forget the vectors that left the memory
                self._forget_all_but(vectors)
            addresses = self._addresses(vectors)
        if addresses is None:
            return (*torch_advance(g, state, history_size, line_search), None)
        enters, y, s, ys, yy, d, gtd, d_max = _run_advance(compiled_kernels(), addresses, g, state, history_size,
                                                           line_search)  # fmt: skip
        if enters:
            remember(state, y, s, ys, yy, history_size)
        self._know(y, s, d)
        return d, gtd, d_max

    def slope(self, grad: torch.Tensor, d: torch.Tensor) -> tuple[float, float | None]:
        """``(grad'd, max|grad|)``; ``max|grad|`` is None where not computed."""
        addresses = self._addresses([grad, d])
        if addresses is None:
            return float(grad.dot(d)), None
        return compiled_kernels().slope(grad.data_ptr(), d.data_ptr(), grad.numel())
