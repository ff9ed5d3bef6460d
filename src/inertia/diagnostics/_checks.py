"""Argument checks shared by the diagnostics; each error names the argument and the value."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from inertia.checks import is_number

#: Seeds are fed to ``torch.manual_seed`` and numpy's ``SeedSequence``: non-negative and below 2**63.
SEED_LIMIT = 2**63


def check_callable(name: str, value: Any, what: str) -> None:
    """``value`` must be callable; TypeError naming ``name`` and saying ``what`` it should be."""
    if not callable(value):
        raise TypeError(f"{name}: must be {what}, got {value!r} of type {type(value).__name__}")


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


def check_integer(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer (not a bool) in ``[low, high]``."""
    if not is_number(value, integer=True) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}: must be an integer {bound}, got {value!r}")
    return int(value)


def check_seed(name: str, value: Any) -> int:
    """A seed: an integer (not a bool) in [0, 2**63)."""
    if not is_number(value, integer=True) or not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name}: must be an integer in [0, 2**63), got {value!r}")
    return int(value)


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


def check_real(name: str, value: Any, *, above: float | None = None, at_least: float | None = None,
               below: float | None = None, finite: bool = True) -> float:
    """A real number (not a bool or a string) within the given bounds."""
    ok = is_number(value) and not (isinstance(value, float) and math.isnan(value))
    ok = ok and (not finite or math.isfinite(value))
    ok = ok and (above is None or value > above) and (at_least is None or value >= at_least)
    ok = ok and (below is None or value < below)
    if not ok:
        bounds = [f"> {above:g}" if above is not None else "", f">= {at_least:g}" if at_least is not None else "",
                  f"< {below:g}" if below is not None else ""]
        kind = "a finite number" if finite else "a number"
        raise ValueError(f"{name}: must be {kind} {' and '.join(b for b in bounds if b)}, got {value!r}".rstrip())
    return float(value)


def check_flag(name: str, value: Any) -> bool:
    """True or False (a numpy bool too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: must be True or False, got {value!r}")
    return bool(value)


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
