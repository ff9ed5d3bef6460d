"""CPU steppers: one pass over flat buffers with a rule's numba kernel or with torch's own fused CPU ops.

Both take the flat ``param``/``grad``/state buffers of a bucket once and then apply a
step with O(1) Python work. Which one a rule prefers is its ``cpu_backend``, chosen by
``benchmarks/step_speed.py --cpu-backends`` (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import functools
import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

from inertia.kernels.jit import compiled
from inertia.kernels.rule_info import StepSpec, plain_numbers

CPU_DTYPES = (torch.float32, torch.float64)
#: Buffers at least this long are stepped in parallel threads by the numba backend.
PARALLEL_MIN = 1 << 18


@functools.cache
def numba_available() -> bool:
    """Whether the numba kernels can be used: numba is installed *and* imports.

    A numba that fails to import (e.g. built for another numpy) counts as missing, so the step
    falls back to another backend or the reference path instead of failing.
    """
    try:
        importlib.import_module("numba")
    except Exception:  # ImportError, or whatever a broken numba install raises while loading
        return False
    return True


def torch_supports(spec: StepSpec) -> bool:
    """Whether a torch fused CPU op computes ``spec`` exactly."""
    return spec.rule.torch_op(spec) is not None


def cpu_backends(spec: StepSpec, dtype: torch.dtype) -> list[str]:
    """The CPU backends able to run ``spec`` on ``dtype`` buffers, preferred first."""
    if dtype not in CPU_DTYPES:
        return []
    available = []
    if torch_supports(spec):
        available.append("torch")
    if numba_available():
        available.append("numba")
    return sorted(available, key=lambda name: name != spec.rule.cpu_backend)


def _listed(buffer: Tensor | list[Tensor]) -> list[Tensor]:
    """A buffer as the tensor list torch's fused ops take (a list is used as is, so that its owner may
    change its contents between steps)."""
    return buffer if isinstance(buffer, list) else [buffer]


class TorchFusedStepper:
    """Calls the rule's torch fused op (``torch._fused_adam_`` and the like) on one flat tensor per
    buffer, or on lists of tensors (such as the local shards of DTensor parameters).

    The op and its option arguments are fixed at construction; per step only the step
    number and, when they changed, the hyperparameter arguments are written.
    """

    def __init__(self, spec: StepSpec, buffers: dict[str, Tensor]) -> None:
        fused = spec.rule.torch_op(spec)
        if fused is None:
            raise ValueError(f"Invalid spec: {spec!r} (no torch fused CPU op computes it)")
        self.spec = spec
        self.first_step = fused.first_step
        param, grad = _listed(buffers["param"]), _listed(buffers["grad"])
        state = [_listed(buffers[key]) if key in buffers else [] for key in fused.state]
        steps = torch.zeros(len(param), dtype=torch.float32)  # one counter per tensor, as the ops take
        self.step_tensor = list(steps.unbind())
        self.step_array = steps.numpy()  # a view: writing it sets the counters without an op
        self.op = getattr(torch, fused.op)
        self.args = (param, grad, *state) + ((self.step_tensor,) if fused.takes_step else ())
        self.options = dict(fused.options)
        self.fields = spec.rule.Hyper._fields  # the op takes the hyperparameters by these names
        self.hyper: tuple[Any, ...] | None = None
        self.kwargs: dict[str, Any] = {}

    def __call__(self, hyper: tuple[Any, ...], step: int) -> None:
        """Apply step number ``step`` (>= 1) with hyperparameters ``hyper``."""
        if hyper is not self.hyper:  # a tuple holding a tensor (in-place lr changes) is re-read every step
            self.kwargs = dict(self.options, **dict(zip(self.fields, hyper, strict=True)))
            self.hyper = hyper if plain_numbers(hyper) else None
        self.step_array[:] = step
        if self.first_step:
            self.op(*self.args, is_first_step=step == 1, **self.kwargs)
        else:
            self.op(*self.args, **self.kwargs)


def kernel_arrays(spec: StepSpec, arrays: dict[str, Any]) -> tuple[Any, ...]:
    """The array arguments of the rule's kernels: param, grad, then one per state slot (an absent
    optional buffer is replaced by the param array, which that kernel variant leaves untouched)."""
    param = arrays["param"]
    slots = [next((arrays[key] for key in keys if key in arrays), param) for keys in spec.rule.state_slots]
    return (param, arrays["grad"], *slots)


def numba_kernel(spec: StepSpec) -> Any:
    """The compiled numba kernel of ``spec``'s rule."""
    return compiled(type(spec.rule).__module__, spec.rule.numba_kernel, "numba")


