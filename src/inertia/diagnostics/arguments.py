"""The diagnostics' own argument checks (modules, optimizers, losses, callables' signatures, seed lists).

The generic checks come from :mod:`inertia.checks`; the diagnostics word every error
``"<name>: must be ..., got <value>"`` (:data:`inertia.checks.STYLE_FIELD`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from inertia.checks import SEED_LIMIT, is_number

__all__ = ["CALLABLE_STYLE", "check_arity", "check_module", "check_optimizer", "check_scalar_loss", "check_seeds"]

#: The wording of a refused callable: it names the value and its type.
CALLABLE_STYLE = "{name}: {rule}, got {value!r} of type {type}"


def check_arity(name: str, value: Callable[..., Any], *arguments: str) -> None:
    """``value`` must accept the positional ``arguments`` (when its signature can be read)."""
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # builtins and some C callables have none to read
        return
    try:
        signature.bind(*range(len(arguments)))
    except TypeError:
        raise TypeError(f"{name}: must accept ({', '.join(arguments)}), but its signature is {signature}") from None


def check_seeds(name: str, value: Any) -> list[int]:
    """A non-empty ordered collection of distinct seeds (a list, tuple or range)."""
    if isinstance(value, (str, bytes, Mapping, set, frozenset)) or not isinstance(value, Iterable):
        raise TypeError(f"{name}: must be a list of distinct integer seeds, got {value!r} of type "
                        f"{type(value).__name__}")
    seeds = list(value)
    for index, seed in enumerate(seeds):
        if not is_number(seed, integer=True) or not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"{name}: entry {index} must be an integer in [0, 2**63), got {seed!r} "
                             f"(in {seeds!r})")
    ints = [int(seed) for seed in seeds]
    if not ints or len(set(ints)) != len(ints):
        raise ValueError(f"{name}: must be a non-empty list of distinct integers, got {seeds!r}")
    return ints


def check_module(name: str, value: Any) -> None:
    """A ``torch.nn.Module``."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name}: must be a torch.nn.Module, got {value!r} of type {type(value).__name__}")


def check_optimizer(name: str, value: Any) -> None:
    """A ``torch.optim.Optimizer`` (inertia's optimizers are ones)."""
    if not isinstance(value, torch.optim.Optimizer):
        raise TypeError(f"{name}: must be a torch.optim.Optimizer, got {value!r} of type {type(value).__name__}")


def check_scalar_loss(name: str, loss: Any) -> Tensor:
    """What ``name`` returned must be a one-element tensor that requires grad."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"{name}: must return a scalar tensor, got {loss!r} of type {type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(f"{name}: must return a scalar tensor, got Tensor with shape {tuple(loss.shape)}")
    if not loss.requires_grad:
        raise ValueError(f"{name}: the returned loss does not depend on any parameter that requires grad")
    return loss
