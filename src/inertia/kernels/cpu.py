"""CPU steppers: one pass over flat buffers with numba or with torch's own fused CPU ops.

Both take the flat ``param``/``grad``/state buffers of a bucket once and then apply a
step with O(1) Python work. Which one a rule uses is :data:`CPU_BACKEND_FOR`, chosen by
``benchmarks/step_speed.py --cpu-backends`` (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

from inertia.kernels.spec import StepSpec, host_scalars

#: The CPU backend each rule uses when its options allow (measured; see benchmarks/RESULTS.md).
CPU_BACKEND_FOR = {"sgd": "torch", "adagrad": "torch", "rmsprop": "numba", "adam": "torch"}
CPU_DTYPES = (torch.float32, torch.float64)
#: Buffers at least this long are stepped in parallel threads by the numba backend.
PARALLEL_MIN = 1 << 18


@functools.cache
def numba_available() -> bool:
    """Whether numba is installed (the ``fast`` extra)."""
    return importlib.util.find_spec("numba") is not None


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


class TorchFusedStepper:
    """Calls torch's ``_fused_sgd_``/``_fused_adagrad_``/``_fused_adam(w)_`` on one flat tensor each."""

    def __init__(self, spec: StepSpec, buffers: dict[str, Tensor]) -> None:
        if not torch_supports(spec):
            raise ValueError(f"Invalid spec: {spec!r} (no torch fused CPU op computes it)")
        self.spec = spec
        self.param, self.grad = [buffers["param"]], [buffers["grad"]]
        self.state = [[buffers[key]] for key in spec.state_keys]
        self.step_tensor = [torch.zeros((), dtype=torch.float32)]

    def __call__(self, hyper: tuple[float, ...], step: int) -> None:
        """Apply step number ``step`` (>= 1) with hyperparameters ``hyper``."""
        spec, flag = self.spec, self.spec.flag
        self.step_tensor[0].fill_(step)
        if spec.rule == "sgd":
            lr, momentum, dampening, wd = hyper
            torch._fused_sgd_(self.param, self.grad, self.state[0] if self.state else [], weight_decay=wd,
                              momentum=momentum, lr=lr, dampening=dampening, nesterov=bool(flag("nesterov")),
                              maximize=bool(flag("maximize")), is_first_step=step == 1)
        elif spec.rule == "adagrad":
            lr, lr_decay, eps, wd = hyper
            torch._fused_adagrad_(self.param, self.grad, self.state[0], self.step_tensor, lr=lr,
                                  lr_decay=lr_decay, weight_decay=wd, eps=eps, maximize=bool(flag("maximize")))
        else:
            lr, beta1, beta2, eps, wd = hyper
            op = torch._fused_adamw_ if flag("wd_mode") == 2 else torch._fused_adam_
            amsgrad = bool(flag("amsgrad"))
            op(self.param, self.grad, self.state[0], self.state[1], self.state[2] if amsgrad else [],
               self.step_tensor, lr=lr, beta1=beta1, beta2=beta2, weight_decay=wd, eps=eps, amsgrad=amsgrad,
               maximize=bool(flag("maximize")))


class NumbaStepper:
    """Runs the :mod:`inertia.kernels.numba_loops` kernel of a rule over numpy views of the buffers.

    Buffers of at least :data:`PARALLEL_MIN` elements are split into one contiguous chunk
    per thread (``torch.get_num_threads()``); the kernels release the GIL, so the chunks
    run in parallel.
    """

    def __init__(self, spec: StepSpec, buffers: dict[str, Tensor]) -> None:
        from inertia.kernels import numba_loops

        self.spec = spec
        self.loops = numba_loops
        arrays = {key: value.detach().numpy() for key, value in buffers.items()}
        self.cast = arrays["param"].dtype.type
        n = arrays["param"].size
        threads = max(1, torch.get_num_threads()) if n >= PARALLEL_MIN else 1
        edges = [n * k // threads // 16 * 16 for k in range(threads)] + [n]
        bounds = zip(edges[:-1], edges[1:], strict=True)
        self.chunks = [{key: a[lo:hi] for key, a in arrays.items()} for lo, hi in bounds]
        self.pool = _pool(threads) if threads > 1 else None

    def __call__(self, hyper: tuple[float, ...], step: int) -> None:
        """Apply step number ``step`` (>= 1) with hyperparameters ``hyper``."""
        c = self.cast
        scalars = {name: c(value) for name, value in host_scalars(self.spec, hyper, step).items()}
        if self.pool is None:
            self._run(self.chunks[0], scalars)
            return
        futures = [self.pool.submit(self._run, chunk, scalars) for chunk in self.chunks[1:]]
        self._run(self.chunks[0], scalars)
        for future in futures:
            future.result()

    def _run(self, a: dict[str, Any], s: dict[str, Any]) -> None:
        spec, flag = self.spec, self.spec.flag
        sign, use_wd = self.cast(-1.0 if flag("maximize") else 1.0), _has_wd(spec)
        p, g = a["param"], a["grad"]
        if spec.rule == "sgd":
            buffer = a[spec.state_keys[0]] if spec.state_keys else p
            self.loops.sgd_step(p, g, buffer, s["lr"], s["wd"], s["momentum"], s["dampening_keep"], sign, use_wd,
                                bool(flag("momentum")), bool(flag("nesterov")), bool(flag("velocity")),
                                bool(s["first"]))
        elif spec.rule == "adagrad":
            self.loops.adagrad_step(p, g, a["sum"], s["clr"], s["eps"], s["wd"], sign, use_wd,
                                    bool(flag("eps_inside")))
        elif spec.rule == "rmsprop":
            square_avg = a["square_avg"]
            self.loops.rmsprop_step(p, g, square_avg, a.get("grad_avg", square_avg),
                                    a.get("momentum_buffer", square_avg), s["lr"], s["alpha"],
                                    s["one_minus_alpha"], s["eps"], s["wd"], s["momentum"], sign, use_wd,
                                    bool(flag("centered")), bool(flag("momentum")), bool(flag("eps_inside")))
        else:
            v = a["exp_avg_sq"]
            self.loops.adam_step(p, g, a["exp_avg"], v, a.get("max_exp_avg_sq", v), s["one_minus_beta1"],
                                 s["beta2"], s["one_minus_beta2"], s["eps"], s["wd"], s["decay"],
                                 s["step_size"], s["denom_scale"], sign, flag("wd_mode"), bool(flag("amsgrad")),
                                 flag("eps_mode") == 1)


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
