"""Every optimizer of inertia.optim.OPTIMIZERS through the lab: train, compare, lr-find, the monitors,
``inertia problems``; Muon's split with AdamW, Schedule-Free's evaluation point, SparseAdam's refusal."""

from __future__ import annotations

import json
import math

import pytest
import torch

from inertia.cli import main
from inertia.lab.checkpoints import load_checkpoint
from inertia.lab.execute import execute
from inertia.lab.loops import evaluate, load_training
from inertia.lab.optimizer_setup import (
    OPTIMIZER_NOTES,
    SPARSE_ONLY,
    MuonWithAdamW,
    build_optimizer,
    split_for_muon,
)
from inertia.lab.run_config import ConfigError, RunConfig
from inertia.optim import OPTIMIZERS, AdamW
from inertia.optim.muon import Muon
from inertia.problems.models import make_model

DENSE = [name for name in OPTIMIZERS if name not in SPARSE_ONLY]
VECTOR = [name for name in DENSE if name != "muon"]  # the optimizers that take a problem's parameter vector
SPARSE = [name for name in OPTIMIZERS if name in SPARSE_ONLY]
TINY_TRAIN = ("--data", "digits", "--model", "softmax", "--epochs", "3", "--batch-size", "128")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def metric_rows(path) -> list[dict[str, float]]:
    header, *lines = path.read_text().split()
    return [dict(zip(header.split(","), map(float, line.split(",")), strict=True)) for line in lines]


@pytest.mark.parametrize("name", DENSE)
def test_train_makes_progress_under_the_monitors(name, tmp_path, capsys, one_thread) -> None:
    out = tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "train", *TINY_TRAIN, "--optimizer", name, "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    rows = metric_rows(out / "metrics.csv")
    assert code == 0 and summary["status"] == "completed" and summary["optimizer"] == name
    assert json.loads((out / "config.json").read_text())["optimizer"] == name
    assert all(math.isfinite(r["train_loss"]) for r in rows) and rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert summary["monitor"]["enabled"] and summary["monitor"]["samples"] > 0 and summary["warnings"] is not None
    assert (out / "monitor.json").exists() and f"{100 * summary['test_accuracy']:.2f}%" in stdout


@pytest.mark.parametrize("name", DENSE)
def test_compare_writes_a_leaderboard_naming_the_optimizer(name, tmp_path, capsys, one_thread) -> None:
    out = tmp_path / "cmp"
    code, stdout, _ = run_cli(capsys, "compare", "--problem", "digits", "--model", "softmax", "--optimizers", name,
                              "--seeds", "2", "--epochs", "2", "--out", str(out))
    board = json.loads((out / "leaderboard.json").read_text())
    (row,) = board["leaderboard"]
    assert code == 0 and row["optimizer"] == name and row["failed"] == 0 and row["diverged"] == 0
    assert 0 < row["final_mean"] <= 1 and math.isfinite(row["wall_time_s"])
    assert name in (out / "index.html").read_text(encoding="utf-8") and name in stdout
    assert (out / "leaderboard.csv").read_text().splitlines()[1].split(",")[1] == name


@pytest.mark.parametrize("name", VECTOR)
def test_every_vector_optimizer_descends_on_a_problem(name, tmp_path, one_thread) -> None:
    summary = execute(RunConfig("valley", name, steps=30), tmp_path)
    rows = metric_rows(tmp_path / "metrics.csv")
    assert summary["status"] == "completed" and summary["optimizer"] == name
    assert math.isfinite(summary["final_loss"]) and summary["final_loss"] < rows[0]["loss"]


@pytest.mark.parametrize("name", DENSE)
def test_lr_find_suggests_a_rate(name, tmp_path, capsys, one_thread) -> None:
    out = tmp_path / "lrf"
    code, stdout, _ = run_cli(capsys, "lr-find", "--optimizer", name, "--model", "softmax", "--steps", "12",
                              "--seeds", "1", "--batch-size", "256", "--no-curvature", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0 and summary["settings"]["optimizer"] == name
    assert math.isfinite(summary["suggested_lr"]) and summary["suggested_lr"] > 0
    assert (out / "lr_find.png").read_bytes().startswith(b"\x89PNG") and name in stdout


def test_problems_lists_every_optimizer_and_says_what_the_lab_does_with_some(capsys) -> None:
    code, stdout, _ = run_cli(capsys, "problems")
    text = " ".join(stdout.split())
    assert code == 0 and all(name in text for name in OPTIMIZERS)
    for name, note in OPTIMIZER_NOTES.items():
        if name in OPTIMIZERS:
            assert f"{name}: {' '.join(note.split())}" in text


@pytest.mark.parametrize("name", SPARSE)
@pytest.mark.parametrize("command", [("train", *TINY_TRAIN), ("lr-find", "--steps", "12"),
                                     ("compare", "--problem", "digits", "--seeds", "1")])
def test_a_sparse_only_optimizer_is_refused_with_its_reason(name, command, tmp_path, capsys) -> None:
    flag = "--optimizers" if command[0] == "compare" else "--optimizer"
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, *command, flag, name, "--out", str(out))
    assert code == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert f"{flag}: {name} takes sparse gradients only" in stderr and "dense gradients" in stderr
    assert not out.exists()


def test_a_sparse_only_optimizer_is_refused_by_the_python_api(tmp_path) -> None:
    for name in SPARSE_ONLY:
        with pytest.raises(ConfigError, match=f"optimizer: {name} takes sparse gradients only.*dense gradients"):
            execute(RunConfig("digits", name, model="mlp", epochs=1), tmp_path / name)
        assert not (tmp_path / name).exists()


