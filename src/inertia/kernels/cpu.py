"""CPU steppers: one pass over flat buffers with numba or with torch's own fused CPU ops.

Both take the flat ``param``/``grad``/state buffers of a bucket once and then apply a
step with O(1) Python work. Which one a rule uses is :data:`CPU_BACKEND_FOR`, chosen by
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

from inertia.kernels.spec import StepSpec, host_scalars, plain_numbers

#: The CPU backend each rule uses when its options allow (measured; see benchmarks/RESULTS.md).
CPU_BACKEND_FOR = {"sgd": "torch", "adagrad": "torch", "rmsprop": "numba", "adam": "torch"}
CPU_DTYPES = (torch.float32, torch.float64)
#: Buffers at least this long are stepped in parallel threads by the numba backend.
PARALLEL_MIN = 1 << 18


@functools.cache
def numba_available() -> bool:
    """Whether the numba kernels can be used: numba (the ``fast`` extra) is installed *and* imports.

    A numba that fails to import (e.g. built for another numpy) counts as missing, so the step
    falls back to another backend or the reference path instead of failing.
    """
    try:
        importlib.import_module("inertia.kernels.numba_loops")
    except Exception:  # ImportError, or whatever a broken numba install raises while loading
        return False
    return True


def torch_supports(spec: StepSpec) -> bool:
    """Whether a torch fused CPU op computes ``spec`` exactly (torch has SGD, AdaGrad, Adam)."""
    if spec.rule == "sgd":
        return not spec.flag("velocity")
    if spec.rule == "adagrad":
        return not spec.flag("eps_inside")
    if spec.rule == "adam":
        return spec.flag("bias_correction") == 1 and spec.flag("eps_mode") == 0
    return False


def cpu_backends(spec: StepSpec, dtype: torch.dtype) -> list[str]:
    """The CPU backends able to run ``spec`` on ``dtype`` buffers, preferred first."""
    if dtype not in CPU_DTYPES:
        return []
    available = []
    if torch_supports(spec):
        available.append("torch")
    if numba_available():
        available.append("numba")
    preferred = CPU_BACKEND_FOR[spec.rule]
    return sorted(available, key=lambda name: name != preferred)


def _listed(buffer: Tensor | list[Tensor]) -> list[Tensor]:
    """A buffer as the tensor list torch's fused ops take (a list is used as is, so that its owner may
    change its contents between steps)."""
    return buffer if isinstance(buffer, list) else [buffer]


class TorchFusedStepper:
    """Calls torch's ``_fused_sgd_``/``_fused_adagrad_``/``_fused_adam(w)_`` on one flat tensor each
    (or on lists of tensors, such as the local shards of DTensor parameters).

    The op and its option arguments are fixed at construction; per step only the step
    number and, when they changed, the hyperparameter arguments are written.
    """

    def __init__(self, spec: StepSpec, buffers: dict[str, Tensor]) -> None:
        if not torch_supports(spec):
            raise ValueError(f"Invalid spec: {spec!r} (no torch fused CPU op computes it)")
        self.spec = spec
        flags = dict(spec.flags)
        param, grad = _listed(buffers["param"]), _listed(buffers["grad"])
        state = [_listed(buffers[key]) for key in spec.state_keys]
        steps = torch.zeros(len(param), dtype=torch.float32)  # one counter per tensor, as the ops take
        self.step_tensor = list(steps.unbind())
        self.step_array = steps.numpy()  # a view: writing it sets the counters without an op
        maximize = bool(flags["maximize"])
        if spec.rule == "sgd":
            self.op = torch._fused_sgd_
            self.args = (param, grad, state[0] if state else [])
            self.options: dict[str, Any] = dict(nesterov=bool(flags["nesterov"]), maximize=maximize)
        elif spec.rule == "adagrad":
            self.op = torch._fused_adagrad_
            self.args = (param, grad, state[0], self.step_tensor)
            self.options = dict(maximize=maximize)
        else:
            amsgrad = bool(flags["amsgrad"])
            self.op = torch._fused_adamw_ if flags["wd_mode"] == 2 else torch._fused_adam_
            self.args = (param, grad, state[0], state[1], state[2] if amsgrad else [], self.step_tensor)
            self.options = dict(amsgrad=amsgrad, maximize=maximize)
        self.hyper: tuple[float, ...] | None = None
        self.kwargs: dict[str, Any] = {}

    def _hyper_kwargs(self, hyper: tuple[float, ...]) -> dict[str, Any]:
        if self.spec.rule == "sgd":
            lr, momentum, dampening, wd = hyper
            return dict(self.options, weight_decay=wd, momentum=momentum, lr=lr, dampening=dampening)
        if self.spec.rule == "adagrad":
            lr, lr_decay, eps, wd = hyper
            return dict(self.options, lr=lr, lr_decay=lr_decay, weight_decay=wd, eps=eps)
        lr, beta1, beta2, eps, wd = hyper
        return dict(self.options, lr=lr, beta1=beta1, beta2=beta2, weight_decay=wd, eps=eps)

    def __call__(self, hyper: tuple[float, ...], step: int) -> None:
        """Apply step number ``step`` (>= 1) with hyperparameters ``hyper``."""
        if hyper is not self.hyper:  # a tuple holding a tensor (in-place lr changes) is re-read every step
            self.kwargs = self._hyper_kwargs(hyper)
            self.hyper = hyper if plain_numbers(hyper) else None
        self.step_array[:] = step
        if self.spec.rule == "sgd":
            self.op(*self.args, is_first_step=step == 1, **self.kwargs)
        else:
            self.op(*self.args, **self.kwargs)


class NumbaStepper:
    """Runs the :mod:`inertia.kernels.numba_loops` kernel of a rule over numpy views of the buffers.

    Buffers of at least :data:`PARALLEL_MIN` elements are split into one contiguous chunk
    per thread (``torch.get_num_threads()``, read again on every step, so that
    ``torch.set_num_threads`` applies at once); the kernels release the GIL, so the chunks
    run in parallel (numba's own thread settings play no part: the kernels are serial loops).
    The kernel's arguments are fixed at construction except its scalars, which are recomputed
    only when the hyperparameters or (for step-dependent rules) the step change.
    """

    def __init__(self, spec: StepSpec, buffers: dict[str, Tensor]) -> None:
        from inertia.kernels import numba_loops

        self.spec = spec
        self.kernel = getattr(numba_loops, f"{spec.rule}_step")
        self.arrays = {key: value.detach().numpy() for key, value in buffers.items()}
        self.cast = self.arrays["param"].dtype.type
        self.parallel = self.arrays["param"].size >= PARALLEL_MIN
        self._split(torch.get_num_threads() if self.parallel else 1)
        self.flags = _kernel_flags(spec, self.cast)
        self.step_dependent = bool(dict(spec.flags).get("step_dependent"))
        self.cached: tuple[Any, ...] = (None, None, ())  # (hyper, step or None, scalar arguments)

    def _split(self, threads: int) -> None:
        """Cut the buffers into ``threads`` contiguous chunks (multiples of 16 elements but the last)."""
        threads, n = max(1, threads), self.arrays["param"].size
        edges = [n * k // threads // 16 * 16 for k in range(threads)] + [n]
        bounds = zip(edges[:-1], edges[1:], strict=True)
        self.chunks = [_kernel_arrays(self.spec, {key: a[lo:hi] for key, a in self.arrays.items()})
                       for lo, hi in bounds]
        self.threads = threads
        self.pool = _pool(threads) if threads > 1 else None

    def _scalars(self, hyper: tuple[float, ...], step: int) -> tuple[Any, ...]:
        """The kernel's arguments after the arrays, for this step."""
        key_step = (step == 1) if self.spec.rule == "sgd" else (step if self.step_dependent else None)
        cached_hyper, cached_step, scalars = self.cached
        if hyper is cached_hyper and key_step == cached_step:
            return scalars
        s, c = host_scalars(self.spec, hyper, step), self.cast
        rule = self.spec.rule
        if rule == "sgd":
            scalars = (c(s["lr"]), c(s["wd"]), c(s["momentum"]), c(s["dampening_keep"]), *self.flags,
                       bool(s["first"]))
        elif rule == "adagrad":
            scalars = (c(s["clr"]), c(s["eps"]), c(s["wd"]), *self.flags)
        elif rule == "rmsprop":
            scalars = (c(s["lr"]), c(s["alpha"]), c(s["one_minus_alpha"]), c(s["eps"]), c(s["wd"]),
                       c(s["momentum"]), *self.flags)
        else:
            scalars = (*(c(s[k]) for k in ("one_minus_beta1", "beta2", "one_minus_beta2", "eps", "wd", "decay",
                                          "step_size", "denom_scale")), *self.flags)
        self.cached = (hyper if plain_numbers(hyper) else None, key_step, scalars)
        return scalars

    def __call__(self, hyper: tuple[float, ...], step: int) -> None:
        """Apply step number ``step`` (>= 1) with hyperparameters ``hyper``."""
        scalars = self._scalars(hyper, step)
        if self.parallel and torch.get_num_threads() != self.threads:
            self._split(torch.get_num_threads())
        if self.pool is None:
            self.kernel(*self.chunks[0], *scalars)
            return
        futures = [self.pool.submit(self.kernel, *chunk, *scalars) for chunk in self.chunks[1:]]
        self.kernel(*self.chunks[0], *scalars)
        for future in futures:
            future.result()


def _kernel_arrays(spec: StepSpec, a: dict[str, Any]) -> tuple[Any, ...]:
    """The array arguments of the rule's kernel (absent buffers replaced by an untouched stand-in)."""
    p, g = a["param"], a["grad"]
    if spec.rule == "sgd":
        return p, g, a[spec.state_keys[0]] if spec.state_keys else p
    if spec.rule == "adagrad":
        return p, g, a["sum"]
    if spec.rule == "rmsprop":
        square_avg = a["square_avg"]
        return p, g, square_avg, a.get("grad_avg", square_avg), a.get("momentum_buffer", square_avg)
    v = a["exp_avg_sq"]
    return p, g, a["exp_avg"], v, a.get("max_exp_avg_sq", v)


def _kernel_flags(spec: StepSpec, cast: Any) -> tuple[Any, ...]:
    """The rule kernel's option arguments (after its scalars): sign, weight decay and variant flags."""
    f = dict(spec.flags)
    sign, use_wd = cast(-1.0 if f["maximize"] else 1.0), _has_wd(spec)
    if spec.rule == "sgd":
        return sign, use_wd, bool(f["momentum"]), bool(f["nesterov"]), bool(f["velocity"])
    if spec.rule == "adagrad":
        return sign, use_wd, bool(f["eps_inside"])
    if spec.rule == "rmsprop":
        return sign, use_wd, bool(f["centered"]), bool(f["momentum"]), bool(f["eps_inside"])
    return sign, f["wd_mode"], bool(f["amsgrad"]), f["eps_mode"] == 1


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    """A shared pool of ``threads - 1`` workers (the calling thread runs the first chunk).

    Keyed by process id too: a forked child inherits the pool object but not its threads.
    """
    key = (os.getpid(), threads)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="inertia-numba")
    return _POOLS[key]


def _has_wd(spec: StepSpec) -> bool:
    return bool(spec.flag("weight_decay")) if spec.rule != "adam" else spec.flag("wd_mode") == 1


def make_cpu_stepper(spec: StepSpec, buffers: dict[str, Tensor], backend: str) -> Any:
    """A CPU stepper for ``spec`` over ``buffers`` using ``backend`` ("torch" or "numba")."""
    if backend == "torch":
        return TorchFusedStepper(spec, buffers)
    if backend == "numba":
        return NumbaStepper(spec, buffers)
    raise ValueError(f"Invalid backend: {backend!r} (CPU backends are 'torch' and 'numba')")
