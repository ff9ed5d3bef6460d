"""DTensor parameters (FSDP2 ``fully_shard``, HSDP, tensor parallel): local shards and state placement.

A DTensor parameter keeps its state as DTensors of the same mesh and placements, as
torch.optim does (so ``torch.distributed.checkpoint`` saves and loads them), but each of
them wraps a view of a flat buffer that holds only this rank's local shard
(:mod:`inertia.optim.layout`). The fused step then runs over the local shards alone
(:mod:`inertia.optim.fused_shards`).

Nothing here imports ``torch.distributed``: a DTensor can only exist once its module has
been imported, so :func:`dtensor_type` looks it up in ``sys.modules``.
"""

from __future__ import annotations

import operator
import sys
from typing import Any

import torch
from torch import Tensor

_DTENSOR_MODULE = "torch.distributed.tensor"
_LOCAL_TENSOR = operator.attrgetter("_local_tensor")


_FOUND: list[type] = []  # the DTensor class, once its module was imported


def dtensor_type() -> type | None:
    """The ``DTensor`` class if ``torch.distributed.tensor`` has been imported, else None."""
    if not _FOUND:
        module = sys.modules.get(_DTENSOR_MODULE)
        cls = getattr(module, "DTensor", None) if module is not None else None
        if cls is None:
            return None
        _FOUND.append(cls)
    return _FOUND[0]


def is_dtensor(tensor: Any) -> bool:
    """Whether ``tensor`` is a DTensor (False, without importing anything, while none can exist)."""
    if type(tensor) is Tensor or type(tensor) is torch.nn.Parameter:
        return False
    cls = dtensor_type()
    return cls is not None and isinstance(tensor, cls)


def local_part(tensor: Tensor) -> Tensor:
    """The local shard of a DTensor (the same memory; the tensor the DTensor wraps, without the
    autograd view ``to_local()`` builds, which costs tens of microseconds), or ``tensor`` itself."""
    if not is_dtensor(tensor):
        return tensor
    local = getattr(tensor, "_local_tensor", None)
    return local if isinstance(local, Tensor) else tensor.to_local()


def local_parts(dtensors: list[Tensor]) -> list[Tensor]:
    """The local shards of DTensors ``dtensors``, as :func:`local_part` gives them (one C-level map)."""
    try:
        return list(map(_LOCAL_TENSOR, dtensors))
    except AttributeError:  # a torch whose DTensor keeps its shard elsewhere
        return [tensor.to_local() for tensor in dtensors]


def local_shape(param: Tensor) -> torch.Size:
    """The shape of the part of ``param`` this rank holds (its whole shape unless a DTensor)."""
    return local_part(param).shape


def same_placement(tensor: Tensor, param: Tensor) -> bool:
    """Whether DTensor ``tensor`` has the mesh and placements of DTensor ``param``."""
    mesh, other = tensor.device_mesh, param.device_mesh
    return (mesh is other or mesh == other) and tuple(tensor.placements) == tuple(param.placements)


def shaped_like(local: Tensor, param: Tensor) -> Tensor:
    """``local`` (this rank's shard) as a DTensor placed like ``param``; ``local`` itself if ``param`` is
    not a DTensor. No communication: the global shape and stride are ``param``'s."""
    if not is_dtensor(param):
        return local
    return dtensor_type().from_local(local, param.device_mesh, param.placements, run_check=False,
                                     shape=param.shape, stride=param.stride())


def local_value(value: Tensor, param: Tensor) -> Tensor:
    """This rank's shard of a state tensor ``value`` of DTensor ``param``.

    ``value`` may be a DTensor placed like ``param`` (a sharded checkpoint), a DTensor placed
    otherwise (redistributed, a collective on ``param``'s mesh) or a plain tensor of ``param``'s
    global shape (a full checkpoint: each rank keeps its own chunk, no communication).
    """
    if is_dtensor(value):
        if not same_placement(value, param):
            value = value.redistribute(param.device_mesh, param.placements)
        return value.to_local()
    if value.shape != param.shape:
        raise ValueError(
            f"Invalid state value: shape {tuple(value.shape)} for a DTensor parameter of global shape "
            f"{tuple(param.shape)} (a plain state tensor must have the parameter's global shape)")
    distribute = sys.modules[_DTENSOR_MODULE].distribute_tensor
    local = local_part(param)
    full = value.detach().to(device=local.device, dtype=local.dtype)
    return distribute(full, param.device_mesh, param.placements, src_data_rank=None).to_local()


def all_finite(grad: Tensor) -> bool:
    """Whether ``grad`` holds only finite values; for a DTensor, agreed by every rank of its mesh."""
    if not is_dtensor(grad):
        return bool(torch.isfinite(grad).all())
    return agree_on_all_meshes(bool(torch.isfinite(grad.to_local()).all()), [grad])


def agree_on_all_meshes(flag: bool, tensors: list[Tensor]) -> bool:
    """``flag`` and-ed over every rank of the meshes of DTensors ``tensors`` (one all-reduce per mesh
    dimension; the same call must be made on all those ranks)."""
    dist = sys.modules["torch.distributed"]
    meshes = {id(t.device_mesh): t.device_mesh for t in tensors}
    value = torch.tensor([1.0 if flag else 0.0], device=local_part(tensors[0]).device)
    for mesh in meshes.values():
        for dim in range(mesh.ndim):
            dist.all_reduce(value, op=dist.ReduceOp.MIN, group=mesh.get_group(dim))
    return bool(value.item() == 1.0)


def share_memory(a: Tensor, b: Tensor) -> bool:
    """Whether ``a`` and ``b`` (DTensors or not) start at the same address (DTensors by their shards)."""
    return local_part(a).data_ptr() == local_part(b).data_ptr()


def copy_state(view: Tensor, value: Tensor, param: Tensor) -> Tensor:
    """Fill state ``view`` (a flat-buffer view, a DTensor for a DTensor ``param``) from ``value``; return it.

    Nothing is copied when ``value`` already is that memory.
    """
    if is_dtensor(view):
        target, source = view.to_local(), local_value(value, param)
        if source.data_ptr() != target.data_ptr():
            target.copy_(source.detach().reshape(target.shape))
        return view
    if view.data_ptr() != value.data_ptr():
        view.copy_(value.detach().reshape(view.shape))
    return view
