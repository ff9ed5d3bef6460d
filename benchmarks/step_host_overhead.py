"""Host (Python) microseconds of one optimizer step: inertia's fused front end against torch.optim.

A host-overhead proxy. On a GPU, a small model's fused step can be host-bound: the kernel
(or the CUDA-graph replay) finishes sooner than the Python work that decides to launch it.
That Python work is the same on every device, so this script measures it on tiny parameters
(default 100 tensors of 64 elements), where kernel time is negligible. On CUDA the GPU path
additionally pays the graph replay (or the kernel launch), which the ``bare`` column includes.

Columns, per rule, median microseconds per call over many batches, all implementations timed
in turns so that load from other processes hits them alike:

- ``bare``: the bucket's stepper called directly on the flat buffers (no front end): the
  lower bound of the fused path;
- ``stubbed``: ``optimizer.step()`` with the stepper replaced by a no-op: the pure Python
  front end (hooks wrapper, plan, ``ready`` checks, step counters);
- ``inertia``: ``optimizer.step()`` of ``impl="fused"`` (on CUDA also ``inertia-graph``,
  ``capturable=True``, and ``bare-graph``, its stepper alone);
- ``torch-foreach``, ``torch-fused``: torch.optim's paths;
- ``front end``: inertia - bare; ``ratio``: inertia / torch's best;
- ``zero_grad`` of inertia and of torch (``set_to_none=True``), timed alone; the gradients are
  put back after each call (untimed), so every timed step steps on the same nonzero gradients.

Examples::

    python benchmarks/step_host_overhead.py
    python benchmarks/step_host_overhead.py --device cuda --numel 100000   # 10M in 100 tensors
    python benchmarks/step_host_overhead.py --profile rmsprop              # cProfile of the fused step
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from inertia.bench.steps import OPTIMIZERS, build_optimizer

Call = Callable[[], Any]


def _noop(hyper: tuple[float, ...], step: int) -> None:
    """A stepper that does nothing (the ``stubbed`` row)."""


def make_params(tensors: int, numel: int, device: torch.device) -> list[torch.nn.Parameter]:
    """``tensors`` parameters of ``numel`` elements, each with a gradient."""
    generator = torch.Generator(device=device).manual_seed(0)
    params = []
    for _ in range(tensors):
        param = torch.nn.Parameter(torch.randn(numel, device=device, generator=generator))
        param.grad = torch.randn(numel, device=device, generator=generator) * 1e-3
        params.append(param)
    return params


def _fused_buckets(optimizer: torch.optim.Optimizer) -> list[Any]:
    buckets = [b for fused_group in optimizer.fused_groups.values() for b in fused_group.buckets]  # type: ignore[attr-defined]
    if not buckets or any(b.stepper is None for b in buckets):
        raise RuntimeError(f"{type(optimizer).__name__}: the fused path did not run (no stepper)")
    return buckets


def _bare_call(optimizer: torch.optim.Optimizer) -> Call:
    """The stepper of the (single) fused bucket called directly, with consecutive step numbers."""
    (bucket,) = _fused_buckets(optimizer)
    (fused_group,) = optimizer.fused_groups.values()  # type: ignore[attr-defined]
    stepper, hyper, steps = bucket.stepper, fused_group.hyper, itertools.count(bucket.done + 1)
    return lambda: stepper(hyper, next(steps))


def build_rows(name: str, tensors: int, numel: int, device: torch.device) -> dict[str, tuple[Call, Call | None]]:
    """Implementation -> (step call, zero_grad call or None) for optimizer ``name``, all warmed up."""
    rows: dict[str, tuple[Call, Call | None]] = {}
    impls = ["inertia-fused", "torch-foreach", "torch-fused"]
    if device.type == "cuda":
        impls.append("inertia-fused-graph")
    for impl in impls:
        params = make_params(tensors, numel, device)
        try:
            optimizer = build_optimizer(name, impl, params)
            for _ in range(3):  # the graph path launches eagerly, then captures, then replays
                optimizer.step()
        except (RuntimeError, ValueError, TypeError):
            continue  # torch has no fused path for this rule
        label = {"inertia-fused": "inertia", "inertia-fused-graph": "inertia-graph"}.get(impl, impl)
        rows[label] = (optimizer.step, _zero_grad_call(optimizer, params))
    for impl, label in (("inertia-fused", "bare"), ("inertia-fused-graph", "bare-graph")):
        if impl in impls:
            optimizer = build_optimizer(name, impl, make_params(tensors, numel, device))
            for _ in range(3):
                optimizer.step()
            rows[label] = (_bare_call(optimizer), None)
    stubbed = build_optimizer(name, "inertia-fused", make_params(tensors, numel, device))
    stubbed.step()
    for bucket in _fused_buckets(stubbed):
        bucket.stepper = _noop
    rows["stubbed"] = (stubbed.step, None)
    return rows


def _zero_grad_call(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> Call:
    """``optimizer.zero_grad()`` alone, timed; afterwards (untimed) the gradients are put back, so that
    every timed step of every row steps on the same nonzero gradients: torch's ``set_to_none`` leaves
    no gradient (its next step would do nothing), inertia's fused path zeros its flat buffer in place."""
    grads = [p.grad for p in params]
    values = [g.detach().clone() for g in grads]

    def call() -> float:
        begin = time.perf_counter()
        optimizer.zero_grad()
        elapsed = time.perf_counter() - begin
        with torch.no_grad():
            for param, grad, value in zip(params, grads, values, strict=True):
                if param.grad is None:
                    param.grad = grad
                param.grad.copy_(value)
        return elapsed

    return call


