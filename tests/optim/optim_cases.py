"""Shared pieces of the optimizer tests: small parameters, a loss and two param groups (the
configurations are the one table, ``optimizer_db``)."""

from __future__ import annotations

import torch


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
