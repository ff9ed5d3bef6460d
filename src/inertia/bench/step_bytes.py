"""Bytes per parameter of one optimizer step under each ``precision`` mode: moved (analytic) and held (measured).

Moved by one step, per parameter, from the dtypes (:func:`step_bytes`)::

    moved = 2 P + G + 2 S + 2 M        state = S + M

with ``P`` the bytes of a parameter (read and written), ``G`` of its gradient (read; the parameters' dtype),
``S`` the state held per parameter (``n_states`` buffers, each read and written: 4 B in float32, 2 B in
bfloat16, and under ``8bit-state`` 1 B of code plus one float32 absmax per 256 values, ``1 + 4/256`` B) and
``M`` the float32 master copy (4 B under ``master``, else 0). The sizes are those of
:func:`inertia.kernels.low_precision.memory_per_parameter`. fp32 Adam: 2*4 + 4 + 2*8 = 28 B moved, 8 B held;
bf16 parameters with fp32 master weights: 2*2 + 2 + 2*8 + 2*4 = 30 B moved, 12 B held. Under ``8bit-state``
a tensor of fewer than :data:`~inertia.optim.adam_8bit.MIN_8BIT_SIZE` values keeps float32 moments, and a
parameter list counts each tensor so (``numels``). Random bits drawn for stochastic rounding move no bytes.

Held, measured (:func:`measured_state_bytes`): the bytes of every state tensor of the optimizer after a step,
master weights included, over the parameters' count; the 0-dim tensors (step counts, ASGD's ``eta`` and
``mu``, NAdam's ``mu_product``: a few bytes per tensor, not per parameter) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from inertia.kernels.low_precision import (
    PARAM_MODES,
    STATE_MODES,
    Precision,
    memory_per_parameter,
    parse_precision,
)
from inertia.optim.adam_8bit import MIN_8BIT_SIZE
from inertia.optim.precision_8bit import EIGHT_BIT_CLASSES

__all__ = [
    "ALL_MODES", "BF16_SUFFIX", "EIGHT_BIT_CLASSES", "NATIVE", "PRECISION_IMPLS", "TORCH_BF16_IMPLS", "StepBytes",
    "impl_mode", "line_impls", "measured_state_bytes", "mode_dtype", "parse_modes", "step_bytes",
]

NATIVE = str(Precision())
#: The modes ``--precision all`` times (``native+8bit-state`` for Adam and AdamW only).
ALL_MODES = ("native+fp32-state", "master+fp32-state", "stochastic+fp32-state", "stochastic+bf16-state",
             "master+bf16-state", "native+8bit-state")
#: Suffix of torch.optim's rows over bfloat16 parameters (torch's own behaviour: bf16 state, no master copy).
BF16_SUFFIX = "-bf16"
TORCH_BF16_IMPLS = ("torch-loop-bf16", "torch-foreach-bf16", "torch-fused-bf16")
#: The rows of a line of a ``--precision`` run when ``--impl`` is not given.
PRECISION_IMPLS = ("inertia-fused", "inertia-reference", "torch-foreach", "torch-fused", "torch-foreach-bf16",
                   "torch-fused-bf16")


class StepBytes(NamedTuple):
    """Bytes per parameter: ``moved`` by one step (read and written), ``state`` held between steps."""

    moved: float
    state: float


def mode_dtype(precision: str) -> torch.dtype:
    """The parameters' dtype a mode is timed on: bfloat16 under ``master`` and ``stochastic``, else float32."""
    return torch.float32 if parse_precision(precision).params == "native" else torch.bfloat16


def step_bytes(precision: str, param_dtype: torch.dtype, n_states: int,
               numels: Sequence[int] | None = None) -> StepBytes:
    """Bytes per parameter one step moves and the state holds (see the module's formula), for one parameter
    or, with ``numels``, averaged over a list of tensors of those sizes."""
    if n_states < 0:
        raise ValueError(f"Invalid n_states: {n_states} (must be >= 0)")
    mode = parse_precision(precision)
    if not numels:
        return _one(mode, param_dtype, n_states)
    total = sum(numels)
    if total <= 0:
        raise ValueError(f"Invalid numels: total {total} (must be > 0)")
    moved = state = 0.0
    for n in numels:
        small = mode.state == "8bit-state" and n < MIN_8BIT_SIZE
        one = _one(mode._replace(state="fp32-state") if small else mode, param_dtype, n_states)
        moved, state = moved + n * one.moved, state + n * one.state
    return StepBytes(moved / total, state / total)


def _one(mode: Precision, param_dtype: torch.dtype, n_states: int) -> StepBytes:
    sizes = memory_per_parameter(mode, param_dtype, n_states)
    held = sizes["state"] + sizes["master"]
    return StepBytes(2 * sizes["params"] + sizes["grads"] + 2 * held, held)


def measured_state_bytes(optimizer: torch.optim.Optimizer) -> float:
    """Bytes of the optimizer's state tensors (master weights included, 0-dim tensors left out) per parameter."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    count = sum(p.numel() for p in params)
    held = sum(value.nbytes for p in params for value in optimizer.state.get(p, {}).values()
               if isinstance(value, torch.Tensor) and value.dim() > 0)
    return held / count if count else 0.0


def impl_mode(impl: str, precision: str) -> tuple[str, torch.dtype]:
    """The mode and parameters' dtype a row of ``impl`` runs in on a line of mode ``precision``: inertia's rows
    in the mode itself, torch.optim's in its own way (native) over float32 or, ``-bf16`` rows, bfloat16."""
    if impl.startswith("inertia"):
        return precision, mode_dtype(precision)
    return NATIVE, torch.bfloat16 if impl.endswith(BF16_SUFFIX) else torch.float32


def line_impls(class_name: str, impls: list[str], precision: str | None) -> list[str]:
    """The rows of an optimizer of class ``class_name`` on a line of mode ``precision`` (None: the plain run):
    the ``-bf16`` rows only for a mode with bfloat16 parameters, none at all for 8-bit state outside
    :data:`EIGHT_BIT_CLASSES`."""
    if precision is None:
        return impls
    if parse_precision(precision).state == "8bit-state" and class_name not in EIGHT_BIT_CLASSES:
        return []
    bf16 = mode_dtype(precision) == torch.bfloat16
    return [impl for impl in impls if bf16 or not impl.endswith(BF16_SUFFIX)]


def parse_modes(values: Sequence[str]) -> list[str]:
    """The modes named by ``--precision`` values (each one mode, a comma-separated list, or ``all``), in
    canonical spelling without repeats; ValueError naming ``--precision`` and the value off the grammar."""
    modes: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if name == "all":
                modes += ALL_MODES
                continue
            try:
                modes.append(str(parse_precision(name)))
            except ValueError:
                raise ValueError(f"Invalid --precision: {name!r} (must be 'all' or '<param part>[+<state part>]', "
                                 f"param part one of {', '.join(PARAM_MODES)}, state part one of "
                                 f"{', '.join(STATE_MODES)}; several separated by commas)") from None
    return list(dict.fromkeys(modes))
