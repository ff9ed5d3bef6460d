"""The command-line door as a table: every command with bad invocations that must be refused up front.

Each case runs ``inertia.cli.main`` in a working directory holding bad data folders and run
directories, and checks: exit code 2, at most 3 lines on stderr naming the flag or the value (every
fragment of the case), no traceback, no work started (the functions that do the work are replaced
by ones that fail the test), the torch thread count untouched, and the working directory exactly as
it was (every path, every file's bytes and modification time).
"""

from __future__ import annotations

import gzip
import importlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import typer

import inertia.cli as cli
from inertia.cli import main
from inertia.lab.run_config import RunConfig
from inertia.lab.run_storage import prepare_run_dir
from inertia.problems.file_formats import MNIST_STEMS, write_cifar10_batch, write_idx

HUGE = "99999999999999999999"
TRAIN_RUN = ["train", "--data", "teacher", "--model", "softmax", "--epochs", "1"]
TRAIN_CONFIG = RunConfig("teacher", "adam", model="softmax", epochs=1)  # what TRAIN_RUN asks for
COMPARE = ["compare", "--problem", "rosenbrock", "--optimizers", "sgd", "--steps", "5", "--seeds", "1"]
TUNE = [*COMPARE, "--tune"]
BENCH = ["bench", "--device", "cpu"]


class Planted:
    """Unpickling this creates the file ``executed`` in the working directory."""

    def __reduce__(self) -> tuple:
        return (open, ("executed", "w"))


def write_mnist(folder: Path) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for split, count in (("train", 6), ("test", 3)):
        write_idx(folder / MNIST_STEMS[f"{split}_images"], rng.integers(0, 256, (count, 4, 4), dtype=np.uint8))
        write_idx(folder / MNIST_STEMS[f"{split}_labels"], rng.integers(0, 10, count, dtype=np.uint8))


def write_cifar(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_cifar10_batch(folder / name, np.zeros((2, 3, 32, 32), np.uint8), [0, 1])


def build_world(root: Path) -> None:
    """The working directory of the table: bad data folders, run directories a user could point at."""
    write_mnist(root / "data" / "mnist-bad-magic")
    (root / "data" / "mnist-bad-magic" / MNIST_STEMS["train_images"]).write_bytes(b"PK\x03\x04junk")
    write_mnist(root / "data" / "mnist-cut")
    images = root / "data" / "mnist-cut" / MNIST_STEMS["train_images"]
    images.write_bytes(images.read_bytes()[:-5])
    write_mnist(root / "data" / "mnist-labels")
    write_idx(root / "data" / "mnist-labels" / MNIST_STEMS["test_labels"], np.array([0, 10, 3], np.uint8))
    write_mnist(root / "data" / "mnist-gz")
    labels = root / "data" / "mnist-gz" / MNIST_STEMS["train_labels"]
    labels.with_name(labels.name + ".gz").write_bytes(gzip.compress(labels.read_bytes())[:12])
    labels.unlink()
    write_cifar(root / "data" / "cifar-cut")
    batch = root / "data" / "cifar-cut" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:100])
    write_cifar(root / "data" / "cifar-planted")
    (root / "data" / "cifar-planted" / "test_batch").write_bytes(pickle.dumps({b"data": Planted(), b"labels": []}))
    (root / "data" / "empty").mkdir()
    (root / "a_file").write_text("keep")
    for name, checkpoint in (("cut-checkpoint", {"position": 1}), ("planted", {"position": Planted()})):
        paths = prepare_run_dir(TRAIN_CONFIG, root / "runs" / name)
        torch.save({**checkpoint, "params": {}, "optimizer": {}, "rows": [], "elapsed_s": 0.0}, paths.checkpoint)
    cut = root / "runs" / "cut-checkpoint" / "checkpoint.pt"
    cut.write_bytes(cut.read_bytes()[:200])
    (root / "runs" / "bad-config").mkdir()
    (root / "runs" / "bad-config" / "config.json").write_text('{"problem": "teacher", ')
    prepare_run_dir(TRAIN_CONFIG.replace(lr=0.5), root / "runs" / "other")


