"""Bad input: ValueError at construction, naming the argument and the value."""

from __future__ import annotations

import math

import pytest
import torch

import inertia

BAD_INPUTS = [
    (inertia.SGD, dict(lr=-0.1), "lr", "-0.1"),
    (inertia.SGD, dict(lr=math.inf), "lr", "inf"),
    (inertia.SGD, dict(lr=math.nan), "lr", "nan"),
    (inertia.SGD, dict(lr=0.1, momentum=-0.5), "momentum", "-0.5"),
    (inertia.SGD, dict(lr=0.1, weight_decay=-1.0), "weight_decay", "-1.0"),
    (inertia.SGD, dict(lr=0.1, nesterov=True), "nesterov", "True"),
    (inertia.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov", "True"),
    (inertia.SGD, dict(lr=0.1, momentum_form="keras"), "momentum_form", "'keras'"),
    (inertia.SGD, dict(lr=0.1, nonfinite="warn"), "nonfinite", "'warn'"),
    (inertia.SGD, dict(lr=0.1, impl="cuda"), "impl", "'cuda'"),
    (inertia.SGD, dict(lr=0.1, velocity=True), "velocity", "True"),
    (inertia.AdaGrad, dict(lr=-1.0), "lr", "-1.0"),
    (inertia.AdaGrad, dict(eps=-1e-10), "eps", "-1e-10"),
    (inertia.AdaGrad, dict(lr_decay=-0.1), "lr_decay", "-0.1"),
    (inertia.AdaGrad, dict(initial_accumulator_value=-0.1), "initial_accumulator_value", "-0.1"),
    (inertia.AdaGrad, dict(weight_decay=-0.1), "weight_decay", "-0.1"),
    (inertia.RMSprop, dict(alpha=1.5), "alpha", "1.5"),
    (inertia.RMSprop, dict(alpha=-0.1), "alpha", "-0.1"),
    (inertia.RMSprop, dict(eps=-1e-8), "eps", "-1e-08"),
    (inertia.RMSprop, dict(momentum=-0.9), "momentum", "-0.9"),
    (inertia.RMSprop, dict(weight_decay=-0.1), "weight_decay", "-0.1"),
    (inertia.Adam, dict(betas=(1.0, 0.999)), "betas", "1.0"),
    (inertia.Adam, dict(betas=(0.9, -0.1)), "betas", "-0.1"),
    (inertia.Adam, dict(betas=0.9), "betas", "0.9"),
    (inertia.Adam, dict(eps=-1e-8), "eps", "-1e-08"),
    (inertia.Adam, dict(lr=-1e-3), "lr", "-0.001"),
    (inertia.Adam, dict(weight_decay=-0.1), "weight_decay", "-0.1"),
    (inertia.Adam, dict(eps_mode="sqrt"), "eps_mode", "'sqrt'"),
    (inertia.Adam, dict(beta1=0.9), "beta1", "0.9"),
    (inertia.Adam, dict(differentiable=True), "differentiable", "True"),
    (inertia.AdamW, dict(weight_decay=-0.01), "weight_decay", "-0.01"),
    (inertia.AdamW, dict(decoupled_weight_decay=False), "decoupled_weight_decay", "False"),
]


@pytest.mark.parametrize(
    "optimizer_class, kwargs, argument, value", BAD_INPUTS,
    ids=[f"{c.__name__}-{a}-{v}" for c, _, a, v in BAD_INPUTS],
)
def test_bad_hyperparameter_is_named_with_its_value(optimizer_class, kwargs, argument, value) -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError) as error:
        optimizer_class(params, **kwargs)
    message = str(error.value)
    assert argument in message and value in message


def test_torch_implementation_flags_are_accepted() -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = inertia.Adam(params, foreach=True)
    assert optimizer.param_groups[0]["foreach"] is True


def test_unknown_optimizer_name() -> None:
    with pytest.raises(ValueError, match="'adamax'"):
        inertia.make_optimizer("adamax", [torch.nn.Parameter(torch.zeros(1))])


def test_sparse_gradient_is_rejected_clearly() -> None:
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    optimizer = inertia.Adam(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients .*param group 0, index 0"):
        optimizer.step()
