"""Lion against the paper's algorithm (Chen et al., 2023, Algorithm 2), written here in float64 numpy.

torch.optim has no Lion, so the reference is independent: a few lines from the paper's pseudo-code,
stepped beside inertia.Lion (reference and fused paths) on the same gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inertia


def paper_lion(x: np.ndarray, grads: list[np.ndarray], lr: float, beta1: float, beta2: float,
               weight_decay: float) -> np.ndarray:
    """Algorithm 2: update = sign(b1 m + (1 - b1) g); x = x - lr (update + wd x); m = b2 m + (1 - b2) g."""
    m = np.zeros_like(x)
    for g in grads:
        update = np.sign(beta1 * m + (1 - beta1) * g)
        x = x - lr * (update + weight_decay * x)
        m = beta2 * m + (1 - beta2) * g
    return x


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize("hyper", [dict(lr=1e-2), dict(lr=3e-3, betas=(0.95, 0.98), weight_decay=0.3)],
                         ids=["defaults", "weight-decay"])
def test_lion_follows_the_papers_algorithm(impl: str, hyper: dict) -> None:
    generator = np.random.default_rng(0)
    x0 = generator.standard_normal(257)
    grads = [generator.standard_normal(257) for _ in range(12)]
    param = torch.nn.Parameter(torch.tensor(x0))
    optimizer = inertia.Lion([param], impl=impl, **hyper)
    for g in grads:
        param.grad = torch.tensor(g) if param.grad is None else param.grad.copy_(torch.tensor(g))
        optimizer.step()
    beta1, beta2 = hyper.get("betas", (0.9, 0.99))
    want = paper_lion(x0, grads, hyper["lr"], beta1, beta2, hyper.get("weight_decay", 0.0))
    np.testing.assert_allclose(param.detach().numpy(), want, rtol=1e-12, atol=1e-12)


def test_lion_moves_every_coordinate_by_exactly_lr_on_its_first_step() -> None:
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    optimizer = inertia.Lion([param], lr=0.1)
    param.grad = torch.tensor([3.0, -1e-6, 0.0], dtype=torch.float64)
    optimizer.step()
    torch.testing.assert_close(param.detach(), torch.tensor([0.9, -1.9, 0.5], dtype=torch.float64), rtol=0, atol=1e-15)
    assert set(optimizer.state[param]) == {"step", "exp_avg"}
