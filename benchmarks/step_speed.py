"""Optimizer step speed: inertia fused/reference against torch.optim, as a percent of the bandwidth floor.

Same options as ``inertia bench``, for example::

    python benchmarks/step_speed.py --device cpu --cpu-backends --json cpu.json --markdown cpu.md
    python benchmarks/step_speed.py --device cuda --sweep --json gpu.json
    python benchmarks/step_speed.py --device cpu --optimizer adamw --precision all --markdown modes.md

``--precision`` times each optimizer once per mode (see :mod:`inertia.bench.steps`), with the bytes per
parameter each step moves (analytic) and its state holds (measured): :mod:`inertia.bench.step_bytes`.

Sizes: CUDA 355M parameters in 290 tensors (GPT-2-medium-like) and 10M in 100 tensors;
CPU 40M in 40 tensors and 10M in 1000 tensors. The floor is bytes moved / bandwidth, the
bandwidth measured in the same run with an in-place ``x.add_(y)`` (12 bytes per element).
Only the bench command is loaded, so the script needs nothing beyond torch (and Triton
or numba for the fused paths).
"""

from __future__ import annotations

import sys

import typer

from inertia.bench.bench_commands import register


def main(argv: list[str]) -> int:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)
    try:
        app(args=argv, prog_name="step_speed.py", standalone_mode=False)
    except ValueError as exc:
        print(f"step_speed.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