CASES: list[tuple[list[str], tuple[str, ...]]] = [
    # train
    ([*TRAIN_RUN, "--epochs", "0"], ("--epochs", "got 0")),
    ([*TRAIN_RUN, "--epochs", HUGE], ("--epochs", HUGE)),
    ([*TRAIN_RUN, "--batch-size", "0"], ("--batch-size", "got 0")),
    ([*TRAIN_RUN, "--batch-size", HUGE], ("--batch-size", HUGE)),
    ([*TRAIN_RUN, "--threads", "0"], ("--threads", "got 0")),
    ([*TRAIN_RUN, "--threads", HUGE], ("--threads", HUGE)),
    ([*TRAIN_RUN, "--seed", "-1"], ("--seed", "got -1")),
    ([*TRAIN_RUN, "--seed", HUGE], ("--seed", HUGE)),
    ([*TRAIN_RUN, "--checkpoint-every", "0"], ("--checkpoint-every", "got 0")),
    ([*TRAIN_RUN, "--checkpoint-every", HUGE], ("--checkpoint-every", HUGE)),
    ([*TRAIN_RUN, "--lr", "nan"], ("--lr", "nan")),
    ([*TRAIN_RUN, "--lr", "-1"], ("--lr", "-1")),
    ([*TRAIN_RUN, "--lr", "fast"], ("'--lr'", "'fast'")),
    ([*TRAIN_RUN, "--optimizer", "adamq"], ("--optimizer", "'adamq'")),
    ([*TRAIN_RUN, "--model", "resnet"], ("--model", "'resnet'")),
    ([*TRAIN_RUN, "--hyper", "momentum=x"], ("--hyper", "momentum")),
    ([*TRAIN_RUN, "--hyper", "bogus=1"], ("--hyper", "'bogus'")),
    ([*TRAIN_RUN, "--schedule", "step:every=0"], ("--schedule", "step:every=0")),
    (["train", "--data", "svhn"], ("--data", "'svhn'")),
    (["train", "--data", "digits:/tmp"], ("--data", "digits:/tmp")),
    (["train", "--data", "teacher", "--model", "cnn"], ("--model", "'cnn'", "'teacher'")),
    (["train", "--data", "mnist:data/mnist-bad-magic"], ("--data", "bad magic number 504b0304")),
    (["train", "--data", "mnist:data/mnist-cut"], ("--data", "mnist-cut", "bytes but its IDX header")),
    (["train", "--data", "mnist:data/mnist-labels"], ("--data", "mnist-labels", "found 0..10")),
    (["train", "--data", "mnist:data/mnist-gz"], ("--data", "mnist-gz", "cannot read")),
    (["train", "--data", "cifar10:data/cifar-cut"], ("--data", "data_batch_2")),
    (["train", "--data", "cifar10:data/cifar-planted"], ("--data", "refusing to load")),
    (["train", "--data", "mnist:data/empty"], ("--data", "not found")),
    ([*TRAIN_RUN, "--out", ""], ("--out", "empty path")),
    ([*TRAIN_RUN, "--out", "/proc/inertia/run"], ("--out", "/proc/inertia/run")),
    ([*TRAIN_RUN, "--out", "a_file"], ("--out", "'a_file'")),
    ([*TRAIN_RUN, "--out", "a_file/run"], ("--out", "a_file/run")),
    ([*TRAIN_RUN, "--out", "x" * 300], ("--out", "File name too long")),
    ([*TRAIN_RUN, "--out", "runs/cut-checkpoint"], ("--out", "checkpoint.pt", "--restart")),
    ([*TRAIN_RUN, "--out", "runs/planted"], ("--out", "checkpoint.pt")),
    ([*TRAIN_RUN, "--out", "runs/bad-config"], ("--out", "config.json")),
    ([*TRAIN_RUN, "--out", "runs/other"], ("--out", "holds a different run (differs in: lr)")),
    ([*TRAIN_RUN, "--no-such-flag"], ("--no-such-flag",)),
    # compare
    (["compare", "--problem", "bowl", "--optimizers", "sgd"], ("--problem", "'bowl'")),
    (["compare", "--optimizers", "sgd"], ("--problem",)),
    (["compare", "--problem", "rosenbrock", "--optimizers", ","], ("--optimizers", "','")),
    ([*COMPARE[:4], "sgd,adamq"], ("--optimizers", "'adamq'")),
    ([*COMPARE[:4], "sgd,sgd"], ("--optimizers", "'sgd,sgd'")),
    ([*COMPARE, "--seeds", "0"], ("--seeds", "got 0")),
    ([*COMPARE, "--seeds", HUGE], ("--seeds", HUGE)),
    ([*COMPARE, "--jobs", "0"], ("--jobs", "got 0")),
    ([*COMPARE, "--jobs", HUGE], ("--jobs", HUGE)),
    ([*COMPARE, "--steps", "0"], ("--steps", "got 0")),
    ([*COMPARE, "--steps", HUGE], ("--steps", HUGE)),
    (["compare", "--problem", "digits", "--optimizers", "sgd", "--epochs", HUGE], ("--epochs", HUGE)),
    ([*TUNE, "--grid", "1e-4:1:1000000000000000"], ("--grid", "1000000000000000")),
    ([*TUNE, "--grid", "1:0.1:3"], ("--grid", "'1:0.1:3'")),
    ([*TUNE, "--grid", "abc"], ("--grid", "'abc'")),
    ([*TUNE, "--grid", "0.1"], ("--grid", "'0.1'")),
    ([*TUNE, "--grid", ",".join(["0.1"] * 101)], ("--grid", "100")),
    ([*TUNE, "--tune-seed", "-1"], ("--tune-seed", "got -1")),
    ([*TUNE, "--tune-seed", HUGE], ("--tune-seed", HUGE)),
    ([*TUNE, "--lr", "0.1"], ("--lr", "--tune")),
    ([*COMPARE, "--lr", "sgd=x"], ("--lr", "sgd=x")),
    ([*COMPARE, "--lr", "adam=0.1"], ("--lr", "adam=0.1")),
    ([*COMPARE, "--noise", "-1"], ("--noise", "-1")),
    ([*COMPARE, "--target", "nan"], ("--target", "nan")),
    ([*COMPARE, "--schedule", "bogus"], ("--schedule", "'bogus'")),
    ([*COMPARE, "--problem-params", "bogus=1"], ("--problem-params", "bogus")),
    (["compare", "--problem", "digits", "--optimizers", "sgd", "--problem-params", "kappa=2"],
     ("--problem-params", "'digits'")),
    (["compare", "--problem", "teacher", "--model", "cnn", "--optimizers", "sgd"], ("--model", "'cnn'")),
    (["compare", "--problem", "mnist:data/mnist-cut", "--optimizers", "sgd"], ("--problem", "mnist-cut")),
    (["compare", "--problem", "cifar10:data/cifar-cut", "--optimizers", "sgd"], ("--problem", "data_batch_2")),
    ([*COMPARE, "--out", ""], ("--out", "empty path")),
    ([*COMPARE, "--out", "/proc/inertia"], ("--out", "/proc/inertia")),
    ([*COMPARE, "--out", "a_file"], ("--out", "'a_file'")),
    # lr-find
    (["lr-find", "--steps", "3"], ("--steps", "got 3")),
    (["lr-find", "--steps", HUGE], ("--steps", HUGE)),
    (["lr-find", "--seeds", "0"], ("--seeds", "got 0")),
    (["lr-find", "--seeds", HUGE], ("--seeds", HUGE)),
    (["lr-find", "--lr-min", "0"], ("--lr-min", "got 0.0")),
    (["lr-find", "--lr-min", "nan"], ("--lr-min", "nan")),
    (["lr-find", "--lr-max", "1e-6"], ("--lr-max", "1e-06")),
    (["lr-find", "--batch-size", "0"], ("--batch-size", "got 0")),
    (["lr-find", "--batch-size", HUGE], ("--batch-size", HUGE)),
    (["lr-find", "--seed", "-1"], ("--seed", "got -1")),
    (["lr-find", "--seed", HUGE], ("--seed", HUGE)),
    (["lr-find", "--optimizer", "adamq"], ("--optimizer", "'adamq'")),
    (["lr-find", "--model", "resnet"], ("--model", "'resnet'")),
    (["lr-find", "--data", "svhn"], ("--data", "'svhn'")),
    (["lr-find", "--data", "mnist:data/mnist-cut"], ("--data", "mnist-cut")),
    (["lr-find", "--out", ""], ("--out", "empty path")),
    (["lr-find", "--out", "/proc/inertia"], ("--out", "/proc/inertia")),
    # diagnose
    (["diagnose", "--steps", "1"], ("--steps", "got 1")),
    (["diagnose", "--steps", HUGE], ("--steps", HUGE)),
    (["diagnose", "--interval", "0"], ("--interval", "got 0")),
    (["diagnose", "--interval", HUGE], ("--interval", HUGE)),
    (["diagnose", "--max-hvp", "1"], ("--max-hvp", "got 1")),
    (["diagnose", "--max-hvp", HUGE], ("--max-hvp", HUGE)),
    (["diagnose", "--lr", "0"], ("--lr", "got 0.0")),
    (["diagnose", "--lr", "inf"], ("--lr", "inf")),
    (["diagnose", "--seed", HUGE], ("--seed", HUGE)),
    (["diagnose", "--batch-size", "0"], ("--batch-size", "got 0")),
    (["diagnose", "--optimizer", "adamq"], ("--optimizer", "'adamq'")),
    (["diagnose", "--data", "teacher", "--model", "cnn"], ("'cnn'",)),
    (["diagnose", "--data", "cifar10:data/cifar-planted"], ("--data", "refusing to load")),
    (["diagnose", "--out", ""], ("--out", "empty path")),
    (["diagnose", "--out", "/proc/inertia"], ("--out", "/proc/inertia")),
    (["diagnose", "--out", "a_file"], ("--out", "'a_file'")),
    # bench
    ([*BENCH, "--steps", "0"], ("--steps", "0")),
    ([*BENCH, "--steps", HUGE], ("--steps", HUGE)),
    ([*BENCH, "--steps", "1.5"], ("'--steps'", "'1.5'")),
    ([*BENCH, "--scale", "0"], ("--scale", "0")),
    ([*BENCH, "--scale", "2"], ("--scale", "2")),
    (["bench", "--device", "tpu"], ("--device", "'tpu'")),
    ([*BENCH, "--size", "bogus"], ("--size", "'bogus'")),
    ([*BENCH, "--optimizer", "bogus"], ("--optimizer", "'bogus'")),
    ([*BENCH, "--impl", "bogus"], ("--impl", "'bogus'")),
    ([*BENCH, "--json", "/proc/inertia/y.json"], ("--json", "/proc/inertia/y.json")),
    ([*BENCH, "--json", ""], ("--json", "empty path")),
    ([*BENCH, "--json", "data"], ("--json", "'data' is a directory")),
    ([*BENCH, "--markdown", "a_file/tables.md"], ("--markdown", "a_file/tables.md")),
    # tour
    (["tour", "--seed", HUGE], ("--seed", HUGE)),
    (["tour", "--seed", "-1"], ("--seed", "got -1")),
    (["tour", "--lang", "fr"], ("--lang", "'fr'")),
    (["tour", "--out", "/proc/inertia"], ("--out", "/proc/inertia")),
    (["tour", "--out", ""], ("--out", "empty path")),
    (["tour", "--out", "a_file"], ("--out", "'a_file'")),
    # problems and the command itself
    (["problems", "--bogus"], ("--bogus",)),
    (["problems", "extra"], ("(extra)",)),
    (["no-such-command"], ("'no-such-command'",)),
]


