"""benchmarks/fsdp_step.py runs end to end at a tiny size (nothing is timed here) and names bad arguments."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fsdp_step.py"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_fsdp_step_benchmark_runs_every_path_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "fsdp.json"
    done = run_script("--params-per-rank", "3000", "--layers", "2", "--repeats", "1", "--warmup", "1",
                      "--optimizers", "adam,rmsprop", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert [row["rule"] for row in record["rows"]] == ["adam", "rmsprop"]
    for row in record["rows"]:
        assert {"inertia-fused", "torch-foreach", "torch-default"} <= row["median_s"].keys(), row
        assert all(seconds > 0 for seconds in row["median_s"].values())
        fastest_torch = min(s for label, s in row["median_s"].items() if label.startswith("torch"))
        assert row["ratio_to_torch_best"] == row["median_s"]["inertia-fused"] / fastest_torch
    assert "torch-fused" in record["rows"][0]["median_s"]  # torch's fused Adam steps DTensors
    assert "torch-fused" in record["rows"][1]["skipped"]  # torch has no fused RMSprop
    assert "ratio" in done.stdout and "rmsprop" in done.stdout


@pytest.mark.parametrize(("args", "named"), [
    (["--params-per-rank", "0"], "--params-per-rank must be at least 1, got 0"),
    (["--repeats", "0"], "--repeats must be at least 1, got 0"),
    (["--warmup", "-1"], "--warmup must be at least 0, got -1"),
    (["--optimizers", "adam,lion"], "unknown optimizer 'lion'"),
])
def test_fsdp_step_benchmark_names_bad_arguments(args: list[str], named: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("benchmark_fsdp_step", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as exit_info:
        script.parse_args(args)
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err