@pytest.mark.parametrize("model, muon_names, adamw_names", [
    ("mlp", ["1.weight", "3.weight"], ["1.bias", "3.bias", "5.weight", "5.bias"]),
    ("cnn", ["6.weight"], ["0.weight", "0.bias", "3.weight", "3.bias", "6.bias", "8.weight", "8.bias"]),
    ("softmax", ["1.weight"], ["1.bias"]),  # no hidden matrix: the only one goes to Muon
])
def test_muon_takes_the_hidden_matrices_and_adamw_the_rest(model, muon_names, adamw_names) -> None:
    net = make_model(model, (1, 8, 8), 10)
    for_muon, for_adamw = split_for_muon(net.named_parameters())
    assert [n for n, _ in for_muon] == muon_names and [n for n, _ in for_adamw] == adamw_names
    assert all(p.ndim == 2 for _, p in for_muon)
    optimizer = build_optimizer("muon", net.named_parameters(), lr=0.01)
    assert isinstance(optimizer, MuonWithAdamW) and isinstance(optimizer.muon, Muon)
    assert isinstance(optimizer.adamw, AdamW) and optimizer.muon.defaults["adjust_lr_fn"] == "match_rms_adamw"
    by_name = dict(net.named_parameters())
    assert optimizer.muon.param_groups[0]["params"] == [by_name[n] for n in muon_names]
    assert optimizer.adamw.param_groups[0]["params"] == [by_name[n] for n in adamw_names]
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.01]


def test_muon_with_adamw_steps_as_the_two_optimizers_do() -> None:
    nets = [make_model("mlp", (1, 8, 8), 10, seed=3) for _ in range(2)]
    combined = build_optimizer("muon", nets[0].named_parameters(), lr=0.02, momentum=0.9)
    for_muon, for_adamw = split_for_muon(nets[1].named_parameters())
    apart = [Muon([p for _, p in for_muon], lr=0.02, momentum=0.9, adjust_lr_fn="match_rms_adamw"),
             AdamW([p for _, p in for_adamw], lr=0.02)]
    inputs, labels = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 10
    for _ in range(3):
        for net in nets:
            net.zero_grad()
            torch.nn.functional.cross_entropy(net(inputs), labels).backward()
        combined.step()
        for part in apart:
            part.step()
    for mine, reference in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(mine, reference)
    hidden = dict(nets[0].named_parameters())["1.weight"]
    assert set(combined.state) == set(nets[0].parameters()) and "momentum_buffer" in combined.state[hidden]


@pytest.mark.skipif("muon" not in OPTIMIZERS, reason="muon is not registered in inertia.optim.OPTIMIZERS")
def test_a_muon_run_names_its_split_resumes_exactly_and_is_refused_on_a_surface(tmp_path, one_thread) -> None:
    config = RunConfig("digits", "muon", model="mlp", lr=0.01, epochs=3, batch_size=128, checkpoint_every=1)

    def stop(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(config, tmp_path / "run", on_record=stop)
    resumed, reference = execute(config, tmp_path / "run"), execute(config, tmp_path / "reference")
    assert resumed["resumed_at"] == [1] and resumed["test_loss"] == reference["test_loss"]
    assert resumed["optimizer_setup"] == ("Muon (adjust_lr_fn=match_rms_adamw) on 1.weight, 3.weight; "
                                          "AdamW on 1.bias, 3.bias, 5.weight, 5.bias")
    with pytest.raises(ConfigError, match="optimizer: muon optimizes 2-D weight matrices.*'rosenbrock'"):
        execute(RunConfig("rosenbrock", "muon"), tmp_path / "surface")


@pytest.mark.skipif("muon" not in OPTIMIZERS, reason="muon is not registered in inertia.optim.OPTIMIZERS")
def test_a_compare_report_states_the_muon_split(tmp_path, capsys, one_thread) -> None:
    out = tmp_path / "cmp"
    code, _, _ = run_cli(capsys, "compare", "--problem", "digits", "--model", "softmax", "--optimizers", "muon,adamw",
                         "--seeds", "1", "--epochs", "1", "--out", str(out))
    board = json.loads((out / "leaderboard.json").read_text())
    assert code == 0 and board["optimizer_notes"] == {"muon": OPTIMIZER_NOTES["muon"]}
    assert "muon: Muon (adjust_lr_fn=match_rms_adamw) on the hidden layers" in (out / "index.html").read_text()


def test_schedule_free_is_evaluated_at_its_average(tmp_path, one_thread) -> None:
    config = RunConfig("digits", "schedule_free_adamw", model="softmax", lr=0.01, epochs=2, batch_size=128,
                       checkpoint_every=1)
    summary = execute(config, tmp_path)
    data, model = load_training(config)
    model.load_state_dict(load_checkpoint(tmp_path / "checkpoint.pt")["params"])
    optimizer = build_optimizer(config.optimizer, model.named_parameters(), lr=config.lr)
    optimizer.load_state_dict(load_checkpoint(tmp_path / "checkpoint.pt")["optimizer"])
    at_y = evaluate(model, data.X_test, data.y_test)
    optimizer.eval()
    at_x = evaluate(model, data.X_test, data.y_test)
    assert (summary["test_loss"], summary["test_accuracy"]) == at_x and at_x[0] != at_y[0]
    assert optimizer.param_groups[0]["train_mode"] is False
