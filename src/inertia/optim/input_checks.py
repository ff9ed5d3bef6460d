"""Checks of the structures an optimizer is given: the ``params`` argument, param groups and state dicts.

Each check raises TypeError (wrong kind of object) or ValueError (right kind, bad value) naming the
argument, the group and the index, before the optimizer changes anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from inertia.checks import check_flag, is_number

_SEQUENCES = (list, tuple)


def params_argument(params: Any) -> list[Any]:
    """The constructor's ``params`` as a list: tensors, (name, tensor) pairs or param-group dicts.

    A lone tensor, a set (its order changes between runs, so checkpoints would not line up) and
    anything that is not iterable raise TypeError; an empty list raises ValueError.
    """
    if isinstance(params, Tensor):
        raise TypeError("Invalid params: got a single Tensor (pass an iterable of Tensors or dicts, "
                        "for example [tensor] or model.parameters())")
    if isinstance(params, (set, frozenset, str, bytes, Mapping)) or not isinstance(params, Iterable):
        raise TypeError(f"Invalid params: {_describe(params)} (pass an ordered iterable of Tensors or dicts, "
                        "for example a list or model.parameters())")
    entries = list(params)
    if not entries:
        raise ValueError("Invalid params: an empty list (the optimizer needs at least one parameter)")
    return entries


def normalize_param_group(param_group: Any, groups: list[dict[str, Any]],
                          defaults: Mapping[str, Any] | None = None) -> None:
    """Check the ``params`` of a group about to be added and store them as a list, in place.

    Refused: a group that is not a dict or lacks ``"params"``; params that are not an ordered
    iterable of Tensors (or (name, Tensor) pairs); a non-leaf tensor, unless the group (or, where
    it does not say, ``defaults``) has ``differentiable=True``, as torch.optim allows; a tensor listed
    twice (torch.optim would step it twice per step) or already in one of ``groups``, the optimizer's
    groups; a group with names where the others have none, or the other way round.
    """
    group_index = len(groups)
    where = f"param group {group_index}"
    if not isinstance(param_group, dict):
        raise TypeError(f"Invalid param_group: {_describe(param_group)} ({where} must be a dict with a "
                        "'params' key)")
    if "params" not in param_group:
        raise ValueError(f"Invalid param_group: {where} has no 'params' key (keys: {sorted(map(str, param_group))})")
    params = param_group["params"]
    if isinstance(params, Tensor):
        params = [params]
    elif isinstance(params, (set, frozenset, str, bytes, Mapping)) or not isinstance(params, Iterable):
        raise TypeError(f"Invalid params: {_describe(params)} in {where} (pass an ordered iterable of Tensors)")
    params = list(params)
    _check_names_match(param_group, params, groups, where)
    differentiable = param_group.get("differentiable", (defaults or {}).get("differentiable", False))
    owner = {id(p): index for index, group in enumerate(groups) for p in group["params"]}
    seen: dict[int, int] = {}
    for index, entry in enumerate(params):
        tensor = entry[1] if isinstance(entry, tuple) and len(entry) == 2 else entry
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Invalid params: entry {index} of {where} is {_describe(entry)} (expected a Tensor "
                            "or a (name, Tensor) pair)")
        if not (differentiable or tensor.is_leaf or tensor.retains_grad):
            raise ValueError(f"Invalid params: entry {index} of {where} is not a leaf tensor (it was computed "
                             "from other tensors); optimize the tensors it was computed from")
        if id(tensor) in seen:
            raise ValueError(f"Invalid params: entries {seen[id(tensor)]} and {index} of {where} are the same "
                             "tensor (a duplicate would be stepped twice per step); list each tensor once")
        if id(tensor) in owner:
            raise ValueError(f"Invalid params: entry {index} of {where} is already in param group "
                             f"{owner[id(tensor)]} (a tensor belongs to one group)")
        seen[id(tensor)] = index
    param_group["params"] = params


def _check_names_match(param_group: dict[str, Any], params: list[Any], groups: list[dict[str, Any]],
                       where: str) -> None:
    """torch.optim's rule: every group has names ((name, Tensor) pairs, or ``param_names``) or none does."""
    named = _has_names(param_group, params)
    for index, group in enumerate(groups):
        if _has_names(group, group["params"]) != named:
            this, other = ("with", "without") if named else ("without", "with")
            raise ValueError(f"Invalid params: {where} is {this} names but param group {index} is {other} "
                             "names (all optimizer param groups should be with/without names.)")


