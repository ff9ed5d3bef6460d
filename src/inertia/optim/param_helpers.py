"""Helpers of the optimizers' front end: plain group values, real views of complex tensors, torch's
``zero_grad`` for gradients outside the flat buffers, and flat storage found again after unpickling."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from inertia.optim.fused_buckets import register_flat_storage

__all__ = [
    "plain_scalars", "real_views", "reclaim_flat_storage",
    "reset_grads",
]


def plain_scalars(group: dict[str, Any]) -> dict[str, Any]:
    """Replace numpy scalars among ``group``'s values (and in ``betas``) by Python numbers, in place.

    Every path then computes its scalars in float64: numpy float32 arithmetic would round them
    to float32 on the reference path only.
    """
    for key, value in group.items():
        if isinstance(value, np.generic):
            group[key] = value.item()
        elif isinstance(value, tuple) and any(isinstance(v, np.generic) for v in value):
            group[key] = tuple(v.item() if isinstance(v, np.generic) else v for v in value)
    return group


def real_views(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """Complex tensors as their real views (``torch.view_as_real``), others unchanged.

    torch.optim steps a complex parameter as the real tensor of its real and imaginary parts,
    so the element-wise moments of Adam, AdaGrad and RMSprop treat the two parts independently.
    """
    return tuple(t if t is None or not t.is_complex() else torch.view_as_real(t) for t in tensors)


def reset_grads(params: list[Tensor], set_to_none: bool) -> None:
    """torch.optim's ``zero_grad`` for parameters whose gradients are not in a flat buffer."""
    for param in params:
        if param.grad is None:
            continue
        if set_to_none:
            param.grad = None
            continue
        if param.grad.grad_fn is not None:
            param.grad.detach_()
        else:
            param.grad.requires_grad_(False)
        param.grad.zero_()


def reclaim_flat_storage(param_groups: list[dict[str, Any]]) -> None:
    """After unpickling, parameters that shared one flat buffer share one storage again: mark it as ours."""
    for group in param_groups:
        for param in group["params"]:
            if param.untyped_storage().nbytes() > param.numel() * param.element_size():
                register_flat_storage(param)
