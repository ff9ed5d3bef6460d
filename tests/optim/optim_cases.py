"""Shared cases for the optimizer tests: one configuration table, a small model and a loss."""

from __future__ import annotations

from typing import Any

import torch

# (inertia/torch class name, keyword arguments accepted by both)
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-6, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, decoupled_weight_decay=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
]


def config_id(config: tuple[str, dict[str, Any]]) -> str:
    name, kwargs = config
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def make_params(dtype: torch.dtype, seed: int = 0) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    shapes = [(6, 4), (4,), (3, 2, 2), (1,)]
    return [torch.nn.Parameter(torch.randn(s, generator=generator, dtype=dtype)) for s in shapes]


def loss_of(params: list[torch.Tensor]) -> torch.Tensor:
    """A smooth non-convex loss touching every parameter."""
    total = params[0].sin().pow(2).sum() + (params[1] ** 4).sum() / 4
    return total + (params[2] * params[2].flip(0)).sum() + params[3].cos().sum()


def param_groups(params: list[torch.nn.Parameter], lr: float) -> list[dict]:
    return [{"params": params[:2]}, {"params": params[2:], "lr": lr / 2}]
