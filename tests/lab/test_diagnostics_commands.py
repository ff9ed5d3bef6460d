"""``inertia lr-find`` and ``inertia diagnose`` end to end, and their errors for bad input."""

from __future__ import annotations

import json

import pytest

from inertia.cli import main


def test_lr_find_writes_plot_and_summary(tmp_path, capsys) -> None:
    out = tmp_path / "lrf"
    code = main(["lr-find", "--steps", "12", "--seeds", "2", "--batch-size", "128", "--lr-min", "1e-3",
                 "--lr-max", "30", "--no-curvature", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["suggested_lr"] > 0 and summary["settings"]["seeds"] == [0, 1]
    assert (out / "lr_find.png").read_bytes().startswith(b"\x89PNG")
    assert "suggested lr" in capsys.readouterr().out


def test_diagnose_writes_an_html_report(tmp_path, capsys) -> None:
    out = tmp_path / "diag"
    code = main(["diagnose", "--optimizer", "adagrad", "--lr", "0.05", "--steps", "12", "--interval", "2",
                 "--max-hvp", "4", "--batch-size", "256", "--out", str(out)])
    assert code == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    summary = json.loads((out / "summary.json").read_text())
    assert "Optimizer diagnosis: adagrad at lr 0.05" in page and "Monitors per layer" in page
    assert "data:image/png;base64," in page
    assert summary["settings"]["optimizer"] == "adagrad" and summary["curvature_end"]["lambda_max"] > 0
    assert summary["edge_of_stability"] is None  # AdaGrad: the 2/lr check does not apply
    assert "report" in capsys.readouterr().out


@pytest.mark.parametrize("lr", ["1e4", "1000"])
def test_a_diverged_diagnosis_still_writes_its_report_in_strict_json(lr, tmp_path, capsys) -> None:
    out = tmp_path / "diag"
    code = main(["diagnose", "--optimizer", "sgd", "--lr", lr, "--steps", "4", "--max-hvp", "3",
                 "--batch-size", "512", "--out", str(out)])
    assert code == 0
    text = (out / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-JSON token {name}"))
    assert summary["curvature_end"] is None and "non-finite" in " ".join(summary["notes"])
    printed = " ".join(capsys.readouterr().out.replace("│", " ").split())  # the table wraps the note
    assert (out / "index.html").exists() and "lower the learning rate" in printed


@pytest.mark.parametrize("argv, message", [
    (["lr-find", "--optimizer", "lbfgs"], "--optimizer: unknown optimizer 'lbfgs'"),
    (["lr-find", "--lr-min", "-1"], "--lr-min: must be a positive number, got -1.0"),
    (["lr-find", "--lr-min", "1", "--lr-max", "0.5"], "--lr-max: must exceed --lr-min=1.0, got 0.5"),
    (["lr-find", "--steps", "3"], "--steps: must be an integer in [10, 1000000], got 3"),
    (["diagnose", "--data", "imagenet"], "--data: unknown dataset 'imagenet'"),
    (["diagnose", "--model", "resnet"], "--model: unknown model 'resnet'"),
    (["diagnose", "--lr", "nan"], "--lr: must be a positive number, got nan"),
    (["diagnose", "--interval", "0"], "--interval: must be an integer in [1, 1000000], got 0"),
])
def test_bad_input_exits_2_naming_the_flag(argv: list[str], message: str, capsys, tmp_path) -> None:
    assert main(argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_out_must_not_be_a_file(tmp_path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["lr-find", "--out", str(target)]) == 2
    assert "--out:" in capsys.readouterr().err and target.read_text() == "x"
