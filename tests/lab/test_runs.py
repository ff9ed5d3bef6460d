"""Run records, run directories, divergence handling and resuming."""

from __future__ import annotations

import json
import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inertia.lab.execute import execute, load_run
from inertia.lab.run_config import ConfigError, RunConfig
from inertia.lab.run_storage import prepare_run_dir, read_metrics, write_metrics
from inertia.lab.run_validation import validate
from inertia.optim.validation import check_lr


def without_times(rows):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def test_config_round_trip_and_stable_id():
    config = RunConfig("valley", "adam", lr=0.1, hyper={"betas": (0.8, 0.9)}, problem_params={"kappa": 10.0},
                       start=(1.0, 2.0), steps=5)
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.run_id() == config.run_id()
    assert config.run_id().startswith("valley-adam-lr0.1-s0-")
    assert config.replace(seed=1).run_id() != config.run_id()
    with pytest.raises(ValueError, match="unknown field"):
        RunConfig.from_dict({**config.to_dict(), "colour": 1})


@pytest.mark.parametrize("changes, message", [
    ({"optimizer": "adamm"}, "optimizer: unknown optimizer 'adamm'"),
    ({"lr": -1.0}, "lr: must be a finite number >= 0, got -1.0"),
    ({"lr": True}, "lr: must be a finite number >= 0, got True"),
    ({"steps": 0}, "steps: must be an integer in "),
    ({"problem": "banana"}, "problem: unknown problem 'banana'"),
    ({"schedule": "step:every=0,gamma=0.5"}, "schedule: 'step:every=0,gamma=0.5'"),
    ({"problem": "digits", "model": "vgg"}, "model: unknown model 'vgg'"),
    ({"noise": -1.0}, "noise: must be a finite number >= 0"),
    ({"target": float("nan")}, "target: must be a finite number, got nan"),
    ({"problem": "digits", "target": 97.0}, "target: the test accuracy to reach must be a fraction in (0, 1]"),
])
def test_validate_names_argument_and_value(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(RunConfig("valley", "sgd").replace(**changes))


def test_validate_takes_the_optimizers_lr_rule():
    """A run's lr follows torch.optim's rule, as the optimizers do: a finite number >= 0 (0 included)."""
    validate(RunConfig("valley", "sgd").replace(lr=0.0))
    for lr in (-1.0, float("inf"), True):
        with pytest.raises(ConfigError) as run_error:
            validate(RunConfig("valley", "sgd").replace(lr=lr))
        with pytest.raises(ValueError) as optimizer_error:
            check_lr(lr)
        assert run_error.value.detail == f"must be a finite number >= 0, got {lr!r}"
        assert str(optimizer_error.value) == f"Invalid lr: {lr!r} (must be a finite number >= 0)"


def test_run_directory_refuses_other_config(tmp_path):
    prepare_run_dir(RunConfig("valley", "sgd", lr=0.1), tmp_path / "run")
    with pytest.raises(ConfigError, match=r"^run_dir: .* holds a different run \(differs in: lr\)") as caught:
        prepare_run_dir(RunConfig("valley", "sgd", lr=0.2), tmp_path / "run")
    assert caught.value.field == "run_dir"


def test_config_error_survives_pickling():  # worker processes send errors back pickled
    error = pickle.loads(pickle.dumps(ConfigError("batch_size", "must be an integer >= 1, got 0")))
    assert isinstance(error, ValueError) and (error.field, error.detail) == ("batch_size", "must be an integer >= 1, got 0")
    assert str(error) == "batch_size: must be an integer >= 1, got 0"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.floats(allow_nan=False), st.none() | st.floats(-1e300, 1e300)),
                min_size=1, max_size=5))
def test_metrics_csv_round_trip_is_exact(tmp_path_factory, values):
    rows = [{"step": s, "loss": a, "gap": b} for s, a, b in values]
    path = tmp_path_factory.mktemp("csv") / "metrics.csv"
    write_metrics(path, rows)
    assert read_metrics(path) == rows