def time_rows(rows: dict[str, tuple[Call, Call | None]], rounds: int, batch: int,
              device: torch.device) -> dict[str, float]:
    """Median microseconds per call of every step and zero_grad call, timed in turns (batches of ``batch``)."""
    samples: dict[str, list[float]] = {key: [] for key in rows}
    samples.update({f"zero_grad {key}": [] for key, (_, zero) in rows.items() if zero is not None})
    if device.type == "cuda":
        samples.update({f"device-bound {key}": [] for key in rows})
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(max(3, rounds // 10)):  # untimed warm-up rounds
        for step, _zero in rows.values():
            for _ in range(batch):
                step()
        sync()
    for _ in range(rounds):
        for key, (step, zero) in rows.items():
            sync()
            begin = time.perf_counter()
            for _ in range(batch):
                step()
            end = time.perf_counter()
            sync()  # on CUDA: the steps' device time, for the device-bound figure
            if device.type == "cuda":
                samples[f"device-bound {key}"].append((time.perf_counter() - begin) / batch)
            samples[key].append((end - begin) / batch)
            if zero is not None:
                samples[f"zero_grad {key}"].append(zero())
    return {key: statistics.median(values) * 1e6 for key, values in samples.items()}


def _fmt(value: float | None, digits: int = 1) -> str:
    return "none" if value is None else f"{value:.{digits}f}"


def table(results: dict[str, dict[str, float]], device: torch.device) -> str:
    """Markdown table of the medians, with the front end's overhead and the ratio to torch's best."""
    main = "inertia-graph" if device.type == "cuda" else "inertia"
    bare = "bare-graph" if device.type == "cuda" else "bare"
    columns = ["bare", "stubbed", "inertia", "torch-foreach", "torch-fused"]
    if device.type == "cuda":
        columns += ["bare-graph", "inertia-graph"]
    header = ["rule", *columns, f"front end ({main} - {bare})", f"{main} / torch best",
              "zero_grad inertia", "zero_grad torch-foreach"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, us in results.items():
        torch_best = min((us[k] for k in ("torch-foreach", "torch-fused") if k in us), default=None)
        cells = [name, *(_fmt(us.get(c)) for c in columns), _fmt(us[main] - us[bare]),
                 _fmt(us[main] / torch_best if torch_best else None, 2) + "x",
                 _fmt(us.get("zero_grad inertia")), _fmt(us.get("zero_grad torch-foreach"))]
        lines.append("| " + " | ".join(cells) + " |")
    if device.type == "cuda":
        lines += ["", "Device-bound step time (us per step, batch then synchronize):", "",
                  "| rule | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
        for name, us in results.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(us.get(f"device-bound {c}")) for c in columns) + " |")
    return "\n".join(lines)


def profile(name: str, tensors: int, numel: int, device: torch.device, steps: int) -> None:
    """Print cProfile's top functions (by own time) over ``steps`` fused steps of ``name``."""
    impl = "inertia-fused-graph" if device.type == "cuda" else "inertia-fused"
    optimizer = build_optimizer(name, impl, make_params(tensors, numel, device))
    for _ in range(3):
        optimizer.step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        optimizer.step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--tensors", type=int, default=100, help="number of parameter tensors (default 100)")
    parser.add_argument("--numel", type=int, default=64, help="elements per tensor (default 64)")
    parser.add_argument("--rounds", type=int, default=300, help="timed batches per implementation")
    parser.add_argument("--batch", type=int, default=10, help="steps per timed batch")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated subset")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--profile", metavar="RULE", help="cProfile the fused step of RULE instead")
    parser.add_argument("--json", help="also write the medians to this JSON file")
    args = parser.parse_args(argv)
    names = args.optimizers.split(",")
    unknown = [n for n in names + ([args.profile] if args.profile else []) if n not in OPTIMIZERS]
    if unknown:
        parser.error(f"unknown optimizer {unknown[0]!r} (choose from {', '.join(OPTIMIZERS)})")
    for option in ("tensors", "numel", "rounds", "batch", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1, got {getattr(args, option)}")
    if args.device not in ("cpu", "cuda") or (args.device == "cuda" and not torch.cuda.is_available()):
        parser.error(f"--device {args.device!r} is not available (cpu, or cuda with a GPU)")
    args.names = names
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.profile:
        profile(args.profile, args.tensors, args.numel, device, args.rounds * args.batch)
        return 0
    results = {}
    for name in args.names:
        results[name] = time_rows(build_rows(name, args.tensors, args.numel, device), args.rounds, args.batch,
                                  device)
    print(f"Host microseconds per call (median of {args.rounds} batches of {args.batch}); {args.tensors} "
          f"tensors of {args.numel} elements on {device}; torch {torch.__version__}, {args.threads} thread(s)\n")
    print(table(results, device))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"args": {k: v for k, v in vars(args).items() if k != "names"}, "us": results}, handle,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
