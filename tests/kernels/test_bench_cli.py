"""``inertia bench``: a shrunken run writes complete JSON and markdown; bad arguments exit 2 naming them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from packaging.requirements import Requirement

from inertia.cli import main
from inertia.kernels.bench import OPTIMIZERS, _prepare


def test_small_cpu_run_writes_json_and_markdown(tmp_path: Path) -> None:
    out, markdown = tmp_path / "bench.json", tmp_path / "bench.md"
    code = main(["bench", "--device", "cpu", "--scale", "0.001", "--steps", "2", "--size", "10M/1000",
                 "--optimizer", "rmsprop", "--optimizer", "adam", "--impl", "inertia-fused", "--impl", "torch-fused",
                 "--json", str(out), "--markdown", str(markdown)])
    assert code == 0
    result = json.loads(out.read_text())
    rows = {(r["optimizer"], r["impl"]): r for r in result["rows"]}
    assert set(rows) == {(o, i) for o in ("rmsprop", "adam") for i in ("inertia-fused", "torch-fused")}
    assert rows[("rmsprop", "torch-fused")]["step_ms"] is None and "fused" in rows[("rmsprop", "torch-fused")]["note"]
    adam = rows[("adam", "inertia-fused")]
    assert adam["ratio_to_torch_best"] == pytest.approx(adam["step_ms"] / rows[("adam", "torch-fused")]["step_ms"])
    assert rows[("rmsprop", "inertia-fused")]["ratio_to_torch_best"] is None
    assert adam["percent_of_floor"] == pytest.approx(100 * adam["floor_ms"] / adam["step_ms"])
    assert result["machine"]["torch"] and result["bandwidth_GBps"] > 0
    assert "| adam |" in markdown.read_text()


@pytest.mark.parametrize(("args", "named"), [
    (["--optimizer", "lion"], "--optimizer: 'lion'"),
    (["--size", "1B/1"], "--size: '1B/1'"),
    (["--impl", "jax"], "--impl: 'jax'"),
    (["--steps", "0"], "--steps: 0"),
    (["--scale", "2"], "--scale: 2"),
    (["--device", "tpu"], "--device: 'tpu'"),
    (["--impl", "inertia-fused-graph"], "--impl: 'inertia-fused-graph'"),  # a CUDA graph on CPU
])
def test_bad_arguments_are_named(args: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--device", "cpu", *args] if "--device" not in args else ["bench", *args]) == 2
    assert named in capsys.readouterr().err


class _FakeEvent:
    """Stands in for a CUDA event: each batch costs its calls plus one step's fill (``FILL`` seconds)."""

    FILL = 50e-6
    now = 0.0

    def __init__(self, enable_timing: bool = True) -> None:
        self.at = 0.0

    def record(self) -> None:
        self.at = _FakeEvent.now

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end: _FakeEvent) -> float:
        return (end.at - self.at + self.FILL) * 1e3  # milliseconds, as CUDA events report


