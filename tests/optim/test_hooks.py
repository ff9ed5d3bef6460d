"""Step hooks run in torch.optim's order, with or without a profiler."""

from __future__ import annotations

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

import inertia


def hook_calls(module: object, profile: bool) -> list[str]:
    calls: list[str] = []
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = module.Adam([param], lr=0.1)
    handles = [
        register_optimizer_step_pre_hook(lambda *_: calls.append("global pre")),
        optimizer.register_step_pre_hook(lambda *_: calls.append("pre")),
        optimizer.register_step_post_hook(lambda *_: calls.append("post")),
        register_optimizer_step_post_hook(lambda *_: calls.append("global post")),
    ]
    param.grad = torch.ones(3)
    try:
        if profile:
            with torch.autograd.profiler.profile():
                optimizer.step()
        else:
            optimizer.step()
    finally:
        for handle in handles:
            handle.remove()
    calls.append(f"moved={float(param.detach()[0]) != 1.0}")
    return calls


@pytest.mark.parametrize("profile", [False, True])
def test_hook_order_matches_torch(profile: bool) -> None:
    assert hook_calls(inertia, profile) == hook_calls(torch.optim, profile)


def test_pre_hook_may_replace_the_arguments() -> None:
    param = torch.nn.Parameter(torch.ones(2))
    optimizer = inertia.SGD([param], lr=0.5)
    seen = []

    def closure() -> torch.Tensor:
        seen.append("closure")
        optimizer.zero_grad()
        loss = (param**2).sum()
        loss.backward()
        return loss

    optimizer.register_step_pre_hook(lambda opt, args, kwargs: ((opt,), {"closure": closure}))
    optimizer.step()
    assert seen == ["closure"]
    torch.testing.assert_close(param.detach(), torch.zeros(2))
