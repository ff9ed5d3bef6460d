"""Adam's step under ``precision`` on the CPU: the fused precision step (:mod:`inertia.optim.precision_fused`)
against the reference path (``impl="reference"``) and native float32 Adam on the fused path, in one run.

Workload: ``--tensors`` bf16 tensors of ``--size`` values (float32 ones for the native row), the same
gradients every step; each row takes ``--warmup`` untimed steps (the first creates the state), then the
median of ``--steps`` timed steps is printed. The memory column is what a step allocates beyond the
optimizer's state: the reference path's float32 working copies (parameter, gradient and bf16 state of
every parameter, held for the whole step), the fused step's scratch (2 + state keys float32 rows of
``CHUNK`` values per thread). ``tracemalloc`` does not see torch's allocations, so these are computed
from the tensor sizes.

Example::

    nice -n 10 python benchmarks/precision_fused_step.py --tensors 10 --size 1000000 --steps 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import inertia
from inertia.optim.precision_fused import CHUNK

ROWS = (("native fp32, fused", "native", "fused"),
        ("stochastic+bf16-state, fused", "stochastic+bf16-state", "fused"),
        ("stochastic+bf16-state, reference", "stochastic+bf16-state", "reference"),
        ("master+fp32-state, fused", "master+fp32-state", "fused"),
        ("master+fp32-state, reference", "master+fp32-state", "reference"))


def extra_bytes(precision: str, impl: str, numel: int, n_state: int = 2) -> int:
    """Bytes one step allocates beyond the state (see the module docstring)."""
    if precision == "native":
        return 0
    if impl == "fused":
        return (2 + n_state) * CHUNK * 4 * max(1, torch.get_num_threads())
    copies = 1 if precision.startswith("stochastic") else 0  # master: the master itself is the working copy
    copies += 1  # the float32 gradient
    copies += n_state if "bf16-state" in precision else 0
    return copies * numel * 4


def time_row(precision: str, impl: str, tensors: int, size: int, warmup: int, steps: int) -> float:
    generator = torch.Generator().manual_seed(0)
    dtype = torch.float32 if precision == "native" else torch.bfloat16
    params = [torch.randn(size, generator=generator).to(dtype).requires_grad_() for _ in range(tensors)]
    grads = [torch.randn(size, generator=generator).to(dtype) * 1e-2 for _ in range(tensors)]
    optimizer = inertia.Adam(params, lr=1e-3, impl=impl, precision=precision)
    times = []
    for step in range(warmup + steps):
        for param, grad in zip(params, grads, strict=True):
            if param.grad is None:
                param.grad = grad.clone()
            else:
                param.grad.copy_(grad)
        start = time.perf_counter()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=10)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    numel = args.tensors * args.size
    print(f"Adam, {numel / 1e6:g}M parameters in {args.tensors} tensors, {torch.get_num_threads()} threads")
    print(f"{'row':36} {'median step':>12} {'ns/param':>9} {'extra memory':>13}")
    for label, precision, impl in ROWS:
        seconds = time_row(precision, impl, args.tensors, args.size, args.warmup, args.steps)
        extra = extra_bytes(precision, impl, numel)
        print(f"{label:36} {seconds * 1e3:10.1f}ms {seconds / numel * 1e9:9.2f} {extra / 2**20:10.1f}MiB")


if __name__ == "__main__":
    main()
