"""Classification datasets as one :class:`Dataset` type: digits, MNIST, CIFAR-10 and a teacher-student task.

Inputs are float32 tensors standardized with *training-set* statistics; images keep their
``(channels, height, width)`` shape (digits ``(1, 8, 8)``, MNIST ``(1, 28, 28)``, CIFAR-10
``(3, 32, 32)``), vectors are ``(d,)``. Labels are int64 class indices.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from inertia.checks import STYLE_SENTENCE, check_int, check_positive, check_seed, is_number
from inertia.problems.file_formats import find_cifar10_dir, find_mnist_files, read_cifar10_batch, read_idx

SEED_LIMIT = 2**32  # the digits split (scikit-learn's random_state) takes 32-bit seeds; the same for every dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test tensors of a classification task.

    Attributes: ``name``, ``X_train`` ``(n_train, *input_shape)`` float32, ``y_train`` ``(n_train,)``
    int64 in ``[0, num_classes)``, ``X_test``, ``y_test``, ``num_classes``, ``input_shape``.
    """

    name: str
    X_train: Tensor
    y_train: Tensor
    X_test: Tensor
    y_test: Tensor
    num_classes: int
    input_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        for split, xs, ys in (("train", self.X_train, self.y_train), ("test", self.X_test, self.y_test)):
            if tuple(xs.shape[1:]) != tuple(self.input_shape) or xs.shape[0] != ys.shape[0] or ys.ndim != 1:
                raise ValueError(f"dataset {self.name!r}: {split} inputs {tuple(xs.shape)} and labels "
                                 f"{tuple(ys.shape)} do not match input shape {self.input_shape}")
            if ys.numel() and (int(ys.min()) < 0 or int(ys.max()) >= self.num_classes):
                raise ValueError(f"dataset {self.name!r}: {split} labels outside [0, {self.num_classes})")

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test examples."""
        return int(self.X_test.shape[0])

    def batches(self, batch_size: int, *, epoch: int, seed: int = 0, shuffle: bool = True
                ) -> Iterator[tuple[Tensor, Tensor]]:
        """Training mini-batches of one epoch (the last one may be smaller).

        The order depends only on ``(seed, epoch)``, so a resumed run sees the same batches.
        """
        batch_size = check_positive("batch_size", batch_size, integer=True, style=STYLE_SENTENCE)
        epoch = check_int("epoch", epoch, low=0, style=STYLE_SENTENCE)
        seed = check_int("seed", seed, low=0, style=STYLE_SENTENCE)
        if shuffle:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch])))
            order = torch.from_numpy(rng.permutation(self.n_train))
        else:
            order = torch.arange(self.n_train)
        for begin in range(0, self.n_train, batch_size):
            idx = order[begin:begin + batch_size]
            yield self.X_train[idx], self.y_train[idx]

    def num_batches(self, batch_size: int) -> int:
        """Number of mini-batches per epoch."""
        batch_size = check_int("batch_size", batch_size, low=1, style=STYLE_SENTENCE)
        return -(-self.n_train // batch_size)

    def summary(self) -> dict[str, object]:
        """JSON-ready description of the dataset."""
        return {"name": self.name, "n_train": self.n_train, "n_test": self.n_test,
                "num_classes": self.num_classes, "input_shape": list(self.input_shape)}


def load_digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images), stratified split by ``seed``, shape ``(1, 8, 8)``.

    Each pixel is standardized with the training mean and standard deviation (constant pixels
    get standard deviation 1).
    """
    from sklearn.model_selection import train_test_split

    seed = check_seed("seed", seed, limit=SEED_LIMIT, style=STYLE_SENTENCE)
    if not is_number(test_fraction) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    images, targets = _sklearn_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(images, targets, test_size=test_fraction,
                                              random_state=seed, stratify=targets)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std == 0] = 1.0
    return _make("digits", (x_tr - mean) / std, y_tr, (x_te - mean) / std, y_te, 10, (1, 8, 8))


@functools.lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits arrays, read once per process (read-only)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    bunch.data.setflags(write=False)
    bunch.target.setflags(write=False)
    return bunch.data, bunch.target


def load_mnist(path: str | Path, max_train: int | None = None, max_test: int | None = None) -> Dataset:
    """MNIST from the IDX files in directory ``path`` (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
    optionally ``.gz``). Pixels scaled to [0, 1], then standardized by the training mean and std.
    ``max_train``/``max_test`` keep the first examples only.
    """
    _check_limits(max_train, max_test)
    files = find_mnist_files(_as_path(path))
    arrays = {key: read_idx(file) for key, file in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"MNIST {split} files in {path} do not match: images {images.shape}, "
                             f"labels {labels.shape} (expected (n, rows, cols) and (n,))")
        if images.dtype != np.uint8 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"MNIST {split} files in {path}: images must be uint8 and labels integers "
                             f"(IDX type 0x08), got {images.dtype} in {files[f'{split}_images'].name} and "
                             f"{labels.dtype} in {files[f'{split}_labels'].name}")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise ValueError(f"MNIST images in {path} differ in size: {files['train_images'].name} has "
                         f"{arrays['train_images'].shape[1:]}, {files['test_images'].name} has "
                         f"{arrays['test_images'].shape[1:]}")
    x_tr = arrays["train_images"][:max_train].astype(np.float32) / 255.0
    x_te = arrays["test_images"][:max_test].astype(np.float32) / 255.0
    _check_examples("MNIST", path, x_tr, x_te)
    mean, std = float(x_tr.mean()), float(x_tr.std()) or 1.0
    y_tr, y_te = arrays["train_labels"][:max_train], arrays["test_labels"][:max_test]
    _check_labels("MNIST", path, y_tr, y_te, 10)
    shape = (1, *x_tr.shape[1:])
    return _make("mnist", ((x_tr - mean) / std).reshape(-1, *shape), y_tr,
                 ((x_te - mean) / std).reshape(-1, *shape), y_te, 10, shape)


