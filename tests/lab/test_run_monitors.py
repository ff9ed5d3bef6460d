"""Optimizer monitors in the lab: summary fields, live warnings, comparisons, resume, --hyper."""

from __future__ import annotations

import json

import pytest
import torch

from inertia.cli import main
from inertia.lab.execute import execute, load_run
from inertia.lab.hyper_spec import format_value, parse_hyper
from inertia.lab.run_config import RunConfig
from inertia.lab.run_monitors import load_monitor
from inertia.optim import make_optimizer

WARNING_KEYS = {"step", "layer", "pathology", "value", "message"}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def without_times(rows):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def test_train_records_warnings_and_the_monitor_changes_no_number(tmp_path, capsys, one_thread):
    args = ("train", "--data", "teacher", "--model", "mlp", "--optimizer", "sgd", "--lr", "3", "--epochs", "2",
            "--batch-size", "100")
    code, stdout, err = run_cli(capsys, *args, "--out", str(tmp_path / "on"))
    summary = json.loads((tmp_path / "on" / "summary.json").read_text())
    assert code == 0 and summary["status"] == "completed"
    monitor = summary["monitor"]
    assert monitor["enabled"] and monitor["samples"] > 0 and monitor["interval"] >= 1
    assert monitor["layers"] == ["1", "3", "5"] and monitor["warnings"] == len(summary["warnings"])
    warnings = summary["warnings"]
    assert warnings and all(set(w) == WARNING_KEYS for w in warnings)
    assert all(1 <= w["step"] <= summary["steps"] and w["layer"] in monitor["layers"] for w in warnings)
    assert monitor["pathologies"] == sorted({w["pathology"] for w in warnings})
    assert all(w["message"] in err for w in warnings)  # shown live ...
    assert f"monitor: {len(warnings)} warning(s)" in stdout  # ... and counted at the end
    recorded = load_monitor(tmp_path / "on")
    assert recorded is not None and recorded.layers == monitor["layers"] and len(recorded.samples) == monitor["samples"]

    code, stdout, err = run_cli(capsys, *args, "--no-monitor", "--out", str(tmp_path / "off"))
    off = json.loads((tmp_path / "off" / "summary.json").read_text())
    assert code == 0 and off["warnings"] is None and off["monitor"] == {"enabled": False} and "warning" not in err
    assert not (tmp_path / "off" / "monitor.json").exists() and "monitor:" not in stdout
    assert without_times(load_run(tmp_path / "on")[2]) == without_times(load_run(tmp_path / "off")[2])
    params = [torch.load(tmp_path / d / "checkpoint.pt", weights_only=False)["params"] for d in ("on", "off")]
    assert all(torch.equal(params[0][name], params[1][name]) for name in params[0])


def test_compare_reports_zigzag_for_sgd_at_large_lr_and_nothing_for_adam(tmp_path, capsys, one_thread):
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(capsys, "compare", "--problem", "valley", "--problem-params", "kappa=100",
                                "--optimizers", "sgd,adam", "--lr", "sgd=1.9", "--steps", "60", "--seeds", "1",
                                "--out", str(out))
    assert code == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["chosen_lr"] == {"sgd": 1.9, "adam": None}
    sgd, adam = board["monitor"]["sgd"], board["monitor"]["adam"]
    assert sgd["pathologies"] == {"zigzag": 1} and sgd["first"]["layer"] == "x"
    assert sgd["first"]["value"] <= -0.5 and "zig-zag in x" in sgd["first"]["message"]
    assert adam["monitored"] == 1 and adam["pathologies"] == {} and adam["first"] is None
    assert sgd["first"]["message"] in err and "sgd showed zigzag 1/1; adam showed no pathology" in stdout
    html = (out / "index.html").read_text()
    assert "Optimizer monitors" in html and "zig-zag in x" in html and html.count("<img") == 2 + 1
    (run_dir,) = (out / "runs").glob("valley-sgd-lr1.9-*")
    assert load_run(run_dir)[0].problem_params == {"kappa": 100}
    steps, cosines = load_monitor(run_dir).series("group0", "update_cos")  # what the report's figure draws
    assert len(steps) >= 3 and cosines[0] < -0.9


def test_compare_without_monitor_says_so(tmp_path, capsys, one_thread):
    out = tmp_path / "cmp"
    code, _, _ = run_cli(capsys, "compare", "--problem", "valley", "--optimizers", "sgd", "--lr", "1.9",
                         "--steps", "30", "--seeds", "1", "--no-monitor", "--out", str(out))
    board = json.loads((out / "leaderboard.json").read_text())
    assert code == 0 and board["monitor"]["sgd"]["monitored"] == 0
    assert "not monitored" in (out / "index.html").read_text()


