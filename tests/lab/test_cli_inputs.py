"""Bad command-line input of train and compare: the error names the flag and nothing is left behind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inertia.cli import main
from inertia.lab.run_config import ConfigError, RunConfig
from inertia.lab.run_validation import validate
from inertia.problems.file_formats import MNIST_STEMS, write_idx

COMPARE = ("compare", "--problem", "valley", "--optimizers", "sgd", "--steps", "2", "--seeds", "1")


def error_of(capsys, *argv: str) -> str:
    """The one stderr line of a command that must fail with exit code 2 (before any work)."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("inertia: error: ")
    return err.removeprefix("inertia: error: ").rstrip("\n")


def write_tiny_mnist(folder) -> str:
    """Four IDX files of 4x4 images (12 train, 6 test): a real, loadable MNIST folder."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for split, count in (("train", 12), ("test", 6)):
        key = "t10k" if split == "test" else "train"
        write_idx(folder / MNIST_STEMS[f"{split}_images"].replace("train", key, 1),
                  rng.integers(0, 256, (count, 4, 4)).astype(np.uint8))
        write_idx(folder / MNIST_STEMS[f"{split}_labels"].replace("train", key, 1),
                  rng.integers(0, 10, count).astype(np.uint8))
    return str(folder)


@pytest.mark.parametrize("argv, expected", [
    (["train", "--batch-size", "0"], "--batch-size: must be an integer in [1, 10000000], got 0"),
    (["train", "--checkpoint-every", "0"], "--checkpoint-every: must be an integer in [1, 1000000], got 0"),
    (["train", "--lr", "-0.1"], "--lr: must be a finite number >= 0, got -0.1"),
    (["train", "--epochs", "0"], "--epochs: must be an integer in [1, 100000], got 0"),
    (["train", "--model", "resnet"], "--model: unknown model 'resnet'"),
    (["train", "--optimizer", "adamq"], "--optimizer: unknown optimizer 'adamq'"),
    (["train", "--schedule", "step:every=0"], "--schedule: 'step:every=0' is not a valid schedule spec"),
    (["train", "--seed", "-1"], "--seed: must be an integer in [0, 2**63), got -1"),
    ([*COMPARE, "--seeds", "0"], "--seeds: must be an integer in [1, 1000], got 0"),
    ([*COMPARE, "--jobs", "0"], "--jobs: must be an integer in [1, 256], got 0"),
    ([*COMPARE, "--target", "nan"], "--target: must be a finite number, got nan"),
    ([*COMPARE, "--noise", "-1"], "--noise: must be a finite number >= 0, got -1.0"),
    ([*COMPARE, "--steps", "0"], "--steps: must be an integer in [1, 1000000], got 0"),
    ([*COMPARE[:4], "sgd,adamq"], "--optimizers: unknown optimizer 'adamq'"),
    ([*COMPARE[:4], "sgd,sgd"], "--optimizers: need distinct names, got 'sgd,sgd'"),
    (["compare", "--problem", "bowl", "--optimizers", "sgd"], "--problem: unknown problem 'bowl'"),
])
def test_validation_errors_name_the_flag(tmp_path, capsys, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    assert error_of(capsys, *argv).startswith(expected)
    assert list(tmp_path.iterdir()) == []


def test_the_python_api_names_the_field():
    with pytest.raises(ConfigError, match=r"^batch_size: must be an integer in \[1, 10000000\], got 0$") as caught:
        validate(RunConfig("digits", "sgd", batch_size=0))
    assert (caught.value.field, caught.value.detail) == ("batch_size", "must be an integer in [1, 10000000], got 0")
    with pytest.raises(ConfigError, match=r"^schedule: 'exp:2:3' is not a valid schedule spec"):
        validate(RunConfig("valley", "sgd", schedule="exp:2:3"))


def test_out_holding_another_run_is_named_as_out(tmp_path, capsys, one_thread):
    args = ("train", "--data", "teacher", "--model", "softmax", "--epochs", "1", "--batch-size", "512")
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    message = error_of(capsys, *args, "--lr", "0.5", "--out", str(tmp_path / "run"))
    assert message.startswith(f"--out: {str(tmp_path / 'run')!r} holds a different run (differs in: lr)")


@pytest.mark.parametrize("kind", ["mnist", "cifar10"])
def test_bad_data_leaves_nothing_and_names_data(tmp_path, capsys, kind):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    for path in (tmp_path / "empty", tmp_path / "file"):
        message = error_of(capsys, "train", "--data", f"{kind}:{path}", "--out", str(tmp_path / "run"))
        assert message.startswith("--data: ") and str(path) in message
        assert not (tmp_path / "run").exists()


def test_a_fixed_data_path_then_trains_in_the_same_out(tmp_path, capsys, one_thread):
    (tmp_path / "empty").mkdir()
    out = str(tmp_path / "run")
    error_of(capsys, "train", "--data", f"mnist:{tmp_path / 'empty'}", "--out", out)
    data = write_tiny_mnist(tmp_path / "mnist")
    assert main(["train", "--data", f"mnist:{data}", "--model", "softmax", "--epochs", "1", "--out", out]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["dataset"]["n_train"] == 12


def test_compare_names_problem_for_a_bad_data_path(tmp_path, capsys):
    out = tmp_path / "cmp"
    message = error_of(capsys, "compare", "--problem", "mnist:/nonexistent", "--optimizers", "sgd",
                       "--out", str(out))
    assert message == "--problem: path '/nonexistent' does not exist"
    (tmp_path / "empty").mkdir()
    message = error_of(capsys, "compare", "--problem", f"mnist:{tmp_path / 'empty'}", "--optimizers", "sgd",
                       "--out", str(out))
    assert message.startswith("--problem: MNIST file") and "not found" in message and not out.exists()


@pytest.mark.parametrize("seed", ["99999999999999999999", str(2**63)])
def test_a_seed_out_of_range_is_refused_up_front(tmp_path, capsys, seed):
    message = error_of(capsys, "train", "--seed", seed, "--out", str(tmp_path / "run"))
    assert message == f"--seed: must be an integer in [0, 2**63), got {seed}"
    assert not (tmp_path / "run").exists()


def test_seed_range_in_the_python_api():
    validate(RunConfig("valley", "sgd", seed=2**63 - 1))
    with pytest.raises(ConfigError, match=r"^seed: must be an integer in \[0, 2\*\*63\), got 9223372036854775808$"):
        validate(RunConfig("valley", "sgd", seed=2**63))
    validate(RunConfig("digits", "sgd", data_seed=2**32 - 1))
    with pytest.raises(ConfigError, match=r"^data_seed: must be an integer in \[0, 2\*\*32\)"):
        validate(RunConfig("digits", "sgd", data_seed=2**32))


@pytest.mark.parametrize("target", ["-1", "0"])
def test_compare_refuses_a_gap_target_that_is_not_positive(tmp_path, capsys, target):
    message = error_of(capsys, "compare", "--problem", "rosenbrock", "--optimizers", "sgd", "--target", target,
                       "--out", str(tmp_path / "cmp"))
    assert message.startswith("--target: the gap f - f* to reach must be > 0") and message.endswith(str(float(target)))
    assert not (tmp_path / "cmp").exists()


def test_a_loss_target_may_be_negative_where_the_minimum_is_unknown():
    validate(RunConfig("saddle", "sgd", target=-1.0))  # f* unknown: the target is a loss, any finite number
    with pytest.raises(ConfigError, match=r"^target: the gap f - f\* to reach must be > 0"):
        validate(RunConfig("saddle_bounded", "sgd", target=-1.0))


def test_compare_passes_tune_seed_and_names_it_when_bad(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["compare", "--problem", "rosenbrock", "--optimizers", "sgd", "--tune", "--grid", "0.001,0.01",
            "--seeds", "2", "--steps", "5", "--no-monitor", "--out", "cmp"]
    assert main([*args, "--tune-seed", "-1"]) == 2
    assert "--tune-seed: must be an integer in [0, 2**63), got -1" in capsys.readouterr().err
    assert main([*args, "--tune-seed", "1"]) == 0
    leaderboard = json.loads((tmp_path / "cmp" / "leaderboard.json").read_text())
    assert leaderboard["tune_seed"] == 1 and leaderboard["tuned_in_sample"] is True
