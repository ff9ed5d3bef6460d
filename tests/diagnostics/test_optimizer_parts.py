"""Combined optimizers are read per part; diagnose evaluates Schedule-Free at its averaged weights; SparseAdam's step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import inertia
from inertia.diagnostics import OptimizerMonitor
from inertia.diagnostics.adaptive import AdaptiveTerms, adaptive_terms
from inertia.diagnostics.diagnose import run_diagnosis
from inertia.diagnostics.diagnose_report import build_report
from inertia.diagnostics.hessian import hessian_eigenvalues, sgd_terms
from inertia.diagnostics.lr_find import lr_find
from inertia.diagnostics.optimizer_parts import evaluation_point, group_parts, optimizer_parts
from inertia.diagnostics.optimizer_roles import ROLES, roles_of
from inertia.diagnostics.workload import make_workload
from inertia.lab.optimizer_setup import build_optimizer

SMALL_RUN = dict(steps=4, interval=2, sharpness_points=1, max_hvp=4, trace_samples=2)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 5), nn.Tanh(), nn.Linear(5, 3)).double()


class _Combined(torch.optim.Optimizer):
    """A combined optimizer outside the lab: it only shows its ``parts``."""

    def __init__(self, parts: list[torch.optim.Optimizer]) -> None:
        self.parts = parts
        super().__init__([group for part in parts for group in part.param_groups], {})

    def step(self, closure=None):  # noqa: ANN001, ANN201
        for part in self.parts:
            part.step()


def test_muon_with_adamw_is_read_per_part() -> None:
    model = _mlp()
    optimizer = build_optimizer("muon", model.named_parameters(), lr=0.01)
    parts = group_parts(optimizer)
    assert [part.optimizer for part in parts] == optimizer_parts(optimizer) == [optimizer.muon, optimizer.adamw]
    assert [part.roles for part in parts] == [ROLES[inertia.Muon], ROLES[inertia.Adam]]
    assert roles_of(optimizer) is None  # one set of roles for the whole would be a guess
    assert sgd_terms(optimizer.param_groups[0], parts[0].roles) is None  # Muon's group is not read as SGD
    monitor = OptimizerMonitor(optimizer, model.named_parameters(), interval=2, adaptive_every=1,
                               on_warning=lambda d: None)
    inputs = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with monitor:
        for _ in range(4):
            optimizer.zero_grad()
            (model(inputs) ** 2).mean().backward()
            optimizer.step()
    for group, part in zip(optimizer.param_groups, parts, strict=True):
        for param in group["params"]:
            state = part.state(param)
            assert isinstance(state[part.roles.momentum], torch.Tensor)
            assert part.roles.second_moment is None or isinstance(state[part.roles.second_moment], torch.Tensor)
    assert {s.state_key for s in monitor.history("group0")} == {None}  # Muon: momentum, no per-coordinate scale
    assert {s.state_key for s in monitor.history("group1")} == {"exp_avg_sq"}
    assert all(s.eff_lr is not None for s in monitor.history("4"))  # the output layer is AdamW's alone
    assert all(s.eff_lr is None for s in monitor.history("group0"))


def test_parts_must_be_optimizers() -> None:
    optimizer = inertia.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    optimizer.parts = "muon"  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="optimizer.parts: must be a non-empty sequence .* got 'muon'"):
        group_parts(optimizer)


def test_diagnose_computes_no_sgd_bound_for_muon_and_keeps_adams_note() -> None:
    workload = make_workload("digits", "mlp", batch_size=32)
    optimizer = build_optimizer("muon", workload.model.named_parameters(), lr=0.02)
    run = run_diagnosis(workload, optimizer, **SMALL_RUN)
    assert run.end is not None and run.stability is None
    muon_note, adamw_note = run.notes
    assert muon_note.startswith("Param group 0 (Muon): ") and "no edge-of-stability bound is computed" in muon_note
    assert adamw_note.startswith("Param group 1 (AdamW): ") and "adaptive methods rescale" in adamw_note
    assert "stability limit" not in build_report(run).to_html()


def test_diagnose_applies_the_sgd_bound_to_the_sgd_part_only() -> None:
    workload = make_workload("digits", "mlp", batch_size=32)
    matrices = [p for p in workload.model.parameters() if p.ndim == 2][:-1]
    rest = [p for p in workload.model.parameters() if all(p is not m for m in matrices)]
    optimizer = _Combined([inertia.Muon(matrices, lr=0.02), inertia.SGD(rest, lr=0.05, momentum=0.5)])
    run = run_diagnosis(workload, optimizer, **SMALL_RUN)
    assert run.stability is not None and run.stability.lr == 0.05
    assert run.stability.threshold == pytest.approx(2 * (1 + 0.5) / 0.05)
    assert len(run.notes) == 1 and run.notes[0].startswith("Param group 0 (Muon): ")


def test_diagnose_measures_schedule_free_at_its_averaged_weights() -> None:
    workload = make_workload("digits", "softmax", batch_size=32)
    optimizer = inertia.AdamWScheduleFree(workload.model.parameters(), lr=0.05)
    run = run_diagnosis(workload, optimizer, **{**SMALL_RUN, "steps": 8})
    assert all(group["train_mode"] for group in optimizer.param_groups)  # back at the training point
    params = list(workload.model.parameters())
    with torch.no_grad():
        training_point_loss = float(workload.train_loss())
    optimizer.eval()
    with torch.no_grad():
        eval_loss = float(workload.train_loss())
    eval_lambda = hessian_eigenvalues(workload.train_loss, params, max_hvp=4, seed=0).values[0]
    eval_accuracy = workload.test_accuracy()
    optimizer.train()
    assert run.end is not None
    assert run.end.train_loss == pytest.approx(eval_loss, rel=1e-6)
    assert abs(run.end.train_loss - training_point_loss) > 1e-4 * abs(eval_loss)  # the two points differ
    assert run.end.lambda_max == pytest.approx(eval_lambda, rel=1e-5)
    assert run.test_accuracy == eval_accuracy


def test_evaluation_point_switches_the_parts_and_back() -> None:
    param = torch.randn(3, requires_grad=True)
    part = inertia.AdamWScheduleFree([param], lr=0.1)
    for scale in (1.0, -2.0, 3.0):
        param.grad = scale * torch.arange(1.0, 4.0)
        part.step()
    optimizer = _Combined([part])
    training_point = param.detach().clone()
    with evaluation_point(optimizer):
        assert not part.param_groups[0]["train_mode"]
        inside = param.detach().clone()
    part.eval()
    torch.testing.assert_close(inside, param.detach())
    part.train()
    assert not torch.equal(inside, training_point)
    torch.testing.assert_close(param.detach(), training_point)


def _effective_step(terms: AdaptiveTerms) -> torch.Tensor:
    stat = terms.scale * terms.stat
    return terms.numerator / ((stat + terms.eps).sqrt() if terms.inside else stat.sqrt() + terms.eps)


def test_sparse_adams_effective_step_is_its_update() -> None:
    table = nn.Embedding(6, 2, sparse=True).double()
    optimizer = inertia.SparseAdam(table.parameters(), lr=0.1, betas=(0.0, 0.9), eps=0.05)  # beta1 = 0: m = g
    rows = torch.tensor([1, 3, 3, 4])
    for _ in range(3):
        optimizer.zero_grad()
        (table(rows) ** 2).sum().backward()
        before = table.weight.detach().clone()
        grad = table.weight.grad.to_dense()
        optimizer.step()
    param, group = table.weight, optimizer.param_groups[0]
    state = optimizer.state[param]
    touched = rows.unique()
    terms = adaptive_terms(state, group, roles_of(optimizer))
    update = (before - param.detach())[touched]
    torch.testing.assert_close(update, (_effective_step(terms) * grad)[touched], rtol=1e-12, atol=0)
    adams_form = _effective_step(adaptive_terms(state, group, ROLES[inertia.Adam]))
    assert not torch.allclose(update, (adams_form * grad)[touched], rtol=1e-6, atol=0)


def test_lr_find_compares_no_sgd_limit_for_muon() -> None:
    torch.manual_seed(0)
    matrices = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Tanh(), nn.Linear(5, 3, bias=False)).double()
    inputs = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    loss = lambda: (matrices(inputs) ** 2).mean()  # noqa: E731
    result = lr_find(matrices, inertia.Muon(matrices.parameters()), lambda step, seed: loss(), num_steps=10,
                     seeds=(0,), curvature_loss=loss, max_hvp=4)
    assert result.stability_limit_lr is None
    assert any("Muon's update is orthogonalised momentum" in note for note in result.notes)
