"""The optimizers' ``precision`` option: fp32 master weights, stochastic rounding, bf16 state.

A group whose ``precision`` is not ``"native"`` is stepped by :func:`step_with_precision`: each parameter
with a gradient gets a float32 working tensor (its master copy under ``master``, an upcast copy under
``stochastic``, the parameter itself under ``native``), the gradient is upcast to it, and bfloat16 state is
upcast to float32. The rule's own reference step (the class's ``update_params``, unchanged) then runs on a
shadow group of these working tensors, exactly as it runs on float32 parameters, and the results are
written back: the parameter as the master rounded to nearest (``master``) or the working copy rounded
stochastically (``stochastic``), bfloat16 state rounded stochastically. Float32 state is updated in place.
This is the reference path; on the CPU, :mod:`inertia.optim.precision_fused` takes the same step in chunks
with the rule's numba kernel, rounding every element with the same random bits.

State keeps torch.optim's keys (in the state dtype), plus ``"master_param"`` (the float32 master weights)
under ``master``. A group using stochastic rounding holds ``rounding_seed`` and each of its parameters'
state a ``rounding_step`` count: they key and count the Philox stream (see
:mod:`inertia.kernels.low_precision`), so a run resumed from a ``state_dict`` rounds every element as the
uninterrupted run does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import chain
from typing import Any

import torch
from torch import Tensor

from inertia.kernels.cpu import numba_available
from inertia.kernels.low_precision import (
    Precision,
    check_param_dtype,
    parse_precision,
    state_dtype,
    stochastic_round,
)
from inertia.kernels.rounding_store import bf16_bits_array, store_stochastic_bf16
from inertia.optim.fused_dispatch import resolve_impl
from inertia.optim.precision_8bit import (
    check_8bit_group,
    export_8bit_state,
    import_8bit_state,
    quantized,
    step_8bit,
)

__all__ = [
    "MASTER_KEY", "add_rounding_entries", "canonical_precision", "check_group_precision", "export_precision_state",
    "group_precision", "is_native", "keeps_flat_state", "precision_entry", "restore_exact_state", "state_dtype_for", "step_with_precision", "uses_rounding",
    "warn_reference_path",
]

#: The state key of the float32 master weights (``precision="master..."``); torch.optim ignores it.
MASTER_KEY = "master_param"
#: The state key of a parameter's count of stochastically rounded steps (a Python int; torch.optim keeps it).
ROUNDING_KEY = "rounding_step"
NATIVE = Precision()
NATIVE_NAMES = ("native", str(NATIVE))
#: Golden-ratio increment that gives each step its own Philox key.
STEP_KEY_INCREMENT = 0x9E3779B97F4A7C15
#: Element indices of one rounded tensor stay below 2**36; above them, the parameter and slot.
STREAM_SHIFT = 36
SLOTS = 64


def group_precision(group: Mapping[str, Any]) -> Precision:
    """The parsed ``precision`` of ``group`` (``native`` when it holds none)."""
    return parse_precision(group.get("precision", "native"))


def canonical_precision(value: Any) -> str:
    """``value`` as the group entry holds it: ``"native"`` for torch's behaviour (any spelling), else the
    full ``"<param part>+<state part>"``; TypeError/ValueError off the grammar."""
    name = str(parse_precision(value))
    return "native" if name in NATIVE_NAMES else name


def precision_entry(options: dict[str, Any]) -> dict[str, str]:
    """Pop ``precision`` from a constructor's ``options``: the defaults entry it makes (none for native)."""
    name = canonical_precision(options.pop("precision", "native"))
    return {} if name == "native" else {"precision": name}


def uses_rounding(precision: Precision) -> bool:
    """Whether ``precision`` rounds anything stochastically (and so needs a seed)."""
    return precision.params == "stochastic" or precision.state == "bf16-state"


def _check_dtype(precision: Precision, param: Tensor) -> None:
    check_param_dtype(precision, param.dtype)
    if precision.params == "native" and param.dtype != torch.float32:
        raise ValueError(f"Invalid precision: {str(precision)!r} for parameters of dtype {param.dtype} "
                         "('native' with a low-precision state takes float32 parameters; with bfloat16 ones "
                         "use 'stochastic+...' or 'master+...')")


