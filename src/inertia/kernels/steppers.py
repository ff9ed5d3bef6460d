"""Steppers: a rule's step spec, a bucket's buffers and a backend in, one callable stepper out.

:func:`make_stepper` serves flat buffers (one tensor per key: Triton on CUDA, numba or torch's
fused ops on CPU); :func:`make_shard_stepper` serves lists of local shards (DTensor parameters),
with :class:`NumbaShardStepper` running the rule's numba kernel over each shard, split between
threads for large buckets.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from inertia.kernels.cpu import (
    PARALLEL_MIN,
    NumbaStepper,
    TorchFusedStepper,
    kernel_arrays,
    make_cpu_stepper,
    numba_kernel,
    shared_pool,
)
from inertia.kernels.rule_info import StepSpec
from inertia.kernels.triton_steps import TritonStepper

__all__ = ["NumbaShardStepper", "make_shard_stepper", "make_stepper", "split_runs"]


def make_stepper(spec: StepSpec, buffers: dict[str, torch.Tensor], backend: str, cuda_graph: bool) -> Any:
    """The stepper of ``backend`` for ``spec`` over a bucket's flat ``buffers``."""
    if backend == "triton":
        return TritonStepper(spec, buffers, cuda_graph=cuda_graph)
    return make_cpu_stepper(spec, buffers, backend)


class NumbaShardStepper(NumbaStepper):
    """The rule's numba kernel over a list of shards (one call per shard, or per piece of one).

    ``tensors`` maps ``param``, ``grad`` and the state keys to lists of 1-d-contiguous tensors
    of equal sizes; the ``param`` and ``grad`` lists may be refilled between steps. Buckets of
    at least :data:`inertia.kernels.cpu.PARALLEL_MIN` elements are cut into one run of about
    equal length per thread (``torch.get_num_threads()``), pieces of shards included.
    """

    def __init__(self, spec: StepSpec, tensors: dict[str, list[Tensor]]) -> None:
        self.spec = spec
        self.kernel = numba_kernel(spec)
        self.tensors = tensors
        self.state_arrays = {key: [_array(t) for t in tensors[key]] for key in spec.state_keys}
        self.sizes = [t.numel() for t in tensors["param"]]
        self.cast = torch.empty(0, dtype=tensors["param"][0].dtype).numpy().dtype.type
        self.cached: tuple[Any, ...] = (None, None, ())
        self.runs: tuple[int, list[list[tuple[int, int, int]]]] = (0, [])

    def _runs(self) -> list[list[tuple[int, int, int]]]:
        """Per thread, the ``(shard, start, stop)`` pieces it steps."""
        threads = max(1, torch.get_num_threads()) if sum(self.sizes) >= PARALLEL_MIN else 1
        if self.runs[0] != threads:
            self.runs = (threads, split_runs(self.sizes, threads))
        return self.runs[1]

    def __call__(self, hyper: tuple[Any, ...], step: int) -> None:
        """Apply step number ``step`` (>= 1) with hyperparameters ``hyper``."""
        scalars = self.scalars(hyper, step)
        params = [_array(t) for t in self.tensors["param"]]
        grads = [_array(t) for t in self.tensors["grad"]]

        def run(pieces: list[tuple[int, int, int]]) -> None:
            for index, start, stop in pieces:
                arrays = {key: a[index][start:stop] for key, a in self.state_arrays.items()}
                arrays.update(param=params[index][start:stop], grad=grads[index][start:stop])
                self.kernel(*kernel_arrays(self.spec, arrays), *scalars)

        runs = self._runs()
        if len(runs) == 1:
            run(runs[0])
            return
        futures = [shared_pool(len(runs)).submit(run, pieces) for pieces in runs[1:]]
        run(runs[0])
        for future in futures:
            future.result()


def split_runs(sizes: list[int], threads: int) -> list[list[tuple[int, int, int]]]:
    """Cut the concatenation of shards of ``sizes`` into ``threads`` runs of about equal length.

    Each run is a list of ``(shard, start, stop)`` pieces; cuts inside a shard fall on
    multiples of 16 elements. Empty shards are left out.
    """
    total = sum(sizes)
    edges = [total * k // threads // 16 * 16 for k in range(threads)] + [total]
    runs: list[list[tuple[int, int, int]]] = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        pieces, base = [], 0
        for index, size in enumerate(sizes):
            start, stop = max(lo - base, 0), min(hi - base, size)
            if start < stop:
                pieces.append((index, start, stop))
            base += size
        runs.append(pieces)
    return runs


def _array(tensor: Tensor) -> Any:
    """A 1-d numpy view of a contiguous CPU tensor (the same memory)."""
    return tensor.detach().view(-1).numpy()


def make_shard_stepper(spec: StepSpec, tensors: dict[str, list[Tensor]], backend: str) -> Any:
    """A stepper of ``backend`` ("torch" or "numba") over the shard lists of ``tensors``."""
    if backend == "torch":
        return TorchFusedStepper(spec, tensors)  # type: ignore[arg-type]
    if backend == "numba":
        return NumbaShardStepper(spec, tensors)
    raise ValueError(f"Invalid backend: {backend!r} (the shard steppers are 'torch' and 'numba')")
