"""Datasets: digits, MNIST IDX and CIFAR-10 batches written in their real formats, teacher-student."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from inertia.problems import (
    Dataset,
    load_cifar10,
    load_dataset,
    load_digits,
    load_mnist,
    make_teacher_student,
)
from inertia.problems.file_formats import read_cifar10_batch, read_idx, write_cifar10_batch, write_idx


def _write_mnist(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = False, dotted: bool = False
                 ) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        name = name.replace("-idx", ".idx") if dotted else name
        write_idx(folder / (name + (".gz" if gz else "")), array, compress=gz)
    return arrays


def _write_cifar(folder: Path, per_batch: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    batches = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch)
        write_cifar10_batch(folder / name, images, labels)
        batches.append((images, labels))
    return batches


def test_idx_header_bytes_follow_the_format(tmp_path: Path) -> None:
    labels = np.array([3, 1, 4], dtype=np.uint8)
    write_idx(tmp_path / "l", labels)
    assert (tmp_path / "l").read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x03\x03\x01\x04"
    floats = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "f.gz", floats, compress=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.gz"), floats)


@pytest.mark.parametrize(("gz", "dotted"), [(False, False), (True, False), (False, True)])
def test_mnist_round_trip(tmp_path: Path, gz: bool, dotted: bool) -> None:
    arrays = _write_mnist(tmp_path, gz=gz, dotted=dotted)
    data = load_mnist(tmp_path)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert data.X_train.shape == (12, 1, 28, 28) and data.X_train.dtype == torch.float32
    np.testing.assert_array_equal(data.y_train.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(data.y_test.numpy(), arrays["t10k-labels-idx1-ubyte"])
    # Standardized with the training mean/std of the [0, 1]-scaled pixels: order and ratios survive.
    raw = arrays["train-images-idx3-ubyte"].astype(np.float64) / 255.0
    expected = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(data.X_train[:, 0].numpy(), expected, rtol=1e-4, atol=1e-4)
    assert load_mnist(tmp_path, max_train=4, max_test=2).X_train.shape[0] == 4
    with pytest.raises(ValueError, match="max_test must be a positive integer or None, got 0"):
        load_mnist(tmp_path, max_test=0)


def test_mnist_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nope'} is not a directory"):
        load_mnist(tmp_path / "nope")
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=rf"t10k-labels-idx1-ubyte.*not found in {tmp_path}"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09\x01")
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte has 9 bytes but its IDX header \(9,\)"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte is not an IDX file: bad magic number 504b0304"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.compress(b"")[:5])
    with pytest.raises(ValueError, match="cannot read"):
        load_mnist(tmp_path)


def test_mnist_mismatched_counts_are_rejected(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="MNIST train files in .* do not match"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("nested", [False, True])
def test_cifar10_round_trip(tmp_path: Path, nested: bool) -> None:
    batches = _write_cifar(tmp_path / "cifar-10-batches-py" if nested else tmp_path)
    data = load_cifar10(tmp_path)
    assert data.input_shape == (3, 32, 32) and data.X_train.shape == (15, 3, 32, 32) and data.n_test == 3
    np.testing.assert_array_equal(data.y_train.numpy(), np.concatenate([b[1] for b in batches[:5]]))
    raw = np.concatenate([b[0] for b in batches[:5]]).astype(np.float64) / 255.0
    mean, std = raw.mean(axis=(0, 2, 3), keepdims=True), raw.std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(data.X_train.numpy(), (raw - mean) / std, rtol=1e-4, atol=1e-4)
    test_raw = batches[5][0].astype(np.float64) / 255.0
    np.testing.assert_allclose(data.X_test.numpy(), (test_raw - mean) / std, rtol=1e-4, atol=1e-4)


def test_cifar10_errors_name_the_path(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=rf"CIFAR-10 batches missing in {tmp_path} .*data_batch_3"):
        load_cifar10(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"data_batch_3: data must be \(N, 3072\) uint8"):
        load_cifar10(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({"labels": [1]}))
    with pytest.raises(ValueError, match="data_batch_3 is not a CIFAR-10 python batch: keys"):
        load_cifar10(tmp_path)


class _Payload:
    def __reduce__(self) -> tuple:
        return (print, ("executed",))


def test_cifar10_refuses_pickles_that_are_not_plain_arrays(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": _Payload(), b"labels": []}))
    with pytest.raises(ValueError, match=r"test_batch is not a CIFAR-10 python batch: refusing to load builtins"):
        load_cifar10(tmp_path)


def test_digits_split_and_standardization() -> None:
    data = load_digits(seed=0)
    assert (data.n_train, data.n_test, data.input_shape, data.num_classes) == (1437, 360, (1, 8, 8), 10)
    flat = data.X_train.reshape(data.n_train, -1)
    assert float(flat.mean(0).abs().max()) < 1e-5
    std = flat.std(0, unbiased=False)
    assert torch.all(((std - 1).abs() < 1e-4) | (std == 0))
    again = load_digits(seed=0)
    assert torch.equal(again.y_test, data.y_test)
    assert not torch.equal(load_digits(seed=1).y_test, data.y_test)
    # Stratified: every class appears in the test set in proportion.
    assert torch.bincount(data.y_test, minlength=10).min() >= 35


def test_teacher_student_is_deterministic_and_learnable_shape() -> None:
    a = make_teacher_student(n_train=100, n_test=50, input_dim=5, num_classes=3, seed=4)
    b = make_teacher_student(n_train=100, n_test=50, input_dim=5, num_classes=3, seed=4)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert a.input_shape == (5,) and a.X_test.shape == (50, 5) and int(a.y_train.max()) <= 2
    noisy = make_teacher_student(n_train=100, n_test=50, input_dim=5, num_classes=3, seed=4, label_noise=1.0)
    assert torch.equal(noisy.X_train, a.X_train) and not torch.equal(noisy.y_train, a.y_train)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got 1"):
        make_teacher_student(num_classes=1)
    with pytest.raises(ValueError, match="label_noise must be a number in"):
        make_teacher_student(label_noise=1.5)


def test_batches_cover_each_example_once_in_a_seeded_order() -> None:
    data = make_teacher_student(n_train=10, n_test=2, input_dim=1, num_classes=2, seed=0)
    order = [xb[:, 0] for xb, _ in data.batches(4, epoch=3, seed=1)]
    assert [len(o) for o in order] == [4, 4, 2] and data.num_batches(4) == 3
    assert sorted(torch.cat(order).tolist()) == sorted(data.X_train[:, 0].tolist())
    replay = [xb[:, 0] for xb, _ in data.batches(4, epoch=3, seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(order, replay, strict=True))
    other = torch.cat([xb[:, 0] for xb, _ in data.batches(4, epoch=4, seed=1)])
    assert not torch.equal(other, torch.cat(order))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        next(data.batches(0, epoch=0))


def test_load_dataset_specs_and_dataset_validation(tmp_path: Path) -> None:
    assert load_dataset("digits").name == "digits"
    assert load_dataset("teacher").input_shape == (20,)
    _write_mnist(tmp_path)
    assert load_dataset(f"mnist:{tmp_path}").name == "mnist"
    for bad in ("imagenet", "mnist", "digits:/tmp"):
        with pytest.raises(ValueError, match=rf"unknown dataset '{bad}'"):
            load_dataset(bad)
    with pytest.raises(ValueError, match="labels outside"):
        Dataset("x", torch.zeros(2, 3), torch.tensor([0, 5]), torch.zeros(1, 3), torch.tensor([0]), 2, (3,))
    with pytest.raises(ValueError, match="do not match input shape"):
        Dataset("x", torch.zeros(2, 4), torch.tensor([0, 1]), torch.zeros(1, 3), torch.tensor([0]), 2, (3,))


def test_corrupt_gzip_and_huge_idx_headers_name_the_file(tmp_path: Path) -> None:
    _write_mnist(tmp_path, gz=True)
    name = "t10k-labels-idx1-ubyte.gz"
    raw = bytearray((tmp_path / name).read_bytes())
    raw[10] = 0  # the deflate block header: zlib reports "invalid stored block lengths"
    (tmp_path / name).write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"cannot read .*{name}: Error -3"):
        load_mnist(tmp_path)
    huge = tmp_path / "huge"
    huge.write_bytes(bytes([0, 0, 8, 3]) + np.array([2**32 - 1] * 3, ">u4").tobytes() + b"xx")
    with pytest.raises(ValueError, match=rf"huge has 18 bytes but its IDX header .* implies {16 + (2**32 - 1) ** 3}"):
        read_idx(huge)


def test_mnist_images_of_another_size_or_type_are_rejected(tmp_path: Path) -> None:
    _write_mnist(tmp_path, n_train=64, n_test=49)
    rng = np.random.default_rng(2)
    # 49 images of 32x32 hold exactly as many pixels as 64 of 28x28: must not be reshaped silently
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (49, 32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"differ in size: train-images-idx3-ubyte has \(28, 28\), "
                                         r"t10k-images-idx3-ubyte has \(32, 32\)"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.random((49, 28, 28)).astype(np.float32))
    with pytest.raises(ValueError, match=r"MNIST test files .*must be uint8.*float32 in t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("labels", [["a", "b"], [1.5, 2.0], [[1], [2]]], ids=["strings", "floats", "2d"])
def test_cifar10_labels_must_be_n_integers(tmp_path: Path, labels: list) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}))
    with pytest.raises(ValueError, match=rf"{path}: labels must be a list of N integers"):
        read_cifar10_batch(path)


def test_cifar10_corrupt_pickles_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    write_cifar10_batch(path, np.zeros((2, 3, 32, 32), np.uint8), [0, 1])
    raw = path.read_bytes()
    at = raw.index(b"latin1")
    path.write_bytes(raw[:at] + b"lati1x" + raw[at + 6:])  # a codec name that does not exist
    with pytest.raises(ValueError, match=rf"{path} is not a CIFAR-10 python batch: unknown encoding"):
        read_cifar10_batch(path)
    for cut in range(0, len(raw), 97):  # every truncation is refused with the file's name
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=str(path)):
            read_cifar10_batch(path)
