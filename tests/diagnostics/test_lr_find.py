"""Learning-rate range test: exact restoration, the sweep, the suggestion rule and its outputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import inertia
from inertia.diagnostics import TrainingSnapshot, lr_find, write_lr_find
from inertia.diagnostics.lr_find import lr_schedule, smooth, valley_point

INPUTS = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
LABELS = (INPUTS[:, 0] + INPUTS[:, 1] > 0).long() + (INPUTS[:, 2] > 1).long()


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.BatchNorm1d(16), nn.Linear(16, 3))


def _batch_loss(model: nn.Module):
    def loss(step: int, seed: int) -> torch.Tensor:
        order = torch.randperm(256, generator=torch.Generator().manual_seed(1000 * seed + step // 8))
        idx = order[(step % 8) * 32:(step % 8 + 1) * 32]
        return nn.functional.cross_entropy(model(INPUTS[idx]), LABELS[idx])
    return loss


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    """Training that reads the global RNG (dropout, batch order) and leaves gradients behind."""
    for _ in range(steps):
        idx = torch.randint(0, 256, (32,))
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(INPUTS[idx]), LABELS[idx]).backward()
        optimizer.step()


def _state(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    tensors = [t.detach().clone() for t in list(model.parameters()) + list(model.buffers())]
    tensors += [p.grad.clone() for p in model.parameters()]
    for state in optimizer.state_dict()["state"].values():
        tensors += [v.clone() for v in state.values() if isinstance(v, torch.Tensor)]
    return tensors


@pytest.mark.parametrize("make_optimizer", [
    lambda p: inertia.Adam(p, lr=1e-3),
    lambda p: inertia.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda p: torch.optim.RMSprop(p, lr=1e-3),
])
def test_training_after_lr_find_is_bit_identical_to_training_without_it(make_optimizer) -> None:
    runs = []
    for with_lr_find in (False, True):
        torch.manual_seed(123)
        model = _model()
        optimizer = make_optimizer(model.parameters())
        _train(model, optimizer, 5)  # optimizer state, gradients and RNG all in use
        if with_lr_find:
            batch_loss = _batch_loss(model)
            result = lr_find(model, optimizer, batch_loss, lr_min=1e-4, lr_max=10.0, num_steps=30,
                             seeds=(0, 1), curvature_loss=lambda: batch_loss(0, 0))  # noqa: B023
            assert len(result.curves) == 2 and result.curves[0].losses.size > 0
            assert optimizer.param_groups[0]["lr"] == pytest.approx(make_optimizer(model.parameters())
                                                                   .param_groups[0]["lr"])
        _train(model, optimizer, 10)
        runs.append(_state(model, optimizer))
    assert len(runs[0]) == len(runs[1])
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))


def test_snapshot_restores_grads_modes_buffers_and_counters() -> None:
    model = _model()
    optimizer = inertia.Adam(model.parameters(), nonfinite="skip")
    model.eval()
    snapshot = TrainingSnapshot(model, optimizer)
    model.train()
    _train(model, optimizer, 3)
    optimizer.skipped_steps = 7
    snapshot.restore()
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert int(model[3].num_batches_tracked) == 0 and optimizer.skipped_steps == 0
    assert optimizer.state_dict()["state"] == {} or all(
        float(s["step"]) == 0 for s in optimizer.state_dict()["state"].values())


def test_sweep_schedule_smoothing_and_rule() -> None:
    lrs = lr_schedule(1e-4, 1.0, 5)
    assert lrs == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert smooth([1.0, 2.0, 3.0, 4.0, 10.0], 1) == pytest.approx([1.5, 2.0, 3.0, 17 / 3, 7.0])
    # a loss that falls fastest at lr 1e-2 (in log lr) and is lowest at lr 1e-1
    grid = lr_schedule(1e-5, 1.0, 51)
    loss = 2 - np.tanh(2 * (np.log10(grid) + 2)) + 30 * np.maximum(np.log10(grid) + 1, 0) ** 2
    suggestion, steepest, minimum = valley_point(grid, loss)
    assert steepest == pytest.approx(1e-2) and minimum == pytest.approx(1e-1, rel=0.3)
    assert suggestion == pytest.approx(math.sqrt(steepest * minimum))


def test_lr_find_finds_the_valley_of_least_squares_below_the_stability_limit(tmp_path) -> None:
    """On least squares, gradient descent diverges above 2/lambda_max; the sweep must stop there."""
    torch.manual_seed(0)
    features = torch.randn(128, 10) * torch.linspace(0.2, 2.0, 10)
    targets = features @ torch.randn(10) + 0.1 * torch.randn(128)
    model = nn.Linear(10, 1)
    optimizer = inertia.SGD(model.parameters(), lr=0.01)

    def batch_loss(step: int, seed: int) -> torch.Tensor:
        return ((model(features).squeeze(1) - targets) ** 2).mean()

    result = lr_find(model, optimizer, batch_loss, lr_min=1e-4, lr_max=10.0, num_steps=60, seeds=(0, 1, 2),
                     curvature_loss=lambda: batch_loss(0, 0))
    assert all(c.stop_reason == "diverged" for c in result.curves)
    assert result.confidence == 1.0  # full-batch: every seed gives the same curve
    assert result.steepest_lr < result.suggested_lr < result.minimum_lr
    assert result.suggested_lr < result.stability_limit_lr < 1.3 * result.curves[0].lrs[-1]
    assert result.stability_limit_lr == pytest.approx(2 / result.lambda_max)
    plot, summary = write_lr_find(result, tmp_path / "out")
    data = json.loads(summary.read_text())
    assert data["suggested_lr"] == result.suggested_lr and data["rule"].startswith("valley midpoint")
    assert set(data["curves"]) == {"0", "1", "2"} and plot.read_bytes().startswith(b"\x89PNG")


def test_a_loss_that_is_negative_gives_the_same_suggestion_as_the_shifted_loss() -> None:
    """The divergence test compares the smoothed loss with its best value; below zero ``4 * best`` is lower
    than ``best``, so a plain ratio would stop every sweep at its first step."""
    torch.manual_seed(0)
    features = torch.randn(128, 10) * torch.linspace(0.2, 2.0, 10)
    targets = features @ torch.randn(10) + 0.1 * torch.randn(128)
    results = []
    for shift in (0.0, -100.0):
        model = nn.Linear(10, 1)
        with torch.no_grad():
            model.weight.zero_()
            model.bias.zero_()

        def batch_loss(step: int, seed: int, model: nn.Module = model, shift: float = shift) -> torch.Tensor:
            return ((model(features).squeeze(1) - targets) ** 2).mean() + shift

        results.append(lr_find(model, inertia.SGD(model.parameters(), lr=0.01), batch_loss, lr_min=1e-4,
                               lr_max=10.0, num_steps=60, seeds=(0,)))
    plain, negative = results
    assert negative.curves[0].losses[0] < -90 and negative.curves[0].stop_reason == "diverged"
    assert negative.suggested_lr == plain.suggested_lr and negative.minimum_lr == plain.minimum_lr


@pytest.mark.parametrize("kwargs, message", [
    ({"lr_min": 0.0}, "lr_min: must be a positive number"),
    ({"lr_max": 1e-7}, "lr_max: must be a finite number above lr_min"),
    ({"num_steps": 3}, "num_steps: must be an integer >= 10"),
    ({"seeds": (1, 1)}, "seeds: must be a non-empty list of distinct integers"),
    ({"diverge_factor": 1.0}, "diverge_factor: must be a number > 1, got 1.0"),
])
def test_bad_settings_are_named(kwargs: dict, message: str) -> None:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=message):
        lr_find(model, optimizer, lambda step, seed: model(torch.ones(1, 2)).sum(), **kwargs)


@pytest.mark.parametrize("make_optimizer", [torch.optim.Adadelta, torch.optim.Rprop, torch.optim.Adam,
                                            torch.optim.RMSprop, torch.optim.Adagrad])
def test_the_sgd_stability_limit_is_not_applied_to_adaptive_methods(make_optimizer) -> None:
    from inertia.diagnostics.lr_find import _stability_limit

    limit, why_not = _stability_limit(make_optimizer(nn.Linear(2, 1).parameters()), 2.0)
    assert limit is None and why_not.startswith("2/lambda_max applies to (S)GD")
    sgd = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.5)
    assert _stability_limit(sgd, 2.0) == (pytest.approx(1.5), None)