def is_native(group: Mapping[str, Any]) -> bool:
    """Whether ``group`` is stepped in torch's way (``precision`` absent or native): the fast check of every step."""
    return group.get("precision", "native") in NATIVE_NAMES


def check_group_precision(group: dict[str, Any], optimizer_name: str) -> None:
    """Refuse (ValueError naming ``precision``, the value and the parameter dtype) a ``precision`` that
    ``group`` (with its ``params``) cannot be stepped under."""
    precision = group_precision(group)
    if precision == NATIVE:
        return
    if precision.state == "8bit-state":
        check_8bit_group(group, precision, optimizer_name)
    if group.get("differentiable"):
        raise ValueError(f"Invalid precision: {str(precision)!r} with differentiable=True (a differentiable step "
                         "runs in the parameters' own dtype; use precision='native')")
    for param in group["params"]:
        if param.is_complex():
            raise ValueError(f"Invalid precision: {str(precision)!r} for parameters of dtype {param.dtype} "
                             "(complex parameters take precision='native')")
        _check_dtype(precision, param)


def add_rounding_entries(group: dict[str, Any]) -> None:
    """Give a group that rounds stochastically its ``rounding_seed`` (drawn from torch's default generator)
    unless it has one (a loaded checkpoint's)."""
    if uses_rounding(group_precision(group)):
        group.setdefault("rounding_seed", int(torch.randint(0, 2**62, ()).item()))


def keeps_flat_state(group: Mapping[str, Any]) -> bool:
    """Whether ``group``'s state lives in the flat buffers: not under ``8bit-state`` (the quantised moments are
    tensors of their own, and so are the float32 moments of small tensors: a flat buffer spans the bucket)."""
    return is_native(group) or group_precision(group).state != "8bit-state"


def state_dtype_for(name: str) -> Callable[[torch.dtype], torch.dtype] | None:
    """The function from a parameter dtype to its state dtype under the ``precision`` called ``name`` (for
    the flat layout), or None for native (the parameters' own dtype)."""
    if name in NATIVE_NAMES:
        return None
    precision = parse_precision(name)
    if precision.state == "8bit-state":  # the flat buffers hold only small tensors' float32 moments
        precision = precision._replace(state="fp32-state")
    return lambda dtype: state_dtype(precision, dtype)


class Rounder:
    """Stochastic rounding of one step's tensors: Philox keyed by the group's seed and each parameter's own
    count of rounded steps (``state["rounding_step"]``), counted by (parameter index in the group, slot,
    element index); so a parameter rounds alike whether stepped with its group or alone (in backward)."""

    def __init__(self, group: dict[str, Any]) -> None:
        self.base = int(group["rounding_seed"])
        self.counts: dict[int, int] = {}

    def start(self, state: Mapping[str, Any], index: int) -> None:
        """Read the count of the parameter at ``index`` from its ``state`` before its step."""
        self.counts[index] = int(state.get(ROUNDING_KEY, 0))

    def advance(self, state: dict[str, Any], index: int) -> None:
        """Record in ``state`` that the parameter at ``index`` took one more rounded step."""
        state[ROUNDING_KEY] = self.counts.get(index, 0) + 1

    def stream(self, param_index: int, slot: int) -> tuple[int, int]:
        """The Philox seed of this step and the element index that ``slot`` of the parameter at
        ``param_index`` starts at (its element ``i`` draws at ``offset + i``)."""
        seed = (self.base + self.counts.get(param_index, 0) * STEP_KEY_INCREMENT) % 2**64
        return seed, (param_index * SLOTS + slot) << STREAM_SHIFT

    def round(self, values: Tensor, param_index: int, slot: int) -> Tensor:
        """``values`` (float32) rounded stochastically to bfloat16 on their own stream: on the CPU by the numba
        store kernel where numba is installed (the same bits, without torch's int64 temporaries: about 60 bytes
        per value), else by :func:`~inertia.kernels.low_precision.stochastic_round`."""
        seed, offset = self.stream(param_index, slot)
        values = values.contiguous()
        if values.dtype == torch.float32 and values.device.type == "cpu" and numba_available():
            rounded = torch.empty(values.shape, dtype=torch.bfloat16)
            store_stochastic_bf16(values.view(-1).numpy(), bf16_bits_array(rounded), seed, offset)
            return rounded
        return stochastic_round(values, torch.bfloat16, seed=seed, offset=offset)


