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
    (["--optimizer", "lion"], "--optimizer: 'lion'"),
    (["--size", "1B/1"], "--size: '1B/1'"),
    (["--impl", "jax"], "--impl: 'jax'"),
    (["--steps", "0"], "--steps: 0"),
    (["--scale", "2"], "--scale: 2"),
    (["--device", "tpu"], "--device: 'tpu'"),
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
