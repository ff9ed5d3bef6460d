"""The documented convention options against their closed forms."""

from __future__ import annotations

import math

import pytest
import torch

import inertia
from inertia import schedules


def quadratic_run(optimizer_factory, steps: int, lr_at=None) -> torch.Tensor:
    weights = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    param = torch.nn.Parameter(torch.tensor([3.0, 1.0, -1.0], dtype=torch.float64))
    optimizer = optimizer_factory([param])
    for step in range(steps):
        if lr_at is not None:
            optimizer.param_groups[0]["lr"] = lr_at(step)
        optimizer.zero_grad()
        (weights * param**2).sum().backward()
        optimizer.step()
    return param.detach().clone()


@pytest.mark.parametrize("nesterov", [False, True])
def test_velocity_form_equals_torch_form_at_constant_lr(nesterov: bool) -> None:
    torch_form = quadratic_run(lambda p: inertia.SGD(p, lr=0.05, momentum=0.9, nesterov=nesterov), 30)
    velocity = quadratic_run(
        lambda p: inertia.SGD(p, lr=0.05, momentum=0.9, nesterov=nesterov, momentum_form="velocity"), 30
    )
    torch.testing.assert_close(velocity, torch_form, rtol=1e-12, atol=1e-12)


def test_velocity_form_differs_under_a_schedule_and_matches_cs231n() -> None:
    decay = schedules.step_decay(every=5, gamma=0.1)

    def lr_at(step: int) -> float:
        return 0.05 * decay(step)

    torch_form = quadratic_run(lambda p: inertia.SGD(p, lr=0.05, momentum=0.9), 12, lr_at)
    velocity = quadratic_run(lambda p: inertia.SGD(p, lr=0.05, momentum=0.9, momentum_form="velocity"), 12, lr_at)
    # CS231n's update written out by hand
    weights = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x = torch.tensor([3.0, 1.0, -1.0], dtype=torch.float64)
    v = torch.zeros(3, dtype=torch.float64)
    for step in range(12):
        v = 0.9 * v - lr_at(step) * 2 * weights * x
        x = x + v
    torch.testing.assert_close(velocity, x, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(torch_form, velocity)


def adam_by_hand(lr: float, eps: float, steps: int, denominator) -> torch.Tensor:
    """Adam on the test quadratic, written out; ``denominator(m, v, t)`` gives the update."""
    b1, b2 = 0.9, 0.999
    weights = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x = torch.tensor([3.0, 1.0, -1.0], dtype=torch.float64)
    m = torch.zeros(3, dtype=torch.float64)
    v = torch.zeros(3, dtype=torch.float64)
    for t in range(1, steps + 1):
        g = 2 * weights * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * denominator(m, v, t, b1, b2, eps)
    return x


def test_adam_eps_inside_sqrt_matches_optax_eps_root() -> None:
    got = quadratic_run(lambda p: inertia.Adam(p, lr=0.1, eps=1e-3, eps_mode="inside"), 5)
    want = adam_by_hand(0.1, 1e-3, 5, lambda m, v, t, b1, b2, eps: (m / (1 - b1**t)) / torch.sqrt(v / (1 - b2**t) + eps))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_adam_epsilon_hat_matches_keras() -> None:
    got = quadratic_run(lambda p: inertia.Adam(p, lr=0.1, eps=1e-2, eps_mode="hat"), 5)
    want = adam_by_hand(
        0.1, 1e-2, 5, lambda m, v, t, b1, b2, eps: math.sqrt(1 - b2**t) / (1 - b1**t) * m / (torch.sqrt(v) + eps)
    )
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_uncorrected_adam_first_step_is_about_3_16_lr() -> None:
    got = quadratic_run(lambda p: inertia.Adam(p, lr=0.01, bias_correction=False), 1)
    start = torch.tensor([3.0, 1.0, -1.0], dtype=torch.float64)
    expected = 0.01 * (1 - 0.9) / math.sqrt(1 - 0.999)
    torch.testing.assert_close((got - start).abs(), torch.full((3,), expected, dtype=torch.float64), rtol=1e-6, atol=0)


@pytest.mark.parametrize("optimizer_class", [inertia.Adagrad, inertia.RMSprop])
def test_eps_inside_sqrt_for_adagrad_and_rmsprop(optimizer_class) -> None:
    eps = 0.5
    got = quadratic_run(lambda p: optimizer_class(p, lr=0.1, eps=eps, eps_inside_sqrt=True), 1)
    start = torch.tensor([3.0, 1.0, -1.0], dtype=torch.float64)
    g = 2 * torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) * start
    cache = g * g if optimizer_class is inertia.Adagrad else 0.01 * g * g
    torch.testing.assert_close(got, start - 0.1 * g / torch.sqrt(cache + eps), rtol=1e-12, atol=1e-12)