def registered_commands() -> list[str]:
    cli._register_all()
    return sorted(typer.main.get_command(cli.app).commands)


# Every command, including any added later, refuses an option it does not have.
CASES += [([name, "--no-such-option"], ("--no-such-option",)) for name in registered_commands()]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with, for files, their bytes and modification time."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cwd")
    build_world(root)
    return root


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace every function that does a command's work: a case must be refused before them."""
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the arguments were refused")

    for target in ("inertia.lab.execute.run_training", "inertia.lab.execute.run_optimization",
                   "inertia.lab.compare.run_many", "inertia.lab.tour.compute_chapters",
                   "inertia.diagnostics.lr_find.lr_find", "inertia.diagnostics.diagnose.run_diagnosis",
                   "inertia.lab.diagnostics_commands.lr_find", "inertia.lab.diagnostics_commands.run_diagnosis",
                   "inertia.bench.steps.run_benchmark"):
        module, name = target.rsplit(".", 1)  # by module: inertia.diagnostics.lr_find is also a function's name
        monkeypatch.setattr(importlib.import_module(module), name, forbidden)


def test_the_table_covers_every_command() -> None:
    assert len(CASES) >= 60
    assert {argv[0] for argv, _ in CASES} >= set(registered_commands())
    assert len({tuple(argv) for argv, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("argv", "fragments"), CASES, ids=[" ".join(argv)[:80] for argv, _ in CASES])
def test_bad_invocation_is_refused_up_front(argv: list[str], fragments: tuple[str, ...], world: Path, no_work,
                                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(world)
    before, threads = snapshot(world), torch.get_num_threads()
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert 1 <= len(lines) <= 3 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert snapshot(world) == before, "the working directory changed"
    assert torch.get_num_threads() == threads
