"""A classification training setup (dataset + model + cross-entropy) for the diagnostics commands."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inertia.checks import STYLE_FIELD, check_positive
from inertia.problems import Dataset, load_dataset, make_model


@dataclass
class Workload:
    """A model on a dataset with random-access mini-batches.

    Mini-batch ``step`` of the order given by ``seed`` is slice ``step % n`` of epoch
    ``step // n`` of a permutation seeded by ``(seed, epoch)`` (the order of
    :meth:`inertia.problems.Dataset.batches`), so every (step, seed) pair is reproducible.
    """

    dataset: Dataset
    model: nn.Module
    batch_size: int
    _orders: dict[tuple[int, int], Tensor] = field(default_factory=dict, repr=False)

    @property
    def batches_per_epoch(self) -> int:
        """Number of mini-batches in one epoch."""
        return self.dataset.num_batches(self.batch_size)

    def batch(self, step: int, seed: int) -> tuple[Tensor, Tensor]:
        """Inputs and labels of mini-batch ``step`` in the order of ``seed``."""
        epoch, index = divmod(step, self.batches_per_epoch)
        order = self._orders.get((seed, epoch))
        if order is None:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch])))
            order = torch.from_numpy(rng.permutation(self.dataset.n_train))
            self._orders = {(seed, epoch): order}
        idx = order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.dataset.X_train[idx], self.dataset.y_train[idx]

    def batch_loss(self, step: int, seed: int) -> Tensor:
        """Cross-entropy of the model on mini-batch ``step`` of the order ``seed``."""
        inputs, labels = self.batch(step, seed)
        return F.cross_entropy(self.model(inputs), labels)

    def train_loss(self) -> Tensor:
        """Cross-entropy on the whole training set (a deterministic loss for the Hessian tools)."""
        return F.cross_entropy(self.model(self.dataset.X_train), self.dataset.y_train)

    def test_accuracy(self) -> float:
        """Fraction of test examples classified correctly."""
        with torch.no_grad():
            predictions = self.model(self.dataset.X_test).argmax(dim=1)
        return float((predictions == self.dataset.y_test).double().mean())


def make_workload(dataset: str = "digits", model: str = "mlp", *, seed: int = 0, batch_size: int = 64,
                  hidden: int = 128) -> Workload:
    """Load ``dataset`` (a spec of :func:`inertia.problems.load_dataset`) and build ``model`` on it."""
    for name, value in (("dataset", dataset), ("model", model)):
        if not isinstance(value, str):
            raise TypeError(f"{name}: must be a name such as 'digits' or 'mlp', got {value!r} of type "
                            f"{type(value).__name__}")
    check_positive("batch_size", batch_size, integer=True, style=STYLE_FIELD)
    data = load_dataset(dataset, seed=seed)
    net = make_model(model, data.input_shape, data.num_classes, seed=seed, hidden=hidden)
    return Workload(dataset=data, model=net, batch_size=batch_size)
