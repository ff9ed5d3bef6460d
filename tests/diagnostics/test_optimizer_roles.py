"""The optimizer-roles table: every inertia optimizer is known, and the monitor reads the right state for each."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import inertia
from inertia.diagnostics import MonitorThresholds, OptimizerMonitor
from inertia.diagnostics.diagnose import run_diagnosis
from inertia.diagnostics.hessian import sgd_terms
from inertia.diagnostics.lr_find import lr_find
from inertia.diagnostics.optimizer_roles import OPTIMIZER_OF_KEY, ROLES, OptimizerRoles, roles_of
from inertia.diagnostics.workload import make_workload
from inertia.optim import OPTIMIZERS

STEPS = 10  # interval 2: samples at steps 2, 4, ..., 10; the last one reads the final state


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def _monitored_run(make_optimizer) -> tuple[nn.Module, torch.optim.Optimizer, OptimizerMonitor]:
    model = _mlp()
    optimizer = make_optimizer(model.parameters())
    monitor = OptimizerMonitor(optimizer, model.named_parameters(), interval=2, adaptive_every=1,
                               on_warning=lambda d: None)
    inputs = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with monitor:
        for _ in range(STEPS):
            optimizer.zero_grad()
            (model(inputs) ** 2).mean().backward()
            optimizer.step()
    return model, optimizer, monitor


def _step(state: dict) -> float:
    return float(state["step"])


def _nadam_eff(state: dict, group: dict) -> torch.Tensor:
    (beta1, beta2), psi, t = group["betas"], group["momentum_decay"], _step(state)
    mu, mu_next = (beta1 * (1 - 0.5 * 0.96 ** (s * psi)) for s in (t, t + 1))
    product = float(state["mu_product"])
    numerator = group["lr"] * ((1 - mu) / (1 - product) + mu_next / (1 - product * mu_next))
    return numerator / ((state["exp_avg_sq"] / (1 - beta2**t)).sqrt() + group["eps"])


def _radam_eff(state: dict, group: dict) -> torch.Tensor:
    (beta1, beta2), t = group["betas"], _step(state)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
    assert rho_t > 5  # rectified by the last step
    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return group["lr"] * rect * math.sqrt(1 - beta2**t) / (1 - beta1**t) / (state["exp_avg_sq"].sqrt() + group["eps"])


# name, factory, second-moment key, per-coordinate effective step computed by hand from (state, group)
NEW_ADAPTIVE = [
    ("adamax", lambda p: inertia.Adamax(p, lr=0.01), "exp_inf",
     lambda s, g: g["lr"] / (1 - g["betas"][0] ** _step(s)) / s["exp_inf"]),
    ("nadam", lambda p: inertia.NAdam(p, lr=0.01), "exp_avg_sq", _nadam_eff),
    ("radam", lambda p: inertia.RAdam(p, lr=0.01, betas=(0.9, 0.99)), "exp_avg_sq", _radam_eff),
    ("adadelta", lambda p: inertia.Adadelta(p, lr=1.0), "square_avg",
     lambda s, g: g["lr"] * (s["acc_delta"] + g["eps"]).sqrt() / (s["square_avg"] + g["eps"]).sqrt()),
    ("rprop", lambda p: inertia.Rprop(p, lr=0.01), "step_size", lambda s, g: s["step_size"]),
]


@pytest.mark.parametrize("name, make_optimizer, key, by_hand", NEW_ADAPTIVE, ids=[a[0] for a in NEW_ADAPTIVE])
def test_effective_steps_of_the_new_adaptive_optimizers_match_a_hand_computation(
        name: str, make_optimizer, key: str, by_hand) -> None:
    model, optimizer, monitor = _monitored_run(make_optimizer)
    assert len(monitor.samples) == 3 * (STEPS // 2)
    sample = monitor.history("2")[-1]
    assert sample.step == STEPS and sample.state_key == key
    group = optimizer.param_groups[0]
    effs = [by_hand(optimizer.state[p], group).detach() for p in model[2].parameters()]
    grads = [p.grad.detach() for p in model[2].parameters()]
    eff_grad_sq = sum(float(((e * g) ** 2).sum()) for e, g in zip(effs, grads, strict=True))
    grad_sq = sum(float((g**2).sum()) for g in grads)
    coords = sum(e.numel() for e in effs)
    assert sample.eff_lr == pytest.approx(math.sqrt(eff_grad_sq / grad_sq), rel=1e-9)
    assert sample.eff_step_hmean == pytest.approx(coords / sum(float((1 / e).sum()) for e in effs), rel=1e-9)
    assert 0 <= sample.eps_share <= 1 and sample.step_fraction is not None


@pytest.mark.parametrize("make_optimizer", [lambda p: inertia.NAdam(p, lr=0.01, betas=(0.0, 0.99)),
                                            lambda p: inertia.Adamax(p, lr=0.01, betas=(0.0, 0.99))],
                         ids=["nadam beta1=0", "adamax beta1=0"])
def test_without_momentum_the_effective_step_reproduces_the_update(make_optimizer) -> None:
    _, _, monitor = _monitored_run(make_optimizer)
    for sample in monitor.samples:
        assert sample.eff_lr * sample.grad_norm == pytest.approx(sample.update_norm, rel=1e-9)


def test_radam_reports_no_adaptive_step_before_its_rectification_starts() -> None:
    _, _, monitor = _monitored_run(lambda p: inertia.RAdam(p, lr=0.01, betas=(0.9, 0.99)))
    layer = monitor.history("2")  # rho_t > 5 from step 6 on at beta2 = 0.99
    assert [s.state_key for s in layer] == [None, None, "exp_avg_sq", "exp_avg_sq", "exp_avg_sq"]


@pytest.mark.parametrize("make_optimizer", [lambda p: inertia.ASGD(p, lr=0.01), lambda p: inertia.Lion(p, lr=1e-3),
                                            lambda p: OPTIMIZERS["schedule_free_adamw"](p, lr=0.01)],
                         ids=["asgd", "lion", "schedule-free adamw"])
def test_optimizers_without_a_per_coordinate_scale_get_the_plain_statistics(make_optimizer) -> None:
    _, _, monitor = _monitored_run(make_optimizer)
    assert len(monitor.samples) == 3 * (STEPS // 2) and all(s.update_norm > 0 for s in monitor.samples)
    assert all(s.eff_lr is None and s.eps_share is None and s.state_key is None for s in monitor.samples)


#: The registered optimizers that need other parameters than a dense model's: 2-D only, sparse gradients only.
MATRIX_ONLY, SPARSE_ONLY = ("muon",), ("sparse_adam",)
DENSE_MODEL_OPTIMIZERS = [name for name in OPTIMIZERS if name not in MATRIX_ONLY + SPARSE_ONLY]


def _probe(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A parameter ``name`` accepts and a gradient for it: a matrix for Muon, a sparse gradient for SparseAdam."""
    shape = (3, 2) if name in MATRIX_ONLY + SPARSE_ONLY else (3,)
    grad = torch.ones(shape)
    return torch.zeros(shape, requires_grad=True), grad.to_sparse() if name in SPARSE_ONLY else grad


