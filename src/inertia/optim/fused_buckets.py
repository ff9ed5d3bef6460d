"""Flat parameters and gradients for a bucket, and the per-step check that they are still flat.

:class:`FusedBucket` takes one :class:`inertia.optim.layout.FlatBucket` (the parameters of
a group that share a device and dtype) and moves its parameters into one flat buffer
(``p.data`` becomes a view of it) and its gradients into another (``p.grad`` becomes a
view, so autograd accumulates into it in place and ``zero_grad`` is one fill). A step is
then one kernel call over the flat param, grad and state buffers.

Before each step :meth:`FusedBucket.ready` checks, with C-level maps over the parameters
(no per-tensor Python bytecode), that every parameter still lives at its place in the
flat buffer and every gradient is still its view. If not, it repairs what it can (a
replaced gradient or parameter storage is copied back in and re-viewed), or reports that
this step must take the reference path (a missing gradient, parameters living inside
someone else's buffer, state that differs between parameters). Once a step was allowed,
:meth:`FusedBucket.unchanged` repeats the same two maps without repairing anything, so the
dispatcher can reuse its decision until something changes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.multiprocessing.reductions import StorageWeakRef

from inertia.kernels.rule_info import StepSpec
from inertia.kernels.steppers import make_stepper
from inertia.optim.layout import FlatBucket, GroupLayout
from inertia.optim.sharded import copy_state, share_memory

_grad_of = operator.attrgetter("grad")
_FLAT_STORAGES: dict[int, StorageWeakRef] = {}
RELAYOUT = "relayout"
FSDP_MANAGED = "_fsdp_flattened"  # the attribute FullyShardedDataParallel sets on the parameters it manages


def register_flat_storage(tensor: Tensor) -> None:
    """Remember that ``tensor``'s storage is an inertia flat buffer (parameters may be moved out of it)."""
    storage = tensor.untyped_storage()
    _FLAT_STORAGES[storage.data_ptr()] = StorageWeakRef(storage)


def _movable(param: Tensor) -> bool:
    """Whether ``param`` owns its storage, or lives in an inertia flat buffer, so it may be re-homed.

    Parameters that ``FullyShardedDataParallel`` manages (its flat parameters, and the original
    parameters with ``use_orig_params=True``, both marked ``_fsdp_flattened``) never are: FSDP keeps
    its own reference to their storage, even where a shard fills it exactly.
    """
    if getattr(param, FSDP_MANAGED, False):
        return False
    storage = param.untyped_storage()
    if storage.nbytes() == param.numel() * param.element_size() and param.storage_offset() == 0:
        return True
    owner = _FLAT_STORAGES.get(storage.data_ptr())
    return owner is not None and not owner.expired() and owner.cdata == StorageWeakRef(storage).cdata


