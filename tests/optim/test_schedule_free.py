"""AdamWScheduleFree against the paper's algorithm (Defazio et al., 2024), written here in float64 numpy.

torch.optim has no Schedule-Free AdamW, so the reference is independent: the three sequences
x, y, z kept explicitly, as the paper writes them, on a noisy quadratic whose gradient is taken at y.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inertia

N = 33


def quadratic_grad(y: np.ndarray, t: int) -> np.ndarray:
    """The gradient of a diagonal quadratic at ``y``, plus noise fixed by the step ``t``."""
    generator = np.random.default_rng(t)
    scale = np.linspace(0.5, 3.0, y.size)
    return scale * (y - 1.0) + 0.3 * generator.standard_normal(y.size)


class PaperScheduleFree:
    """Schedule-Free AdamW with x, y, z kept explicitly (the paper's Algorithm 1, AdamW base step)."""

    def __init__(self, x0: np.ndarray, lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0) -> None:
        self.x, self.z, self.v = x0.copy(), x0.copy(), np.zeros_like(x0)
        self.lr, (self.beta1, self.beta2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.warmup, self.r, self.power = warmup_steps, r, weight_lr_power
        self.t, self.lr_max, self.weight_sum = 0, -1.0, 0.0

    @property
    def y(self) -> np.ndarray:
        return (1 - self.beta1) * self.z + self.beta1 * self.x

    def step(self) -> None:
        self.t += 1
        t, y = self.t, self.y
        g = quadratic_grad(y, t)
        lr = self.lr * min(1.0, t / self.warmup) if self.warmup else self.lr
        self.lr_max = max(self.lr_max, lr)
        weight = t ** self.r * self.lr_max ** self.power
        self.weight_sum += weight
        c = weight / self.weight_sum if self.weight_sum else 0.0
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        self.z = self.z - lr * (g / (np.sqrt(self.v / (1 - self.beta2 ** t)) + self.eps) + self.wd * y)
        self.x = (1 - c) * self.x + c * self.z


CONFIGS = [dict(), dict(lr=0.05), dict(lr=0.03, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
           dict(lr=0.04, warmup_steps=4, r=0.5, weight_lr_power=1.0), dict(lr=0.0, weight_decay=0.1)]
IDS = ["defaults", "lr", "weight-decay", "warmup-r-power", "zero-lr"]


def step(optimizer: inertia.AdamWScheduleFree, param: torch.nn.Parameter, t: int) -> None:
    """One training step with the quadratic's gradient taken at the stored parameter (y)."""
    param.grad = torch.from_numpy(quadratic_grad(param.detach().numpy(), t))
    optimizer.step()


def close(param: torch.Tensor, want: np.ndarray) -> None:
    np.testing.assert_allclose(param.detach().numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("hyper", CONFIGS, ids=IDS)
def test_train_and_eval_points_follow_the_paper(hyper: dict) -> None:
    x0 = np.random.default_rng(0).standard_normal(N)
    paper = PaperScheduleFree(x0, **hyper)
    param = torch.nn.Parameter(torch.tensor(x0))
    optimizer = inertia.AdamWScheduleFree([param], **hyper)
    for t in range(1, 13):
        step(optimizer, param, t)
        paper.step()
        close(param, paper.y)
        if t % 4 == 0:  # evaluate at x, then go back to y and keep training
            optimizer.eval()
            close(param, paper.x)
            optimizer.eval()  # a second eval() changes nothing
            close(param, paper.x)
            optimizer.train()
            close(param, paper.y)
    close(optimizer.state[param]["z"], paper.z)
    assert optimizer.param_groups[0]["k"] == 12 and float(optimizer.state[param]["step"]) == 12


@pytest.mark.parametrize("in_eval", [False, True], ids=["train-mode", "eval-mode"])
def test_state_dict_round_trip_resumes_the_trajectory(in_eval: bool) -> None:
    hyper = dict(lr=0.04, weight_decay=0.05, warmup_steps=3, r=1.0)
    x0 = np.random.default_rng(1).standard_normal(N)
    paper = PaperScheduleFree(x0, **hyper)
    param = torch.nn.Parameter(torch.tensor(x0))
    optimizer = inertia.AdamWScheduleFree([param], **hyper)
    for t in range(1, 6):
        step(optimizer, param, t)
        paper.step()
    if in_eval:
        optimizer.eval()
    saved = optimizer.state_dict()
    resumed_param = torch.nn.Parameter(param.detach().clone())
    resumed = inertia.AdamWScheduleFree([resumed_param], lr=1.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["train_mode"] is (not in_eval)
    if in_eval:
        close(resumed_param, paper.x)
        resumed.train()
    for t in range(6, 11):
        step(resumed, resumed_param, t)
        paper.step()
        close(resumed_param, paper.y)
    resumed.eval()
    close(resumed_param, paper.x)


def test_step_in_eval_mode_raises() -> None:
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = inertia.AdamWScheduleFree([param])
    param.grad = torch.ones(3)
    optimizer.step()
    optimizer.eval()
    with pytest.raises(RuntimeError, match="eval mode"):
        optimizer.step()


def test_eval_before_any_step_keeps_the_parameter() -> None:
    param = torch.nn.Parameter(torch.arange(4.0))
    optimizer = inertia.AdamWScheduleFree([param])
    optimizer.eval()
    optimizer.train()
    assert torch.equal(param.detach(), torch.arange(4.0))


def test_maximize_steps_on_the_negated_gradient() -> None:
    x0 = np.random.default_rng(2).standard_normal(N)
    paper = PaperScheduleFree(x0, lr=0.03, weight_decay=0.1)
    param = torch.nn.Parameter(torch.tensor(x0))
    optimizer = inertia.AdamWScheduleFree([param], lr=0.03, weight_decay=0.1, maximize=True)
    for t in range(1, 6):
        param.grad = torch.from_numpy(-quadratic_grad(param.detach().numpy(), t))
        optimizer.step()
        paper.step()
        close(param, paper.y)


def test_registered_by_name() -> None:
    param = torch.nn.Parameter(torch.ones(2))
    assert isinstance(inertia.make_optimizer("schedule_free_adamw", [param]), inertia.AdamWScheduleFree)
