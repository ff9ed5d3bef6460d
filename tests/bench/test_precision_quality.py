"""benchmarks/precision_quality.py: a tiny run of its modes, the stall rule, the interval, failing modes reported."""

from __future__ import annotations

import importlib.util
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from scipy import stats


def _load_script() -> Any:
    """The benchmark script as a module (registered, so its dataclasses resolve their module)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "precision_quality.py"
    spec = importlib.util.spec_from_file_location("benchmark_precision_quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


script = _load_script()


def test_stall_epoch_is_the_last_epoch_that_fell_by_more_than_the_drop() -> None:
    """Epochs 1 and 2 fall by far more than 1%, epoch 3 by 2%, later ones by less than 1%."""
    losses = [2.0, 1.0, 0.5, 0.49, 0.4899, 0.4898]
    assert script.stall_epoch(losses) == 3
    assert script.stall_epoch(losses, drop=0.05) == 2
    assert script.stall_epoch([1.0, 1.0, 1.2]) == 0


def test_t_interval_matches_scipy() -> None:
    values = [97.2, 98.1, 97.5, 96.9, 98.4]
    mean, half = script.t_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=statistics.fmean(values),
                                 scale=stats.sem(values))
    assert mean == pytest.approx((low + high) / 2)
    assert half == pytest.approx((high - low) / 2)
    assert math.isnan(script.t_interval([1.0])[1])


def test_every_mode_trains_one_epoch_of_the_teacher_problem() -> None:
    """One epoch at lr 1e-3: every mode lowers the training loss and beats chance (4 classes) on the test set;
    the within-0.5-points flag is the computed difference."""
    results = {mode: [script.train("teacher-mlp", script.MODES[mode], 0, 1e-3, 1, 64)]
               for mode in script.MODES}
    for mode, (result,) in results.items():
        assert result.error is None, mode
        assert result.losses[1] < result.losses[0], mode
        assert result.test_accuracy > 0.5, mode
    rows = script.summarise("teacher-mlp", results)
    assert [row.mode for row in rows] == list(script.MODES)
    for row in rows:
        assert row.within_tolerance == (abs(row.difference_points) <= script.TOLERANCE_POINTS)
    table = script.markdown_table(rows, 1)
    assert all(f"| teacher-mlp | {mode} |" in table for mode in script.MODES)


def test_bf16_native_stalls_where_stochastic_rounding_keeps_moving() -> None:
    """At lr 1e-5 Adam's steps are below half the bf16 spacing of almost every weight: rounded to nearest, the
    loss barely moves; with stochastic rounding it falls as the fp32 loss does."""
    drops = {}
    for mode in ("fp32", "bf16 native", "bf16 stochastic"):
        losses = script.train("teacher-mlp", script.MODES[mode], 0, 1e-5, 1, 64).losses
        drops[mode] = losses[0] - losses[-1]
    assert drops["fp32"] > 0
    assert drops["bf16 native"] < 0.25 * drops["fp32"]
    assert drops["bf16 stochastic"] > 0.5 * drops["fp32"]


def test_a_failing_mode_is_reported_with_its_error() -> None:
    """A refused mode (stochastic rounding of float32 parameters) keeps the optimizer's message, and the
    table says the row had an error instead of a verdict."""
    result = script.train("teacher-mlp", script.Mode(torch.float32, "stochastic"), 0, 1e-3, 1, 64)
    assert result.error is not None and result.error.startswith("ValueError: Invalid precision")
    good = script.train("teacher-mlp", script.MODES["fp32"], 0, 1e-3, 1, 64)
    rows = script.summarise("teacher-mlp", {"fp32": [good], "fp32 stochastic": [result]})
    assert rows[1].errors == [result.error]
    assert "error in 1 run(s)" in script.markdown_table(rows, 1)


@pytest.mark.parametrize(("args", "named"), [
    (["--epochs", "0"], "must be at least 1, got 0"),
    (["--lr", "-1"], "must be a finite number > 0, got -1.0"),
    (["--modes", "bf16 master"], "--modes must include the baseline 'fp32'"),
])
def test_bad_arguments_are_named(args: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        script.parse_args(args)
    assert stop.value.code == 2
    assert named in capsys.readouterr().err
