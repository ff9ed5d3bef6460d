"""Wrappers of the optimizers' ``step``: out of dynamo's way, and torch's hook wrapper made cheap when idle."""

from __future__ import annotations

import functools
from collections.abc import Callable
from itertools import chain
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

__all__ = ["cheap_profile_hook_step", "outside_dynamo"]

# Run step/zero_grad eagerly inside torch.compile'd code; torch's lazy variant keeps `import inertia`
# from importing torch._dynamo (a second or more) until a step is taken.
_no_dynamo = getattr(torch, "_disable_dynamo", None) or torch.compiler.disable


def _always_watched() -> Any:
    return True  # torch without ``get_eval_frame_callback``: always take the guarded path


#: Dynamo's frame callback (None unless code compiled by ``torch.compile`` is running).
_eval_frame_callback: Callable[[], Any] = getattr(
    getattr(getattr(torch._C, "_dynamo", None), "eval_frame", None), "get_eval_frame_callback", _always_watched)


def outside_dynamo(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` kept out of dynamo while it traces or watches frames, called directly otherwise
    (the guard costs about a microsecond per call, and importing dynamo over a second, for nothing)."""
    guarded = _no_dynamo(method)

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if torch.compiler.is_compiling() or _eval_frame_callback() is not None:
            return guarded(*args, **kwargs)
        return method(*args, **kwargs)

    return call



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
