"""DDP and ZeroRedundancyOptimizer over two gloo processes reproduce the single-process run."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp
import workers

CONFIGS = [
    dict(name="Adam", kwargs=dict(lr=0.05, amsgrad=True), impl="fused"),
    dict(name="Adam", kwargs=dict(lr=0.05), impl="reference"),
    dict(name="SGD", kwargs=dict(lr=0.1, momentum=0.9, nesterov=True), impl="fused", bucket_view=True),
    dict(name="RMSprop", kwargs=dict(lr=0.01, centered=True), impl="fused"),
]
ZERO_CONFIGS = [
    dict(name="Adam", kwargs=dict(lr=0.05), impl="fused"),
    dict(name="AdamW", kwargs=dict(lr=0.05, weight_decay=0.1), impl="reference"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(worker, configs: list[dict], out: Path) -> list[list[torch.Tensor]]:
    mp.start_processes(worker, args=(2, free_port(), configs, str(out)), nprocs=2, join=True,
                       start_method="spawn")
    return torch.load(out, weights_only=True)


def assert_matches_single_process(results: list, configs: list[dict]) -> None:
    for got, config in zip(results, configs, strict=True):
        want = workers.single_process(config)
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=str(config))


def test_ddp_over_two_gloo_processes_equals_one_process(tmp_path: Path) -> None:
    assert_matches_single_process(spawn(workers.ddp_rank, CONFIGS, tmp_path / "ddp.pt"), CONFIGS)


def test_zero_redundancy_optimizer_with_inertia_matches_unsharded(tmp_path: Path) -> None:
    assert_matches_single_process(spawn(workers.zero_rank, ZERO_CONFIGS, tmp_path / "zero.pt"), ZERO_CONFIGS)
