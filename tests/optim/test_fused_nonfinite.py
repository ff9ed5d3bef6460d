"""The nonfinite policies on the fused path: "raise" and "skip" leave every flat buffer untouched."""

from __future__ import annotations

import pytest
import torch
from test_fused_optimizer import assert_fused, build, loss_of, make_params, train

import inertia

ONE_PER_RULE = [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
]


def frozen(optimizer: torch.optim.Optimizer, params: list) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params] + [
        t.clone() for p in params for t in optimizer.state[p].values()
    ]


def refused_step_changes_nothing(optimizer: torch.optim.Optimizer, params: list, policy: str,
                                 entry: tuple[int, int | tuple[int, ...]], where: str) -> list[torch.Tensor]:
    """Step on fresh gradients with ``params[i].grad[index] = inf`` (``entry = (i, index)``): with ``policy``
    "raise" it raises naming ``where``, with "skip" it counts a skipped step; either way parameters and state
    stay bit for bit. Returns the parameters and state from before the step (parameters first)."""
    optimizer.zero_grad()
    loss_of(params).backward()
    param, index = entry
    params[param].grad[index] = float("inf")
    before = frozen(optimizer, params)
    if policy == "raise":
        with pytest.raises(inertia.NonFiniteGradientError, match=where):
            optimizer.step()
    else:
        optimizer.step()
        assert optimizer.skipped_steps == 1
    for got, want in zip(frozen(optimizer, params), before, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    return before


@pytest.mark.parametrize("policy", ["raise", "skip"])
@pytest.mark.parametrize("case", ONE_PER_RULE, ids=[c[0] for c in ONE_PER_RULE])
def test_nonfinite_gradient_in_a_fused_bucket_changes_nothing(case: tuple, policy: str) -> None:
    name, kwargs = case
    params = make_params()
    optimizer = build(name, kwargs, params, "fused", nonfinite=policy)
    train(optimizer, params, 2)
    assert_fused(optimizer)
    before = refused_step_changes_nothing(optimizer, params, policy, (3, 0), "param group 1, index 1")
    params[3].grad[0] = 0.0
    optimizer.step()
    assert_fused(optimizer)
    assert not torch.equal(params[0].detach(), before[0])
