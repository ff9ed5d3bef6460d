"""The ``nonfinite`` policy of :class:`inertia.optim.base.FlatOptimizer`: which gradients are checked before
a step, and what a sparse or non-finite one does (raise, or skip the whole step)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from inertia.optim.fused_dispatch import GroupPlan
from inertia.optim.sharded import all_finite

__all__ = ["NonFiniteGradientError", "check_grads", "describe_nonfinite", "index_of", "passes_nonfinite_policy"]


class NonFiniteGradientError(FloatingPointError):
    """A gradient held NaN or inf and the optimizer was built with ``nonfinite="raise"``."""


def index_of(group: dict[str, Any], param: Tensor) -> int:
    """The index of ``param`` in ``group["params"]`` (by identity)."""
    return next(index for index, candidate in enumerate(group["params"]) if candidate is param)


def passes_nonfinite_policy(optimizer: Any, plans: list[GroupPlan | None]) -> bool:
    """Whether the step goes ahead: each gradient the plans do not check on the fly is checked here (see
    :func:`check_grads`)."""
    for group_index, (group, plan) in enumerate(zip(optimizer.param_groups, plans, strict=True)):
        if plan is None:
            if not check_grads(optimizer, group_index, group, group["params"]):
                return False
            continue
        if plan.all_fused and group["nonfinite"] == "ignore":
            continue
        for bucket, backend in plan.items:
            if backend is not None and (group["nonfinite"] == "ignore" or bucket.grads_finite()):
                continue
            if not check_grads(optimizer, group_index, group, bucket.params):
                return False
    return True

def check_grads(optimizer: Any, group_index: int, group: dict[str, Any], params: list[Tensor]) -> bool:
    """Sparse gradients raise unless the class sets ``supports_sparse_grads``; non-finite ones (the
    stored values of a sparse one) raise or skip the step as ``nonfinite`` says."""
    for param in params:
        grad = param.grad
        if grad is None:
            continue
        if grad.is_sparse and not getattr(optimizer, "supports_sparse_grads", False):
            raise RuntimeError(
                f"inertia.{type(optimizer).__name__} does not support sparse gradients "
                f"(param group {group_index}, index {index_of(group, param)}); use a dense gradient"
            )
        if group["nonfinite"] == "ignore" or all_finite(grad._values() if grad.is_sparse else grad):
            continue
        if group["nonfinite"] == "raise":
            raise NonFiniteGradientError(
                f"non-finite gradient in param group {group_index}, index {index_of(group, param)} "
                f"(shape {tuple(param.shape)}): {describe_nonfinite(grad)}; "
                "parameters and optimizer state were left untouched"
            )
        optimizer.skipped_steps += 1
        return False
    return True


def describe_nonfinite(grad: Tensor) -> str:
    """How many NaN and inf values ``grad`` holds, in words."""
    nan = int(torch.isnan(grad).sum())
    inf = int(torch.isinf(grad).sum())
    return f"{nan} NaN and {inf} inf of {grad.numel()} values"
