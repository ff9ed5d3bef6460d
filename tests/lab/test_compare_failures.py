"""Runs that fail (an error, not a divergence) are shown as failed, and a comparison of failures is no success."""

from __future__ import annotations

import json
import math

import pytest

from inertia.cli import main
from inertia.lab import execute
from inertia.lab.compare import compare
from inertia.lab.compare_report import verdict, write_comparison
from inertia.lab.run_config import RunConfig

BASE = RunConfig("rosenbrock", "sgd", lr=1e-3, steps=5)


@pytest.fixture
def momentum_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every momentum run raises inside its loop; the other optimizers run as usual."""
    real = execute.run_optimization

    def run(config, *args, **kwargs):
        if config.optimizer == "momentum":
            raise RuntimeError("the loop broke")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(execute, "run_optimization", run)


def test_failed_runs_are_counted_apart_and_ranked_last(tmp_path, one_thread, momentum_fails) -> None:
    result = compare(BASE, ["momentum", "sgd"], tmp_path, seeds=2, monitor=False)
    rows = {row.optimizer: row for row in result.leaderboard}
    assert [row.optimizer for row in result.leaderboard] == ["sgd", "momentum"]
    assert (rows["momentum"].failed, rows["momentum"].diverged, rows["momentum"].reached) == (2, 0, 0)
    assert math.isnan(rows["momentum"].final_mean) and rows["momentum"].final_std is None
    assert rows["sgd"].failed == 0 and math.isfinite(rows["sgd"].final_mean)
    failed = result.failed_runs()
    assert [(config.optimizer, config.seed) for config, _ in failed] == [("momentum", 0), ("momentum", 1)]
    assert all("RuntimeError: the loop broke" in message for _, message in failed)
    assert "2 of 4 runs failed (first: RuntimeError: the loop broke)" in verdict(result)
    write_comparison(result)
    board = json.loads((tmp_path / "leaderboard.json").read_text())["leaderboard"]
    assert {row["optimizer"]: row["failed"] for row in board} == {"sgd": 0, "momentum": 2}
    assert "momentum" in (tmp_path / "leaderboard.csv").read_text().splitlines()[2]


def test_a_comparison_in_which_every_run_failed_exits_1_with_the_reason(tmp_path, capsys, monkeypatch,
                                                                          one_thread, momentum_fails) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["compare", "--problem", "rosenbrock", "--optimizers", "momentum", "--steps", "5", "--seeds", "2",
                 "--no-monitor", "--out", "cmp"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.splitlines()[-1] == ("inertia: error: every run failed; the first, momentum seed 0: "
                                             "RuntimeError: the loop broke")
    assert "Every run failed, so nothing was compared" in " ".join(captured.out.split())
    board = json.loads((tmp_path / "cmp" / "leaderboard.json").read_text())["leaderboard"]
    assert [(row["optimizer"], row["failed"], row["seeds"]) for row in board] == [("momentum", 2, 2)]


def test_a_comparison_with_some_failed_runs_exits_1_and_reports_the_rest(tmp_path, capsys, monkeypatch,
                                                                           one_thread, momentum_fails) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["compare", "--problem", "rosenbrock", "--optimizers", "sgd,momentum", "--lr", "1e-3", "--steps",
                 "5", "--seeds", "1", "--no-monitor", "--out", "cmp"])
    captured = capsys.readouterr()
    assert code == 1 and "1 of 2 runs failed; the first, momentum seed 0" in captured.err
    assert "sgd" in captured.out and "1 of 2 runs failed" in " ".join(captured.out.split())
