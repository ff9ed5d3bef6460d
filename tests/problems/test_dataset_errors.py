"""The datasets door as a table: every loader, on small bad files written here or with bad arguments.

Each case checks the exception type, that the message names the file (or the argument) and what is
wrong with it, and that loading wrote nothing: the folder is byte for byte as it was.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inertia.problems import load_cifar10, load_dataset, load_digits, load_mnist, make_teacher_student
from inertia.problems.file_formats import (
    MNIST_STEMS,
    read_cifar10_batch,
    read_idx,
    write_cifar10_batch,
    write_idx,
)

TRAIN_IMAGES, TRAIN_LABELS = MNIST_STEMS["train_images"], MNIST_STEMS["train_labels"]
TEST_IMAGES, TEST_LABELS = MNIST_STEMS["test_images"], MNIST_STEMS["test_labels"]
CIFAR_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def write_mnist(folder: Path, n_train: int = 6, n_test: int = 3, side: int = 4) -> None:
    """A valid MNIST folder of ``side`` x ``side`` images."""
    rng = np.random.default_rng(0)
    for images, labels, count in ((TRAIN_IMAGES, TRAIN_LABELS, n_train), (TEST_IMAGES, TEST_LABELS, n_test)):
        write_idx(folder / images, rng.integers(0, 256, (count, side, side), dtype=np.uint8))
        write_idx(folder / labels, rng.integers(0, 10, count, dtype=np.uint8))


def write_cifar(folder: Path, per_batch: int = 2) -> None:
    """A valid CIFAR-10 folder of six small batches."""
    rng = np.random.default_rng(1)
    for name in CIFAR_NAMES:
        write_cifar10_batch(folder / name, rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8),
                            rng.integers(0, 10, per_batch))


def replace(folder: Path, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def batch_bytes(batch: Any) -> bytes:
    return pickle.dumps(batch, protocol=2)


class Planted:
    """Unpickling this would create a file named ``executed`` in the current directory."""

    def __reduce__(self) -> tuple:
        return (open, ("executed", "w"))


def valid_cifar_bytes(count: int = 2) -> bytes:
    batch = {b"data": np.zeros((count, 3072), np.uint8), b"labels": [0] * count}
    return pickle.dumps(batch, protocol=4)  # protocol 2 stores an empty array's buffer with bytes(), refused


@dataclass
class Case:
    """A folder made bad by ``spoil``, loaded by ``load``: ``error`` with every ``fragment`` in its message."""

    id: str
    kind: str  # "mnist", "cifar" or "none" (the loader takes no files)
    spoil: Callable[[Path], None]
    load: Callable[[Path], Any]
    error: type[Exception]
    fragments: tuple[str, ...]


def mnist(id: str, spoil: Callable[[Path], None], *fragments: str, error: type[Exception] = ValueError,
          load: Callable[[Path], Any] = load_mnist) -> Case:
    return Case(f"mnist-{id}", "mnist", spoil, load, error, fragments)


def cifar(id: str, spoil: Callable[[Path], None], *fragments: str, error: type[Exception] = ValueError,
          load: Callable[[Path], Any] = load_cifar10) -> Case:
    return Case(f"cifar-{id}", "cifar", spoil, load, error, fragments)


def api(id: str, load: Callable[[Path], Any], *fragments: str, error: type[Exception] = ValueError) -> Case:
    return Case(id, "none", lambda folder: None, load, error, fragments)


def cut(name: str, keep: int) -> Callable[[Path], None]:
    """Truncate file ``name`` to its first ``keep`` bytes (negative: drop that many from the end)."""
    def spoil(folder: Path) -> None:
        raw = (folder / name).read_bytes()
        (folder / name).write_bytes(raw[:keep])
    return spoil


def put(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda folder: replace(folder, name, data() if callable(data) else data)


def labels_idx(values: list[int], dtype: str = ">i4", code: int = 0x0C) -> bytes:
    array = np.asarray(values, dtype=dtype)
    return bytes([0, 0, code, 1]) + np.asarray([len(values)], ">u4").tobytes() + array.tobytes()


def gz_spoiled(folder: Path) -> None:
    raw = bytearray(gzip.compress((folder / TRAIN_LABELS).read_bytes()))
    (folder / TRAIN_LABELS).unlink()
    raw[10] = 0
    (folder / (TRAIN_LABELS + ".gz")).write_bytes(bytes(raw))


MNIST_CASES = [
    mnist("bad-magic", put(TRAIN_IMAGES, b"PK\x03\x04junk"), TRAIN_IMAGES, "bad magic number 504b0304"),
    mnist("empty-file", put(TRAIN_LABELS, b""), TRAIN_LABELS, "bad magic number empty"),
    mnist("unknown-type-byte", put(TEST_LABELS, b"\x00\x00\x07\x01\x00\x00\x00\x01\x05"), TEST_LABELS, "bad magic"),
    mnist("header-cut", cut(TRAIN_IMAGES, 9), TRAIN_IMAGES, "truncated: IDX header needs 16 bytes, file has 9"),
    mnist("data-cut", cut(TRAIN_IMAGES, -5), TRAIN_IMAGES, "has 107 bytes but its IDX header (6, 4, 4) implies 112"),
    mnist("trailing-bytes", lambda f: replace(f, TEST_LABELS, (f / TEST_LABELS).read_bytes() + b"\x00"),
          TEST_LABELS, "has 12 bytes but its IDX header (3,) implies 11"),
    mnist("huge-header", put(TRAIN_IMAGES, bytes([0, 0, 8, 3]) + np.array([2**32 - 1] * 3, ">u4").tobytes()),
          TRAIN_IMAGES, "implies"),
    mnist("gzip-corrupt", gz_spoiled, TRAIN_LABELS + ".gz", "cannot read"),
    mnist("gzip-cut", lambda f: replace(f, TEST_IMAGES, gzip.compress(idx_bytes(np.zeros((3, 4, 4))))[:20]),
          TEST_IMAGES, "cannot read"),
    mnist("images-2d", put(TRAIN_IMAGES, lambda: idx_bytes(np.zeros((6, 16)))), "MNIST train files", "do not match"),
    mnist("labels-2d", put(TEST_LABELS, lambda: idx_bytes(np.zeros((3, 1)))), "MNIST test files", "do not match"),
    mnist("count-mismatch", put(TRAIN_LABELS, lambda: idx_bytes(np.zeros(5))), "images (6, 4, 4)", "labels (5,)"),
    mnist("float-images", lambda f: write_idx(f / TRAIN_IMAGES, np.zeros((6, 4, 4), np.float32)),
          "must be uint8", "float32 in " + TRAIN_IMAGES),
    mnist("float-labels", lambda f: write_idx(f / TEST_LABELS, np.zeros(3, np.float64)),
          "labels integers", "float64 in " + TEST_LABELS),
    mnist("label-10", put(TRAIN_LABELS, lambda: labels_idx([0, 1, 2, 3, 4, 10])), "labels", "must be in [0, 10)",
          "found 0..10"),
    mnist("label-negative", put(TEST_LABELS, lambda: labels_idx([-1, 0, 1])), "labels", "found -1..1"),
    mnist("sizes-differ", lambda f: write_idx(f / TEST_IMAGES, np.zeros((3, 5, 5), np.uint8)), "differ in size",
          "(4, 4)", "(5, 5)"),
    mnist("no-training-examples", lambda f: write_mnist(f, n_train=0), "0 training and 3 test examples"),
    mnist("no-test-examples", lambda f: write_mnist(f, n_test=0), "6 training and 0 test examples"),
    mnist("zero-pixel-images", lambda f: write_mnist(f, side=0), "have no pixels (size 0x0)"),
    mnist("missing-file", lambda f: (f / TEST_IMAGES).unlink(), TEST_IMAGES, "not found", error=FileNotFoundError),
    mnist("path-is-a-file", lambda f: None, "is not a directory", error=FileNotFoundError,
          load=lambda f: load_mnist(f / TRAIN_IMAGES)),
    mnist("path-missing", lambda f: None, "nope", "is not a directory", error=FileNotFoundError,
          load=lambda f: load_mnist(f / "nope")),
    mnist("max-train-zero", lambda f: None, "max_train", "got 0", load=lambda f: load_mnist(f, max_train=0)),
    mnist("max-test-bool", lambda f: None, "max_test", "got True", load=lambda f: load_mnist(f, max_test=True)),
    mnist("max-train-float", lambda f: None, "max_train", "got 1.5", load=lambda f: load_mnist(f, max_train=1.5)),
    mnist("idx-reader-cut", cut(TRAIN_LABELS, 3), TRAIN_LABELS, "bad magic",
          load=lambda f: read_idx(f / TRAIN_LABELS)),
]

CIFAR_CASES = [
    cifar("truncated-batch", cut("data_batch_3", 40), "data_batch_3", "is not a CIFAR-10 python batch"),
    cifar("not-a-pickle", put("test_batch", b"\x00\x01garbage"), "test_batch", "is not a CIFAR-10 python batch"),
    cifar("empty-batch-file", put("data_batch_1", b""), "data_batch_1", "is not a CIFAR-10 python batch"),
    cifar("a-list", put("data_batch_2", lambda: batch_bytes([1, 2])), "data_batch_2", "expected a dict, got list"),
    cifar("no-labels-key", put("data_batch_4", lambda: batch_bytes({b"data": np.zeros((1, 3072), np.uint8)})),
          "data_batch_4", "keys 'data' and 'labels' are required"),
    cifar("narrow-rows", put("data_batch_5", lambda: batch_bytes({b"data": np.zeros((2, 100), np.uint8),
                                                                 b"labels": [0, 1]})),
          "data_batch_5", "data must be (N, 3072) uint8", "(2, 100)"),
    cifar("float-pixels", put("test_batch", lambda: batch_bytes({b"data": np.zeros((2, 3072)), b"labels": [0, 1]})),
          "test_batch", "float64"),
    cifar("label-count", put("data_batch_1", lambda: batch_bytes({b"data": np.zeros((2, 3072), np.uint8),
                                                                 b"labels": [0]})),
          "data_batch_1", "and 1 labels"),
    cifar("string-labels", put("data_batch_2", lambda: batch_bytes({b"data": np.zeros((2, 3072), np.uint8),
                                                                   b"labels": ["a", "b"]})),
          "data_batch_2", "labels must be a list of N integers"),
    cifar("label-10", put("data_batch_3", lambda: batch_bytes({b"data": np.zeros((2, 3072), np.uint8),
                                                              b"labels": [0, 10]})),
          "CIFAR-10 labels", "must be in [0, 10)", "found 0..10"),
    cifar("label-negative", put("test_batch", lambda: batch_bytes({b"data": np.zeros((1, 3072), np.uint8),
                                                                  b"labels": [-3]})),
          "CIFAR-10 labels", "found -3..-3"),
    cifar("planted-payload", put("test_batch", lambda: batch_bytes({b"data": Planted(), b"labels": []})),
          "test_batch", "refusing to load"),
    cifar("gzip-cut", put("data_batch_1", lambda: gzip.compress(valid_cifar_bytes())[:15]), "data_batch_1",
          "cannot read"),
    cifar("missing-batch", lambda f: (f / "data_batch_5").unlink(), "data_batch_5", "missing",
          error=FileNotFoundError),
    cifar("no-examples", lambda f: [replace(f, n, valid_cifar_bytes(0)) for n in CIFAR_NAMES],
          "0 training and 0 test examples"),
    cifar("max-test-negative", lambda f: None, "max_test", "got -1", load=lambda f: load_cifar10(f, max_test=-1)),
    cifar("path-none", lambda f: None, "path", "None", error=TypeError, load=lambda f: load_cifar10(None)),
    cifar("batch-reader-list", put("data_batch_1", lambda: batch_bytes((1,))), "data_batch_1", "got tuple",
          load=lambda f: read_cifar10_batch(f / "data_batch_1")),
]

API_CASES = [
    api("digits-seed-negative", lambda f: load_digits(seed=-1), "seed", "got -1"),
    api("digits-seed-2**32", lambda f: load_digits(seed=2**32), "seed", "got 4294967296"),
    api("digits-seed-float", lambda f: load_digits(seed=1.5), "seed", "got 1.5"),
    api("digits-fraction-string", lambda f: load_digits(test_fraction="x"), "test_fraction", "'x'"),
    api("digits-fraction-one", lambda f: load_digits(test_fraction=1.0), "test_fraction", "got 1.0"),
    api("teacher-seed-negative", lambda f: make_teacher_student(seed=-1), "seed", "got -1"),
    api("teacher-seed-string", lambda f: make_teacher_student(seed="x"), "seed", "'x'"),
    api("teacher-noise-string", lambda f: make_teacher_student(label_noise="x"), "label_noise", "'x'"),
    api("teacher-noise-bool", lambda f: make_teacher_student(label_noise=True), "label_noise", "True"),
    api("teacher-n-train-zero", lambda f: make_teacher_student(n_train=0), "n_train", "got 0"),
    api("teacher-classes-one", lambda f: make_teacher_student(num_classes=1), "num_classes", "got 1"),
    api("spec-not-a-string", lambda f: load_dataset(3), "spec", "3", error=TypeError),
    api("spec-unknown", lambda f: load_dataset("imagenet"), "unknown dataset 'imagenet'"),
    api("spec-without-path", lambda f: load_dataset("mnist:"), "unknown dataset 'mnist:'"),
    api("spec-seed-negative", lambda f: load_dataset("teacher", seed=-1), "seed", "got -1"),
    api("mnist-path-int", lambda f: load_mnist(3), "path", "3", error=TypeError),
    api("batches-seed-negative", lambda f: next(make_teacher_student(n_train=4, n_test=2).batches(2, epoch=0, seed=-1)),
        "seed", "got -1"),
    api("batches-epoch-string", lambda f: next(make_teacher_student(n_train=4, n_test=2).batches(2, epoch="x")),
        "epoch", "'x'"),
    api("num-batches-zero", lambda f: make_teacher_student(n_train=4, n_test=2).num_batches(0), "batch_size", "got 0"),
]

CASES = MNIST_CASES + CIFAR_CASES + API_CASES


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in folder.rglob("*")}


def test_the_table_is_large_and_its_ids_are_distinct() -> None:
    assert len(CASES) >= 60 and len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_data_is_refused_by_name_and_writes_nothing(case: Case, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a planted payload would write here
    folder = tmp_path / "data"
    folder.mkdir()
    {"mnist": write_mnist, "cifar": write_cifar, "none": lambda f: None}[case.kind](folder)
    case.spoil(folder)
    before = snapshot(tmp_path)
    with pytest.raises(case.error) as caught:
        case.load(folder)
    message = str(caught.value)
    for fragment in case.fragments:
        assert fragment in message, (fragment, message)
    assert snapshot(tmp_path) == before and not (tmp_path / "executed").exists()


@pytest.mark.parametrize("kind", ["mnist", "cifar"])
def test_the_valid_folders_of_the_table_load(kind: str, tmp_path: Path) -> None:
    """The table spoils one thing of a folder that loads: its cases fail for that one thing."""
    (write_mnist if kind == "mnist" else write_cifar)(tmp_path)
    data = load_mnist(tmp_path) if kind == "mnist" else load_cifar10(tmp_path)
    assert (data.n_train, data.n_test) == ((6, 3) if kind == "mnist" else (10, 2))
