"""The fused Triton step of a ``precision`` group (``master`` or ``stochastic`` parameters, fp32 or bf16
state): the rule's native Triton kernel per parameter, its math in float32 in registers, its stores
rounded as the reference path rounds them (:class:`inertia.kernels.triton_precision.PrecisionTritonStepper`).

Each parameter of a bucket is one launch over its own flat tensors: the parameter (``stochastic``) or its
float32 master (``master``, the kernel then writes the parameter rounded to nearest too), the gradient and
the state. Stochastic stores draw the Philox words of :class:`inertia.optim.precision.Rounder`: seed and
slot offsets of that parameter and step, element ``i`` at offset + i; so given the same float32 values
the reference path and this one round alike. State a parameter lacks is made as on the CPU fused step
(:func:`inertia.optim.precision_state.create_state`); new keys of a ``bf16-state`` group are stepped in
float32 and then rounded into the flat buffers with the same stream. The steppers are kept per
parameter between steps (the device step counter of each stays valid while its step count does).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

from inertia.kernels.rule_info import StepSpec
from inertia.kernels.triton_precision import PrecisionTritonStepper
from inertia.optim.precision import MASTER_KEY, Rounder, group_precision, uses_rounding
from inertia.optim.precision_state import advance_counts, create_state, step_number

__all__ = ["step_params_triton"]

#: Per parameter (by identity, held weakly): the key of its stepper's tensors and the stepper.
_steppers = WeakIdKeyDictionary()


def _stepper(param: Tensor, spec: StepSpec, buffers: dict[str, Tensor], out: Tensor | None, sr_param: bool,
             sr_state: bool) -> PrecisionTritonStepper:
    """The stepper of ``param`` over these ``buffers`` (the last one, if it was made for the same tensors)."""
    tensors = [*buffers.values()] + ([out] if out is not None else [])
    key = (spec, sr_param, sr_state, tuple(buffers), tuple((t.data_ptr(), t.dtype, t.numel()) for t in tensors))
    found = _steppers.get(param)
    if found is not None and found[0] == key:
        return found[1]
    stepper = PrecisionTritonStepper(spec, buffers, sr_param=sr_param, sr_state=sr_state, out=out)
    _steppers[param] = (key, stepper)
    return stepper


def _slot_keys(spec: StepSpec, state: dict[str, Any]) -> list[str | None]:
    """The state key in each of the kernel's state arguments (None: a stand-in the kernel leaves alone)."""
    return [next((key for key in keys if key in spec.state_keys and key in state), None)
            for keys in spec.rule.state_slots]


def step_params_triton(optimizer: Any, group: dict[str, Any], params: list[Tensor], spec: StepSpec,
                       hyper: tuple[Any, ...]) -> None:
    """The fused precision step of ``params`` of ``group`` (each fits, see
    :func:`inertia.optim.precision_fused.precision_plan`), one launch each, then their counters advanced."""
    precision, layout = group_precision(group), optimizer.layout_of(group)
    rounder = Rounder(group) if uses_rounding(precision) else None
    indices = {id(param): index for index, param in enumerate(group["params"])}
    keys = optimizer.state_keys
    for param in params:
        index = indices[id(param)]
        step = step_number(optimizer.state.get(param) or {}, spec)
        new = create_state(optimizer, group, layout, param, spec, precision)
        state = optimizer.state[param]
        master = state[MASTER_KEY] if precision.params == "master" else None
        slot_keys = _slot_keys(spec, state)
        buffers = {"param": (param.detach() if master is None else master).view(-1), "grad": param.grad.view(-1)}
        buffers.update({key: state[key].view(-1) for key in slot_keys if key is not None})
        out = param.detach().view(-1) if master is not None else None
        stepper = _stepper(param, spec, buffers, out, precision.params == "stochastic",
                           precision.state == "bf16-state")
        if rounder is not None:
            rounder.start(state, index)
            seed, offset = rounder.stream(index, 0)
            offsets = [offset] + [0 if key is None else rounder.stream(index, 1 + keys.index(key))[1]
                                  for key in slot_keys]
            stepper.set_streams(seed, offsets)
        stepper(hyper, step)
        for key, value in new.items():  # bf16-state (so a rounder): new keys, stepped in float32, now rounded
            target = layout.view(key, param)
            target.copy_(rounder.round(value, index, 1 + keys.index(key)))  # type: ignore[union-attr]
            state[key] = target
        advance_counts(state, spec, rounder, index)
