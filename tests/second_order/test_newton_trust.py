"""Newton with ``trust_radius``: the Moré–Sorensen subproblem, the radius rule, the MGH set, bad input."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
import torch
from so_problems import rosenbrock

from inertia.minimize import minimize
from inertia.problems.mgh import MGH_PROBLEMS
from inertia.second_order import Newton, Status
from inertia.second_order.newton_trust import TrustRegionModel, TrustStep, next_radius

F64 = torch.float64


def model_value(hessian, g, d):
    return float(g @ d + 0.5 * d @ (hessian @ d))


def test_interior_newton_step_when_it_fits():
    hessian, g = torch.diag(torch.tensor([1.0, 4.0], dtype=F64)), torch.tensor([1.0, 2.0], dtype=F64)
    step = TrustRegionModel(hessian, g).solve(10.0)
    torch.testing.assert_close(step.d, -torch.linalg.solve(hessian, g))
    assert not step.on_boundary and step.predicted == pytest.approx(-model_value(hessian, g, step.d))


@pytest.mark.parametrize("radius", [0.05, 0.3, 1.0])
def test_boundary_step_of_an_indefinite_model_is_near_the_optimum(radius):
    """Against the exact minimiser over the sphere, from the eigendecomposition and a fine root search."""
    generator = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=generator, dtype=F64))
    mu = torch.tensor([-2.0, -0.5, 0.1, 1.0, 3.0], dtype=F64)
    hessian, g = (q * mu) @ q.T, torch.randn(5, generator=generator, dtype=F64)
    step = TrustRegionModel(hessian, g).solve(radius)
    coeff = q.T @ g
    lams = torch.linspace(2.0 + 1e-9, 2.0 + 100.0, 2_000_001, dtype=F64)
    norms = ((coeff / (mu + lams[:, None])) ** 2).sum(dim=1).sqrt()
    lam = lams[int((norms - radius).abs().argmin())]
    best = -(q @ (coeff / (mu + lam)))
    assert step.on_boundary and abs(float(step.d.norm()) - radius) <= 0.1 * radius  # k_easy
    assert model_value(hessian, g, step.d) <= 0.8 * model_value(hessian, g, best)  # within k_hard of the optimum


def test_hard_case_steps_along_the_lowest_eigenvector():
    """g orthogonal to the eigenvector of the negative eigenvalue: the Newton-like part alone stays inside,
    so the step is completed along that eigenvector to the boundary."""
    hessian, g = torch.diag(torch.tensor([-1.0, 2.0, 3.0], dtype=F64)), torch.tensor([0.0, 1.0, 1.0], dtype=F64)
    step = TrustRegionModel(hessian, g).solve(2.0)
    assert step.on_boundary and float(step.d.norm()) == pytest.approx(2.0, rel=0.1)
    assert abs(float(step.d[0])) > 1.0  # along e_1, the direction of negative curvature
    assert model_value(hessian, g, step.d) < model_value(hessian, g, -g * 2.0 / float(g.norm()))


def test_stationary_saddle_steps_along_negative_curvature():
    hessian, g = torch.diag(torch.tensor([-1.0, 2.0], dtype=F64)), torch.zeros(2, dtype=F64)
    step = TrustRegionModel(hessian, g).solve(0.5)
    assert step.on_boundary and step.predicted > 0.0 and abs(float(step.d[0])) > 0.4


def test_radius_rule_is_scipys():
    inside, boundary = TrustStep(torch.zeros(1), 1.0, False), TrustStep(torch.zeros(1), 1.0, True)
    assert next_radius(1.0, 0.1, boundary) == 0.25 and next_radius(1.0, 0.5, boundary) == 1.0
    assert next_radius(1.0, 0.9, boundary) == 2.0 and next_radius(1.0, 0.9, inside) == 1.0
    assert next_radius(1.0, None, boundary) == 1.0


@pytest.mark.parametrize("name", ["biggs_exp6", "powell_badly_scaled"])
def test_default_newton_solves_the_two_problems_of_the_issue(name):
    """With the damping alone Newton stalled here (f = 0.2428 and 2.8e-4 after 500 iterations)."""
    problem = MGH_PROBLEMS[name]
    res = minimize(problem.objective, np.array(problem.x0), method="newton", max_iter=500)
    assert res.success and problem.solved(res.fun), (res.fun, res.message)
    damped = minimize(problem.objective, np.array(problem.x0), method="newton", max_iter=500, trust_radius=None)
    assert not problem.solved(damped.fun)


def test_default_newton_solves_every_mgh_problem_but_trigonometric():
    """Trigonometric (n = 10) ends at its local minimum 2.79506e-5 from the standard start, as scipy's trust-exact."""
    unsolved = []
    for name, problem in MGH_PROBLEMS.items():
        res = minimize(problem.objective, np.array(problem.x0), method="newton", max_iter=1000, tol=1e-9)
        if not problem.solved(res.fun):
            unsolved.append((name, res.fun))
    assert [name for name, _ in unsolved] == ["trigonometric"]
    assert unsolved[0][1] == pytest.approx(2.79506e-5, rel=1e-5)


