"""FSDP2 optimizer step time: inertia's fused step over the local shards against torch.optim's paths.

Two gloo processes on CPU shard one MLP with ``fully_shard`` (per layer and at the root;
default 40M parameters per rank, 80M in all), take one real forward/backward so that every
parameter has its reduce-scattered DTensor gradient, and then time ``optimizer.step()`` alone
for each implementation on the same model, in turns (so that load from other processes hits
them alike):

- ``inertia-fused``: ``impl="fused"``: one multi-tensor call over the local shards;
- ``torch-foreach``, ``torch-fused`` (where torch has a DTensor-capable fused op) and
  ``torch-default`` (``foreach=None``: the per-tensor loop on CPU).

A step's time is the slower rank's (each timed step starts after a barrier); the table shows
the median over ``--repeats`` steps and ``ratio`` = inertia / torch's fastest path. Example::

    python benchmarks/fsdp_step.py                        # 40M per rank, adam, rmsprop, adagrad, sgd
    python benchmarks/fsdp_step.py --params-per-rank 4000000 --optimizers adam --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.fsdp import fully_shard

import inertia
from inertia.kernels import FusedFallbackWarning

WORLD = 2
RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "adam": ("Adam", dict(lr=1e-3)),
    "adamw": ("AdamW", dict(lr=1e-3, weight_decay=1e-2)),
    "rmsprop": ("RMSprop", dict(lr=1e-3)),
    "rmsprop-centered": ("RMSprop", dict(lr=1e-3, centered=True, momentum=0.9)),
    "adagrad": ("Adagrad", dict(lr=1e-3)),
    "sgd": ("SGD", dict(lr=1e-3, momentum=0.9)),
}
TORCH_PATHS = {"torch-foreach": dict(foreach=True), "torch-fused": dict(fused=True),
               "torch-default": dict(foreach=None)}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fsdp_step.py", description=__doc__.splitlines()[0])
    parser.add_argument("--params-per-rank", type=int, default=40_000_000)
    parser.add_argument("--layers", type=int, default=8, help="square linear layers of the MLP")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per implementation")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--optimizers", default="adam,rmsprop,adagrad,sgd",
                        help=f"comma-separated, from {', '.join(RULES)}")
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args(argv)
    for name in ("params_per_rank", "layers", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be at least 0, got {args.warmup}")
    unknown = [name for name in args.optimizers.split(",") if name not in RULES]
    if unknown:
        parser.error(f"unknown optimizer {unknown[0]!r} (choose from {', '.join(RULES)})")
    return args


def width_for(params_per_rank: int, layers: int) -> int:
    """The width of ``layers`` square layers (with bias) holding about ``WORLD * params_per_rank`` parameters."""
    return max(2, int((-1 + math.sqrt(1 + 4 * WORLD * params_per_rank / layers)) / 2))


def sharded_model(width: int, layers: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(*(torch.nn.Linear(width, width) for _ in range(layers)))
    for layer in model:
        fully_shard(layer)
    fully_shard(model)
    model(torch.randn(4, width)).square().mean().backward()  # reduce-scattered DTensor gradients
    return model


def build(label: str, name: str, kwargs: dict[str, Any], params: list[torch.nn.Parameter]) -> Any:
    if label == "inertia-fused":
        return getattr(inertia, name)(params, impl="fused", **kwargs)
    return getattr(torch.optim, name)(params, **kwargs, **TORCH_PATHS[label])


def timed_step(optimizer: Any) -> float:
    dist.barrier()
    start = time.perf_counter()
    optimizer.step()
    return time.perf_counter() - start


def time_rule(rule: str, params: list[torch.nn.Parameter], args: argparse.Namespace) -> dict[str, Any]:
    """Median step seconds (slower rank) of each implementation that runs; why the others do not."""
    name, kwargs = RULES[rule]
    optimizers, skipped = {}, {}
    for label in ("inertia-fused", *TORCH_PATHS):
        try:
            optimizer = build(label, name, kwargs, params)
            with warnings.catch_warnings():
                warnings.simplefilter("error", FusedFallbackWarning)  # the fused path must really run
                for _ in range(max(1, args.warmup)):
                    optimizer.step()
            optimizers[label] = optimizer
        except (RuntimeError, NotImplementedError, TypeError, ValueError, FusedFallbackWarning) as error:
            skipped[label] = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    times: dict[str, list[float]] = {label: [] for label in optimizers}
    for _ in range(args.repeats):
        for label, optimizer in optimizers.items():
            times[label].append(timed_step(optimizer))
    medians = {}
    for label, samples in times.items():
        slowest = torch.tensor(samples, dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        medians[label] = statistics.median(slowest.tolist())
    return {"rule": rule, "median_s": medians, "skipped": skipped}


def rank_main(rank: int, args: argparse.Namespace, folder: str) -> None:
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=WORLD)
    width = width_for(args.params_per_rank, args.layers)
    model = sharded_model(width, args.layers)
    params = list(model.parameters())
    local = sum(p.to_local().numel() for p in params)
    results = [time_rule(rule, params, args) for rule in args.optimizers.split(",")]
    if rank == 0:
        torch.save({"width": width, "local_params": local, "results": results}, os.path.join(folder, "out.pt"))
    dist.barrier()
    dist.destroy_process_group()


def report(args: argparse.Namespace, run: dict[str, Any]) -> dict[str, Any]:
    """Print the table; return the JSON record."""
    width, layers = run["width"], args.layers
    total = layers * (width * width + width)
    print(f"FSDP2 optimizer step, {WORLD} gloo ranks on CPU, {run['local_params'] / 1e6:.1f}M parameters on rank 0 "
          f"({total / 1e6:.1f}M in all: {layers} layers of {width}x{width}), float32, {args.threads} thread(s) "
          f"per rank; median of {args.repeats} steps, each the slower rank's")
    labels = ["inertia-fused", *TORCH_PATHS]
    print(f"{'rule':<17}" + "".join(f"{label:>15}" for label in labels) + f"{'ratio':>8}  (inertia / fastest torch)")
    rows = []
    for result in run["results"]:
        medians = result["median_s"]
        torch_times = [medians[label] for label in TORCH_PATHS if label in medians]
        ratio = medians["inertia-fused"] / min(torch_times) if "inertia-fused" in medians and torch_times else None
        cells = "".join(f"{medians[label] * 1e3:>12.1f} ms" if label in medians else f"{'n/a':>15}"
                        for label in labels)
        print(f"{result['rule']:<17}{cells}{ratio:>7.2f}x" if ratio is not None else f"{result['rule']:<17}{cells}")
        for label, why in result["skipped"].items():
            print(f"    {label} not run: {why}")
        rows.append({**result, "ratio_to_torch_best": ratio})
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
            "torch": torch.__version__, "width": width, "layers": layers, "local_params_rank0": run["local_params"],
            "threads_per_rank": args.threads, "repeats": args.repeats, "rows": rows}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        mp.start_processes(rank_main, args=(args, folder), nprocs=WORLD, join=True, start_method="spawn")
        run = torch.load(os.path.join(folder, "out.pt"), weights_only=True)
    record = report(args, run)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(record, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