def test_every_registered_optimizer_has_roles_and_keeps_the_state_they_name() -> None:
    for name, factory in OPTIMIZERS.items():
        param, grad = _probe(name)
        optimizer = factory([param], lr=0.01)
        roles = roles_of(optimizer)
        assert roles is not None, name
        param.grad = grad
        optimizer.step()
        without_momentum = optimizer.param_groups[0].get("momentum", 1) == 0  # SGD, RMSprop: buffer only with momentum
        for key in (roles.second_moment, None if without_momentum else roles.momentum):
            if key is not None:
                assert isinstance(optimizer.state[param].get(key), torch.Tensor), (name, key)


def test_unknown_optimizers_and_the_derived_tables() -> None:
    param = [torch.zeros(2, requires_grad=True)]
    assert roles_of(torch.optim.Adam(param)) is None  # torch's: read by its state keys, as before
    assert roles_of(inertia.AdamW(param)) is ROLES[inertia.Adam]
    assert OPTIMIZER_OF_KEY["sum"] == "AdaGrad" and OPTIMIZER_OF_KEY["exp_inf"] == "Adamax"
    assert MonitorThresholds().collapse_state_keys == ("sum",)
    group = {"lr": 0.1, "momentum": 0.5}
    assert sgd_terms(group, roles_of(inertia.SGD(param, lr=0.1)))["momentum"] == 0.5
    assert sgd_terms(group, roles_of(inertia.Lion(param))) is None
    assert sgd_terms(group, roles_of(inertia.ASGD(param))) is None
    with pytest.raises(ValueError, match="step_form: must be one of .*, got 'cube'"):
        OptimizerRoles("X", "v", None, "cube")


@pytest.mark.parametrize("name", DENSE_MODEL_OPTIMIZERS)
def test_lr_find_and_diagnose_accept_every_registered_optimizer(name: str) -> None:
    model = _mlp()
    inputs = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    result = lr_find(model, OPTIMIZERS[name](model.parameters()), lambda step, seed: (model(inputs) ** 2).mean(),
                     num_steps=10, seeds=(0,))
    assert len(result.curves) == 1
    workload = make_workload("digits", "softmax", batch_size=32)
    run = run_diagnosis(workload, OPTIMIZERS[name](workload.model.parameters()), steps=4, interval=2,
                        sharpness_points=1, max_hvp=4, trace_samples=2)
    assert run.monitor.steps == 4


def test_lr_find_takes_muon_on_matrices_and_sparse_adam_on_an_embedding() -> None:
    torch.manual_seed(0)
    matrices = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Tanh(), nn.Linear(5, 3, bias=False)).double()
    inputs = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    result = lr_find(matrices, OPTIMIZERS["muon"](matrices.parameters()),
                     lambda step, seed: (matrices(inputs) ** 2).mean(), num_steps=10, seeds=(0,))
    assert len(result.curves) == 1
    table = nn.Embedding(10, 3, sparse=True).double()
    rows = torch.tensor([1, 4, 4, 7])
    result = lr_find(table, OPTIMIZERS["sparse_adam"](table.parameters()),
                     lambda step, seed: (table(rows) ** 2).mean(), num_steps=10, seeds=(0,))
    assert len(result.curves) == 1


def test_diagnose_refuses_muon_and_sparse_adam_on_a_dense_model_with_a_clear_error() -> None:
    workload = make_workload("digits", "softmax", batch_size=32)
    with pytest.raises(ValueError, match="Muon supports 2-D parameters only"):
        OPTIMIZERS["muon"](workload.model.parameters())
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        run_diagnosis(workload, OPTIMIZERS["sparse_adam"](workload.model.parameters()), steps=4, interval=2,
                      sharpness_points=1, max_hvp=4, trace_samples=2)
