"""Parallel runs, fair tuning, the leaderboard and the comparison report."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from inertia.lab.compare import TUNING_SEED, compare, log_grid
from inertia.lab.compare_report import verdict, write_comparison
from inertia.lab.execute import load_run
from inertia.lab.parallel import run_many
from inertia.lab.run_config import RunConfig


def without_times(rows):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def test_parallel_runs_equal_serial_runs(tmp_path, one_thread):
    configs = [RunConfig("quadratic", name, lr=0.05, steps=40, noise=0.1, seed=s, problem_params={"dim": 5})
               for name in ("sgd", "rmsprop") for s in (0, 1)]
    done = []
    parallel = run_many(configs, tmp_path / "p", jobs=2, on_done=lambda c, s: done.append(c.run_id()))
    serial = run_many(configs, tmp_path / "s", jobs=1)
    assert [s["final_loss"] for s in serial] == [s["final_loss"] for s in parallel]
    assert sorted(done) == sorted(c.run_id() for c in configs)
    assert [s["run_id"] for s in parallel] == [c.run_id() for c in configs]
    for config in configs:
        rows_p = load_run(tmp_path / "p" / config.run_id())[2]
        rows_s = load_run(tmp_path / "s" / config.run_id())[2]
        assert without_times(rows_p) == without_times(rows_s) and len(rows_p) == 41


def test_run_many_rejects_bad_input_before_running(tmp_path):
    with pytest.raises(ValueError, match=r"jobs: must be an integer in \[1, 256\], got 0"):
        run_many([RunConfig("valley", "sgd")], tmp_path, jobs=0)
    with pytest.raises(ValueError, match="optimizer: unknown"):
        run_many([RunConfig("valley", "sgd"), RunConfig("valley", "adamq")], tmp_path)
    assert not any(tmp_path.iterdir())


def test_fair_tuning_picks_grid_minimum_and_ranks_by_target(tmp_path, one_thread):
    grid = log_grid(1e-3, 1.0, 4)
    base = RunConfig("valley", "sgd", steps=60, problem_params={"kappa": 10.0}, noise=0.05)
    result = compare(base, ["sgd", "momentum"], tmp_path, tune=True, seeds=2, grid=grid)
    for name in ("sgd", "momentum"):
        lrs, scores = result.sensitivity[name]
        assert lrs == list(grid)
        finals = []
        for lr in grid:  # the same budget for every optimizer: one run per grid point, on the tuning seed
            config = base.replace(optimizer=name, lr=lr, seed=result.tune_seed)
            _, summary, rows = load_run(tmp_path / "runs" / config.run_id())
            assert len(rows) == 61
            finals.append(rows[-1]["gap"] if summary["status"] == "completed" else math.inf)
        assert scores == finals and result.chosen_lr[name] == grid[finals.index(min(finals))]
    board = {row.optimizer: row for row in result.leaderboard}
    for name, row in board.items():
        runs = result.runs[name]
        assert row.seeds == 2 and [c.seed for c, _, _ in runs] == [0, 1]
        assert row.final_mean == pytest.approx(statistics.fmean(r[-1]["gap"] for _, _, r in runs))
        hits = [next((x["step"] for x in r if x["gap"] <= result.target), None) for _, _, r in runs]
        assert row.reached == sum(h is not None for h in hits)
    assert result.target == pytest.approx(1e-3 * result.runs["sgd"][0][2][0]["gap"])
    first, second = result.leaderboard
    assert (first.reached, -(first.steps_to_target or math.inf)) >= (second.reached, -(second.steps_to_target or math.inf))
    page = write_comparison(result)
    html = page.read_text()
    assert html.count("<img") == 3 + 1 and verdict(result) in html.replace("&#x27;", "'")  # + the monitor figure
    stored = json.loads((tmp_path / "leaderboard.json").read_text())
    assert [r["optimizer"] for r in stored["leaderboard"]] == [r.optimizer for r in result.leaderboard]
    assert (tmp_path / "leaderboard.csv").read_text().count("\n") == 3


def test_comparison_on_a_dataset_uses_accuracy(tmp_path, one_thread):
    base = RunConfig("teacher", "sgd", epochs=2, model="softmax", batch_size=200)
    result = compare(base, ["sgd", "adam"], tmp_path, seeds=1)
    assert result.metric == "test_accuracy" and result.higher_is_better
    finals = {name: runs[0][2][-1]["test_accuracy"] for name, runs in result.runs.items()}
    assert result.target == pytest.approx(0.95 * max(finals.values()))
    assert {r.optimizer: r.final_mean for r in result.leaderboard} == finals
    assert write_comparison(result).read_text().count("<img") == 2 + 1  # + the monitor figure


def test_compare_rejects_duplicate_optimizers(tmp_path):
    with pytest.raises(ValueError, match="optimizers: need distinct names"):
        compare(RunConfig("valley", "sgd"), ["sgd", "SGD"], tmp_path)


def _board(target, *rows):
    from pathlib import Path

    from inertia.lab.compare import Comparison, LeaderboardRow

    board = [LeaderboardRow(name, 0.1, 3, reached, steps, None if steps is None else steps / 100, final, 0.0, 0, 1.0)
             for name, reached, steps, final in rows]
    return Comparison(RunConfig("valley", "sgd"), [r.optimizer for r in board], {r.optimizer: 0.1 for r in board},
                      board, {}, {}, "gap", False, target, Path("."))


def test_verdict_does_not_call_the_first_ranked_optimizer_fastest_when_it_is_not():
    # adam reached the target in every seed; momentum needed fewer steps but in only 2 of 3 seeds
    sentence = verdict(_board(1e-3, ("adam", 3, 100.0, 1e-4), ("momentum", 2, 20.0, 5e-3), ("sgd", 0, None, 0.5)))
    assert sentence.startswith("adam ranks first: it reached the gap target 0.001 in 3/3 seeds, median 100 steps")
    assert "fewer steps than" not in sentence
    assert "momentum needed fewer steps (median 20) but reached it in only 2/3 seeds" in sentence
    assert sentence.endswith("; sgd did not reach it.")
    faster = verdict(_board(1e-3, ("adam", 3, 20.0, 1e-4), ("momentum", 3, 50.0, 5e-3)))
    assert "median 20 steps (0.2 s), 2.5x fewer steps than momentum." in faster
    assert "as many steps as momentum" in verdict(_board(1e-3, ("adam", 3, 20.0, 1e-4), ("momentum", 3, 20.0, 1e-3)))


def test_verdict_without_a_target_says_so():
    sentence = verdict(_board(None, ("adam", 0, None, -1.5), ("sgd", 0, None, -0.5)))
    assert sentence == "No target was set, so steps to target are not ranked; the best final gap was -1.5 (adam)."
    assert "reached the no target" not in sentence


def test_leaderboard_spread_is_not_invented_for_one_seed_or_a_diverged_seed():
    from inertia.lab.compare import leaderboard_row
    from inertia.lab.compare_report import format_row

    config = RunConfig("valley", "sgd")

    def seed(status, gap):
        return config, {"status": status, "wall_time_s": 1.0}, [{"step": 0, "gap": 5.0, "time_s": 0.0},
                                                                 {"step": 1, "gap": gap, "time_s": 0.1}]

    both = leaderboard_row("sgd", 0.1, [seed("completed", 1.0), seed("completed", 3.0)], "gap", False, 2.0)
    assert both.final_mean == 2.0 and both.final_std == pytest.approx(math.sqrt(2.0))
    assert both.reached == 1 and both.steps_to_target == 1
    one_diverged = leaderboard_row("sgd", 0.1, [seed("completed", 1.0), seed("diverged", math.inf)], "gap", False,
                                   2.0)
    assert one_diverged.final_mean == math.inf and one_diverged.final_std is None and one_diverged.diverged == 1
    single = leaderboard_row("sgd", 0.1, [seed("completed", 1.0)], "gap", False, 2.0)
    assert single.final_std is None and format_row(single) == "sgd: lr=0.1 final=1 steps=1"


def test_tuning_runs_on_a_seed_that_is_not_reported(tmp_path, one_thread):
    grid = log_grid(1e-2, 1.0, 3)
    base = RunConfig("quadratic", "sgd", steps=30, noise=0.2, problem_params={"dim": 4})
    result = compare(base, ["sgd", "adam"], tmp_path / "held", tune=True, seeds=2, grid=grid)
    assert result.tune_seed == TUNING_SEED and not result.tuned_in_sample()
    runs = sorted(p.name for p in (tmp_path / "held" / "runs").iterdir())
    assert sum(f"-s{TUNING_SEED}-" in name for name in runs) == 2 * len(grid)  # the search, on its own seed
    assert all([c.seed for c, _, _ in result.runs[name]] == [0, 1] for name in ("sgd", "adam"))
    for name in ("sgd", "adam"):  # the scores come from the tuning seed's runs, not from reported seed 0
        tuned = load_run(tmp_path / "held" / "runs" / base.replace(optimizer=name, lr=grid[0], seed=TUNING_SEED)
                         .run_id())[2]
        assert result.sensitivity[name][1][0] == tuned[-1]["gap"]
    write_comparison(result)
    assert "on seed 1000000 (held out from the reported seeds)" in (tmp_path / "held" / "index.html").read_text()
    stored = json.loads((tmp_path / "held" / "leaderboard.json").read_text())
    assert stored["tune_seed"] == TUNING_SEED and stored["tuned_in_sample"] is False
    in_sample = compare(base, ["sgd"], tmp_path / "in", tune=True, seeds=2, grid=grid, tune_seed=1)
    assert in_sample.tuned_in_sample()
    write_comparison(in_sample)
    assert "on seed 1 (which is also one of the reported seeds" in (tmp_path / "in" / "index.html").read_text()
    with pytest.raises(ValueError, match=r"tune_seed: must be an integer in \[0, 2\*\*63\), got -1"):
        compare(base, ["sgd"], tmp_path / "bad", tune=True, grid=grid, tune_seed=-1)


def test_verdict_names_optimizers_for_which_every_grid_rate_diverged():
    comparison = _board(None, ("adam", 0, None, 0.1), ("sgd", 0, None, math.inf))
    comparison.sensitivity = {"adam": ([0.01, 0.1, 1.0], [0.5, 0.1, 0.3]),
                              "sgd": ([0.01, 0.1, 1.0], [math.inf, math.inf, math.inf])}
    comparison.chosen_lr = {"adam": 0.1, "sgd": 0.01}
    sentence = verdict(comparison)
    assert "Every learning rate of the grid diverged or failed for sgd: the smallest rate was kept" in sentence
    assert "edge of the grid" not in sentence  # adam's 0.1 is inside the grid; sgd's case is named above
