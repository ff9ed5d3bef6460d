"""The fused CPU step of a ``precision`` group (``master`` or ``stochastic`` parameters, fp32 or bf16 state).

The reference path of such a group (:func:`inertia.optim.precision.step_with_precision`) makes float32
copies of every parameter, gradient and bfloat16 state tensor at once. Here each parameter is stepped in
chunks of :data:`CHUNK` elements instead: the chunk's bfloat16 parameter (or its float32 master slice),
gradient and bfloat16 state are loaded into small float32 scratch arrays (reused from chunk to chunk, a
few per thread), the rule's own numba kernel runs on them with the scalars the native fused stepper
passes (:meth:`RuleInfo.numba_arguments`), and the results are stored back: the parameter rounded to
nearest from the master (``master``) or stochastically (``stochastic``), bfloat16 state stochastically,
float32 state and masters in place. Stochastic rounding draws, per element, the Philox bits that
:class:`inertia.optim.precision.Rounder` draws for that parameter, slot and element
(:func:`inertia.kernels.rounding_store.store_stochastic_bf16`), so given the same float32 values the two
paths round alike; the float32 values themselves agree as the native fused and reference steps do.

The state keeps its format (``step``, the rule's keys in the state dtype, ``master_param``, ``rounding_step``),
and ``step`` and ``rounding_step`` advance as on the reference path. State a parameter lacks (on its
first step, or a master dropped by ``load_state_dict``) is made on the step as the reference path makes
it: the master copied from the parameter, the rule's initial state in float32 (for ``bf16-state`` a
float32 tensor per new key of that one parameter, rounded into the flat buffer once stepped). CUDA buckets
take the rule's Triton kernel instead, one launch per parameter (:mod:`inertia.optim.precision_triton`).
Parameters on other devices (with the reference path's warning), ``8bit-state`` groups and classes that
step their buckets their own way (schedule-free) keep the reference path, as does ``impl="reference"``;
under ``impl="auto"`` a CPU bucket fuses from the native path's size threshold on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inertia.kernels.cpu import PARALLEL_MIN, kernel_arrays, numba_available, numba_kernel, shared_pool
from inertia.kernels.low_precision import Precision
from inertia.kernels.rounding_store import bf16_bits_array, store_stochastic_bf16
from inertia.kernels.rule_info import RuleInfo, StepSpec
from inertia.kernels.triton_steps import TRITON_DTYPES, triton_available
from inertia.optim.fused_dispatch import AUTO_CPU_MIN_ELEMENTS, GroupPlan, resolve_impl
from inertia.optim.layout import FlatBucket
from inertia.optim.precision import (
    MASTER_KEY,
    Rounder,
    group_precision,
    is_native,
    uses_rounding,
    warn_reference_path,
)
from inertia.optim.precision_state import advance_counts, create_state, has_state, step_number
from inertia.optim.precision_triton import step_params_triton

__all__ = ["CHUNK", "PrecisionBucket", "covered_spec", "precision_plan", "step_one_param"]

#: Elements per chunk: the scratch arrays hold this many float32 values each (1 MiB; at 64K the per-chunk
#: Python work took half of an Adam step over 20M values, measured at 30.7 ms against 15.2 ms).
CHUNK = 1 << 18
#: Step CPU buckets with the Triton kernels (under ``TRITON_INTERPRET=1``) instead of numba: for tests.
TRITON_ON_CPU = False
_scratch = threading.local()


def _scratch_rows(rows: int) -> Tensor:
    """This thread's float32 scratch, ``rows`` arrays of :data:`CHUNK` elements (grown, never shrunk)."""
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.shape[0] < rows or buffer.shape[1] < CHUNK:
        buffer = _scratch.buffer = torch.empty(rows, CHUNK, dtype=torch.float32)
    return buffer


def covered_spec(group: Mapping[str, Any], rule: RuleInfo | None, backend: str = "numba"
                 ) -> tuple[StepSpec, tuple[Any, ...]] | None:
    """The native spec and hyperparameters of ``group`` (a non-native one) if the fused precision step
    can take it on ``backend``: fp32 or bf16 state, and numba (Triton) installed with a numba (Triton)
    kernel for the rule; else None."""
    if rule is None or not getattr(rule, f"{backend}_kernel", None) or group.get("differentiable"):
        return None
    installed = numba_available() if backend == "numba" else triton_available()
    if group_precision(group).state == "8bit-state" or not installed:
        return None
    return rule.spec({**group, "precision": "native"})


