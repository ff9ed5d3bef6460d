"""Command-line commands of inertia.bench (registered by the command line): ``inertia bench``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from inertia.bench import steps as step_bench
from inertia.bench.backends import compare_cpu_backends, sweep_launch
from inertia.bench.report import markdown_tables, row_line
from inertia.bench.step_bytes import EIGHT_BIT_CLASSES, TORCH_BF16_IMPLS, parse_modes
from inertia.cli_checks import MAX_BENCH_STEPS, output_path
from inertia.errors import UserInputError
from inertia.kernels import triton_steps


def _check(name: str, values: list[str], allowed: list[str]) -> None:
    for value in values:
        if value not in allowed:
            raise UserInputError(f"Invalid {name}: {value!r} (choose from {', '.join(allowed)})")


def _resolve_device(device: str) -> str:
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise UserInputError(f"Invalid --device: {device!r} (choose from auto, cpu, cuda)")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserInputError("Invalid --device: 'cuda' (no CUDA device is available here)")
    return device


def _check_output(flag: str, path: str | None) -> Path | None:
    """The output file, refused (before the long benchmark runs) if it could not be written."""
    return None if path is None else output_path(f"Invalid {flag}", path, directory=False)


def _write(path: Path | None, text: str) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _modes(values: list[str], optimizers: list[str]) -> list[str]:
    """The modes ``--precision`` names; 8-bit state named (not through ``all``) refused for an optimizer asked
    for by name that has none."""
    try:
        modes = parse_modes(values)
        named = parse_modes([part for value in values for part in value.split(",") if part.strip() != "all"])
    except ValueError as exc:
        raise UserInputError(str(exc)) from None
    for mode in (m for m in named if m.endswith("8bit-state")):
        for name in optimizers:
            if step_bench.OPTIMIZERS[name][0] not in EIGHT_BIT_CLASSES:
                raise UserInputError(f"Invalid --precision: {mode!r} with --optimizer {name!r} (8-bit state is "
                                     f"offered for {' and '.join(EIGHT_BIT_CLASSES)} only)")
    return modes


def run_bench(device: str, sizes: list[str], optimizers: list[str], impls: list[str], steps: int, scale: float,
              cpu_backends: bool, sweep: bool, precisions: list[str] | None = None) -> dict[str, Any]:
    """Validate the arguments, run the benchmark (printing each row as it lands) and return its result."""
    device = _resolve_device(device)
    _check("--size", sizes, list(step_bench.size_table(device)))
    _check("--optimizer", optimizers, list(step_bench.OPTIMIZERS))
    _check("--impl", impls, list(step_bench.IMPLS) + list(TORCH_BF16_IMPLS) + ["inertia-fused-graph"])
    modes = _modes(precisions or [], optimizers)
    if not 1 <= steps <= MAX_BENCH_STEPS:
        raise UserInputError(f"Invalid --steps: {steps} (must be an integer in [1, {MAX_BENCH_STEPS}])")
    if not 0 < scale <= 1:
        raise UserInputError(f"Invalid --scale: {scale} (must be in (0, 1])")
    console = Console(stderr=True)
    result: dict[str, Any] = {}
    if sweep and device == "cuda":
        result["launch_sweep"] = _sweep(int(355_000_000 * scale), steps, console)
    result.update(step_bench.run_benchmark(device, sizes or None, optimizers or None, impls or None, steps, scale,
                                      report=lambda row: console.print(row_line(row), soft_wrap=True),
                                      precisions=modes or None))
    if cpu_backends:
        result["cpu_backends"] = compare_cpu_backends(int(40_000_000 * scale), steps, optimizers or None)
    return result


def _sweep(n: int, steps: int, console: Any) -> list[dict[str, Any]]:
    """Time the Triton launch shapes and keep the fastest for the rest of the run."""
    rows = sweep_launch(n, steps, [(1024, 4), (2048, 4), (2048, 8), (4096, 8), (8192, 16)])
    best = min(rows, key=lambda r: r["step_ms"])
    triton_steps.LAUNCH.update(block=best["block"], num_warps=best["num_warps"])
    for row in rows:
        console.print(f"launch block={row['block']} warps={row['num_warps']}: {row['step_ms']:.3f} ms", soft_wrap=True)
    return rows


def register(app: typer.Typer) -> None:
    """Add this area's commands to the inertia app."""

    @app.command("bench")
    def bench_command(
        device: str = typer.Option("auto", help="auto, cpu or cuda"),
        size: list[str] = typer.Option([], help="parameter lists to time (default: all of the device's)"),
        optimizer: list[str] = typer.Option([], help="optimizers to time (default: all)"),
        impl: list[str] = typer.Option([], help="implementations to time (default: all)"),
        steps: int = typer.Option(7, help="timed steps per row (median)"),
        scale: float = typer.Option(1.0, help="shrink every tensor by this factor (smoke runs)"),
        json_path: str | None = typer.Option(None, "--json", help="write the full result here"),
        markdown: str | None = typer.Option(None, help="write the tables as markdown here"),
        cpu_backends: bool = typer.Option(False, help="also compare numba, torch's fused op and inductor on CPU"),
        sweep: bool = typer.Option(False, help="on CUDA, first pick the Triton launch shape by timing"),
        precision: list[str] = typer.Option([], help="precision modes to time each optimizer in, e.g. "
                                            "master+bf16-state, several separated by commas, or all (default: "
                                            "the plain float32 run)"),
    ) -> None:
        """Time optimizer steps: inertia fused/reference against torch.optim, as % of the bandwidth floor."""
        json_file = _check_output("--json", json_path)
        markdown_file = _check_output("--markdown", markdown)
        result = run_bench(device, size, optimizer, impl, steps, scale, cpu_backends, sweep, precision)
        _write(json_file, json.dumps(result, indent=1))
        tables = markdown_tables(result)
        _write(markdown_file, tables)
        print(tables)