def load_cifar10(path: str | Path, max_train: int | None = None, max_test: int | None = None) -> Dataset:
    """CIFAR-10 from the python batches (``data_batch_1`` .. ``data_batch_5``, ``test_batch``) in
    ``path`` or in ``path/cifar-10-batches-py``. Shape ``(3, 32, 32)``; each channel standardized
    with training statistics. ``max_train``/``max_test`` keep the first examples only.
    """
    _check_limits(max_train, max_test)
    folder = find_cifar10_dir(_as_path(path))
    train = [read_cifar10_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_tr = np.concatenate([b[0] for b in train])[:max_train].astype(np.float32) / 255.0
    y_tr = np.concatenate([b[1] for b in train])[:max_train]
    x_te, y_te = read_cifar10_batch(folder / "test_batch")
    x_te, y_te = x_te[:max_test].astype(np.float32) / 255.0, y_te[:max_test]
    _check_labels("CIFAR-10", path, y_tr, y_te, 10)
    _check_examples("CIFAR-10", path, x_tr, x_te)
    mean = x_tr.mean(axis=(0, 2, 3), keepdims=True)
    std = x_tr.std(axis=(0, 2, 3), keepdims=True)
    std[std == 0] = 1.0
    return _make("cifar10", (x_tr - mean) / std, y_tr, (x_te - mean) / std, y_te, 10, (3, 32, 32))


def make_teacher_student(
    n_train: int = 2000, n_test: int = 1000, input_dim: int = 20, num_classes: int = 4,
    teacher_hidden: int = 32, label_noise: float = 0.0, seed: int = 0,
) -> Dataset:
    """Synthetic task: ``x ~ N(0, I_d)``, label ``argmax(W2 tanh(W1 x))`` of a random teacher
    (``W1 ~ N(0, 1/d)``, ``W2 ~ N(0, 1/h)``); a fraction ``label_noise`` of labels is replaced
    by uniform random classes. Deterministic in ``seed``.
    """
    for arg, value in (("n_train", n_train), ("n_test", n_test), ("input_dim", input_dim),
                       ("teacher_hidden", teacher_hidden)):
        check_positive(arg, value, integer=True, style=STYLE_SENTENCE)
    check_int("num_classes", num_classes, low=2, style=STYLE_SENTENCE)
    if not is_number(label_noise) or not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be a number in [0, 1], got {label_noise!r}")
    seed = check_seed("seed", seed, limit=SEED_LIMIT, style=STYLE_SENTENCE)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 7])))
    w1 = rng.standard_normal((input_dim, teacher_hidden)) / np.sqrt(input_dim)
    w2 = rng.standard_normal((teacher_hidden, num_classes)) / np.sqrt(teacher_hidden)
    x = rng.standard_normal((n_train + n_test, input_dim))
    y = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
    flip = rng.random(len(y)) < label_noise
    y[flip] = rng.integers(0, num_classes, int(flip.sum()))
    return _make("teacher", x[:n_train], y[:n_train], x[n_train:], y[n_train:], num_classes, (input_dim,))


def load_dataset(spec: str, seed: int = 0) -> Dataset:
    """Load by command-line spec: ``digits``, ``mnist:PATH``, ``cifar10:PATH`` or ``teacher``."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string such as 'digits' or 'mnist:PATH', got {spec!r}")
    kind, _, path = spec.partition(":")
    if kind == "digits" and not path:
        return load_digits(seed=seed)
    if kind == "teacher" and not path:
        return make_teacher_student(seed=seed)
    if kind in ("mnist", "cifar10") and path:
        return load_mnist(path) if kind == "mnist" else load_cifar10(path)
    raise ValueError(f"unknown dataset {spec!r}; valid: digits, mnist:PATH, cifar10:PATH, teacher")


def _as_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike naming a directory, got {path!r}")
    return Path(path)


def _check_examples(what: str, path: str | Path, x_tr: np.ndarray, x_te: np.ndarray) -> None:
    """Training needs examples and images need pixels (a header may declare zero of either)."""
    if len(x_tr) == 0 or len(x_te) == 0:
        raise ValueError(f"{what} files in {path} hold {len(x_tr)} training and {len(x_te)} test examples "
                         "(both must be >= 1)")
    if math.prod(x_tr.shape[1:]) == 0:
        raise ValueError(f"{what} images in {path} have no pixels (size {'x'.join(map(str, x_tr.shape[1:]))})")


def _check_limits(max_train: int | None, max_test: int | None) -> None:
    for arg, value in (("max_train", max_train), ("max_test", max_test)):
        if value is not None:
            check_positive(arg, value, integer=True, style="{name} {rule} or None, got {value!r}")


def _check_labels(what: str, path: str | Path, y_tr: np.ndarray, y_te: np.ndarray, num_classes: int) -> None:
    for labels in (y_tr, y_te):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{what} labels in {path} must be in [0, {num_classes}), "
                             f"found {labels.min()}..{labels.max()}")


def _make(name: str, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray,
          num_classes: int, input_shape: tuple[int, ...]) -> Dataset:
    def inputs(a: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32).reshape(-1, *input_shape))

    def labels(a: np.ndarray) -> Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.int64))

    return Dataset(name, inputs(x_tr), labels(y_tr), inputs(x_te), labels(y_te), num_classes, input_shape)