class NumbaStepper:
    """Runs the rule's numba kernel over numpy views of the buffers.

    Buffers of at least :data:`PARALLEL_MIN` elements are split into one contiguous chunk
    per thread (``torch.get_num_threads()``, read again on every step, so that
    ``torch.set_num_threads`` applies at once); the kernels release the GIL, so the chunks
    run in parallel (numba's own thread settings play no part: the kernels are serial loops).
    The kernel's arguments are fixed at construction except its scalars, which are recomputed
    only when the hyperparameters or (for step-dependent rules) the step change.
    """

    def __init__(self, spec: StepSpec, buffers: dict[str, Tensor]) -> None:
        self.spec = spec
        self.kernel = numba_kernel(spec)
        self.arrays = {key: value.detach().numpy() for key, value in buffers.items()}
        self.cast = self.arrays["param"].dtype.type
        self.parallel = self.arrays["param"].size >= PARALLEL_MIN
        self._split(torch.get_num_threads() if self.parallel else 1)
        self.cached: tuple[Any, ...] = (None, None, ())  # (hyper, step key, scalar arguments)

    def _split(self, threads: int) -> None:
        """Cut the buffers into ``threads`` contiguous chunks (multiples of 16 elements but the last)."""
        threads, n = max(1, threads), self.arrays["param"].size
        edges = [n * k // threads // 16 * 16 for k in range(threads)] + [n]
        bounds = zip(edges[:-1], edges[1:], strict=True)
        self.chunks = [kernel_arrays(self.spec, {key: a[lo:hi] for key, a in self.arrays.items()})
                       for lo, hi in bounds]
        self.threads = threads
        self.pool = shared_pool(threads) if threads > 1 else None

    def scalars(self, hyper: tuple[Any, ...], step: int) -> tuple[Any, ...]:
        """The kernel's arguments after the arrays, for this step (recomputed only when they change)."""
        key_step = self.spec.rule.step_key(self.spec, step)
        cached_hyper, cached_step, scalars = self.cached
        if hyper is cached_hyper and key_step == cached_step:
            return scalars
        scalars = self.spec.rule.numba_arguments(self.spec, hyper, step, self.cast)
        self.cached = (hyper if plain_numbers(hyper) else None, key_step, scalars)
        return scalars

    def __call__(self, hyper: tuple[Any, ...], step: int) -> None:
        """Apply step number ``step`` (>= 1) with hyperparameters ``hyper``."""
        scalars = self.scalars(hyper, step)
        if self.parallel and torch.get_num_threads() != self.threads:
            self._split(torch.get_num_threads())
        if self.pool is None:
            self.kernel(*self.chunks[0], *scalars)
            return
        futures = [self.pool.submit(self.kernel, *chunk, *scalars) for chunk in self.chunks[1:]]
        self.kernel(*self.chunks[0], *scalars)
        for future in futures:
            future.result()


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def shared_pool(threads: int) -> ThreadPoolExecutor:
    """A shared pool of ``threads - 1`` workers (the calling thread runs the first chunk).

    Keyed by process id too: a forked child inherits the pool object but not its threads.
    """
    key = (os.getpid(), threads)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="inertia-numba")
    return _POOLS[key]


def make_cpu_stepper(spec: StepSpec, buffers: dict[str, Tensor], backend: str) -> Any:
    """A CPU stepper for ``spec`` over ``buffers`` using ``backend`` ("torch" or "numba")."""
    if backend == "torch":
        return TorchFusedStepper(spec, buffers)
    if backend == "numba":
        return NumbaStepper(spec, buffers)
    raise ValueError(f"Invalid backend: {backend!r} (CPU backends are 'torch' and 'numba')")
