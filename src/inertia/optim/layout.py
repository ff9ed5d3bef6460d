"""Flat state layout: every state tensor is a view into one contiguous buffer.

For each param group, parameters are bucketed by ``(device, dtype)``. Within a bucket,
each parameter owns a fixed slice ``[offset, offset + numel)`` (offsets aligned to
:data:`ALIGNMENT` elements), and every per-parameter state tensor (``exp_avg``,
``square_avg``, ...) is a view of that slice in a flat buffer of its own key. The
``step`` counters of a bucket are 0-d views into one float tensor, so the state dict
looks exactly like torch.optim's while a fused kernel can update a whole bucket, and
all its counters, in O(1) Python work.

DTensor parameters (FSDP2, HSDP, tensor parallel) get buckets of their own: a slice holds
only this rank's local shard, and their state tensors are DTensors placed like the
parameter that wrap views of it (:mod:`inertia.optim.sharded`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from inertia.optim.sharded import is_dtensor, local_shape, shaped_like

ALIGNMENT = 16  # elements; 64 bytes in float32


def scalar_dtype() -> torch.dtype:
    """The dtype torch.optim uses for ``step`` counters (float32 unless float64 is default)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _aligned(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


@dataclass
class FlatBucket:
    """The parameters of one group that share a device and dtype, and their flat state.

    A ``sharded`` bucket holds DTensor parameters: slices are sized by their local shards and
    state views are DTensors placed like their parameters.
    """

    device: torch.device
    dtype: torch.dtype
    sharded: bool = False
    params: list[Tensor] = field(default_factory=list)
    shapes: list[torch.Size] = field(default_factory=list)  # of the local shards
    offsets: list[int] = field(default_factory=list)
    total: int = 0
    buffers: dict[str, Tensor] = field(default_factory=dict)
    steps: Tensor | None = None
    #: The dtype of the state buffers when it differs from the parameters' (``precision``'s state part).
    state_dtype: torch.dtype | None = None

    def add(self, param: Tensor) -> int:
        """Reserve a slice for ``param``; return its index in the bucket."""
        shape = local_shape(param) if self.sharded else param.shape
        self.params.append(param)
        self.shapes.append(shape)
        self.offsets.append(self.total)
        self.total += _aligned(shape.numel())
        return len(self.params) - 1

    def buffer(self, key: str) -> Tensor:
        """The flat buffer of state ``key``, allocated (zero-filled) on first use."""
        if key not in self.buffers:
            dtype = self.state_dtype or self.dtype
            self.buffers[key] = torch.zeros(self.total, dtype=dtype, device=self.device)
        return self.buffers[key]

    def view(self, key: str, index: int) -> Tensor:
        """The state tensor ``key`` of parameter ``index``, shaped (and, if a DTensor, placed) like it."""
        local = self.local_view(key, index)
        return shaped_like(local, self.params[index]) if self.sharded else local

    def local_view(self, key: str, index: int) -> Tensor:
        """The part of state ``key`` of parameter ``index`` this rank holds (a plain tensor)."""
        shape, start = self.shapes[index], self.offsets[index]
        return self.buffer(key)[start : start + shape.numel()].view(shape)

    def step_view(self, index: int) -> Tensor:
        """The 0-d ``step`` counter of parameter ``index`` (a view into :attr:`steps`)."""
        if self.steps is None:
            self.steps = torch.zeros(len(self.params), dtype=scalar_dtype())
        return self.steps[index]


class GroupLayout:
    """Flat buckets for the parameters of one param group.

    ``state_dtype_of`` (``precision``'s state part, see :mod:`inertia.optim.precision`) maps a parameter
    dtype to the dtype its state buffers are stored in; None keeps the parameters' own dtype (torch's).
    """

    def __init__(self, params: list[Tensor], state_dtype_of: Callable[[torch.dtype], torch.dtype] | None = None,
                 precision: str = "native") -> None:
        self.param_ids = tuple(id(p) for p in params)
        self.precision = precision
        self.buckets: dict[tuple[torch.device, torch.dtype, bool], FlatBucket] = {}
        self._where: dict[int, tuple[FlatBucket, int]] = {}
        for param in params:
            key = (param.device, param.dtype, is_dtensor(param))
            bucket = self.buckets.get(key)
            if bucket is None:
                stored = state_dtype_of(param.dtype) if state_dtype_of is not None else None
                bucket = self.buckets[key] = FlatBucket(*key, state_dtype=stored)
            self._where[id(param)] = (bucket, bucket.add(param))

    def matches(self, params: list[Tensor], precision: str = "native") -> bool:
        """Whether this layout was built for exactly these parameters (same order, devices, dtypes) and
        ``precision``."""
        if self.param_ids != tuple(id(p) for p in params) or self.precision != precision:
            return False
        return all(self._where[id(p)][0].device == p.device and self._where[id(p)][0].dtype == p.dtype
                   for p in params)

    def view(self, key: str, param: Tensor) -> Tensor:
        """State tensor ``key`` of ``param`` as a view into its bucket's flat buffer."""
        bucket, index = self._where[id(param)]
        return bucket.view(key, index)

    def step_view(self, param: Tensor) -> Tensor:
        """The 0-d ``step`` counter of ``param``."""
        bucket, index = self._where[id(param)]
        return bucket.step_view(index)

    def fresh(self, key: str, param: Tensor) -> Tensor:
        """State ``key`` (or the ``"step"`` counter) of ``param``, zeroed: a new parameter's state."""
        view = self.step_view(param) if key == "step" else self.view(key, param)
        return view.zero_()


class PlainLayout:
    """The layout of a ``differentiable=True`` group: no flat buffers, each state tensor a tensor of its own.

    Autograd records through the state (a copy into a flat buffer would cut the graph), and the state
    the user sets (``optimizer.state[p]["exp_avg"] = ...``) is used as it is, never copied or detached.
    """

    def __init__(self, params: list[Tensor]) -> None:
        self.param_ids = tuple(id(p) for p in params)

    def matches(self, params: list[Tensor], precision: str = "native") -> bool:
        """Whether this layout was built for exactly these parameters (same order); ``precision`` is
        always native here (differentiable groups refuse the others)."""
        return self.param_ids == tuple(id(p) for p in params)

    def view(self, key: str, param: Tensor) -> Tensor:
        """A new zero state tensor ``key`` shaped like ``param`` (not a view of anything)."""
        return torch.zeros_like(param, memory_format=torch.preserve_format).detach()

    def step_view(self, param: Tensor) -> Tensor:
        """A new 0-d ``step`` counter, in torch.optim's dtype for it."""
        return torch.zeros((), dtype=scalar_dtype())

    def fresh(self, key: str, param: Tensor) -> Tensor:
        """State ``key`` (or the ``"step"`` counter) of ``param``, zeroed: a new parameter's state."""
        return self.step_view(param) if key == "step" else self.view(key, param)
