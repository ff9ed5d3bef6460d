"""Which path each bucket of a param group takes on a step, and the fused step itself.

``impl="auto"`` (the default) fuses a bucket when a kernel covers it: on CUDA always
(Triton), on CPU when the bucket holds at least :data:`AUTO_CPU_MIN_ELEMENTS` elements
(smaller problems keep the reference path, whose trajectories equal torch.optim's bit for
bit, at a cost of well under a millisecond per step). ``impl="fused"`` fuses whatever a
kernel covers and warns once about the rest; ``impl="reference"`` never fuses. torch's
``fused=True``/``fused=False`` flags map to ``impl="fused"``/``"reference"`` under auto, and
``capturable=True`` replays the CUDA step from a CUDA graph.

A step's host work is kept small: once every bucket of a group ran fused, the group's plan
is reused (:meth:`FusedGroup.cached_plan`) while the parameter objects, the group values and
the flat views are unchanged; anything else (new hyperparameters, a replaced ``.grad``, moved,
added or swapped parameters) takes the full path, which repairs, warns and decides again.
"""

from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass, field
from typing import Any

from inertia.kernels.cpu import CPU_DTYPES, cpu_backends
from inertia.kernels.rule_info import FusedFallbackWarning, RuleInfo, StepSpec
from inertia.kernels.triton_steps import TRITON_DTYPES, triton_available
from inertia.optim.fused_buckets import RELAYOUT, FusedBucket, FusedOwner
from inertia.optim.fused_shards import ShardedBucket
from inertia.optim.layout import GroupLayout

AUTO_CPU_MIN_ELEMENTS = 1 << 20
__all__ = ["AUTO_CPU_MIN_ELEMENTS", "FusedGroup", "GroupPlan", "plan_group", "warn_once"]


@dataclass
class GroupPlan:
    """The buckets of one param group for one step, each with whether it runs fused."""

    spec: StepSpec
    hyper: tuple[Any, ...]
    items: list[tuple[FusedBucket, str | None]] = field(default_factory=list)  # (bucket, backend or None)
    cuda_graph: bool = False  # the group's ``capturable``: Triton buckets replay a CUDA graph
    all_fused: bool = False  # every bucket runs fused (set once the items are complete)


class FusedGroup:
    """The fused buckets of one param group (rebuilt when its layout is), and the last decisions."""

    def __init__(self, optimizer: FusedOwner, group: dict[str, Any]) -> None:
        self.params_list = group["params"]
        self.params = list(group["params"])
        self.layout: GroupLayout = optimizer.layout_of(group)
        self.buckets = [(ShardedBucket if b.sharded else FusedBucket)(b, optimizer.warn_fused)
                        for b in self.layout.buckets.values()]
        self.key: tuple[Any, ...] | None = None  # the group values the decisions below were made for
        self.spec: StepSpec | None = None
        self.hyper: tuple[Any, ...] = ()
        self.choices: list[tuple[str | None, str]] = []
        # The plan of the last step if every bucket ran fused; reused while nothing changes (see plan_group).
        self.plan: GroupPlan | None = None

    def current(self, group: dict[str, Any]) -> bool:
        """Whether the group still holds exactly the parameters these buckets were built for."""
        params = group["params"]
        return (params is self.params_list and len(params) == len(self.params)
                and all(map(operator.is_, params, self.params)))

    def cached_plan(self, group: dict[str, Any], key_names: tuple[str, ...]) -> GroupPlan | None:
        """The last step's all-fused plan if nothing it depends on changed, else None (take the full path).

        Checked, in C-level maps: the same parameter objects, the same group values (hyperparameters
        and options, by identity first), every gradient still a flat view and every parameter still in
        the flat buffer. Whatever :func:`plan_group` would repair or warn about fails one of these.
        """
        plan = self.plan
        if plan is None or not self.current(group) or tuple(map(group.get, key_names)) != self.key:
            return None
        for bucket in self.buckets:
            if not bucket.unchanged():
                return None
        return plan

    def forget_steps(self) -> None:
        """The reference path stepped these parameters: recheck the state before fusing again."""
        for bucket in self.buckets:
            bucket.done = None

    def decide(self, group: dict[str, Any], rule: RuleInfo, key: tuple[Any, ...]) -> bool:
        """Recompute spec, hyperparameters and per-bucket backends for new group values; False: no kernel."""
        impl = resolve_impl(group)
        found = rule.spec(group) if impl != "reference" else None
        self.key, self.spec, self.plan = key, None, None
        if found is None:
            return False
        self.spec, self.hyper = found
        self.choices = [_backend(bucket, self.spec, impl) for bucket in self.buckets]
        return True


