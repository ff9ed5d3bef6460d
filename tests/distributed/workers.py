"""Training runs shared by the distributed tests: one process, DDP ranks, and ZeRO ranks.

A small float64 regression model trained on a fixed batch; under DDP each of the two
ranks sees half of the batch, so the averaged gradient equals the full-batch one.
"""

from __future__ import annotations

import gc
import os
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

import inertia

STEPS = 5


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(8, 6, generator=generator, dtype=torch.float64), torch.randn(
        8, 3, generator=generator, dtype=torch.float64)


def train(model: torch.nn.Module, optimizer: Any, x: torch.Tensor, y: torch.Tensor, **zero: Any) -> None:
    for _ in range(STEPS):
        optimizer.zero_grad(**zero)
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


def single_process(config: dict[str, Any]) -> list[torch.Tensor]:
    """The unsharded run every distributed run must reproduce."""
    model = make_model()
    optimizer = getattr(inertia, config["name"])(model.parameters(), impl=config["impl"], **config["kwargs"])
    train(model, optimizer, *batch())
    return [p.detach().clone() for p in model.parameters()]


def _init(rank: int, world: int, port: int) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)


def _finish(rank: int, results: list, out: str) -> None:
    """Save on rank 0, then tear down; DDP reducers must be collected before the process group goes
    (a reducer destroyed at interpreter exit can deadlock with gloo's worker thread over the GIL)."""
    gc.collect()
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


def ddp_rank(rank: int, world: int, port: int, configs: list[dict[str, Any]], out: str) -> None:
    """Train each config under DDP on this rank's half of the batch; rank 0 saves the parameters."""
    _init(rank, world, port)
    x, y = batch()
    results = []
    for config in configs:
        model = DistributedDataParallel(make_model(), gradient_as_bucket_view=config.get("bucket_view", False))
        optimizer = getattr(inertia, config["name"])(model.parameters(), impl=config["impl"], **config["kwargs"])
        train(model, optimizer, x[rank::world], y[rank::world])
        results.append([p.detach().clone() for p in model.module.parameters()])
        del model, optimizer
    _finish(rank, results, out)


def zero_rank(rank: int, world: int, port: int, configs: list[dict[str, Any]], out: str) -> None:
    """Train each config with ZeroRedundancyOptimizer(optimizer_class=inertia.X) over DDP."""
    _init(rank, world, port)
    x, y = batch()
    results = []
    for config in configs:
        model = DistributedDataParallel(make_model())
        optimizer = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=getattr(inertia, config["name"]),
                                            impl=config["impl"], **config["kwargs"])
        train(model, optimizer, x[rank::world], y[rank::world], set_to_none=False)
        results.append([p.detach().clone() for p in model.module.parameters()])
        del model, optimizer
    _finish(rank, results, out)
