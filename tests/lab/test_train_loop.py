"""The training loop against a plain PyTorch loop, and its records when a run blows up."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inertia.lab.execute import execute, load_run
from inertia.lab.run_config import RunConfig
from inertia.problems.datasets import load_dataset
from inertia.problems.models import make_model


def plain_loop(config: RunConfig, optimizer_class: type, **hyper: float) -> tuple[torch.nn.Module, list[float]]:
    """The documented settings written out: model seed, (seed, epoch) batch order, one step per batch."""
    data = load_dataset(config.problem, seed=config.data_seed)
    model = make_model(config.model, data.input_shape, data.num_classes, seed=config.seed)
    optimizer = optimizer_class(model.parameters(), lr=config.lr, **hyper)
    epoch_means = []
    for epoch in range(config.epochs):
        weighted = []
        for inputs, labels in data.batches(config.batch_size, epoch=epoch, seed=config.seed):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(inputs), labels)
            loss.backward()
            optimizer.step()
            weighted.append(loss.item() * len(labels))
        epoch_means.append(math.fsum(weighted) / data.n_train)
    return model, epoch_means


def test_training_matches_a_plain_torch_loop(tmp_path, one_thread):
    config = RunConfig("digits", "momentum", lr=0.02, epochs=3, batch_size=100, seed=5, checkpoint_every=1)
    execute(config, tmp_path / "run", monitor=False)
    model, epoch_means = plain_loop(config, torch.optim.SGD, momentum=0.9)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["params"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(saved[name], tensor), name
    recorded = [row["train_loss"] for row in load_run(tmp_path / "run")[2]]
    # the epoch's mean loss over its examples, accumulated as a float64 loop would (no float32 rounding)
    assert recorded == [pytest.approx(mean, rel=1e-12, abs=0.0) for mean in epoch_means]


def test_non_finite_test_loss_in_the_last_epoch_is_a_divergence(tmp_path, one_thread):
    # one batch per epoch: the only step's loss is finite, the update leaves logits that overflow
    config = RunConfig("digits", "sgd", lr=1e30, epochs=1, batch_size=2000, checkpoint_every=1)
    seen = []
    summary = execute(config, tmp_path / "run", on_record=seen.append, monitor=False)
    assert summary["status"] == "diverged"
    assert "non-finite test loss" in summary["message"] and "epoch 1" in summary["message"]
    assert "no checkpoint had been written yet" in summary["message"]
    rows = load_run(tmp_path / "run")[2]
    assert len(rows) == len(seen) == 1 and math.isnan(rows[0]["test_loss"]) and math.isnan(seen[0]["test_loss"])
    assert summary["test_loss"] is None and summary["checkpoint_step"] is None
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_divergence_message_names_the_checkpoint_in_epochs(tmp_path, one_thread):
    # epoch 2's step overflows the logits (its training loss is finite); the checkpoint after epoch 1 is kept
    config = RunConfig("digits", "sgd", lr=1e6, epochs=3, batch_size=2000, checkpoint_every=1)
    summary = execute(config, tmp_path / "run", monitor=False)
    kept = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert summary["status"] == "diverged" and kept["position"] == summary["checkpoint_step"] == 1
    assert "last good checkpoint (epoch 1) kept" in summary["message"]
    assert [row["epoch"] for row in load_run(tmp_path / "run")[2]] == [1, 2]


class Interrupt(Exception):
    """Raised from the record callback to stop a run after an epoch."""


def test_resume_with_a_firing_plateau_schedule_repeats_the_run(tmp_path, one_thread):
    config = RunConfig("digits", "sgd", lr=0.05, epochs=6, batch_size=128, seed=1, checkpoint_every=1,
                       schedule="plateau:factor=0.5,patience=0,threshold=0.3")
    reference = execute(config, tmp_path / "reference")

    def stop_at_epoch_4(row):
        if row["epoch"] == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        execute(config, tmp_path / "resumed", on_record=stop_at_epoch_4)
    resumed = execute(config, tmp_path / "resumed")
    rows = [[{k: v for k, v in row.items() if k != "time_s"} for row in load_run(tmp_path / d)[2]]
            for d in ("reference", "resumed")]
    assert resumed["resumed_at"] == [3] and rows[0] == rows[1]
    assert len({row["lr"] for row in rows[0][2:]}) > 1  # the plateau fired after the resume point too
    assert resumed["warnings"] == reference["warnings"] and resumed["monitor"] == reference["monitor"]
