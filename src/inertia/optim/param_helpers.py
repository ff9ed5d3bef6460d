"""Helpers of the optimizers' front end: torch's step wrapper made cheaper, plain group values, real views of complex tensors, torch's
``zero_grad`` for gradients outside the flat buffers, and flat storage found again after unpickling."""

from __future__ import annotations

import functools
from collections.abc import Callable
from itertools import chain
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

from inertia.optim.fused_buckets import register_flat_storage

__all__ = [
    "cheap_profile_hook_step", "describe_nonfinite", "plain_scalars", "real_views", "reclaim_flat_storage",
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


def cheap_profile_hook_step(func: Callable[..., Any]) -> Callable[..., Any]:
    """torch.optim's step wrapper (step pre/post hooks, a profiler range), cheaper when idle.

    The ``record_function`` range alone costs about as much as a whole fused step of a
    small model, so it is entered only while a profiler runs; step hooks run in torch's
    order either way (global then per-optimizer pre hooks, per-optimizer then global post
    hooks), and a pre hook may return new ``(args, kwargs)``.
    """
    profiled = Optimizer.profile_hook_step(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        if torch._C._autograd._profiler_enabled():
            return profiled(*args, **kwargs)
        if not (_global_optimizer_pre_hooks or _global_optimizer_post_hooks
                or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks):
            return func(*args, **kwargs)
        for pre_hook in chain(_global_optimizer_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{func} must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {result}.")
                args, kwargs = result
        out = func(*args, **kwargs)
        self._optimizer_step_code()
        for post_hook in chain(self._optimizer_step_post_hooks.values(), _global_optimizer_post_hooks.values()):
            post_hook(self, args, kwargs)
        return out

    return wrapper


def describe_nonfinite(grad: Tensor) -> str:
    """How many NaN and inf values ``grad`` holds, in words."""
    nan = int(torch.isnan(grad).sum())
    inf = int(torch.isinf(grad).sum())
    return f"{nan} NaN and {inf} inf of {grad.numel()} values"