class FusedOptionError(RuntimeError, ValueError):
    """A ``fused=True`` that cannot be honoured: torch.optim's RuntimeError, and a ValueError as inertia's
    other bad options are."""


def check_implementation_flags(group: Mapping[str, Any], owner: str, torch_flags: tuple[str, ...]) -> None:
    """torch.optim's implementation flags of ``group`` (a param group merged with the defaults) for class
    ``owner``, whose torch.optim twin keeps ``torch_flags`` in its groups.

    Each flag given is True or False; ``differentiable=True`` needs a twin that takes it; ``fused=True`` refuses ``differentiable=True`` and ``foreach=True``
    with torch.optim's RuntimeError (:class:`FusedOptionError`) and words; ``impl="fused"`` refuses
    ``differentiable=True`` (a differentiable step runs on the reference path).
    """
    for flag in ("foreach", "fused", "capturable", "differentiable"):
        if group.get(flag) is not None:
            check_flag(flag, group[flag])
    if group.get("differentiable") and "differentiable" not in torch_flags:
        raise ValueError(f"Invalid differentiable: True (inertia.{owner} has no differentiable step; its "
                         "torch.optim counterpart, if any, takes no differentiable option)")
    if group.get("fused") and group.get("differentiable"):
        raise FusedOptionError("Invalid fused: True with differentiable: True "
                               "(`fused` does not support `differentiable`)")
    if group.get("fused") and group.get("foreach"):
        raise FusedOptionError("Invalid fused: True with foreach: True "
                               "(`fused` and `foreach` cannot be `True` together.)")
    if group.get("differentiable") and group.get("impl") == "fused":
        raise ValueError("Invalid impl: 'fused' with differentiable: True (a differentiable step runs on the "
                         "reference path only; use impl='auto' or impl='reference')")


def refuse_complex_params(params: Iterable[Tensor], optimizer_name: str) -> None:
    """RuntimeError, naming ``params``, the entry and its dtype, if a parameter with a gradient is complex:
    checked before anything is stepped, for the optimizers without complex support."""
    for index, param in enumerate(params):
        if param.grad is not None and param.is_complex():
            raise RuntimeError(f"Invalid params: entry {index} is a {param.dtype} tensor ({optimizer_name} does "
                               "not support complex parameters)")


def check_fused_params(params: Iterable[Any], where: str) -> None:
    """torch.optim's rule for ``fused=True``: every parameter a floating-point tensor on a device that
    torch's fused kernels support; otherwise :class:`FusedOptionError` with torch's words."""
    supported = _get_fused_kernels_supported_devices()
    for index, entry in enumerate(params):
        tensor = entry[1] if isinstance(entry, tuple) else entry
        if not (tensor.device.type in supported and torch.is_floating_point(tensor)):
            raise FusedOptionError(
                f"Invalid params: entry {index} of {where} with fused: True (`fused=True` requires all the "
                f"params to be floating point Tensors of supported devices: {supported} but {tensor.dtype} "
                f"and {tensor.device.type})")


def _has_names(group: dict[str, Any], params: list[Any]) -> bool:
    return "param_names" in group or any(isinstance(entry, tuple) for entry in params)