def _working_tensor(state: dict[str, Any], param: Tensor, precision: Precision) -> Tensor:
    if precision.params == "master":
        master = state.get(MASTER_KEY)
        return master if master is not None else param.detach().to(torch.float32, copy=True)
    if precision.params == "stochastic":
        return param.detach().to(torch.float32, copy=True)
    return param.detach()


def _shadow_state(state: dict[str, Any], compute: torch.dtype) -> dict[str, Any]:
    shadow = {}
    for key, value in state.items():
        if key in (MASTER_KEY, ROUNDING_KEY):
            continue
        if isinstance(value, Tensor) and key != "step" and value.is_floating_point() and value.dtype != compute:
            value = value.to(compute)
        shadow[key] = value
    return shadow


def _store(target: Tensor, value: Tensor, rounder: Rounder | None, index: int, slot: int) -> None:
    if target.dtype == torch.bfloat16 and value.dtype == torch.float32 and rounder is not None:
        value = rounder.round(value, index, slot)
    target.copy_(value)


def _write_back(optimizer: Any, state: dict[str, Any], shadow: dict[str, Any], param: Tensor,
                where: tuple[Any, bool], rounder: Rounder | None, index: int) -> None:
    layout, flat = where  # the group's layout, and whether its state lives in the flat buffers
    keys = optimizer.state_keys
    for key, value in shadow.items():
        if state.get(key) is value:
            continue
        if not isinstance(value, Tensor):
            state[key] = value
            continue
        if key == "step":
            target = state.get("step")
            target = target if isinstance(target, Tensor) else layout.step_view(param)
            state[key] = target.copy_(value)
        elif key in keys and value.shape == param.shape:
            target = state.get(key)
            if not isinstance(target, Tensor):
                target = layout.view(key, param) if flat else torch.empty_like(value)
            _store(target, value, rounder, index, 1 + keys.index(key))
            state[key] = target
        else:
            state[key] = value.detach().clone()


def _write_param(param: Tensor, work: Tensor, precision: Precision, rounder: Rounder | None, index: int) -> None:
    if precision.params == "stochastic" and rounder is not None:
        param.detach().copy_(rounder.round(work, index, 0))
    elif precision.params == "master":
        param.detach().copy_(work)


def _step_quantized(optimizer: Any, group: dict[str, Any], params: list[Tensor], precision: Precision,
                    rounder: Rounder | None, indices: dict[int, int]) -> list[Tensor]:
    """Step the parameters of ``params`` that keep 8-bit moments; return the others."""
    layout, values, others = optimizer.layout_of(group), dict(group), []
    for param in params:
        state = optimizer.state.get(param) or {}
        if param.grad is None or not quantized(param, state):
            others.append(param)
            continue
        work = _working_tensor(state, param, precision)
        work.grad = param.grad.to(torch.float32)
        if rounder is not None:
            rounder.start(state, indices[id(param)])
        try:
            step_8bit(state, param, work, values, layout)
        finally:
            work.grad = None
        optimizer.state[param] = state
        if precision.params == "master":
            state[MASTER_KEY] = work
        _write_param(param, work, precision, rounder, indices[id(param)])
        if rounder is not None:
            rounder.advance(state, indices[id(param)])
    return others


@torch.no_grad()
def step_with_precision(optimizer: Any, group: dict[str, Any], params: list[Tensor]) -> None:
    """Step ``params`` of ``group`` (a group whose ``precision`` is not native) on the reference path:
    the rule's math in float32 on working copies, then the rounded results written back."""
    precision = group_precision(group)
    layout = optimizer.layout_of(group)
    rounder = Rounder(group) if uses_rounding(precision) else None
    indices = {id(param): index for index, param in enumerate(group["params"])}
    if precision.state == "8bit-state":
        params = _step_quantized(optimizer, group, params, precision, rounder, indices)
    stepped = [param for param in params if param.grad is not None]
    works = []
    for param in stepped:
        state = optimizer.state.get(param) or {}
        work = _working_tensor(state, param, precision)
        work.grad = param.grad.to(work.dtype)
        if rounder is not None:
            rounder.start(state, indices[id(param)])
        if state:
            optimizer.state[work] = _shadow_state(state, work.dtype)
        works.append(work)
    shadow_group = {**group, "params": works, "precision": "native"}
    try:
        optimizer.update_params(shadow_group, works)
        for param, work in zip(stepped, works, strict=True):
            state = optimizer.state.setdefault(param, {})
            _write_back(optimizer, state, optimizer.state.get(work, {}), param, (layout, keeps_flat_state(group)),
                        rounder, indices[id(param)])
            if precision.params == "master":
                state[MASTER_KEY] = work
            _write_param(param, work, precision, rounder, indices[id(param)])
            if rounder is not None:
                rounder.advance(state, indices[id(param)])
    finally:
        optimizer.layouts.pop(id(shadow_group), None)
        for work in works:
            optimizer.state.pop(work, None)
            work.grad = None
    for key, value in shadow_group.items():
        if key not in ("params", "precision"):
            group[key] = value


