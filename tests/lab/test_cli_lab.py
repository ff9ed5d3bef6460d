"""The lab's commands through inertia.cli.main: train, compare, problems, tour and bad input."""

from __future__ import annotations

import json

import pytest

from inertia.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_defaults_reach_97_percent_and_resume(tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "train", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0 and summary["status"] == "completed"
    assert summary["test_accuracy"] >= 0.97 and summary["epochs"] == 30
    assert {"test_loss", "wall_time_s"} <= set(summary) and f"{100 * summary['test_accuracy']:.2f}%" in stdout
    config = json.loads((out / "config.json").read_text())
    assert (config["problem"], config["model"], config["optimizer"]) == ("digits", "mlp", "adam")
    code, stdout_again, _ = run_cli(capsys, "train", "--out", str(out))  # finished: reported, not redone
    assert code == 0 and json.loads((out / "summary.json").read_text()) == summary


def test_train_resumes_an_unfinished_run(tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    args = ("train", "--data", "teacher", "--model", "softmax", "--optimizer", "sgd", "--lr", "0.1",
            "--epochs", "4", "--checkpoint-every", "1", "--schedule", "exp:0.9", "--out", str(out))
    assert run_cli(capsys, *args)[0] == 0
    reference = (out / "metrics.csv").read_text()
    (out / "summary.json").write_text('{"status": "running"}')  # as after a kill ...
    import torch

    # the checkpoint written after epoch 2 (same run, same cadence) is what a kill would leave
    (out / "checkpoint.pt").unlink()
    assert run_cli(capsys, *args[:-2], "--epochs", "2", "--out", str(tmp_path / "short"))[0] == 0
    short = torch.load(tmp_path / "short" / "checkpoint.pt", weights_only=False)
    assert short["position"] == 2
    torch.save(short, out / "checkpoint.pt")
    trained = run_cli(capsys, *args)
    summary = json.loads((out / "summary.json").read_text())
    assert trained[0] == 0 and summary["status"] == "completed" and summary["resumed_at"] == [2]
    strip = lambda text: [line.rsplit(",", 1)[0] for line in text.splitlines()]  # noqa: E731 (drop time_s)
    assert strip((out / "metrics.csv").read_text()) == strip(reference)


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--optimizer", "adamq"], "--optimizer: unknown optimizer 'adamq'"),
    (["train", "--data", "svhn"], "--data: unknown dataset 'svhn'"),
    (["train", "--data", "mnist:/no/such/dir"], "--data: path '/no/such/dir' does not exist"),
    (["train", "--data", "mnist"], "--data: mnist needs a path"),
    (["train", "--model", "resnet"], "--model: unknown model 'resnet'"),
    (["train", "--lr", "-0.1"], "--lr: must be a finite number >= 0, got -0.1"),
    (["train", "--lr", "nan"], "--lr: must be a finite number >= 0, got nan"),
    (["train", "--epochs", "0"], "--epochs: must be an integer in [1, 100000], got 0"),
    (["train", "--schedule", "cosine:total=x"], "--schedule: 'cosine:total=x'"),
    (["train", "--epochs", "many"], "'--epochs'"),
    (["compare", "--problem", "bowl", "--optimizers", "sgd"], "--problem: unknown problem 'bowl'"),
    (["compare", "--problem", "valley", "--optimizers", ","], "--optimizers: expected a comma-separated list"),
    (["compare", "--problem", "valley", "--optimizers", "sgd,adamq"], "--optimizers: unknown optimizer 'adamq'"),
    (["compare", "--problem", "valley", "--optimizers", "sgd", "--tune", "--grid", "1:0.1:3"], "--grid: '1:0.1:3'"),
    (["compare", "--problem", "valley", "--optimizers", "sgd", "--seeds", "0"], "--seeds: must be an integer in [1, 1000]"),
    (["compare", "--problem", "valley", "--optimizers", "sgd", "--jobs", "0"], "--jobs: must be an integer in [1, 256]"),
    (["compare", "--optimizers", "sgd"], "--problem"),
    (["compare", "--problem", "valley", "--optimizers", "sgd", "--target", "nan"], "--target: must be a finite number, got nan"),
    (["compare", "--problem", "digits", "--optimizers", "sgd", "--target", "97"], "--target: the test accuracy to reach must be a fraction in (0, 1], got 97.0"),
    (["compare", "--problem", "valley", "--optimizers", "sgd", "--tune", "--lr", "0.1"],
     "--lr: 0.1 cannot be combined with --tune"),
    (["tour", "--lang", "fr"], "--lang: must be 'en' or 'ko', got 'fr'"),
    (["tour", "--seed", "-1"], "--seed: must be an integer in [0, 2**32), got -1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("inertia: error: ")


def test_compare_command_writes_leaderboard_and_report(tmp_path, capsys, one_thread):
    out = tmp_path / "cmp"
    code, stdout, _ = run_cli(capsys, "compare", "--problem", "himmelblau", "--optimizers", "sgd,adam",
                              "--tune", "--grid", "0.001,0.01,0.1", "--seeds", "1", "--steps", "50",
                              "--out", str(out))
    board = json.loads((out / "leaderboard.json").read_text())
    assert code == 0 and {r["optimizer"] for r in board["leaderboard"]} == {"sgd", "adam"}
    assert set(board["sensitivity"]["adam"]["lr"]) == {0.001, 0.01, 0.1}
    assert (out / "index.html").exists() and "leaderboard" in stdout and str(out / "index.html") in stdout


def test_problems_lists_every_problem(capsys):
    from inertia.problems.registry import list_problems

    code, stdout, _ = run_cli(capsys, "problems")
    assert code == 0 and all(name in stdout for name, _, _ in list_problems())


def test_tour_command_passes_out_lang_and_seed(tmp_path, capsys, monkeypatch):
    calls = []

    def fake_run_tour(out_dir, lang="en", seed=0):
        calls.append((out_dir, lang, seed))
        return out_dir

    monkeypatch.setattr("inertia.lab.lab_commands.run_tour", fake_run_tour)
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "tour", "--lang", "ko")[0] == 0
    assert run_cli(capsys, "tour", "--out", "elsewhere", "--seed", "3")[0] == 0
    assert [(str(out), lang, seed) for out, lang, seed in calls] == [("inertia-report", "ko", 0),
                                                                    ("elsewhere", "en", 3)]


@pytest.mark.parametrize("argv", [["train", "--epochs", "1"], ["compare", "--problem", "valley", "--optimizers", "sgd"],
                                  ["tour"]])
def test_out_under_a_file_is_rejected_before_any_work(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("x")
    code, _, err = run_cli(capsys, *argv, "--out", "taken/run")
    assert code == 2 and err == "inertia: error: --out: 'taken/run' cannot be created: 'taken' is not a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
