"""Every configuration follows torch.optim's trajectory exactly (same op order, bit for bit)."""

from __future__ import annotations

import pytest
import torch
from optim_cases import loss_of, make_params, param_groups
from optimizer_db import CONFIGS, config_id
from so_problems import backward_closure

import inertia


def run(module: object, name: str, kwargs: dict, dtype: torch.dtype, steps: int, closure: bool) -> list:
    params = make_params(dtype)
    optimizer = getattr(module, name)(param_groups(params, kwargs["lr"]), **kwargs)
    evaluate = backward_closure(optimizer, lambda: loss_of(params))
    losses = []
    for _ in range(steps):
        if closure:
            losses.append(float(optimizer.step(evaluate).detach()))
        else:
            losses.append(float(evaluate().detach()))
            optimizer.step()
    return [p.detach().clone() for p in params] + [torch.tensor(losses)]


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
@pytest.mark.parametrize("closure", [False, True], ids=["plain", "closure"])
def test_trajectory_matches_torch(config: tuple, closure: bool, dtype: torch.dtype) -> None:
    name, kwargs = config
    ours = run(inertia, name, kwargs, dtype, steps=25, closure=closure)
    reference = run(torch.optim, name, kwargs, dtype, steps=25, closure=closure)
    for got, want in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def test_params_without_grad_are_skipped_like_torch() -> None:
    results = []
    for module in (torch.optim, inertia):
        params = make_params(torch.float64)
        optimizer = module.Adam(params, lr=0.1)
        for step in range(6):
            optimizer.zero_grad()
            active = params if step % 2 == 0 else params[:2]
            loss_of(active + params[len(active):]).backward()
            if step % 2:
                for p in params[2:]:
                    p.grad = None
            optimizer.step()
        results.append([p.detach().clone() for p in params] + [optimizer.state[params[3]]["step"]])
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def test_state_tensors_are_views_of_one_flat_buffer_per_key() -> None:
    params = make_params(torch.float32)
    optimizer = inertia.Adam(params, lr=0.1)
    loss_of(params).backward()
    optimizer.step()
    storages = {optimizer.state[p]["exp_avg"].untyped_storage().data_ptr() for p in params}
    steps = {optimizer.state[p]["step"].untyped_storage().data_ptr() for p in params}
    assert len(storages) == 1 and len(steps) == 1
    assert all(optimizer.state[p]["step"].dim() == 0 for p in params)