def restore_exact_state(optimizer: Any, state_dict: Mapping[str, Any]) -> None:
    """After torch's ``load_state_dict`` (which casts every floating state tensor to its parameter's dtype),
    put back the saved values of groups whose ``precision`` is not native: the float32 master weights and
    state in the state dtype. A master its parameter is not the rounding of (a checkpoint that torch.optim
    stepped, carrying the master along unused) is dropped; a missing one is made from the parameter on the
    next step."""
    saved_ids = chain.from_iterable(group["params"] for group in state_dict["param_groups"])
    params = chain.from_iterable(group["params"] for group in optimizer.param_groups)
    by_id = dict(zip(saved_ids, params, strict=False))
    groups = {id(param): group for group in optimizer.param_groups for param in group["params"]}
    for saved_id, saved in state_dict["state"].items():
        param = by_id.get(saved_id)
        if param is None or is_native(groups[id(param)]):
            continue
        state = optimizer.state[param]
        if group_precision(groups[id(param)]).state == "8bit-state":
            import_8bit_state(state, saved, param)
        for key, value in saved.items():
            if not isinstance(value, Tensor) or key == "step" or not value.is_floating_point():
                continue
            if key == MASTER_KEY and group_precision(groups[id(param)]).params == "master":
                _restore_master(state, value, param)
            elif key == MASTER_KEY:
                state.pop(MASTER_KEY, None)
            elif key not in optimizer.state_keys or not isinstance(state.get(key), Tensor):
                continue
            elif not keeps_flat_state(groups[id(param)]):  # a small tensor's float32 moment, of its own
                state[key] = value.detach().to(device=param.device, dtype=torch.float32, copy=True)
            elif state[key].shape == value.shape:
                state[key].copy_(value)


def _restore_master(state: dict[str, Any], saved: Tensor, param: Tensor) -> None:
    master = saved.detach().to(device=param.device, dtype=torch.float32, copy=True)
    if master.shape == param.shape and torch.equal(master.to(param.dtype), param.detach()):
        state[MASTER_KEY] = master
    else:
        state.pop(MASTER_KEY, None)


def warn_reference_path(optimizer: Any, group: Mapping[str, Any]) -> None:
    """Warn once (a FusedFallbackWarning) that a non-native group takes the reference path, where a fused
    step was asked for (``impl="fused"``) or would be expected (CUDA parameters). An ``8bit-state`` group does
    not warn: its quantised tensors take the 8-bit kernels (:mod:`inertia.optim.precision_8bit`)."""
    if group_precision(group).state == "8bit-state":
        return
    if resolve_impl(group) == "fused" or any(param.is_cuda for param in group["params"]):
        optimizer.warn_fused("precision", f"precision={group['precision']!r} steps on the reference path "
                             "(float32 working copies); the fused precision step covers CPU (numba) and CUDA "
                             "(Triton) parameters with fp32 or bf16 state of rules with such a kernel")


def export_precision_state(optimizer: Any, state_dict: dict[str, Any]) -> dict[str, Any]:
    """``state_dict`` (torch's packed form) with 8-bit moments exported under torch's keys."""
    for group, saved in zip(optimizer.param_groups, state_dict["param_groups"], strict=True):
        if is_native(group) or group_precision(group).state != "8bit-state":
            continue
        for saved_id in saved["params"]:
            if saved_id in state_dict["state"]:
                state_dict["state"][saved_id] = export_8bit_state(state_dict["state"][saved_id])
    return state_dict
