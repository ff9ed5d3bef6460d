"""Argument handling beyond the tables of test_error_inputs.py: torch flags, names, sparse gradients."""

from __future__ import annotations

import pytest
import torch

import inertia


def test_torch_implementation_flags_are_accepted() -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = inertia.Adam(params, foreach=True)
    assert optimizer.param_groups[0]["foreach"] is True


def test_unknown_optimizer_name() -> None:
    with pytest.raises(ValueError, match="'adamq'"):
        inertia.make_optimizer("adamq", [torch.nn.Parameter(torch.zeros(1))])


def test_sparse_gradient_is_rejected_clearly() -> None:
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    optimizer = inertia.Adam(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients .*param group 0, index 0"):
        optimizer.step()
