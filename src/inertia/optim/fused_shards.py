"""The fused step over DTensor parameters (FSDP2, HSDP, tensor parallel): kernels on the local shards.

FSDP2 and tensor parallelism own the storage of their parameter shards, so unlike
:class:`inertia.optim.fused_buckets.FusedBucket` nothing is moved into a flat buffer. Each step a
:class:`ShardedBucket` collects the local shards of its parameters and of their gradients
(``to_local()``: the same memory) and runs one multi-tensor call over them and the views
of its flat state buffers (which hold only this rank's shards, see
:mod:`inertia.optim.layout`): torch's fused CPU op over tensor lists (SGD, AdaGrad, Adam),
or the rule's numba kernel over each shard, the shards split between threads for large
buckets (RMSprop, and the options torch's ops lack; the steppers are in
:mod:`inertia.kernels.steppers`). Element-wise rules need nothing from
other ranks, so a step sends no message, except that the ``nonfinite`` checks agree across
each parameter's mesh.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from inertia.kernels.rule_info import StepSpec
from inertia.kernels.steppers import make_shard_stepper
from inertia.optim.fused_buckets import RELAYOUT, FusedBucket, FusedOwner
from inertia.optim.layout import FlatBucket, GroupLayout
from inertia.optim.sharded import agree_on_all_meshes, dtensor_type, local_part, local_parts, same_placement

_grad_of = operator.attrgetter("grad")
_shape_of = operator.attrgetter("shape")


class ShardedBucket(FusedBucket):
    """The DTensor parameters of one bucket, stepped in place over their local shards."""

    def __init__(self, bucket: FlatBucket, warn: Callable[[str, str], None]) -> None:
        super().__init__(bucket, warn)
        self.local_params: list[Tensor] = []  # refilled in place each step: the steppers hold these lists
        self.local_grads: list[Tensor] = []

    def _why_not_fused(self, grads: list[Tensor | None]) -> str:
        """Why this step cannot run over the local shards ("" if it can); fills the local lists."""
        if any(g is None for g in grads):
            return "grads"
        cls = dtensor_type()
        for param, grad in zip(self.params, grads, strict=True):
            if not isinstance(grad, cls) or not same_placement(grad, param):
                return "a gradient is not a DTensor placed like its parameter"
        self.local_params[:] = local_parts(self.params)
        self.local_grads[:] = local_parts(grads)  # type: ignore[arg-type]
        shapes = self.bucket.shapes
        if list(map(_shape_of, self.local_grads)) != shapes or {g.dtype for g in self.local_grads} != {
                self.bucket.dtype}:
            return "a gradient shard differs in shape or dtype from its parameter's"
        if not (all(map(Tensor.is_contiguous, self.local_grads)) and all(map(Tensor.is_contiguous,
                                                                              self.local_params))):
            return "a parameter or gradient shard is not contiguous"
        return ""

    def unchanged(self) -> bool:
        """Whether the last decision stands: state checked, every gradient present and placed like its
        parameter, every shard where the kernel can run (the local lists are refreshed)."""
        return self.done is not None and not self._why_not_fused(list(map(_grad_of, self.params)))

    def ready(
        self, optimizer: FusedOwner, group: dict[str, Any], layout: GroupLayout, spec: StepSpec
    ) -> bool | str:
        """Whether this step can run over the local shards; ``RELAYOUT`` if the parameters moved."""
        b = self.bucket
        if any(p.device != b.device or p.dtype != b.dtype for p in self.params):
            return RELAYOUT
        if [local_part(p).shape for p in self.params] != b.shapes:
            return RELAYOUT
        if spec is not self.spec_seen and spec != self.spec_seen:
            self.done, self.spec_seen = None, spec
        why = self._why_not_fused(list(map(_grad_of, self.params)))
        if why == "grads":
            self._warn_missing_grads()
            return False
        if why:
            self.warn("shards", f"a bucket of {len(self.params)} DTensor parameters takes the reference path "
                      f"this step: {why}")
            return False
        self.adopted = True
        if self.done is None:
            return self._check_state(optimizer, group, layout, spec)
        return True

    def grads_finite(self) -> bool:
        """Whether every gradient of the bucket is finite, agreed by every rank of each parameter's mesh."""
        finite = all(bool(torch.isfinite(g).all()) for g in self.local_grads)
        return agree_on_all_meshes(finite, self.params)

    def step(self, spec: StepSpec, hyper: tuple[Any, ...], backend: str, cuda_graph: bool) -> None:
        """Apply one step to the local shards (``ready`` or ``unchanged`` returned True just before)."""
        key = (spec, backend, False)
        if key != self.stepper_key:
            count = len(self.params)
            tensors = {"param": self.local_params, "grad": self.local_grads}
            tensors.update({k: [self.bucket.local_view(k, i) for i in range(count)] for k in spec.state_keys})
            self.stepper, self.stepper_key = make_shard_stepper(spec, tensors, backend), key
            self.step_counts = self.bucket.steps.numpy() if spec.counts_steps else None
            self.one = None if self.step_counts is None else self.step_counts.dtype.type(1)
        assert self.done is not None
        self.done += 1
        self.stepper(hyper, self.done)
        self.local_grads.clear()  # holding them would keep FSDP2's gradients alive past zero_grad()
        if self.step_counts is not None:
            self.step_counts += self.one

    def zero_grads(self) -> list[Tensor]:
        """Gradients of DTensor parameters are FSDP's (or autograd's): all are reset as torch.optim does."""
        return self.params
