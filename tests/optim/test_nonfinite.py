"""nonfinite="raise" names the parameter; "skip" skips and counts; both leave state untouched."""

from __future__ import annotations

import pytest
import torch
from optim_cases import loss_of, make_params, param_groups
from optimizer_db import CONFIGS, config_id

import inertia


def trained(name: str, kwargs: dict, policy: str) -> tuple[torch.optim.Optimizer, list]:
    params = make_params(torch.float64)
    optimizer = getattr(inertia, name)(param_groups(params, kwargs["lr"]), nonfinite=policy, **kwargs)
    for _ in range(3):
        optimizer.zero_grad()
        loss_of(params).backward()
        optimizer.step()
    optimizer.zero_grad()
    loss_of(params).backward()
    params[2].grad[1, 0, 1] = float("nan")
    return optimizer, params


def frozen(optimizer: torch.optim.Optimizer, params: list) -> list[torch.Tensor]:
    state = [t.clone() for p in params for t in optimizer.state.get(p, {}).values()]
    return [p.detach().clone() for p in params] + state


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_raise_names_group_and_index_and_changes_nothing(config: tuple) -> None:
    optimizer, params = trained(*config, policy="raise")
    before = frozen(optimizer, params)
    with pytest.raises(inertia.NonFiniteGradientError, match="param group 1, index 0"):
        optimizer.step()
    for got, want in zip(frozen(optimizer, params), before, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_skip_skips_whole_step_and_counts(config: tuple) -> None:
    optimizer, params = trained(*config, policy="skip")
    before = frozen(optimizer, params)
    optimizer.step()
    assert optimizer.skipped_steps == 1
    for got, want in zip(frozen(optimizer, params), before, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    params[2].grad.zero_()
    optimizer.step()
    assert optimizer.skipped_steps == 1
    assert not torch.equal(params[0].detach(), before[0])


def test_ignore_lets_nan_through_like_torch() -> None:
    optimizer, params = trained("Adam", dict(lr=0.1), policy="ignore")
    optimizer.step()
    assert torch.isnan(params[2]).any()
