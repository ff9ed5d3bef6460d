"""``inertia.cli.main`` as a user meets it: one error line and exit 2 for bad input, before any work;
printed numbers equal to the files written."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import torch
import typer

from inertia import cli
from inertia.cli import main


@pytest.fixture(autouse=True)
def _single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("keep")
    return path


@pytest.fixture
def no_heavy_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argument checks must fail before any data is loaded or any benchmark runs."""
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the arguments were checked")

    # The command module first: importing it binds make_workload, which must still be the real one then
    # (or undoing the patch would restore the forbidden stand-in).
    monkeypatch.setattr("inertia.lab.diagnostics_commands.make_workload", forbidden)  # where the command calls it
    monkeypatch.setattr("inertia.diagnostics.workload.make_workload", forbidden)
    monkeypatch.setattr("inertia.bench.steps.run_benchmark", forbidden)


@pytest.mark.parametrize(("argv", "named"), [
    (["train", "--epochs", "abc"], "'--epochs'"),
    (["train", "--lr=x1"], "'--lr'"),
    (["bench", "--steps", "1.5"], "'--steps'"),
])
def test_unparsable_number_names_the_option_and_the_value(argv: list[str], named: str, capsys) -> None:
    assert main(argv) == 2
    err = _error_line(capsys)
    assert named in err and repr(argv[-1].split("=")[-1] if "=" in argv[-1] else argv[-1]) in err


def test_a_multiline_message_is_printed_on_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def fail() -> None:
        raise ValueError("--data: first line\n  second line")

    monkeypatch.setattr("inertia.lab.lab_commands.list_problems", fail)
    assert main(["problems"]) == 2
    assert _error_line(capsys) == "inertia: error: --data: first line second line\n"


def test_a_path_error_from_the_os_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def fail() -> None:
        raise NotADirectoryError(20, "Not a directory", "/some/file/out")

    monkeypatch.setattr("inertia.lab.lab_commands.list_problems", fail)
    assert main(["problems"]) == 2
    assert "/some/file/out" in _error_line(capsys)


@pytest.mark.parametrize("command", ["lr-find", "diagnose"])
def test_out_below_a_file_is_rejected_before_work(command: str, a_file: Path, no_heavy_work, capsys) -> None:
    assert main([command, "--out", str(a_file / "sub")]) == 2
    assert f"--out: '{a_file / 'sub'}' cannot be created" in _error_line(capsys)
    assert a_file.read_text() == "keep"


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
@pytest.mark.parametrize("command", ["lr-find", "diagnose"])
def test_seed_out_of_range_names_seed(command: str, seed: str, tmp_path: Path, no_heavy_work, capsys) -> None:
    assert main([command, "--seed", seed, "--out", str(tmp_path / "out")]) == 2
    assert f"--seed: must be an integer in [0, 2**32), got {seed}" in _error_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("spec", "message"), [
    ("mnist:{missing}", "--data: MNIST path {missing} is not a directory"),
    ("cifar10:{missing}", "--data: CIFAR-10 path {missing} is not a directory"),
    ("mnist:{empty}", "--data: MNIST file train-images-idx3-ubyte"),
    ("cifar10:{empty}", "--data: CIFAR-10 batches missing in {empty}"),
])
@pytest.mark.parametrize("command", ["lr-find", "diagnose"])
def test_missing_data_files_name_data(command: str, spec: str, message: str, tmp_path: Path, capsys) -> None:
    paths = {"missing": tmp_path / "nonexistent", "empty": tmp_path}
    assert main([command, "--data", spec.format(**paths), "--out", str(tmp_path / "out")]) == 2
    assert message.format(**paths) in _error_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_bench_output_that_cannot_be_written_is_rejected_before_timing(flag: str, a_file: Path, tmp_path: Path,
                                                                       no_heavy_work, capsys) -> None:
    assert main(["bench", "--device", "cpu", flag, str(a_file / "r.txt")]) == 2
    assert f"Invalid {flag}: '{a_file / 'r.txt'}' cannot be created" in _error_line(capsys)
    assert main(["bench", "--device", "cpu", flag, str(tmp_path)]) == 2
    assert f"Invalid {flag}: '{tmp_path}' is a directory" in _error_line(capsys)


def test_lr_find_prints_the_numbers_of_its_summary_and_records_what_ran(tmp_path: Path, capsys) -> None:
    out = tmp_path / "lrf"
    assert main(["lr-find", "--optimizer", "momentum", "--model", "softmax", "--steps", "10", "--seeds", "1",
                 "--batch-size", "256", "--seed", "3", "--no-curvature", "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    summary = json.loads((out / "summary.json").read_text())
    assert f"suggested lr │ {summary['suggested_lr']:.4g}" in printed
    assert f"{summary['steepest_lr']:.3g} .. {summary['minimum_lr']:.3g}" in printed
    assert {k: summary["settings"][k] for k in ("optimizer", "dataset", "model", "batch_size", "seed", "curvature")} \
        == {"optimizer": "momentum", "dataset": "digits", "model": "softmax", "batch_size": 256, "seed": 3,
            "curvature": False}


def test_diagnose_prints_its_notes(tmp_path: Path, capsys) -> None:
    """A diverged run measures no curvature at the end; the printed table says why, as the summary does."""
    out = tmp_path / "diag"
    assert main(["diagnose", "--lr", "1000", "--steps", "6", "--max-hvp", "3",
                 "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["notes"] and summary["curvature_end"] is None
    first_words = " ".join(summary["notes"][0].split()[:6])
    assert re.search(r"note │ " + re.escape(first_words), printed)


def test_python_dash_m_inertia_is_the_same_command_line() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "inertia", "problems", "--bogus"], capture_output=True, text=True)
    assert done.returncode == 2 and "--bogus" in done.stderr


@pytest.mark.parametrize("module", list(cli.COMMAND_MODULES))
def test_each_command_module_registers_exactly_the_commands_listed_for_it(module: str) -> None:
    app = typer.Typer()
    importlib.import_module(module).register(app)
    assert tuple(c.name for c in app.registered_commands) == cli.COMMAND_MODULES[module]


def test_a_named_command_runs_with_only_its_own_module_registered(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(cli, "app", typer.Typer(add_completion=False, pretty_exceptions_enable=False))
    monkeypatch.setattr(cli, "_registered", set())
    cli.app.callback()(cli._group)
    assert cli.main(["playground", "--out", str(tmp_path)]) == 0
    assert cli._registered == {"inertia.lab.playground.playground_commands"}
    assert (tmp_path / "playground.html").is_file()
