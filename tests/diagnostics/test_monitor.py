"""Optimizer monitors: statistics against hand computations, and the pathology warnings on the lab's surfaces."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import inertia
from inertia.diagnostics import MonitorThresholds, OptimizerMonitor
from inertia.diagnostics.pathologies import WarningGate
from inertia.problems import get_surface


def _run_surface(name: str, make_optimizer, steps: int, **surface_params) -> tuple[OptimizerMonitor, torch.Tensor]:
    """Run on a lab surface with the monitor at its default settings."""
    surface = get_surface(name, **surface_params)
    x = surface.init_params()
    optimizer = make_optimizer([x])
    monitor = OptimizerMonitor(optimizer, {"xy": x}, on_warning=lambda d: None)
    with monitor:
        for _ in range(steps):
            optimizer.zero_grad()
            surface.loss(x).backward()
            optimizer.step()
    return monitor, x


# The valley's steep axis has curvature 1 = lambda_max, its shallow axis 1/kappa.
def test_zigzag_fires_for_sgd_at_1_9_over_lambda_max_on_a_kappa_100_valley() -> None:
    monitor, _ = _run_surface("valley", lambda p: inertia.SGD(p, lr=1.9), 200, kappa=100.0)
    zigzag = [d for d in monitor.diagnoses if d.pathology == "zigzag"]
    assert len(zigzag) == 1  # rate-limited: one warning per 500 steps
    assert zigzag[0].layer == "xy" and zigzag[0].value <= -0.5
    # default warm-up: pairs sampled every 10 steps at first (steps 2, 12, 22, ...); three samples decide
    assert zigzag[0].step == 22
    assert zigzag[0].message.startswith("zig-zag in xy: successive updates point opposite ways (cos -0.9")
    assert zigzag[0].message.endswith("over 30 steps) - lower lr or add momentum")


@pytest.mark.parametrize("make_optimizer, steps", [
    (lambda p: inertia.SGD(p, lr=0.5), 200),
    (lambda p: inertia.Adam(p), 3000),
])
def test_zigzag_is_silent_at_0_5_over_lambda_max_and_for_adam_at_its_default_lr(make_optimizer, steps) -> None:
    monitor, _ = _run_surface("valley", make_optimizer, steps, kappa=100.0)
    assert len(monitor.history("xy")) == 5 + (steps - 50) // 50  # warm-up (50 steps) every 10 steps, then every 50
    assert not monitor.warned("zigzag")


def test_adagrad_collapse_fires_on_the_long_valley_and_rmsprop_does_not() -> None:
    # adaptive statistics are read every 3rd sample (every 30 steps in the warm-up, then 150)
    adagrad, x_adagrad = _run_surface("long_valley", lambda p: inertia.Adagrad(p, lr=0.1), 600)
    rmsprop, x_rmsprop = _run_surface("long_valley", lambda p: inertia.RMSprop(p, lr=0.01), 600)
    assert adagrad.warned("step_collapse", "xy") and not rmsprop.warned("step_collapse")
    collapse = next(d for d in adagrad.diagnoses if d.pathology == "step_collapse")
    assert collapse.message.startswith("AdaGrad collapse in xy: steps are ")
    assert collapse.value <= 0.1
    # and the warning is right: AdaGrad is stuck far out on the floor, RMSprop got further
    assert float(x_adagrad[0].detach()) < float(x_rmsprop[0].detach()) < 0


def test_no_collapse_when_adagrad_converges() -> None:
    monitor, x = _run_surface("valley", lambda p: inertia.Adagrad(p, lr=1.0), 400, kappa=4.0)
    assert float(x.detach().abs().max()) < 1e-3
    assert not monitor.warned("step_collapse")


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, monitor: OptimizerMonitor, steps: int) -> None:
    inputs = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with monitor:
        for _ in range(steps):
            optimizer.zero_grad()
            (model(inputs) ** 2).mean().backward()
            optimizer.step()


def test_statistics_match_a_hand_computation_for_sgd() -> None:
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = OptimizerMonitor(optimizer, model.named_parameters(), interval=3, on_warning=lambda d: None)
    inputs = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    updates, grads, weights = [], [], []
    with monitor:
        for _ in range(5):
            optimizer.zero_grad()
            (model(inputs) ** 2).mean().backward()
            before = [p.detach().clone() for p in model[2].parameters()]
            grads.append(torch.cat([p.grad.reshape(-1) for p in model[2].parameters()]))
            optimizer.step()
            weights.append(torch.cat([p.detach().reshape(-1) for p in model[2].parameters()]))
            updates.append(torch.cat([(p.detach() - b).reshape(-1) for p, b in zip(model[2].parameters(), before,
                                                                                    strict=True)]))
    # interval 3: pairs (0, 1) and (3, 4) are sampled; samples are stamped with steps 2 and 5
    history = monitor.history("2")
    assert [s.step for s in history] == [2, 5]
    sample, (u_prev, u, g, w) = history[1], (updates[3], updates[4], grads[4], weights[4])
    assert sample.grad_norm == pytest.approx(float(g.norm()))
    assert sample.update_norm == pytest.approx(float(u.norm())) == pytest.approx(0.1 * float(g.norm()))
    assert sample.update_ratio == pytest.approx(float(u.norm() / w.norm()))
    assert sample.update_cos == pytest.approx(float(u @ u_prev / (u.norm() * u_prev.norm())))
    assert sample.num_params == 18 and sample.max_ndim == 2 and sample.nonfinite == 0
    assert sample.eff_lr is None and sample.state_key is None
    assert monitor.layers == ["0", "2"] and monitor.groups == ["group0"]
    assert monitor.history("group0")[1].num_params == 25 + 18


ADAPTIVE = [
    ("torch adagrad", lambda p: torch.optim.Adagrad(p, lr=0.05)),
    ("inertia adagrad", lambda p: inertia.Adagrad(p, lr=0.05, lr_decay=0.01)),
    ("inertia adagrad eps inside", lambda p: inertia.Adagrad(p, lr=0.05, eps=1e-3, eps_inside_sqrt=True)),
    ("torch rmsprop centered", lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True)),
    ("inertia rmsprop", lambda p: inertia.RMSprop(p, lr=0.01, eps=1e-3)),
    ("torch adam beta1=0", lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.0, 0.99))),
    ("torch adam amsgrad", lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.0, 0.99), amsgrad=True)),
    ("inertia adam hat", lambda p: inertia.Adam(p, lr=0.01, betas=(0.0, 0.99), eps=1e-3, eps_mode="hat")),
    ("inertia adam inside", lambda p: inertia.Adam(p, lr=0.01, betas=(0.0, 0.99), eps=1e-3, eps_mode="inside")),
    ("inertia adam no bias correction", lambda p: inertia.Adam(p, lr=0.01, betas=(0.0, 0.99),
                                                               bias_correction=False)),
    ("torch nadam beta1=0", lambda p: torch.optim.NAdam(p, lr=0.01, betas=(0.0, 0.99))),
]


@pytest.mark.parametrize("name, make_optimizer", ADAPTIVE, ids=[a[0] for a in ADAPTIVE])
def test_effective_step_reproduces_the_update(name: str, make_optimizer) -> None:
    """Without momentum every adaptive update is ``eff * g``, so ``eff_lr * ||g|| = ||update||``."""
    model = _mlp()
    monitor = OptimizerMonitor(make_optimizer(model.parameters()), model.named_parameters(), interval=2,
                               adaptive_every=1, on_warning=lambda d: None)
    _train(model, monitor.optimizer, monitor, 6)
    assert len(monitor.samples) == 3 * 3  # steps 2, 4, 6 x (two layers + one group)
    for sample in monitor.samples:
        assert sample.eff_lr is not None and sample.eff_step_hmean is not None
        assert sample.eff_lr * sample.grad_norm == pytest.approx(sample.update_norm, rel=1e-9)
        assert 0 <= sample.eps_share <= 1 and sample.state_key in ("sum", "square_avg", "exp_avg_sq")


def test_eps_dominance_and_nonfinite_warnings() -> None:
    model = _mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=10.0)
    seen = []
    monitor = OptimizerMonitor(optimizer, model.named_parameters(), interval=1, adaptive_every=1,
                               on_warning=seen.append)
    _train(model, optimizer, monitor, 8)
    eps_warnings = [d for d in seen if d.pathology == "eps_dominance"]
    assert {d.layer for d in eps_warnings} == {"0", "2"}
    assert eps_warnings[0].message.startswith("eps dominates in layer 0: in 100% of coordinates")
    assert all(s.eps_share == 1.0 for s in monitor.samples)
    model[0].weight.data[0, 0] = math.nan
    _train(model, optimizer, monitor, 3)
    nonfinite = [d for d in seen if d.pathology == "nonfinite"]
    assert nonfinite and nonfinite[0].value > 0 and "NaN/inf entries" in nonfinite[0].message


def test_layers_are_named_from_named_parameters_or_by_position() -> None:
    model = nn.ModuleDict({"fc1": nn.Linear(3, 3), "fc2": nn.Linear(3, 1)})
    optimizer = torch.optim.SGD([{"params": model["fc1"].parameters()}, {"params": model["fc2"].parameters()}],
                                lr=0.1)
    named = OptimizerMonitor(optimizer, model.named_parameters(), interval=1, on_warning=lambda d: None)
    anonymous = OptimizerMonitor(optimizer, interval=1, on_warning=lambda d: None).attach()
    with named:
        for _ in range(3):
            optimizer.zero_grad()
            model["fc2"](torch.tanh(model["fc1"](torch.ones(2, 3)))).sum().backward()
            optimizer.step()
    anonymous.detach()
    assert named.layers == ["fc1", "fc2"] and named.groups == ["group0", "group1"]
    assert anonymous.layers == ["group0.param0", "group0.param1", "group1.param0", "group1.param1"]
    steps_before = named.steps
    optimizer.step()  # detached: not counted
    assert named.steps == steps_before == 3


def test_rate_limit_and_thresholds() -> None:
    gate = WarningGate(MonitorThresholds(repeat_after=100, max_warnings=2))
    assert gate.allow("zigzag", "fc1", 10) and not gate.allow("zigzag", "fc1", 50)
    assert gate.allow("zigzag", "fc1", 110) and not gate.allow("zigzag", "fc2", 120)  # cap reached
    assert gate.allow("nonfinite", "fc2", 130)  # exempt from the cap
    assert gate.suppressed == 2
    with pytest.raises(ValueError, match="zigzag_cos: must lie in"):
        MonitorThresholds(zigzag_cos=-2.0)
    with pytest.raises(ValueError, match="window_steps: must be a positive integer"):
        MonitorThresholds(window_steps=0)
    with pytest.raises(ValueError, match="update_ratio_low: must be below"):
        MonitorThresholds(update_ratio_low=1.0, update_ratio_high=0.5)
    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="interval: must be a positive integer, got 0"):
        OptimizerMonitor(sgd, interval=0)
    with pytest.raises(ValueError, match="warmup_steps: must be a non-negative integer, got -1"):
        OptimizerMonitor(sgd, warmup_steps=-1)
    with pytest.raises(TypeError, match="optimizer: expected a torch.optim.Optimizer, got list"):
        OptimizerMonitor([sgd])  # type: ignore[arg-type]


def _first_zigzag_step(thresholds: MonitorThresholds) -> int | None:
    surface = get_surface("valley", kappa=100.0)
    x = surface.init_params()
    optimizer = inertia.SGD([x], lr=1.9)
    monitor = OptimizerMonitor(optimizer, {"xy": x}, thresholds=thresholds, on_warning=lambda d: None)
    with monitor:
        for _ in range(100):
            optimizer.zero_grad()
            surface.loss(x).backward()
            optimizer.step()
    return next((d.step for d in monitor.diagnoses if d.pathology == "zigzag"), None)


def test_thresholds_are_configurable() -> None:
    assert _first_zigzag_step(MonitorThresholds()) == 22  # samples at steps 2, 12, 22
    assert _first_zigzag_step(MonitorThresholds(min_samples=2)) == 12
    assert _first_zigzag_step(MonitorThresholds(zigzag_cos=-0.999)) is None


@pytest.mark.parametrize("make_optimizer", [lambda p: torch.optim.Adadelta(p, lr=1.0),
                                            lambda p: torch.optim.RAdam(p, lr=0.01, betas=(0.0, 0.999))],
                         ids=["adadelta", "radam"])
def test_methods_with_other_step_formulas_get_no_adaptive_statistics(make_optimizer) -> None:
    """Adadelta's numerator is per coordinate and RAdam's step is rectified: the ``numerator / d`` reading
    of their state (RMSprop's and Adam's) would report steps 1000x (Adadelta) or 10-50x (RAdam) too large."""
    model = _mlp()
    monitor = OptimizerMonitor(make_optimizer(model.parameters()), model.named_parameters(), interval=2,
                               adaptive_every=1, on_warning=lambda d: None)
    _train(model, monitor.optimizer, monitor, 6)
    assert len(monitor.samples) == 9 and all(s.update_norm > 0 for s in monitor.samples)
    assert all(s.eff_lr is None and s.eps_share is None and s.state_key is None for s in monitor.samples)


def _relu_mlp(first_bias: float | None = None) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).double()
    if first_bias is not None:
        model[0].bias.data.fill_(first_bias)  # every ReLU of layer 0 is dead on every input
    return model


def _classification_loss(model: nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(64, 8, dtype=torch.float64, generator=generator)
    return nn.functional.cross_entropy(model(inputs), torch.randint(0, 4, (64,), generator=generator))


def _weight_norm_loss(model: nn.Module) -> torch.Tensor:
    return 0.5 * sum((p**2).sum() for p in model.parameters())  # Hessian = identity: lr 3 amplifies 2x/step


PATHOLOGY_CASES = [
    ("healthy sgd", None, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), _classification_loss, set()),
    ("healthy adam", None, lambda p: inertia.Adam(p, lr=1e-3), _classification_loss, set()),
    ("tiny lr", None, lambda p: torch.optim.SGD(p, lr=1e-9), _classification_loss,
     {("update_ratio_low", "0"), ("update_ratio_low", "2")}),
    ("dead relus", -100.0, lambda p: torch.optim.SGD(p, lr=0.1), _classification_loss, {("zero_gradient", "0")}),
    ("lr above 2/lambda", None, lambda p: torch.optim.SGD(p, lr=3.0), _weight_norm_loss,
     {(name, layer) for name in ("exploding_gradient", "update_ratio_high", "zigzag") for layer in ("0", "2")}),
]


@pytest.mark.parametrize("name, bias, make_optimizer, loss_fn, expected", PATHOLOGY_CASES,
                         ids=[c[0] for c in PATHOLOGY_CASES])
def test_each_pathology_fires_on_its_case_and_healthy_runs_stay_silent(name, bias, make_optimizer, loss_fn,
                                                                       expected) -> None:
    model = _relu_mlp(bias)
    optimizer = make_optimizer(model.parameters())
    monitor = OptimizerMonitor(optimizer, model.named_parameters(), on_warning=lambda d: None)
    with monitor:
        for _ in range(60):
            optimizer.zero_grad()
            loss_fn(model).backward()
            optimizer.step()
    assert {(d.pathology, d.layer) for d in monitor.diagnoses} == expected
    assert all(d.step == 22 for d in monitor.diagnoses)  # the third warm-up sample decides


def test_restore_rebuilds_a_monitor_from_its_samples() -> None:
    """A fresh monitor given another's samples and step count holds the same samples and warnings."""
    monitor, x = _run_surface("valley", lambda p: inertia.SGD(p, lr=1.9), 200, kappa=100.0)
    restored = OptimizerMonitor(inertia.SGD([x], lr=1.9), {"xy": x}, on_warning=lambda d: None)
    restored.restore(monitor.samples, monitor.steps)
    assert restored.samples == monitor.samples and restored.diagnoses == monitor.diagnoses
    assert restored.steps == monitor.steps == 200
    assert restored.history("xy") == monitor.history("xy")
    with pytest.raises(ValueError, match=r"steps: must be a non-negative integer, got -1"):
        restored.restore([], -1)