def check_state_dict(optimizer: Any, state_dict: Any) -> None:
    """Check the layout of a torch.optim-format ``state_dict`` against ``optimizer``.

    The outer dict, its ``"state"`` and ``"param_groups"``, each saved group (its ``params`` and its
    hyperparameters, as :meth:`add_param_group` checks them) and each parameter's state (a dict whose
    ``step`` is a real number and whose state tensors are tensors) are checked before anything loads.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Invalid state_dict: {_describe(state_dict)} (expected a dict with keys 'state' "
                        "and 'param_groups', as optimizer.state_dict() returns)")
    missing = [key for key in ("state", "param_groups") if key not in state_dict]
    if missing:
        raise ValueError(f"Invalid state_dict: no {' and no '.join(map(repr, missing))} key (keys: "
                         f"{sorted(map(str, state_dict))}); nothing was loaded")
    state, groups = state_dict["state"], state_dict["param_groups"]
    if not isinstance(state, Mapping):
        raise TypeError(f"Invalid state_dict['state']: {_describe(state)} (expected a dict from parameter "
                        "id to that parameter's state)")
    if not isinstance(groups, _SEQUENCES):
        raise TypeError(f"Invalid state_dict['param_groups']: {_describe(groups)} (expected a list of dicts)")
    if len(groups) != len(optimizer.param_groups):
        raise ValueError(f"Invalid state_dict['param_groups']: {len(groups)} groups, but the optimizer has "
                         f"{len(optimizer.param_groups)}; nothing was loaded")
    for group_index, (group, saved) in enumerate(zip(optimizer.param_groups, groups, strict=True)):
        _check_saved_group(optimizer, group_index, group, saved)
        for index, (param, saved_id) in enumerate(zip(group["params"], saved["params"], strict=True)):
            where = f"state_dict['state'][{saved_id!r}]"
            try:
                _check_param_state(optimizer, where, param, state.get(saved_id, {}))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{exc} (the state of param group {group_index}, index {index}); "
                                "nothing was loaded") from None
            _check_state_sizes(optimizer, group_index, index, param, state.get(saved_id, {}))
    for key, value in state.items():
        if not isinstance(value, Mapping):
            raise TypeError(f"Invalid state_dict['state'][{key!r}]: {_describe(value)} (expected a dict)")


def _check_saved_group(optimizer: Any, group_index: int, group: dict[str, Any], saved: Any) -> None:
    where = f"state_dict['param_groups'][{group_index}]"
    if not isinstance(saved, Mapping):
        raise TypeError(f"Invalid {where}: {_describe(saved)} (expected a dict with a 'params' key)")
    if "params" not in saved:
        raise ValueError(f"Invalid {where}: no 'params' key (keys: {sorted(map(str, saved))})")
    ids = saved["params"]
    if not isinstance(ids, _SEQUENCES):
        raise TypeError(f"Invalid {where}['params']: {_describe(ids)} (expected a list of parameter ids)")
    if len(ids) != len(group["params"]):
        raise ValueError(f"Invalid {where}['params']: {len(ids)} parameters, but param group {group_index} of "
                         f"the optimizer has {len(group['params'])}; nothing was loaded")
    hyper = {key: value for key, value in saved.items() if key not in ("params", "param_names")}
    merged = {**optimizer.defaults, **hyper, **getattr(optimizer, "forced_group_values", {})}
    try:
        optimizer._check_group(merged)
    except ValueError as exc:
        raise ValueError(f"Invalid {where}: {exc}; nothing was loaded") from None


def _check_param_state(optimizer: Any, where: str, param: Tensor, param_state: Any) -> None:
    if not isinstance(param_state, Mapping):
        raise TypeError(f"Invalid {where}: {_describe(param_state)} (expected a dict of state values)")
    for key, value in param_state.items():
        if key == "step":
            _check_step(where, value)
        elif key in optimizer.state_keys and value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"Invalid {where}[{key!r}]: {_describe(value)} (expected a Tensor)")
            if value.is_complex() != param.is_complex():
                raise ValueError(f"Invalid {where}[{key!r}]: a {value.dtype} tensor for a {param.dtype} "
                                 "parameter")


def _check_state_sizes(optimizer: Any, group_index: int, index: int, param: Tensor, param_state: Any) -> None:
    for key, value in param_state.items():
        if key in optimizer.state_keys and isinstance(value, Tensor) and value.numel() != param.numel():
            raise ValueError(
                f"Invalid state_dict: state {key!r} of param group {group_index}, index {index} has "
                f"shape {tuple(value.shape)}, but the parameter has shape {tuple(param.shape)}; "
                "nothing was loaded"
            )


def _check_step(where: str, value: Any) -> None:
    if isinstance(value, Tensor):
        ok = (value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool
              and math.isfinite(float(value)))
    else:
        ok = is_number(value) and math.isfinite(value)
    if not ok:
        raise ValueError(f"Invalid {where}['step']: {_describe(value)} (expected a finite real number or a "
                         "one-element real tensor)")


def _describe(value: Any) -> str:
    """``value`` for an error message: its repr, shortened, with its type."""
    text = " ".join(repr(value).split())  # one line, even for tensors
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} of type {type(value).__name__}"