def test_resumed_run_keeps_the_monitor_history(tmp_path, one_thread):
    """A crash after a checkpoint, then a resume: the same samples and warnings as one uninterrupted run."""
    config = RunConfig("valley", "sgd", lr=1.9, steps=120, problem_params={"kappa": 100.0}, checkpoint_every=30)

    def crash(row):
        if row["step"] == 70:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        execute(config, tmp_path / "crashed", on_record=crash)
    resumed = execute(config, tmp_path / "crashed")
    reference = execute(config, tmp_path / "reference")
    assert resumed["resumed_at"] == [60] and reference["resumed_at"] == []
    assert resumed["warnings"] == reference["warnings"] and [w["pathology"] for w in reference["warnings"]] == ["zigzag"]
    saved = [json.loads((tmp_path / d / "monitor.json").read_text()) for d in ("crashed", "reference")]
    assert saved[0] == saved[1] and any(s["step"] > 60 for s in saved[0]["samples"])


def test_train_hyper_reaches_the_optimizer(tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    code, _, _ = run_cli(capsys, "train", "--data", "teacher", "--model", "softmax", "--optimizer", "adam",
                         "--epochs", "1", "--hyper", "betas=0.8:0.99,weight_decay=1e-4,amsgrad=true",
                         "--out", str(out))
    assert code == 0
    group = torch.load(out / "checkpoint.pt", weights_only=False)["optimizer"]["param_groups"][0]
    assert (tuple(group["betas"]), group["weight_decay"], group["amsgrad"]) == ((0.8, 0.99), 1e-4, True)
    config = load_run(out)[0]
    assert config.hyper == {"betas": (0.8, 0.99), "weight_decay": 1e-4, "amsgrad": True}
    code, _, _ = run_cli(capsys, "train", "--data", "teacher", "--model", "softmax", "--optimizer", "adam",
                         "--epochs", "1", "--hyper", "betas=0.8:0.99,weight_decay=1e-4,amsgrad=true",
                         "--out", str(out))
    assert code == 0  # the same run again: recognised, not refused as a different config


@pytest.mark.parametrize("optimizer, hyper, fragments", [
    ("sgd", "foo=1", ["--hyper: unknown key 'foo' (value 1) for optimizer 'sgd'", "momentum"]),
    ("sgd", "momentum=-1", ["--hyper: momentum=-1 rejected by sgd: ", ("sgd", {"momentum": -1})]),
    ("adam", "betas=0.9:1.5,weight_decay=0",
     ["--hyper: betas=0.9:1.5 rejected by adam: ", ("adam", {"betas": (0.9, 1.5)})]),
    ("sgd", "momentum", ["--hyper: expected KEY=VALUE, got 'momentum'"]),
    ("sgd", "momentum=0.9,momentum=0.5", ["--hyper: key 'momentum' given twice"]),
    ("sgd", "momentum=nan", ["--hyper: momentum=nan is not a finite number"]),
    ("adam", "betas=0.9:x", ["--hyper: betas=0.9:x: a ':' tuple takes numbers only"]),
    ("sgd", "lr=0.1", ["--hyper: lr=0.1: set the learning rate with --lr"]),
    ("sgd", "momentum=", ["--hyper: empty value for key 'momentum'"]),
])
def test_bad_hyper_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, optimizer, hyper, fragments):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--optimizer", optimizer, "--hyper", hyper)
    assert code == 2 and err.count("\n") == 1 and err.startswith("inertia: error: ") and "Traceback" not in err
    for fragment in fragments:
        if isinstance(fragment, tuple):  # the optimizer's own message comes through
            with pytest.raises(ValueError) as refused:
                make_optimizer(fragment[0], [torch.zeros(2, requires_grad=True)], **fragment[1])
            fragment = str(refused.value)
        assert fragment in err, err
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("argv, fragment", [
    (["--lr", "adam=0.1"], "--lr: adam=0.1 names no optimizer of --optimizers (sgd)"),
    (["--lr", "sgd=-1"], "lr: must be a finite number >= 0, got -1.0"),
    (["--lr", "fast"], "--lr: expected a number or NAME=LR"),
    (["--lr", "sgd=0.1", "--tune"], "--lr: per-optimizer rates (sgd=0.1) cannot be combined with --tune"),
    (["--problem-params", "kappa=-3"], "--problem-params: 'kappa=-3' rejected by valley"),
    (["--problem-params", "colour=1"], "--problem-params: 'colour=1' rejected by valley"),
])
def test_bad_compare_lr_and_problem_params(tmp_path, capsys, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "compare", "--problem", "valley", "--optimizers", "sgd", *argv)
    assert code == 2 and err.count("\n") == 1 and fragment in err, err


@pytest.mark.parametrize("text, expected", [
    ("momentum=0.9,betas=0.9:0.99,weight_decay=1e-4",
     {"momentum": 0.9, "betas": (0.9, 0.99), "weight_decay": 1e-4}),
    ("nesterov=True, dampening=0, nonfinite=skip, foreach=none", {"nesterov": True, "dampening": 0,
                                                                  "nonfinite": "skip", "foreach": None}),
    ("", {}),
])
def test_parse_hyper_values_and_round_trip(text, expected):
    parsed = parse_hyper(text)
    assert parsed == expected and [type(v) for v in parsed.values()] == [type(v) for v in expected.values()]
    again = ",".join(f"{k}={format_value(v)}" for k, v in parsed.items())
    assert parse_hyper(again) == parsed