def _bucket_backend(bucket: FlatBucket, backends: tuple[str, ...]) -> str | None:
    """The fused precision step's backend for ``bucket`` ("numba" on the CPU, "triton" on CUDA: among the
    covered ``backends``), or None: the reference path."""
    if bucket.sharded:
        return None
    if bucket.device.type == "cuda" or (bucket.device.type == "cpu" and TRITON_ON_CPU):
        return "triton" if "triton" in backends and bucket.dtype in TRITON_DTYPES else None
    return "numba" if bucket.device.type == "cpu" and "numba" in backends else None


def _dense_like(tensor: Tensor, param: Tensor) -> bool:
    return tensor.device == param.device and tensor.is_contiguous() and not tensor.is_sparse


def _fits(optimizer: Any, param: Tensor, spec: StepSpec, precision: Precision, state_dtype: torch.dtype) -> bool:
    """Whether ``param`` can take the fused precision step now: a dense gradient like it on its device, and every
    state tensor it already has in the state dtype (missing ones are made on the step, see :func:`~inertia.optim.precision_state.create_state`)."""
    grad, state = param.grad, optimizer.state.get(param) or {}
    if not _dense_like(param, param) or param.is_complex() or grad is None or not _dense_like(grad, param):
        return False
    if grad.dtype != param.dtype or grad.shape != param.shape:
        return False
    if any(key not in optimizer.state_keys for key in spec.state_keys):  # no rounding slot: reference path
        return False
    if spec.counts_steps and has_state(state) and not isinstance(state.get("step"), Tensor):
        return False
    keys = [(key, state_dtype) for key in spec.state_keys]
    if precision.params == "master":
        keys.append((MASTER_KEY, torch.float32))
    for key, dtype in keys:
        value = state.get(key)
        if value is None:
            continue
        if not isinstance(value, Tensor) or value.dtype != dtype or not _dense_like(value, param):
            return False
        if value.numel() != param.numel():
            return False
    return True


class _Job:
    """One parameter's fused precision step: its flat tensors, the kernel scalars and rounding streams."""

    def __init__(self, optimizer: Any, param: Tensor, index: int, spec: StepSpec, scalars: tuple[Any, ...],
                 precision: Precision, rounder: Rounder | None, targets: dict[str, Tensor]) -> None:
        state = optimizer.state[param]
        self.n = param.numel()
        self.mode = precision.params
        self.param = param.detach().view(-1)
        self.grad = param.grad.view(-1)
        self.master = state[MASTER_KEY].view(-1) if self.mode == "master" else None
        self.state = [state[key].view(-1) for key in spec.state_keys]  # read from (new keys: float32)
        stored = [targets.get(key, state[key]).view(-1) for key in spec.state_keys]  # written to
        self.spec, self.scalars, self.kernel = spec, scalars, numba_kernel(spec)
        self.streams: list[tuple[int, int]] = []
        if rounder is not None:
            rounder.start(state, index)
            slots = [0] + [1 + optimizer.state_keys.index(key) for key in spec.state_keys]
            self.streams = [rounder.stream(index, slot) for slot in slots]
        self.param_bits = bf16_bits_array(self.param) if self.mode == "stochastic" else None
        self.state_bits = [bf16_bits_array(t) if t.dtype == torch.bfloat16 else None for t in stored]

    def chunks(self) -> list[tuple[_Job, int, int]]:
        return [(self, lo, min(lo + CHUNK, self.n)) for lo in range(0, self.n, CHUNK)]

    def run(self, lo: int, hi: int) -> None:
        """Step elements ``[lo, hi)`` (at most :data:`CHUNK`) through this thread's scratch."""
        rows = _scratch_rows(2 + len(self.state))
        size = hi - lo

        def load(row: int, source: Tensor) -> np.ndarray:
            if source.dtype == torch.float32:
                return source[lo:hi].numpy()  # float32 data is stepped in place
            return rows[row, :size].copy_(source[lo:hi]).numpy()

        arrays = {"param": load(0, self.param if self.master is None else self.master), "grad": load(1, self.grad)}
        arrays.update({key: load(2 + i, t) for i, (key, t) in enumerate(zip(self.spec.state_keys, self.state,
                                                                              strict=True))})
        self.kernel(*kernel_arrays(self.spec, arrays), *self.scalars)
        for i, (key, bits) in enumerate(zip(self.spec.state_keys, self.state_bits, strict=True)):
            if bits is not None:
                seed, offset = self.streams[1 + i]
                store_stochastic_bf16(arrays[key], bits[lo:hi], seed, offset + lo)
        if self.master is not None:
            self.param[lo:hi].copy_(self.master[lo:hi])  # round to nearest, as the reference path's copy
        elif self.param_bits is not None:
            seed, offset = self.streams[0]
            store_stochastic_bf16(arrays["param"], self.param_bits[lo:hi], seed, offset + lo)


