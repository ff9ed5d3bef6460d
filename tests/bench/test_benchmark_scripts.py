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


def test_memory_benchmark_measures_state_and_labels_published_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/step_memory.py: each row's measured state per parameter is the formula's for its mode
    (bf16 state: no size threshold, so exact on the whole model), the same with the step fused into backward,
    and the published peer figures are quoted as such, not as measurements."""
    import sys

    import torch

    from inertia.bench.step_bytes import step_bytes

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "step_memory.py"
    spec = importlib.util.spec_from_file_location("step_memory", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "step_memory", script)  # dataclasses look their module up by name
    spec.loader.exec_module(script)
    mode, template = "bf16+stochastic+bf16-state", script.GPT2Shaped(script.Shape.scaled(0.02), torch.bfloat16)
    results = [script.measure(row, template, mode, 1, 8) for row in script.ROWS if row.label == "inertia.AdamW fused"]
    assert [r["in_backward"] for r in results] == [False, True]
    expected = step_bytes("stochastic+bf16-state", torch.bfloat16, 2).state
    assert all(r["state"] == pytest.approx(expected) for r in results)
    torch_bf16 = script.measure(script.ROWS[0], template, mode, 1, 8)  # torch's own bf16: bf16 state, no master
    assert torch_bf16["precision"] == "bf16 (torch's own)"
    assert torch_bf16["state"] == pytest.approx(step_bytes("native", torch.bfloat16, 2).state)
    text = script.table(results + [torch_bf16])
    assert "published state B/param, nearest peer (not measured)" in text
    assert text.count("| 6 (HeavyBall ECC bf16+8) |") == 3
    assert "torchao 4-bit Adam 1" in text
