"""Median time of one Muon step: Muon (one batched Newton–Schulz chain per shape) against
torch.optim.Muon (one chain per matrix).

Default workload: 64 matrices of 256x256 float32 on the CPU, the same gradients every step. Both
optimizers are timed in turns (one step each, alternately) so that load from other processes hits
them alike; the last line gives the medians and the ratio inertia / torch.

Example::

    python benchmarks/muon_step.py --matrices 64 --size 256 --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from inertia.optim.muon import Muon


def make_params(count: int, size: int, device: str) -> list[torch.Tensor]:
    """``count`` random ``size`` x ``size`` float32 matrices with random gradients."""
    generator = torch.Generator().manual_seed(0)
    params = []
    for _ in range(count):
        param = torch.randn(size, size, generator=generator).to(device).requires_grad_()
        param.grad = torch.randn(size, size, generator=generator).to(device)
        params.append(param)
    return params


def timed_step(optimizer: torch.optim.Optimizer, device: str) -> float:
    """Seconds of one ``optimizer.step()`` (synchronised on CUDA)."""
    start = time.perf_counter()
    optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    """Parse the arguments, time both optimizers in turns and print the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrices", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    ours = Muon(make_params(args.matrices, args.size, args.device), lr=0.02)
    theirs = torch.optim.Muon(make_params(args.matrices, args.size, args.device), lr=0.02)
    timed_step(ours, args.device), timed_step(theirs, args.device)  # warm-up: state creation
    times: dict[str, list[float]] = {"inertia": [], "torch": []}
    for _ in range(args.steps):
        times["inertia"].append(timed_step(ours, args.device))
        times["torch"].append(timed_step(theirs, args.device))
    ours_ms, theirs_ms = (1e3 * statistics.median(times[name]) for name in ("inertia", "torch"))
    print(f"muon step, {args.matrices} x {args.size}x{args.size} float32 on {args.device} "
          f"({torch.get_num_threads()} threads, median of {args.steps}): inertia {ours_ms:.1f} ms, "
          f"torch {theirs_ms:.1f} ms, ratio inertia/torch {ours_ms / theirs_ms:.2f}")


if __name__ == "__main__":
    main()