def _run(jobs: list[_Job]) -> None:
    """Run every chunk of ``jobs``: in one thread, or split between ``torch.get_num_threads()`` threads
    (each with its own scratch) when they hold at least :data:`PARALLEL_MIN` elements."""
    chunks = [chunk for job in jobs for chunk in job.chunks()]
    threads = min(len(chunks), max(1, torch.get_num_threads())) if sum(j.n for j in jobs) >= PARALLEL_MIN else 1

    def run(part: list[tuple[_Job, int, int]]) -> None:
        for job, lo, hi in part:
            job.run(lo, hi)

    if threads <= 1:
        run(chunks)
        return
    parts = [chunks[len(chunks) * k // threads: len(chunks) * (k + 1) // threads] for k in range(threads)]
    futures = [shared_pool(threads).submit(run, part) for part in parts[1:]]
    run(parts[0])
    for future in futures:
        future.result()


def _step_params(optimizer: Any, group: dict[str, Any], params: list[Tensor], spec: StepSpec,
                 hyper: tuple[Any, ...]) -> None:
    """The fused precision step of ``params`` (each :func:`_fits`), then their counters advanced; under
    ``bf16-state`` the parameters whose state is new are stepped one by one (each holds float32 copies of
    its new state during its step)."""
    if group_precision(group).state != "bf16-state":
        _step_batch(optimizer, group, params, spec, hyper)
        return
    new = {id(param) for param in params if not all(key in optimizer.state.get(param, ()) for key in spec.state_keys)}
    _step_batch(optimizer, group, [param for param in params if id(param) not in new], spec, hyper)
    for param in params:
        if id(param) in new:
            _step_batch(optimizer, group, [param], spec, hyper)


def _step_batch(optimizer: Any, group: dict[str, Any], params: list[Tensor], spec: StepSpec,
                hyper: tuple[Any, ...]) -> None:
    precision, layout = group_precision(group), optimizer.layout_of(group)
    rounder = Rounder(group) if uses_rounding(precision) else None
    indices = {id(param): index for index, param in enumerate(group["params"])}
    scalars: dict[int, tuple[Any, ...]] = {}
    jobs, created = [], []
    for param in params:
        step = step_number(optimizer.state.get(param) or {}, spec)
        new = create_state(optimizer, group, layout, param, spec, precision)
        targets = {key: layout.view(key, param) for key in new}
        if step not in scalars:
            scalars[step] = spec.rule.numba_arguments(spec, hyper, step, np.float32)
        jobs.append(_Job(optimizer, param, indices[id(param)], spec, scalars[step], precision, rounder, targets))
        created.append((new, targets))
    _run(jobs)
    for param, (new, targets) in zip(params, created, strict=True):
        state, index = optimizer.state[param], indices[id(param)]
        for key, value in new.items():  # bf16-state: the new keys' flat views now hold their rounded values
            if key not in spec.state_keys and rounder is not None:  # made by init_state, not stepped
                targets[key].copy_(rounder.round(value, index, 1 + optimizer.state_keys.index(key)))
            state[key] = targets[key]
        advance_counts(state, spec, rounder, index)


class PrecisionBucket:
    """Parameters of one bucket of a non-native group that take the fused precision step on this step
    (the plan's stand-in for a :class:`inertia.optim.fused_buckets.FusedBucket`)."""

    def __init__(self, optimizer: Any, group: dict[str, Any], params: list[Tensor], done: int | None) -> None:
        self.optimizer, self.group, self.params = optimizer, group, params
        #: The step number every parameter takes (for derived state), or None (rules without derived state).
        self.done = done

    def grads_finite(self) -> bool:
        """Whether every gradient of these parameters is finite."""
        return all(bool(torch.isfinite(param.grad).all()) for param in self.params)

    def step(self, spec: StepSpec, hyper: tuple[Any, ...], backend: str, cuda_graph: bool) -> None:
        """Take one fused precision step (``backend`` "numba" or "triton"; ``cuda_graph`` is not used)."""
        if backend == "triton":
            step_params_triton(self.optimizer, self.group, self.params, spec, hyper)
        else:
            _step_params(self.optimizer, self.group, self.params, spec, hyper)


def _split(optimizer: Any, group: Mapping[str, Any], bucket: FlatBucket, spec: StepSpec
           ) -> tuple[list[Tensor], list[Tensor], int | None]:
    """The parameters of ``bucket`` ready for the fused step, those left to the reference path, and the
    common step number of the ready ones when the rule keeps derived state (None if not needed)."""
    precision = group_precision(group)
    state_dtype = bucket.state_dtype or torch.float32
    ready, rest = [], []
    for param in bucket.params:
        (ready if _fits(optimizer, param, spec, precision, state_dtype) else rest).append(param)
    if not spec.rule.derived_keys or not ready:
        return ready, rest, None
    steps = {step_number(optimizer.state.get(param) or {}, spec) for param in ready}
    if len(steps) > 1:  # one fill per bucket writes the derived state: the steps must agree
        return [], rest + ready, None
    return ready, rest, steps.pop()


def precision_plan(optimizer: Any, group: dict[str, Any], rule: RuleInfo | None) -> GroupPlan | None:
    """The plan of a non-native ``group``: per CPU (numba) or CUDA (Triton) bucket, the parameters the fused
    precision step takes and those the reference path takes; None (after :func:`warn_reference_path`) where
    nothing is fused."""
    found = {backend: covered_spec(group, rule, backend) for backend in ("numba", "triton")}
    backends = tuple(backend for backend, covered in found.items() if covered is not None)
    if not backends:
        return warn_reference_path(optimizer, group)
    spec, hyper = next(covered for covered in found.values() if covered is not None)  # alike on both
    impl, layout = resolve_impl(group), optimizer.layout_of(group)
    plan = GroupPlan(spec, hyper)
    elsewhere = False
    for bucket in layout.buckets.values():
        backend = _bucket_backend(bucket, backends)
        if backend is None:
            elsewhere = True
            plan.items.append((PrecisionBucket(optimizer, group, bucket.params, None), None))
            continue
        if impl == "auto" and bucket.device.type == "cpu" and bucket.total < AUTO_CPU_MIN_ELEMENTS:
            plan.items.append((PrecisionBucket(optimizer, group, bucket.params, None), None))  # as natively
            continue
        ready, rest, done = _split(optimizer, group, bucket, spec)
        if ready:
            plan.items.append((PrecisionBucket(optimizer, group, ready, done), backend))
        if rest:
            plan.items.append((PrecisionBucket(optimizer, group, rest, None), None))
    if elsewhere:
        warn_reference_path(optimizer, group)
    if not any(backend for _, backend in plan.items):
        return None
    plan.all_fused = all(backend for _, backend in plan.items)
    return plan


def step_one_param(optimizer: Any, group: dict[str, Any], param: Tensor) -> bool:
    """Step one parameter of a non-native ``group`` with the fused precision step and return True, or
    return False (the reference path steps it): where :meth:`FlatOptimizer.step` would fuse it."""
    if resolve_impl(group) == "reference" or is_native(group):
        return False
    found = covered_spec(group, optimizer.rule)
    if found is None or param.device.type != "cpu" or TRITON_ON_CPU:
        return False
    spec, hyper = found
    layout = optimizer.layout_of(group)
    bucket = layout.buckets.get((param.device, param.dtype, False))
    if bucket is None or (resolve_impl(group) == "auto" and bucket.total < AUTO_CPU_MIN_ELEMENTS):
        return False
    if not _fits(optimizer, param, spec, group_precision(group), bucket.state_dtype or torch.float32):
        return False
    _step_params(optimizer, group, [param], spec, hyper)
    if spec.rule.derived_keys:
        optimizer._write_derived_state([param], GroupPlan(spec, hyper), step_number(optimizer.state[param], spec) - 1)
    return True