def _backend(bucket: FusedBucket, spec: StepSpec, impl: str) -> tuple[str | None, str]:
    """The backend for ``bucket`` under ``impl`` ("auto"/"fused"), or None and why (empty: silently)."""
    device, dtype = bucket.bucket.device, bucket.bucket.dtype
    if bucket.bucket.sharded and device.type != "cpu":
        return None, f"no fused kernel over DTensor shards on {device.type} (CPU only)"
    if device.type == "cuda":
        if not triton_available():
            return None, "Triton is not installed (torch's CUDA builds bring it; or pip install triton)"
        if dtype not in TRITON_DTYPES:
            return None, f"no Triton kernel for dtype {dtype}"
        return "triton", ""
    if device.type != "cpu":
        return None, f"no fused kernel for device type {device.type!r}"
    if impl == "auto" and _auto_size(bucket) < AUTO_CPU_MIN_ELEMENTS:
        return None, ""
    names = cpu_backends(spec, dtype)
    if not names:
        if dtype not in CPU_DTYPES:
            return None, f"no CPU kernel for dtype {dtype}"
        return None, ("numba is not installed or fails to import (inertia installs it where numba has "
                      "wheels; pip install numba)")
    return names[0], ""


def _auto_size(bucket: FusedBucket) -> int:
    """The size ``impl="auto"`` compares with :data:`AUTO_CPU_MIN_ELEMENTS`: the flat buffer's length, or
    for DTensor parameters their global size (the same on every rank, so that all ranks decide alike)."""
    if bucket.bucket.sharded:
        return sum(param.numel() for param in bucket.params)
    return bucket.bucket.total


def resolve_impl(group: dict[str, Any]) -> str:
    """``impl`` of a group, with torch's ``fused`` flag deciding under "auto"."""
    impl = group.get("impl", "auto")
    if impl == "auto" and group.get("fused") is not None:
        return "fused" if group["fused"] else "reference"
    return impl


def plan_group(optimizer: FusedOwner, group: dict[str, Any], rule: RuleInfo) -> GroupPlan | None:
    """The plan of ``group`` for this step, or None when every parameter takes the reference path."""
    fused = optimizer.fused_groups
    key_names = rule.key_names
    fused_group = fused.get(id(group))
    if fused_group is not None:
        plan = fused_group.cached_plan(group, key_names)
        if plan is not None:
            return plan
    key = tuple(map(group.get, key_names))
    for _attempt in range(2):
        fused_group = fused.get(id(group))
        if fused_group is None or not fused_group.current(group):
            if fused_group is not None:
                optimizer.warn_fused("relayout", "the parameters of a param group changed; rebuilding its "
                                      "flat buffers")
            fused_group = fused[id(group)] = FusedGroup(optimizer, group)
        if key != fused_group.key:
            fused_group.decide(group, rule, key)
        if fused_group.spec is None:
            fused_group.forget_steps()
            return None
        plan = _plan_buckets(optimizer, group, fused_group)
        if plan is not RELAYOUT:
            return plan
        optimizer.warn_fused("moved", "parameters moved to another device or dtype; rebuilding the flat "
                              "buffers there")
        del fused[id(group)]
        optimizer.layouts.pop(id(group), None)
    return None


def _plan_buckets(
    optimizer: FusedOwner, group: dict[str, Any], fused_group: FusedGroup
) -> GroupPlan | str | None:
    spec, impl = fused_group.spec, resolve_impl(group)
    assert spec is not None
    plan = GroupPlan(spec, fused_group.hyper, cuda_graph=bool(group.get("capturable")))
    for bucket, (backend, why) in zip(fused_group.buckets, fused_group.choices, strict=True):
        if backend is None:
            if why and impl == "fused":
                optimizer.warn_fused(why, f"impl='fused': {why}; using the reference path")
            bucket.done = None
            plan.items.append((bucket, None))
            continue
        ready = bucket.ready(optimizer, group, fused_group.layout, spec)
        if ready == RELAYOUT:
            return RELAYOUT
        if not ready:
            bucket.done = None
        plan.items.append((bucket, backend if ready else None))
    plan.all_fused = all(backend for _, backend in plan.items)
    fused_group.plan = plan if plan.all_fused else None
    return plan if any(backend for _, backend in plan.items) else None


def warn_once(seen: set[str], reason: str, message: str, owner: str) -> None:
    """Emit one :class:`FusedFallbackWarning` per ``reason`` per optimizer."""
    if reason in seen:
        return
    seen.add(reason)
    warnings.warn(f"{owner}: {message}", FusedFallbackWarning, stacklevel=5)
