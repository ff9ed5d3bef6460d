"""``inertia bench``: a shrunken run writes complete JSON and markdown; bad arguments exit 2 naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
])
def test_bad_arguments_are_named(args: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--device", "cpu", *args] if "--device" not in args else ["bench", *args]) == 2
    assert named in capsys.readouterr().err