def test_optimization_run_records_each_iterate(tmp_path, one_thread):
    config = RunConfig("rosenbrock", "sgd", lr=1e-3, steps=20)
    summary = execute(config, tmp_path / "run")
    _, stored, rows = load_run(tmp_path / "run")
    assert stored == summary and summary["status"] == "completed"
    assert [r["step"] for r in rows] == list(range(21)) and (rows[0]["x"], rows[0]["y"]) == (-1.2, 1.0)
    # row t+1 is one SGD step from row t: x_{t+1} = x_t - lr * grad f(x_t)
    from inertia.problems.registry import get_problem

    problem = get_problem("rosenbrock")
    x = torch.tensor([rows[5]["x"], rows[5]["y"]], dtype=torch.float64)
    expected = x - 1e-3 * problem.grad(x)
    assert torch.allclose(torch.tensor([rows[6]["x"], rows[6]["y"]], dtype=torch.float64), expected, rtol=0, atol=1e-15)
    assert rows[5]["loss"] == pytest.approx(float(problem.loss(x)), rel=1e-15)
    assert summary["final_loss"] == rows[-1]["loss"] and summary["steps"] == 20
    assert all(r["time_s"] >= 0 for r in rows)


def test_divergence_stops_cleanly_and_keeps_last_good_checkpoint(tmp_path, one_thread):
    config = RunConfig("valley", "sgd", lr=1e3, steps=400, checkpoint_every=20)
    summary = execute(config, tmp_path / "run")
    _, _, rows = load_run(tmp_path / "run")
    bad_step = next(r["step"] for r in rows if not math.isfinite(r["loss"]))
    assert summary["status"] == "diverged" and rows[-1]["step"] == bad_step < 400
    assert f"at step {bad_step}" in summary["message"]
    kept = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert kept["position"] == summary["checkpoint_step"] == 20 * ((bad_step - 1) // 20)
    assert f"checkpoint (step {kept['position']}) kept" in summary["message"]
    assert torch.isfinite(kept["params"]).all()
    # a finished (diverged) run is not repeated
    assert execute(config, tmp_path / "run") == summary


def test_training_divergence_names_the_step(tmp_path, one_thread):
    summary = execute(RunConfig("digits", "sgd", lr=100.0, epochs=3, model="mlp"), tmp_path / "run")
    assert summary["status"] == "diverged"
    assert "non-finite training loss" in summary["message"] and "at step " in summary["message"]


def test_interrupted_run_resumes_to_identical_records(tmp_path, one_thread):
    config = RunConfig("quadratic", "momentum", lr=0.05, steps=120, noise=0.3, seed=3, checkpoint_every=25,
                       problem_params={"dim": 8, "condition": 50.0}, schedule="step:every=40,gamma=0.5")
    reference = execute(config, tmp_path / "reference")

    def interrupt(row):
        if row["step"] == 90:
            raise KeyError("interrupted")

    with pytest.raises(KeyError):
        execute(config, tmp_path / "resumed", on_record=interrupt)
    assert json.loads((tmp_path / "resumed" / "summary.json").read_text())["status"] == "failed"
    resumed = execute(config, tmp_path / "resumed")
    assert resumed["resumed_at"] == [75] and resumed["status"] == "completed"
    assert without_times(load_run(tmp_path / "resumed")[2]) == without_times(load_run(tmp_path / "reference")[2])
    assert resumed["final_loss"] == reference["final_loss"]


def test_ctrl_c_is_recorded_and_a_restart_leaves_no_records_of_the_discarded_run(tmp_path, one_thread):
    config = RunConfig("quadratic", "adam", lr=0.05, steps=30, checkpoint_every=10, problem_params={"dim": 4})
    reference = execute(config, tmp_path / "run")
    reference_rows = load_run(tmp_path / "run")[2]

    def ctrl_c_at(step):
        def interrupt(row):
            if row["step"] == step:
                raise KeyboardInterrupt

        return interrupt

    with pytest.raises(KeyboardInterrupt):  # restart, interrupted before its first checkpoint
        execute(config, tmp_path / "run", rerun=True, on_record=ctrl_c_at(5))
    _, summary, rows = load_run(tmp_path / "run")
    assert summary["status"] == "failed" and summary["message"] == "KeyboardInterrupt"
    assert rows == [] and not (tmp_path / "run" / "checkpoint.pt").exists()
    with pytest.raises(KeyboardInterrupt):  # run again: starts afresh, interrupted after its step-20 checkpoint
        execute(config, tmp_path / "run", on_record=ctrl_c_at(25))
    assert [r["step"] for r in load_run(tmp_path / "run")[2]] == list(range(20))
    resumed = execute(config, tmp_path / "run")
    assert resumed["resumed_at"] == [20] and resumed["final_loss"] == reference["final_loss"]
    assert without_times(load_run(tmp_path / "run")[2]) == without_times(reference_rows)
