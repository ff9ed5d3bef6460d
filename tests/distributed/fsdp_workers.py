"""Training runs shared by the FSDP2 / DTensor tests, each one next to torch.optim on the same model.

Every run builds a small float64 MLP, shards it (FSDP2 ``fully_shard`` per layer and at the
root, HSDP on a 2-D mesh, tensor parallel, or FSDP1), and trains it for a few steps on
rank-dependent batches. Rank 0 gathers the full parameters (and, for checkpoints, the
state) so that the test process can compare them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

import inertia
from inertia.kernels import FusedFallbackWarning
from inertia.optim import fused_dispatch

STEPS = 3
PARITY = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9)),
    ("Adagrad", dict(lr=0.1)),
]
IMPLS = ("reference", "fused")


def mlp() -> torch.nn.Module:
    """6 -> 16 -> 3, float64; the last bias has 3 rows, so 2 ranks hold uneven shards (2 and 1)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()


def per_layer_and_root(mesh: Any = None) -> torch.nn.Module:
    """The MLP with ``fully_shard`` on each linear layer and at the root (HSDP when ``mesh`` is 2-D)."""
    model = mlp()
    for layer in (model[0], model[2]):
        fully_shard(layer, mesh=mesh)
    return fully_shard(model, mesh=mesh)


def tensor_parallel() -> torch.nn.Module:
    """The MLP split column-wise then row-wise over both ranks (weights Shard(0) / Shard(1))."""
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    return parallelize_module(mlp(), mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})


def sharded_and_plain() -> torch.nn.Module:
    """Only the first layer sharded: one optimizer then holds DTensor and plain parameters."""
    model = mlp()
    fully_shard(model[0])
    return model


