"""Parameter bookkeeping shared by the monitors and the Hessian tools.

A *layer* is the module path of a parameter: ``fc1.weight`` and ``fc1.bias`` both belong to
layer ``fc1``. In the monitors a parameter without a known name is a layer of its own,
``group{g}.param{i}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Union

import torch
from torch import Tensor, nn

ParamsLike = Union[nn.Module, Mapping[str, Tensor], Iterable[Tensor], Iterable[tuple[str, Tensor]]]


def layer_of(name: str) -> str:
    """The layer a parameter name belongs to: everything before the last dot (``fc1.weight`` -> ``fc1``)."""
    return name.rsplit(".", 1)[0] if "." in name else name


def named_params(params: ParamsLike) -> dict[str, Tensor]:
    """Resolve a module, a name->tensor mapping, ``named_parameters()`` pairs or bare tensors to a dict.

    Only tensors that require grad are kept. Bare tensors are named ``param{i}``.
    """
    if isinstance(params, Tensor):
        raise TypeError("params: expected an iterable of tensors, a mapping or a module, got one tensor; "
                        "wrap it in a list")
    if isinstance(params, (str, bytes)) or not isinstance(params, (nn.Module, Mapping, Iterable)):
        raise TypeError(f"params: expected an iterable of tensors, a mapping or a module, got {params!r} of type "
                        f"{type(params).__name__}")
    if isinstance(params, nn.Module):
        items: list[tuple[str, Tensor]] = list(params.named_parameters())
    elif isinstance(params, Mapping):
        items = list(params.items())
    else:
        items = []
        for index, entry in enumerate(params):
            if isinstance(entry, Tensor):
                items.append((f"param{index}", entry))
            elif isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], Tensor):
                items.append((str(entry[0]), entry[1]))
            else:
                raise TypeError(f"params: entry {index} is {type(entry).__name__}, expected a tensor "
                                "or a (name, tensor) pair")
    resolved = {name: tensor for name, tensor in items if tensor.requires_grad}
    if not resolved:
        raise ValueError("params: no tensor that requires grad was given")
    return resolved


def group_by_layer(names: Iterable[str]) -> dict[str, list[str]]:
    """Map each layer to the parameter names it holds, in first-seen order."""
    layers: dict[str, list[str]] = {}
    for name in names:
        layers.setdefault(layer_of(name), []).append(name)
    return layers


def optimizer_param_layers(optimizer: torch.optim.Optimizer,
                           named_parameters: Iterable[tuple[str, Tensor]] | Mapping[str, Tensor] | None,
                           ) -> dict[int, str]:
    """Map ``id(param)`` of every parameter the optimizer holds to the name of its layer.

    Layers come from the names in ``named_parameters`` (for example ``model.named_parameters()``,
    see :func:`layer_of`); a parameter not found there is a layer of its own, ``group{g}.param{i}``.
    """
    known: dict[int, str] = {}
    if named_parameters is not None:
        pairs = named_parameters.items() if isinstance(named_parameters, Mapping) else named_parameters
        for name, tensor in pairs:
            known[id(tensor)] = layer_of(name)
    layers: dict[int, str] = {}
    for g, group in enumerate(optimizer.param_groups):
        for i, param in enumerate(group["params"]):
            layers[id(param)] = known.get(id(param), f"group{g}.param{i}")
    return layers


def flatten(tensors: Iterable[Tensor], dtype: torch.dtype | None = None) -> Tensor:
    """Concatenate tensors into one flat vector (optionally cast)."""
    parts = [t.reshape(-1) for t in tensors]
    flat = torch.cat(parts) if parts else torch.zeros(0)
    return flat if dtype is None else flat.to(dtype)


def unflatten(flat: Tensor, like: Iterable[Tensor]) -> list[Tensor]:
    """Split a flat vector into tensors shaped (and typed) like ``like``."""
    out, offset = [], 0
    for ref in like:
        n = ref.numel()
        out.append(flat[offset:offset + n].reshape(ref.shape).to(ref.dtype))
        offset += n
    return out
