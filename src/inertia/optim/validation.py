"""Argument checks shared by the optimizers. Each error names the argument and the value."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
from torch import Tensor

# torch.optim keyword options that inertia accepts for drop-in use, with torch's defaults.
TORCH_OPTIONS = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}
#: The implementation flags that each torch.optim class keeps in its param groups.
TORCH_GROUP_FLAGS = {
    "SGD": ("foreach", "differentiable", "fused"),
    "AdaGrad": ("foreach", "differentiable", "fused"),
    "RMSprop": ("capturable", "foreach", "differentiable"),
    "Adam": ("foreach", "capturable", "differentiable", "fused"),
    "AdamW": ("foreach", "capturable", "differentiable", "fused"),
}
NONFINITE_CHOICES = ("ignore", "raise", "skip")
IMPL_CHOICES = ("auto", "reference", "fused")


def is_number(value: Any, *, integer: bool = False) -> bool:
    """A real number, an integral one when ``integer`` (Python or numpy scalar), not a bool."""
    return isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)


def _hint(value: Any) -> str:
    return "; a Tensor is not supported, pass a float" if isinstance(value, Tensor) else ""


def check_finite_at_least(name: str, value: Any, low: float = 0.0) -> float:
    """``value`` must be a finite number ``>= low``."""
    if not is_number(value) or not math.isfinite(value) or value < low:
        raise ValueError(f"Invalid {name}: {value!r} (must be a finite number >= {low:g}{_hint(value)})")
    return float(value)


def check_unit_interval(name: str, value: Any, *, closed_right: bool) -> float:
    """``value`` must lie in [0, 1) or, with ``closed_right``, in [0, 1]."""
    ok = is_number(value) and 0.0 <= value and (value <= 1.0 if closed_right else value < 1.0)
    if not ok:
        interval = "[0, 1]" if closed_right else "[0, 1)"
        raise ValueError(f"Invalid {name}: {value!r} (must be in {interval})")
    return float(value)


def check_betas(value: Any) -> tuple[float, float]:
    """``betas`` must be a pair of numbers in [0, 1)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Invalid betas: {value!r} (must be a pair (beta1, beta2))")
    for index, beta in enumerate(value):
        if not is_number(beta) or not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid betas: {tuple(value)!r} (betas[{index}] must be in [0, 1))")
    return float(value[0]), float(value[1])


def check_flag(name: str, value: Any) -> bool:
    """``value`` must be a boolean (``True``/``False``, a numpy bool, or the int 0 or 1)."""
    if not isinstance(value, (bool, np.bool_)) and not (type(value) is int and value in (0, 1)):
        raise ValueError(f"Invalid {name}: {value!r} (must be True or False)")
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"Invalid {name}: {value!r} (must be one of {', '.join(map(repr, choices))})")
    return value


def check_lr(value: Any) -> float:
    """The learning rate: a finite number >= 0 (tensors are not supported)."""
    return check_finite_at_least("lr", value)


def split_torch_options(optimizer_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Accept torch.optim's implementation flags; reject any other unknown keyword.

    ``foreach`` is accepted and has no effect (inertia chooses its own paths); ``fused=True``
    asks for the fused path; ``capturable=True`` replays inertia's fused CUDA step from a CUDA
    graph; ``differentiable=True`` is not supported. The result holds every flag that the
    torch.optim class of the same name keeps in its param groups (with torch's defaults), plus
    those given.
    """
    unknown = sorted(set(options) - set(TORCH_OPTIONS))
    if unknown:
        name = unknown[0]
        raise ValueError(f"Unknown option for inertia.{optimizer_name}: {name}={options[name]!r}")
    keys = TORCH_GROUP_FLAGS.get(optimizer_name, tuple(TORCH_OPTIONS))
    result = {key: TORCH_OPTIONS[key] for key in keys}
    result.update(options)
    return result
