"""Readers and writers of the MNIST IDX and CIFAR-10 python-batch file formats.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type byte (0x08 uint8,
0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), a byte with the number of
dimensions, the dimensions as big-endian uint32, then the data in big-endian C order; files may
be gzip-compressed.

CIFAR-10 python batches (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html): each file
is a pickled dict with ``b"data"`` (``N x 3072`` uint8, rows are R, G, B planes of 32x32) and
``b"labels"`` (N ints). Unpickling is restricted to numpy arrays and builtin containers, so a
malformed or hostile file is refused instead of executed.
"""

from __future__ import annotations

import gzip
import io
import math
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
MNIST_STEMS = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"cannot read {path}: {exc}") from exc


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a native-endian numpy array; ValueError naming the
    path if the header or the length is wrong."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: bad magic number {raw[:4].hex() or 'empty'}")
    ndim, dtype = raw[3], IDX_DTYPES[raw[2]]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: IDX header needs {header} bytes, file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(raw) != expected:
        raise ValueError(f"{path} has {len(raw)} bytes but its IDX header {shape} implies {expected}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if ``compress``)."""
    codes = {dt.newbyteorder(">") if dt.itemsize > 1 else dt: code for code, dt in IDX_DTYPES.items()}
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = codes.get(big.dtype)
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    payload = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes() + big.tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)


def find_mnist_files(folder: Path) -> dict[str, Path]:
    """Locate the four MNIST files in ``folder`` (also ``.gz`` and ``train-images.idx3-ubyte`` spellings)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"MNIST path {folder} is not a directory")
    found = {}
    for key, stem in MNIST_STEMS.items():
        names = [stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"]
        hits = [folder / n for n in names if (folder / n).is_file()]
        if not hits:
            raise FileNotFoundError(f"MNIST file {stem} (or {stem}.gz) not found in {folder}")
        found[key] = hits[0]
    return found


def find_cifar10_dir(path: Path) -> Path:
    """``path`` itself or ``path/cifar-10-batches-py``, whichever holds ``data_batch_1`` .. ``test_batch``."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for folder in (path, path / "cifar-10-batches-py"):
        if all((folder / n).is_file() for n in names):
            return folder
    if not path.is_dir():
        raise FileNotFoundError(f"CIFAR-10 path {path} is not a directory")
    missing = [n for n in names if not (path / n).is_file()]
    raise FileNotFoundError(f"CIFAR-10 batches missing in {path} (and in {path / 'cifar-10-batches-py'}): "
                            f"{', '.join(missing)}")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, dtypes, scalars and bytes."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar10_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(_read_bytes(path)), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, LookupError,
            MemoryError) as exc:  # a corrupt pickle can name an unknown codec or a huge length
        raise ValueError(f"{path} is not a CIFAR-10 python batch: {exc or type(exc).__name__}") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 python batch: expected a dict, got {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path} is not a CIFAR-10 python batch: keys 'data' and 'labels' are required")
    data, labels = np.asarray(data), np.asarray(labels)
    if labels.ndim != 1 or not (labels.size == 0 or np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"{path}: labels must be a list of N integers, got an array of shape {labels.shape} "
                         f"and dtype {labels.dtype}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path}: data must be (N, 3072) uint8 with N labels, got data {data.shape} "
                         f"{data.dtype} and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def write_cifar10_batch(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write a CIFAR-10 python batch from images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)``."""
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), 3072)
    batch = {b"batch_label": b"inertia", b"labels": [int(v) for v in labels], b"data": images,
             b"filenames": [f"{i}.png".encode() for i in range(len(images))]}
    Path(path).write_bytes(pickle.dumps(batch, protocol=2))
