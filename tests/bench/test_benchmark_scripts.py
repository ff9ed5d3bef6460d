"""The scripts of ``benchmarks/``: the host-overhead rows keep their gradients; bad arguments are named."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest


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


@pytest.mark.parametrize(("script", "args", "named"), [
    ("step_host_overhead", ["--rounds", "0"], "--rounds must be at least 1, got 0"),
    ("step_host_overhead", ["--optimizers", "adamq"], "unknown optimizer 'adamq'"),
    ("lbfgs_vs_scipy", ["--dim", "1"], "--dim must be at least 2, got 1"),
    ("lbfgs_vs_scipy", ["--condition", "0.5"], "--condition must be at least 1, got 0.5"),
    ("train_overhead", ["--repeats", "0"], "--repeats must be at least 1, got 0"),
    ("train_overhead", ["--epochs", "0"], "epochs: must be an integer in [1, 100000], got 0"),
    ("monitor_overhead", ["--blocks", "0"], "--blocks must be at least 1, got 0"),
    ("monitor_overhead", ["--optimizer", "adamq"], "'adamq'"),
    ("lr_find_vs_grid", ["--epochs", "0"], "--epochs must be at least 1, got 0"),
    ("lr_find_vs_grid", ["--sweep-steps", "5"], "--sweep-steps must each be at least 10"),
    ("lr_find_vs_grid", ["--optimizers", "adamq"], "invalid choice: 'adamq'"),
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