def test_radius_is_kept_in_the_state_dict_and_resumes():
    x = torch.tensor([-1.2, 1.0], dtype=F64, requires_grad=True)
    opt = Newton([x], max_iter=3, trust_radius=1.0)
    opt.step(lambda: rosenbrock(x))
    saved, x_saved = copy.deepcopy(opt.state_dict()), x.detach().clone()
    assert saved["state"][0]["radius"] > 0
    opt.step(lambda: rosenbrock(x))
    y = x_saved.clone().requires_grad_(True)
    again = Newton([y], max_iter=3, trust_radius=1.0)
    again.load_state_dict(saved)
    again.step(lambda: rosenbrock(y))
    assert torch.equal(x.detach(), y.detach())


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan, "1", True])
def test_bad_trust_radius_is_refused_by_name(value):
    with pytest.raises(ValueError, match=r"trust_radius must be a positive number, got"):
        Newton([torch.zeros(2, dtype=F64, requires_grad=True)], trust_radius=value)


@pytest.mark.parametrize("other, message", [
    (dict(mode="cg"), "needs mode='exact', got mode='cg'"),
    (dict(trust_region=False), "needs trust_region=True, got trust_region=False"),
    (dict(damping=0.1), "needs damping=0.0, got damping=0.1"),
    (dict(lr=0.5), "needs lr=1.0, got lr=0.5"),
])  # fmt: skip
def test_trust_radius_with_an_option_it_cannot_honour_is_refused(other, message):
    with pytest.raises(ValueError, match=re.escape(f"trust_radius=1.0 (the exact trust-region subproblem) {message}")):
        Newton([torch.zeros(2, dtype=F64, requires_grad=True)], trust_radius=1.0, **other)


def test_loaded_bad_radius_is_refused():
    x = torch.tensor([-1.2, 1.0], dtype=F64, requires_grad=True)
    opt = Newton([x], max_iter=2, trust_radius=1.0)
    opt.step(lambda: rosenbrock(x))
    saved = copy.deepcopy(opt.state_dict())
    saved["state"][0]["radius"] = -1.0
    with pytest.raises(ValueError, match=r"state\[0\]: radius must be a positive number, got -1\.0"):
        opt.load_state_dict(saved)


def test_minimize_newton_defaults_to_the_trust_radius_and_damping_selects_the_other():
    res = minimize(rosenbrock, np.array([-1.2, 1.0]), "newton", tol=1e-10)
    damped = minimize(rosenbrock, np.array([-1.2, 1.0]), "newton", tol=1e-10, damping=0.0)
    assert res.success and damped.success and (res.nit, res.nfev) != (damped.nit, damped.nfev)
    assert Status.CONVERGED == res.status