def batch(rank: int, step: int, same_on_all_ranks: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(100 * step + (0 if same_on_all_ranks else rank))
    x = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    return x, torch.randn(8, 3, generator=generator, dtype=torch.float64)


def train(model: torch.nn.Module, optimizer: Any, steps: Iterable[int], same_on_all_ranks: bool = False,
          poison: int = -1) -> None:
    """Steps on ``batch(rank, step)``; at step ``poison``, rank 0's first gradient shard gets a NaN."""
    for step in steps:
        x, y = batch(dist.get_rank(), step, same_on_all_ranks)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        if step == poison and dist.get_rank() == 0:
            next(model.parameters()).grad.to_local().view(-1)[0] = float("nan")
        optimizer.step()


def full(tensor: torch.Tensor) -> torch.Tensor:
    return (tensor.full_tensor() if isinstance(tensor, DTensor) else tensor).detach().clone()


def state_placed_like_params(optimizer: Any) -> bool:
    """Whether every state tensor of a DTensor parameter is a DTensor of its mesh and placements."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if key == "step" or not isinstance(param, DTensor):
                continue
            if not isinstance(value, DTensor) or value.placements != param.placements:
                return False
            if value.device_mesh != param.device_mesh or value.shape != param.shape:
                return False
    return True


def compare_with_torch(build: Callable[[], torch.nn.Module], name: str, kwargs: dict[str, Any],
                       same_on_all_ranks: bool = False) -> dict[str, Any]:
    """Train ``build()`` with torch.optim and with inertia on each impl; the full parameters of each."""
    model = build()
    train(model, getattr(torch.optim, name)(model.parameters(), **kwargs), range(STEPS), same_on_all_ranks)
    result: dict[str, Any] = {"want": [full(p) for p in model.parameters()]}
    for impl in IMPLS:
        model = build()
        optimizer = getattr(inertia, name)(model.parameters(), impl=impl, **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FusedFallbackWarning)
            train(model, optimizer, range(STEPS), same_on_all_ranks)
        result[impl] = {
            "got": [full(p) for p in model.parameters()],
            "placed": state_placed_like_params(optimizer),
            "fallbacks": [str(w.message) for w in caught if issubclass(w.category, FusedFallbackWarning)],
        }
    return result


def init(rank: int, world: int, store: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=120))  # a collective one rank skips fails, not hangs


def every_case_rank(rank: int, world: int, folder: str) -> None:
    """The training cases (``sharded.pt``), then the checkpoint round trips (``checkpoint.pt``)."""
    sharded_rank(rank, world, folder)
    checkpoint_rank(rank, world, folder)


def sharded_rank(rank: int, world: int, folder: str) -> None:
    """Every training case of ``test_fsdp.py``; rank 0 saves ``{case: result}``."""
    init(rank, world, os.path.join(folder, "store-0"))
    results: dict[str, Any] = {}
    for name, kwargs in PARITY:
        results[f"fsdp2 {name} {kwargs}"] = compare_with_torch(per_layer_and_root, name, kwargs)
    for shape in ((2, 1), (1, 2)):
        mesh = init_device_mesh("cpu", shape, mesh_dim_names=("replicate", "shard"))
        results[f"hsdp {shape}"] = compare_with_torch(lambda m=mesh: per_layer_and_root(m), "Adam", dict(lr=0.05))
    results["tensor parallel"] = compare_with_torch(tensor_parallel, "Adam", dict(lr=0.05), same_on_all_ranks=True)
    for name, kwargs in (("Adam", dict(lr=0.05)), ("RMSprop", dict(lr=0.01, momentum=0.9))):
        results[f"mixed {name}"] = compare_with_torch(sharded_and_plain, name, kwargs)
    for use_orig_params in (False, True):
        results[f"fsdp1 {use_orig_params}"] = fsdp1_case(use_orig_params)
    results["nonfinite skip"] = nonfinite_case()
    results["full state load"] = full_state_case()
    finish(rank, results, os.path.join(folder, "sharded.pt"))


def fsdp1_case(use_orig_params: bool) -> dict[str, Any]:
    """FSDP1 (FullyShardedDataParallel) on CPU, Adam; parameters gathered with ``summon_full_params``."""

    def build() -> torch.nn.Module:
        return FullyShardedDataParallel(mlp(), use_orig_params=use_orig_params, device_id=torch.device("cpu"))

    def gathered(model: torch.nn.Module) -> list[torch.Tensor]:
        with FullyShardedDataParallel.summon_full_params(model):
            return [p.detach().clone() for p in model.parameters()]

    model = build()
    train(model, torch.optim.Adam(model.parameters(), lr=0.05), range(STEPS))
    result: dict[str, Any] = {"want": gathered(model)}
    for impl in IMPLS:
        model = build()
        optimizer = inertia.Adam(model.parameters(), lr=0.05, impl=impl)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FusedFallbackWarning)
            train(model, optimizer, range(STEPS))
        fallbacks = [str(w.message) for w in caught if issubclass(w.category, FusedFallbackWarning)]
        result[impl] = {"got": gathered(model), "placed": True, "fallbacks": fallbacks}
    return result


def nonfinite_case() -> dict[str, Any]:
    """``nonfinite="skip"`` with a NaN in rank 0's shard only: every rank must skip that step, on each path.

    Under ``impl="auto"`` the fused threshold lies between the two ranks' local sizes (112 and 96
    elements): the decision must follow the global size, the same on both ranks.
    """
    model = per_layer_and_root()
    train(model, torch.optim.Adam(model.parameters(), lr=0.05), [0, 2])
    result: dict[str, Any] = {"want": [full(p) for p in model.parameters()]}
    fused_dispatch.AUTO_CPU_MIN_ELEMENTS = 100
    for impl in (*IMPLS, "auto"):
        model = per_layer_and_root()
        optimizer = inertia.Adam(model.parameters(), lr=0.05, impl=impl, nonfinite="skip")
        train(model, optimizer, range(3), poison=1)
        skipped = [torch.zeros(1, dtype=torch.int64) for _ in range(dist.get_world_size())]
        dist.all_gather(skipped, torch.tensor([optimizer.skipped_steps]))
        result[impl] = {"got": [full(p) for p in model.parameters()], "placed": state_placed_like_params(optimizer),
                        "skipped": [int(count) for count in skipped]}
    return result


def full_state_case() -> dict[str, Any]:
    """A state dict whose tensors were gathered to full (plain) tensors loads into a fresh optimizer over
    the sharded model: each rank keeps its chunk, and the run continues exactly as the original."""

    def trained() -> tuple[torch.nn.Module, Any]:
        model = per_layer_and_root()
        optimizer = inertia.Adam(model.parameters(), lr=0.05, impl="fused")
        train(model, optimizer, range(STEPS))
        return model, optimizer

    model, optimizer = trained()
    saved = optimizer.state_dict()
    gathered = {"param_groups": saved["param_groups"],
                "state": {index: {key: full(value) for key, value in state.items()}
                          for index, state in saved["state"].items()}}
    train(model, optimizer, range(STEPS, 2 * STEPS))
    result: dict[str, Any] = {"want": [full(p) for p in model.parameters()]}
    model, _ = trained()
    fresh = inertia.Adam(model.parameters(), lr=0.05, impl="fused")
    fresh.load_state_dict(gathered)
    placed = state_placed_like_params(fresh)
    train(model, fresh, range(STEPS, 2 * STEPS))
    result["fused"] = {"got": [full(p) for p in model.parameters()], "placed": placed}
    return result


def finish(rank: int, results: Any, out: str) -> None:
    if rank == 0:
        torch.save(results, out)
    dist.barrier()
    dist.destroy_process_group()


CHECKPOINTED = [("Adam", dict(lr=0.05), "fused"), ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9), "fused"),
                ("Adagrad", dict(lr=0.1), "reference")]


def snapshot(model: torch.nn.Module, optimizer: Any) -> dict[str, Any]:
    """Full parameters and full optimizer state (DTensors gathered), in parameter order."""
    state = [{key: full(value) for key, value in sorted(optimizer.state[p].items())} for p in model.parameters()]
    return {"params": [full(p) for p in model.parameters()], "state": state}


def checkpoint_rank(rank: int, world: int, folder: str) -> None:
    """Per config: train 2 * STEPS steps in one go; then STEPS, DCP save, a fresh process group, a fresh
    model and optimizer, DCP load, STEPS more. Rank 0 saves both snapshots and what was saved."""
    results = []
    for index, (name, kwargs, impl) in enumerate(CHECKPOINTED):
        init(rank, world, os.path.join(folder, f"store-{index}-a"))
        model = per_layer_and_root()
        optimizer = getattr(inertia, name)(model.parameters(), impl=impl, **kwargs)
        train(model, optimizer, range(2 * STEPS))
        uninterrupted = snapshot(model, optimizer)
        model = per_layer_and_root()
        optimizer = getattr(inertia, name)(model.parameters(), impl=impl, **kwargs)
        train(model, optimizer, range(STEPS))
        saved = get_optimizer_state_dict(model, optimizer)
        kinds = sorted({type(v).__name__ for s in saved["state"].values() for k, v in s.items() if k != "step"})
        path = os.path.join(folder, f"checkpoint-{index}")
        dcp.save({"model": get_model_state_dict(model), "optim": saved}, checkpoint_id=path)
        del model, optimizer, saved
        dist.destroy_process_group()
        init(rank, world, os.path.join(folder, f"store-{index}-b"))
        model = per_layer_and_root()
        optimizer = getattr(inertia, name)(model.parameters(), impl=impl, **kwargs)
        loaded = {"model": get_model_state_dict(model), "optim": get_optimizer_state_dict(model, optimizer)}
        dcp.load(loaded, checkpoint_id=path)
        set_model_state_dict(model, loaded["model"])
        set_optimizer_state_dict(model, optimizer, loaded["optim"])
        placed = state_placed_like_params(optimizer)
        train(model, optimizer, range(STEPS, 2 * STEPS))
        results.append({"config": (name, kwargs, impl), "uninterrupted": uninterrupted,
                        "resumed": snapshot(model, optimizer), "saved_kinds": kinds, "placed": placed})
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0:
        torch.save(results, os.path.join(folder, "checkpoint.pt"))
