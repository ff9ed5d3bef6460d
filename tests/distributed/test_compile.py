"""A training step wrapped in torch.compile works with inertia optimizers (the step runs eagerly)."""

from __future__ import annotations

import pytest
import torch

import inertia


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def trajectory(impl: str, backend: str | None) -> tuple[list[torch.Tensor], list[float]]:
    model = make_model()
    optimizer = inertia.Adam(model.parameters(), lr=0.05, impl=impl)
    x = torch.linspace(-1, 1, 40).reshape(8, 5)
    y = x.sum(dim=1, keepdim=True).sin()

    def train_step() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    step = torch.compile(train_step, backend=backend) if backend else train_step
    losses = [float(step()) for _ in range(4)]
    return [p.detach().clone() for p in model.parameters()], losses


@pytest.mark.parametrize(("impl", "backend"), [("fused", "inductor"), ("reference", "aot_eager")])
def test_compiled_training_step_matches_eager(impl: str, backend: str) -> None:
    torch._dynamo.reset()
    eager_params, eager_losses = trajectory(impl, None)
    params, losses = trajectory(impl, backend)
    assert losses == pytest.approx(eager_losses, rel=1e-5)
    for got, want in zip(params, eager_params, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]