def test_cuda_batches_are_lengthened_so_the_fill_weighs_little(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from inertia.kernels import bench

    per_call, calls = 50e-6, []

    def step() -> None:
        calls.append(1)
        _FakeEvent.now += per_call

    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    seconds = bench.time_call(step, torch.device("cuda"), steps=10, warmup=2)
    length = int(bench.MIN_BATCH_SECONDS / (per_call + _FakeEvent.FILL / 10))
    assert len(calls) == 2 + 10 + 3 * length
    # One step's fill spread over `length` steps instead of 10: within 1% of the per-call time.
    assert seconds == pytest.approx(per_call + _FakeEvent.FILL / length) and seconds < 1.01 * per_call


def _load_benchmark(name: str) -> Any:
    """A script of ``benchmarks/`` as a module (the folder is not a package)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_host_overhead_zero_grad_leaves_every_row_its_gradients() -> None:
    """The timed zero_grad of a row must not leave the next timed steps without gradients (an empty
    torch step costs a fraction of a real one) or with zeroed ones."""
    import torch

    script = _load_benchmark("step_host_overhead")
    rows = script.build_rows("adam", 3, 4, torch.device("cpu"))
    checked = []
    for label, (step, zero) in rows.items():
        if zero is None:
            continue
        params = [p for group in step.__self__.param_groups for p in group["params"]]
        before = [p.grad.clone() for p in params]
        zero()
        assert all(p.grad is not None and torch.equal(p.grad, g) for p, g in zip(params, before, strict=True)), label
        checked.append(label)
    assert sorted(checked) == ["inertia", "torch-foreach", "torch-fused"]


def test_markdown_of_rows_without_their_own_bandwidth_shows_the_run_bandwidth() -> None:
    """Rows saved before the per-row bandwidth existed (benchmarks/results/step_speed_cuda_h200.json)
    show the run's bandwidth in the GB/s column, not an invented 0."""
    from inertia.kernels.report import markdown_tables

    row = {"size": "10M/100", "optimizer": "adam", "impl": "inertia-fused", "step_ms": 0.104, "floor_ms": 0.064,
           "percent_of_floor": 61.5, "ratio_to_torch_best": None, "note": ""}
    result = {"machine": {"date": "2026-11-27 22:49 UTC"}, "steps": 10, "bandwidth_GBps": 4352.8, "rows": [row]}
    assert "| adam | 4353 | 0.064 | 0.104 (62%) | n/a |" in markdown_tables(result)


@pytest.mark.parametrize(("script", "args", "named"), [
    ("step_host_overhead", ["--rounds", "0"], "--rounds must be at least 1, got 0"),
    ("step_host_overhead", ["--optimizers", "lion"], "unknown optimizer 'lion'"),
    ("lbfgs_vs_scipy", ["--dim", "1"], "--dim must be at least 2, got 1"),
    ("lbfgs_vs_scipy", ["--condition", "0.5"], "--condition must be at least 1, got 0.5"),
    ("train_overhead", ["--repeats", "0"], "--repeats must be at least 1, got 0"),
    ("train_overhead", ["--epochs", "0"], "epochs: must be an integer in [1, 100000], got 0"),
    ("monitor_overhead", ["--blocks", "0"], "--blocks must be at least 1, got 0"),
    ("monitor_overhead", ["--optimizer", "lion"], "'lion'"),
    ("lr_find_vs_grid", ["--epochs", "0"], "--epochs must be at least 1, got 0"),
    ("lr_find_vs_grid", ["--sweep-steps", "5"], "--sweep-steps must each be at least 10"),
    ("lr_find_vs_grid", ["--optimizers", "lion"], "invalid choice: 'lion'"),
])
def test_benchmark_scripts_name_bad_arguments(script: str, args: list[str], named: str,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Bad arguments stop a benchmark before any work, with argparse's exit code 2 and the value named
    (not a traceback, nor a verdict computed from a degenerate run)."""
    import inspect
    import sys

    module = _load_benchmark(script)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *args])
    with pytest.raises(SystemExit) as exit_info:
        module.main(args) if inspect.signature(module.main).parameters else module.main()
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


def test_fused_rows_name_the_kernel_each_rule_ran() -> None:
    """With numba installed (a regular dependency), every rule's fused row runs a CPU kernel, and says which."""
    pytest.importorskip("numba")
    masters, grads = [torch.randn(300), torch.randn(200)], [torch.randn(300), torch.randn(200)]
    for name in OPTIMIZERS:
        optimizer, note = _prepare(name, "inertia-fused", masters, grads)
        assert optimizer is not None and note in ("numba kernel", "torch's fused op"), (name, note)
    _, reference_note = _prepare("adam", "inertia-reference", masters, grads)
    assert reference_note == ""


def test_numba_is_a_regular_dependency_where_it_has_wheels() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    numba = [Requirement(r) for r in pyproject["project"]["dependencies"] if r.startswith("numba")]
    assert len(numba) == 1 and numba[0].marker is not None
    for machine in ("x86_64", "AMD64", "aarch64", "arm64"):
        assert numba[0].marker.evaluate({"platform_machine": machine, "python_version": "3.12"})
    assert not numba[0].marker.evaluate({"platform_machine": "ppc64le", "python_version": "3.12"})
