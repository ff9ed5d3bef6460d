"""``inertia bench``: a shrunken run writes complete JSON and markdown; bad arguments exit 2 naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from inertia.bench.step_bytes import step_bytes
from inertia.cli import main


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
    (["--optimizer", "adamq"], "--optimizer: 'adamq'"),
    (["--size", "1B/1"], "--size: '1B/1'"),
    (["--impl", "jax"], "--impl: 'jax'"),
    (["--steps", "0"], "--steps: 0"),
    (["--scale", "2"], "--scale: 2"),
    (["--device", "tpu"], "--device: 'tpu'"),
    (["--impl", "inertia-fused-graph"], "--impl: 'inertia-fused-graph'"),  # a CUDA graph on CPU
    (["--precision", "master+fp16-state"], "--precision: 'master+fp16-state'"),
    (["--precision", "master,half"], "--precision: 'half'"),
    (["--precision", "native+8bit-state", "--optimizer", "sgd_momentum"],
     "--precision: 'native+8bit-state' with --optimizer 'sgd_momentum'"),
])
def test_bad_arguments_are_named(args: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--device", "cpu", *args] if "--device" not in args else ["bench", *args]) == 2
    assert named in capsys.readouterr().err


def test_precision_run_reports_bytes_per_mode_beside_torch(tmp_path: Path) -> None:
    """``--precision``: one line per optimizer and mode, inertia's rows in the mode over its dtype, torch.optim's
    float32 rows (and, for bf16 parameters, its bf16 rows) timed beside them; every row carries the bytes it
    moves (the formula for its own mode and dtype) and the state it holds, measured."""
    out, markdown = tmp_path / "bench.json", tmp_path / "bench.md"
    code = main(["bench", "--device", "cpu", "--scale", "0.004096", "--steps", "1", "--size", "40M/40",
                 "--optimizer", "adamw", "--precision", "master,native+8bit-state",
                 "--json", str(out), "--markdown", str(markdown)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["precisions"] == ["master+fp32-state", "native+8bit-state"]
    rows = {(r["precision"], r["impl"]): r for r in result["rows"]}
    bf16 = ("inertia-fused", "inertia-reference", "torch-foreach", "torch-fused", "torch-foreach-bf16",
            "torch-fused-bf16")
    assert set(rows) == ({("master+fp32-state", i) for i in bf16}
                         | {("native+8bit-state", i) for i in bf16[:4]})
    numels = [4096] * 40  # 40 tensors of 1M values scaled: whole 8-bit blocks, at the 8-bit threshold
    for (mode, impl), row in rows.items():
        own_mode = mode if impl.startswith("inertia") else "native"
        expected = step_bytes(own_mode, getattr(torch, row["param_dtype"]), 2, numels)
        assert row["step_ms"] is not None, row["note"]
        assert row["bytes_per_param"] == pytest.approx(expected.moved)
        assert row["state_bytes_per_param"] == pytest.approx(expected.state)
        assert row["percent_of_floor"] == pytest.approx(100 * row["floor_ms"] / row["step_ms"])
    assert rows[("native+8bit-state", "inertia-fused")]["state_bytes_per_param"] < 2.1  # quantised, not 8 B
    master = rows[("master+fp32-state", "inertia-fused")]
    assert master["param_dtype"] == "bfloat16" and rows[("master+fp32-state", "torch-fused")]["param_dtype"] == "float32"
    best = min(r["step_ms"] for (m, i), r in rows.items() if m == "master+fp32-state" and i.startswith("torch"))
    assert master["ratio_to_torch_best"] == pytest.approx(master["step_ms"] / best)
    text = markdown.read_text()
    assert "| optimizer | precision | GB/s |" in text
    assert f"| adamw | master+fp32-state | {master['bandwidth_GBps']:.0f} |" in text
    assert f"| {master['bytes_per_param']:.4g} | {master['state_bytes_per_param']:.4g} |" in text
