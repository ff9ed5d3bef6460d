"""Adam's step with 8-bit block-wise state (``inertia.optim.adam_8bit``, the fused numba kernel over flat
buffers) against inertia's fused float32 Adam and torch's fused Adam, in the same run.

Default workload: 40M float32 parameters in 40 tensors of 1M (the CPU size of ``inertia bench``), the same
gradients every step. The implementations are timed in turns (one step each per round), with an
``x.add_(y)`` bandwidth probe in every round (as ``inertia.bench.steps`` does on CPU); each row's floor is
the bytes it moves per step at the median probe bandwidth. Bytes moved per parameter: float32 Adam reads
p, g, m, v and writes p, m, v (28 B); the 8-bit step reads p, g and two codes and writes p and two codes,
plus two absmax per block read and written (16 + 16 / block_size B). State bytes per parameter are measured
from the state tensors.

Example::

    python benchmarks/adam_8bit_step.py --tensors 40 --size 1000000 --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone

import torch

from inertia.bench.steps import build_optimizer, floor_bytes_per_element, probe_elements
from inertia.kernels.blockwise_quant import DEFAULT_BLOCK_SIZE
from inertia.optim.adam_8bit import fused_quantized_adam_step, init_quantized_state, state_bytes

HYPER = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False, maximize=False)


def make_tensors(count: int, size: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``count`` parameter tensors of ``size`` values and their gradients (random, fixed seed)."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(size, generator=generator) for _ in range(count)]
    grads = [torch.randn(size, generator=generator) * 1e-2 for _ in range(count)]
    return params, grads


class EightBitStep:
    """The 8-bit step over flat buffers (each tensor's segment padded to whole blocks)."""

    def __init__(self, params: list[torch.Tensor], grads: list[torch.Tensor], block_size: int) -> None:
        padded = [-(-p.numel() // block_size) * block_size for p in params]
        self.params, self.grads = torch.zeros(sum(padded)), torch.zeros(sum(padded))
        offset = 0
        for param, grad, length in zip(params, grads, padded, strict=True):
            self.params[offset:offset + param.numel()] = param
            self.grads[offset:offset + grad.numel()] = grad
            offset += length
        self.state = init_quantized_state(self.params, block_size)
        self.block_size, self.step_count, self.numel = block_size, 0, sum(p.numel() for p in params)

    def __call__(self) -> None:
        self.step_count += 1
        fused_quantized_adam_step(self.params, self.grads, self.state, step=self.step_count,
                                  block_size=self.block_size, backend="numba", **HYPER)

    def state_bytes_per_param(self) -> float:
        return state_bytes(self.state) / self.numel


def torch_style_step(impl: str, params: list[torch.Tensor], grads: list[torch.Tensor]
                     ) -> tuple[Callable[[], None], torch.optim.Optimizer]:
    """``optimizer.step`` of Adam in ``impl`` ("inertia-fused" or "torch-fused") on copies of the tensors."""
    copies = [torch.nn.Parameter(p.clone()) for p in params]
    for copy, grad in zip(copies, grads, strict=True):
        copy.grad = grad.clone()
    optimizer = build_optimizer("adam", impl, copies)
    return optimizer.step, optimizer


def optimizer_state_bytes_per_param(optimizer: torch.optim.Optimizer) -> float:
    """Bytes of the per-parameter state tensors (step counters excluded) per parameter."""
    numel = sum(p.numel() for group in optimizer.param_groups for p in group["params"])
    total = sum(value.numel() * value.element_size() for state in optimizer.state.values()
                for key, value in state.items() if key != "step" and isinstance(value, torch.Tensor))
    return total / numel


def bandwidth_probe() -> Callable[[], float]:
    """One timed ``x.add_(y)`` over buffers far above the caches: bytes per second (12 B per element)."""
    n = probe_elements(torch.device("cpu"))
    x, y = torch.randn(n), torch.randn(n)

    def probe() -> float:
        begin = time.perf_counter()
        x.add_(y, alpha=1e-6)
        return 12 * n / (time.perf_counter() - begin)

    return probe


def main() -> None:
    """Time the three steps in turns and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=40)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE)
    args = parser.parse_args()
    params, grads = make_tensors(args.tensors, args.size)
    eight_bit = EightBitStep(params, grads, args.block_size)
    inertia_step, inertia_adam = torch_style_step("inertia-fused", params, grads)
    torch_step, torch_adam = torch_style_step("torch-fused", params, grads)
    for step in (eight_bit, inertia_step, torch_step):
        step()  # warm-up: compilation and state creation
    rows = {"inertia 8-bit state, fused (numba)": (eight_bit, 16 + 16 / args.block_size,
                                                   eight_bit.state_bytes_per_param()),
            "inertia fp32 Adam, fused": (inertia_step, floor_bytes_per_element("adam"),
                                         optimizer_state_bytes_per_param(inertia_adam)),
            "torch Adam, fused=True": (torch_step, floor_bytes_per_element("adam"),
                                       optimizer_state_bytes_per_param(torch_adam))}
    probe, samples, probes = bandwidth_probe(), {name: [] for name in rows}, []
    for _ in range(args.steps):
        for name, (step, _, _) in rows.items():
            begin = time.perf_counter()
            step()
            samples[name].append(time.perf_counter() - begin)
        probes.append(probe())
    bandwidth, numel = statistics.median(probes), args.tensors * args.size
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.tensors} x {args.size:,} float32 on CPU, "
          f"{torch.get_num_threads()} threads, {args.steps} rounds (median); x.add_(y) {bandwidth / 1e9:.1f} GB/s")
    print("\n| step | ms | bytes moved / param | floor ms | % of floor | state B / param |\n|---|---|---|---|---|---|")
    for name, (_, moved, held) in rows.items():
        seconds, floor = statistics.median(samples[name]), moved * numel / bandwidth
        print(f"| {name} | {1e3 * seconds:.1f} | {moved:.2f} | {1e3 * floor:.1f} | {100 * floor / seconds:.0f}% "
              f"| {held:.3f} |")


if __name__ == "__main__":
    main()
