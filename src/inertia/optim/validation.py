"""The optimizers' own argument checks: torch.optim's keyword options, ``lr`` and ``betas``.

The generic checks live in :mod:`inertia.checks`; here are the optimizers' own: torch.optim's keyword
options, ``lr`` and ``betas``, and the group-entry checks (``(name, value)``) that the optimizer
classes list in their ``group_checks``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import Tensor

from inertia.checks import (
    STYLE_INVALID,
    check_choice,
    check_finite_at_least,
    check_unit_interval,
    is_number,
)

__all__ = [
    "IMPL_CHOICES", "NONFINITE_CHOICES", "TORCH_OPTIONS", "GroupCheck", "betas_value", "check_betas", "check_lr",
    "lr_value", "non_negative", "one_of", "probability", "split_torch_options",
]

#: A check of one param-group entry: called with the entry's name and value, raises naming both.
GroupCheck = Callable[[str, Any], Any]

# torch.optim keyword options that inertia accepts for drop-in use, with torch's defaults.
TORCH_OPTIONS = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}
NONFINITE_CHOICES = ("ignore", "raise", "skip")
IMPL_CHOICES = ("auto", "reference", "fused")


def check_betas(value: Any) -> tuple[float, float]:
    """``betas`` must be a pair of numbers in [0, 1)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Invalid betas: {value!r} (must be a pair (beta1, beta2))")
    for index, beta in enumerate(value):
        if not is_number(beta) or not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid betas: {tuple(value)!r} (betas[{index}] must be in [0, 1))")
    return float(value[0]), float(value[1])


def check_lr(value: Any, *, style: str = STYLE_INVALID, allow_tensor: bool = False) -> Any:
    """The learning rate: a finite number >= 0, as torch.optim has it; with ``allow_tensor`` (the
    optimizers), also a floating-point tensor of one element holding such a number, as torch accepts
    (a compiled or captured schedule may change it in place; it is returned as it is).

    The one rule for ``lr`` of the first-order optimizers and of the lab's runs."""
    if allow_tensor and isinstance(value, Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            raise ValueError(f"Invalid lr: {value!r} (a Tensor lr must be a floating-point tensor of one element)")
        number = value.detach().item()
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"Invalid lr: {value!r} (a Tensor lr must hold a finite number >= 0)")
        return value
    return check_finite_at_least("lr", value, style=style)


def split_torch_options(optimizer_name: str, options: dict[str, Any], group_flags: tuple[str, ...]) -> dict[str, Any]:
    """Accept torch.optim's implementation flags; reject any other unknown keyword.

    ``foreach`` is accepted and has no effect (inertia chooses its own paths); ``fused=True``
    asks for the fused path; ``capturable=True`` replays inertia's fused CUDA step from a CUDA
    graph; ``differentiable=True`` steps on the reference path with autograd recording (classes whose
    torch.optim twin takes it). The result holds every flag that the
    torch.optim class of the same name keeps in its param groups (``group_flags``, with torch's
    defaults), plus those given.
    """
    unknown = sorted(set(options) - set(TORCH_OPTIONS))
    if unknown:
        name = unknown[0]
        raise ValueError(f"Unknown option for inertia.{optimizer_name}: {name}={options[name]!r}")
    result = {key: TORCH_OPTIONS[key] for key in group_flags}
    result.update(options)
    return result


def lr_value(name: str, value: Any) -> Any:
    """The group entry ``lr``: :func:`check_lr`, a one-element tensor allowed."""
    return check_lr(value, allow_tensor=True)


def betas_value(name: str, value: Any) -> tuple[float, float]:
    """The group entry ``betas``: :func:`check_betas`."""
    return check_betas(value)


def non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    return check_finite_at_least(name, value)


def probability(name: str, value: Any) -> float:
    """A number in [0, 1]."""
    return check_unit_interval(name, value, closed_right=True)


def one_of(choices: tuple[str, ...]) -> GroupCheck:
    """A check that the entry is one of ``choices``."""
    return lambda name, value: check_choice(name, value, choices)
