"""Laws of the update rules, checked with hypothesis."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inertia.optim import adagrad_update, adam_update, rmsprop_update, sgd_update

finite = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False)
vectors = st.lists(finite, min_size=1, max_size=8).map(lambda xs: torch.tensor(xs, dtype=torch.float64))
learning_rates = st.floats(min_value=1e-5, max_value=1.0)


@settings(max_examples=40, deadline=None)
@given(vectors, learning_rates)
def test_zero_gradient_with_zero_state_leaves_parameters_unchanged(param: torch.Tensor, lr: float) -> None:
    zero = torch.zeros_like(param)
    for update in (
        lambda p: sgd_update(p, zero, torch.zeros_like(p), lr=lr, momentum=0.9, first_step=True),
        lambda p: adagrad_update(p, zero, torch.zeros_like(p), step=1, lr=lr),
        lambda p: rmsprop_update(p, zero, torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p),
                                 lr=lr, momentum=0.9, centered=True),
        lambda p: adam_update(p, zero, torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p),
                              step=1, lr=lr, amsgrad=True),
    ):
        moved = param.clone()
        update(moved)
        assert torch.equal(moved, param)


@settings(max_examples=60, deadline=None)
@given(vectors, learning_rates)
def test_adam_bias_corrected_first_step_moves_each_coordinate_by_about_lr(grad: torch.Tensor, lr: float) -> None:
    grad = torch.where(grad.abs() < 1e-3, torch.ones_like(grad), grad)
    param = torch.zeros_like(grad)
    adam_update(param, grad, torch.zeros_like(grad), torch.zeros_like(grad), None, step=1, lr=lr)
    torch.testing.assert_close(param.abs(), torch.full_like(grad, lr), rtol=1e-4, atol=0)
    assert torch.all(torch.sign(param) == -torch.sign(grad))


@settings(max_examples=40, deadline=None)
@given(st.lists(vectors, min_size=2, max_size=6), learning_rates, st.floats(min_value=0, max_value=0.5))
def test_adagrad_effective_step_never_grows(grads: list[torch.Tensor], lr: float, lr_decay: float) -> None:
    size = min(g.numel() for g in grads)
    state_sum = torch.zeros(size, dtype=torch.float64)
    previous = torch.full((size,), math.inf, dtype=torch.float64)
    for step, grad in enumerate(grads, start=1):
        adagrad_update(torch.zeros(size, dtype=torch.float64), grad[:size], state_sum,
                       step=step, lr=lr, lr_decay=lr_decay)
        effective = lr / (1 + (step - 1) * lr_decay) / (state_sum.sqrt() + 1e-10)
        assert torch.all(effective <= previous)
        previous = effective


@settings(max_examples=40, deadline=None)
@given(vectors, learning_rates)
def test_sgd_maximize_is_descent_on_the_negated_gradient(grad: torch.Tensor, lr: float) -> None:
    up, down = torch.zeros_like(grad), torch.zeros_like(grad)
    sgd_update(up, grad, None, lr=lr, maximize=True)
    sgd_update(down, -grad, None, lr=lr)
    assert torch.equal(up, down)