class FusedOwner(Protocol):
    """What the fused path needs of an optimizer (:class:`inertia.optim.base.FlatOptimizer` has it)."""

    state: Any
    #: Per param group (by ``id``): its :class:`inertia.optim.fused_dispatch.FusedGroup`.
    fused_groups: dict[int, Any]
    #: Per param group (by ``id``): its flat :class:`inertia.optim.layout.GroupLayout`.
    layouts: dict[int, GroupLayout]

    def layout_of(self, group: dict[str, Any]) -> GroupLayout:
        """The flat layout of ``group``, rebuilt if its parameters changed."""

    def warn_fused(self, reason: str, message: str) -> None:
        """Warn once per ``reason`` that the fused path fell back."""

    def init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any], layout: GroupLayout) -> None:
        """Create the state of ``param`` as views of ``layout``."""

    def update_params(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """Step ``params`` of ``group`` on the reference path."""


class FusedBucket:
    """The flat param/grad buffers of one bucket, its host step count and its stepper."""

    def __init__(self, bucket: FlatBucket, warn: Callable[[str, str], None]) -> None:
        self.bucket = bucket
        self.params = bucket.params
        self.warn = warn
        self.adopted = False
        self.disabled = ""
        self.param_flat: Tensor | None = None
        self.grad_flat: Tensor | None = None
        self.grad_views: list[Tensor] = []
        self.pointers: list[int] = []
        self.done: int | None = None  # completed steps, the same for every parameter; None: recheck
        self.stepper: Any = None
        self.stepper_key: tuple[Any, ...] | None = None
        self.spec_seen: StepSpec | None = None
        self.step_counts: Any = None  # numpy view of the bucket's step counters
        self.one: Any = None  # 1 in their dtype (adds without a type resolution)

    # ------------------------------------------------------------------ flattening
    def _views(self, flat: Tensor) -> list[Tensor]:
        b = self.bucket
        return [flat[o : o + p.numel()].view_as(p) for p, o in zip(b.params, b.offsets, strict=True)]

    def _warn_missing_grads(self) -> None:
        self.warn("grads", "some parameters have no gradient (`.grad` is None: frozen or unused parameters, or "
                  "`model.zero_grad()`); their bucket takes the reference path for such steps. Call "
                  "`optimizer.zero_grad()` to keep gradients in the flat buffer, and keep frozen parameters "
                  "out of the optimizer")

    def _warn_sparse_grads(self) -> None:
        self.warn("sparse", "some parameters have sparse gradients (for example nn.Embedding(sparse=True)); "
                  "their bucket takes the reference path, which steps sparse gradients as torch.optim does")

    def _adopt(self, grads: list[Tensor | None]) -> bool:
        if any(getattr(p, FSDP_MANAGED, False) for p in self.params):
            self.disabled = "FullyShardedDataParallel (FSDP1) owns the storage of its parameters; use FSDP2 "
            self.disabled += "(torch.distributed.fsdp.fully_shard) for the fused step over local shards"
            self.warn("disabled", f"a bucket of {len(self.params)} parameters takes the reference path: "
                      + self.disabled)
            return False
        if any(g is not None and g.is_sparse for g in grads):
            self._warn_sparse_grads()
            return False
        if any(g is None for g in grads):
            self._warn_missing_grads()
            return False
        if not all(p.is_contiguous() and _movable(p) for p in self.params):
            self.disabled = "its parameters live inside another buffer (for example "
            self.disabled += "ZeroRedundancyOptimizer(parameters_as_bucket_view=True)); moving them would break that"
            return False
        b = self.bucket
        self.param_flat = torch.zeros(b.total, dtype=b.dtype, device=b.device)
        self.grad_flat = torch.zeros(b.total, dtype=b.dtype, device=b.device)
        register_flat_storage(self.param_flat)
        for param, grad, view, grad_view in zip(self.params, grads, self._views(self.param_flat),
                                                self._views(self.grad_flat), strict=True):
            view.copy_(param.detach())
            grad_view.copy_(grad)
            param.data = view
            param.grad = grad_view
        self.grad_views = [p.grad for p in self.params]
        self.pointers = list(map(Tensor.data_ptr, self.params))
        self.adopted = True
        return True

    def _rehome_params(self) -> bool | str:
        """Some parameter storage was replaced: re-layout if it moved device/dtype, else copy it back."""
        b = self.bucket
        if any(p.device != b.device or p.dtype != b.dtype for p in self.params):
            return RELAYOUT
        if not all(_movable(p) for p in self.params):
            self.disabled = "its parameters were moved inside another buffer"
            return False
        self.warn("params", "a parameter's storage was replaced (for example `p.data = ...`); copying it back "
                  "into the flat buffer")
        assert self.param_flat is not None
        for param, view, pointer in zip(self.params, self._views(self.param_flat), self.pointers, strict=True):
            if param.data_ptr() != pointer:
                view.copy_(param.detach())
                param.data = view
        return True

    def _rehome_grads(self, grads: list[Tensor | None]) -> bool:
        """Some gradients are not the flat views: copy them in and view them again, if all exist."""
        if any(g is not None and g.is_sparse for g in grads):
            self._warn_sparse_grads()
            return False
        if any(g is None or g.shape != p.shape for g, p in zip(grads, self.params, strict=True)):
            self._warn_missing_grads()
            return False
        self.warn("grads", "`.grad` tensors were replaced; copying them into the flat gradient buffer (slower). "
                  "Call `optimizer.zero_grad()` rather than setting `.grad` or `model.zero_grad()`")
        for param, grad, view in zip(self.params, grads, self.grad_views, strict=True):
            if grad is not view:
                view.copy_(grad)
                param.grad = view
        return True

    # ------------------------------------------------------------------ state
    def _check_state(
        self, optimizer: FusedOwner, group: dict[str, Any], layout: GroupLayout, spec: StepSpec
    ) -> bool:
        """Make every state tensor a flat view; say whether one kernel call can step them all."""
        keys = (("step",) if spec.counts_steps else ()) + spec.state_keys
        if not keys:  # plain SGD keeps no state at all
            self.done = 0
            return True
        states = [optimizer.state[p] for p in self.params]
        had = [bool(spec.state_keys) and spec.state_keys[0] in s for s in states]
        for param, state in zip(self.params, states, strict=True):
            if not state:
                optimizer.init_state(param, state, group, layout)
        for key in keys:
            for param, state in zip(self.params, states, strict=True):
                view = layout.step_view(param) if key == "step" else layout.view(key, param)
                if key not in state:
                    state[key] = view.zero_()
                elif not share_memory(view, state[key]):
                    state[key] = copy_state(view, state[key], param)
        if spec.counts_steps:
            steps = self.bucket.steps
            assert steps is not None
            if bool(steps.min() != steps.max()) and spec.step_dependent:
                return False
            self.done = int(steps.max())
            return True
        if all(had) or not any(had):  # no step counter (SGD): every buffer is new (first step) or none is
            self.done = 1 if all(had) else 0
            return True
        self.done = 1  # some buffers are new (zero): one call fits only if zero state is the first-step state
        return spec.rule.fresh_state_matches(group)

    # ------------------------------------------------------------------ per step
    def _grads_are_views(self, grads: Iterable[Tensor | None] | None = None) -> bool:
        """Whether every ``.grad`` (or every one of ``grads``) is still its view of the flat gradient buffer."""
        return all(map(operator.is_, map(_grad_of, self.params) if grads is None else grads, self.grad_views))

    def _params_in_place(self) -> bool:
        """Whether every parameter still lives at its place in the flat parameter buffer."""
        return list(map(Tensor.data_ptr, self.params)) == self.pointers

    def unchanged(self) -> bool:
        """Whether nothing changed since a step that :meth:`ready` allowed: the bucket is adopted and its
        state checked, every ``.grad`` is still the flat view and every parameter still lives at its place
        in the flat buffer (two C-level maps over the parameters; no repair, no warning)."""
        return self.done is not None and self.adopted and self._grads_are_views() and self._params_in_place()

    def ready(
        self, optimizer: FusedOwner, group: dict[str, Any], layout: GroupLayout, spec: StepSpec
    ) -> bool | str:
        """Whether this step can be fused; repairs replaced grads/storage; ``RELAYOUT`` if params moved."""
        if self.disabled:
            self.warn("disabled", f"a bucket of {len(self.params)} parameters takes the reference path: "
                      + self.disabled)
            return False
        if spec is not self.spec_seen and spec != self.spec_seen:
            self.done, self.spec_seen = None, spec
        grads = list(map(_grad_of, self.params))
        if not self.adopted:
            if not self._adopt(grads):
                return False
        else:
            if not self._params_in_place():
                result = self._rehome_params()
                if result is not True:
                    return result
                self.pointers = list(map(Tensor.data_ptr, self.params))
            if not self._grads_are_views(grads) and not self._rehome_grads(grads):
                return False
        if self.done is None:
            return self._check_state(optimizer, group, layout, spec)
        return True

    def grads_finite(self) -> bool:
        """Whether every gradient of the bucket is finite (one reduction; exact check if it overflows)."""
        assert self.grad_flat is not None
        if bool(torch.isfinite(self.grad_flat.sum())):
            return True
        return bool(torch.isfinite(self.grad_flat).all())

    def step(self, spec: StepSpec, hyper: tuple[Any, ...], backend: str, cuda_graph: bool) -> None:
        """Apply one step to the whole bucket (``ready`` returned True)."""
        key = (spec, backend, cuda_graph)
        if key != self.stepper_key:
            buffers = {"param": self.param_flat, "grad": self.grad_flat}
            buffers.update({k: self.bucket.buffer(k) for k in spec.state_keys})
            self.stepper, self.stepper_key = make_stepper(spec, buffers, backend, cuda_graph), key
            self.step_counts = self.bucket.steps.numpy() if spec.counts_steps else None
            self.one = None if self.step_counts is None else self.step_counts.dtype.type(1)
        assert self.done is not None
        self.done += 1
        self.stepper(hyper, self.done)
        if self.step_counts is not None:
            self.step_counts += self.one  # the 0-d ``step`` state tensors are views of these counters

    def zero_grads(self) -> list[Tensor]:
        """Zero the flat gradient buffer; return the parameters whose ``.grad`` is not its view (left as is)."""
        if not self.adopted:
            return self.params
        assert self.grad_flat is not None
        if self._grads_are_views():
            self.grad_flat.zero_()
            return []
        owned = list(map(operator.is_, map(_grad_of, self.params), self.grad_views))
        if any(owned):
            self.grad_flat.zero_()
        return [param for param, mine in zip(self.params, owned, strict=True) if not mine]
