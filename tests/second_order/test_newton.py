"""inertia.Newton: exact / Newton-CG / saddle-free, trust region, saddles, failure paths, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from so_problems import logistic, rosenbrock, saddle

import inertia.second_order.newton as newton_module
from inertia.second_order import Newton, Status

SQRT2 = math.sqrt(2.0)


def run(fun, x0, **kwargs):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    options = dict(max_iter=200, tolerance_grad=1e-10)
    opt = Newton([x], **{**options, **kwargs})
    trajectory = [x.detach().clone()]
    opt.step(lambda: fun(x), callback=lambda info: trajectory.append(x.detach().clone()))
    return x.detach(), opt, trajectory


def quadratic(n=5):
    a = torch.diag(torch.arange(1.0, n + 1, dtype=torch.float64)) + 0.1
    b = torch.ones(n, dtype=torch.float64)
    return (lambda x: 0.5 * x @ (a @ x) - b @ x), torch.linalg.solve(a, b)


@pytest.mark.parametrize("mode", ["exact", "cg", "saddle-free"])
def test_one_step_on_a_convex_quadratic(mode):
    fun, solution = quadratic()
    x, opt, _ = run(fun, [0.0] * 5, mode=mode, cg_rtol=1e-12)
    torch.testing.assert_close(x, solution, rtol=0, atol=1e-10)
    assert opt.status == Status.CONVERGED and opt.nit == 1 and opt.nfev == 2  # start + the accepted trial
    # the step: a dense Hessian (n products) or at most n CG iterations; then the curvature check at the
    # solution: the dense Hessian again, or Lanczos in min(n, 20) = n steps
    assert opt.nhvp == 10 if mode != "cg" else opt.nhvp <= 10
    assert "no negative curvature" in opt.message


def test_quadratic_convergence_on_logistic_regression():
    fun = logistic()
    w_star, opt, trajectory = run(fun, [0.0] * 6, tolerance_change=0.0, tolerance_grad=1e-14)
    errors = [float((w - w_star).norm()) for w in trajectory[:-1]]
    assert opt.status == Status.CONVERGED and opt.nit == 6 and opt.nfev == 7  # pinned
    ratios = [errors[k + 1] / errors[k] ** 2 for k in range(len(errors) - 1) if errors[k + 1] > 1e-13]
    assert max(ratios[-3:]) < 1.0  # e_(k+1) <= C e_k^2 with a bounded C
    assert errors[-1] / errors[-2] < 1e-3  # the linear rate collapses


def test_cg_agrees_with_exact_and_never_forms_the_hessian(monkeypatch):
    fun = logistic()
    exact, _, _ = run(fun, [0.0] * 6)

    def forbidden(*args, **kwargs):
        raise AssertionError("Newton-CG formed a dense Hessian")

    monkeypatch.setattr(newton_module, "dense_hessian_from_gradient", forbidden)
    cg, opt, _ = run(fun, [0.0] * 6, mode="cg")
    torch.testing.assert_close(cg, exact, rtol=0, atol=1e-9)
    assert opt.status == Status.CONVERGED and 0 < opt.nhvp < 6 * opt.nit + 1


def test_trust_region_keeps_a_nonconvex_start_stable():
    fun = lambda x: torch.sqrt(1.0 + x * x).sum()  # noqa: E731 - plain Newton maps x to -x^3 here
    x_plain, plain, _ = run(fun, [1.5], trust_region=False, max_iter=6, on_failure="ignore")
    assert abs(float(x_plain[0])) > 1e10 or plain.status == Status.NON_FINITE
    x_tr, opt, _ = run(fun, [1.5])
    assert opt.status == Status.CONVERGED and abs(float(x_tr[0])) < 1e-10


def test_rosenbrock_with_the_trust_region():
    x, opt, _ = run(rosenbrock, [-1.2, 1.0])
    torch.testing.assert_close(x, torch.ones(2, dtype=torch.float64))
    assert opt.status == Status.CONVERGED and opt.nit == 21 and opt.nfev == 28  # pinned


def test_plain_newton_goes_to_the_saddle_and_says_so():
    with pytest.warns(RuntimeWarning, match="eigenvalue -2 < 0 there: a saddle point"):
        x, opt, _ = run(saddle, [1.0, 1e-8], trust_region=False)
    assert opt.status == Status.SADDLE and not opt.status.success
    assert abs(float(x[0])) < 1e-12 and abs(float(x[1])) < 1e-12


@pytest.mark.parametrize("options", [{}, {"trust_region": False}, {"krylov_dim": 2}])
def test_saddle_free_newton_escapes_to_a_minimum(options):
    x, opt, _ = run(saddle, [1.0, 1e-8], mode="saddle-free", **options)
    assert opt.status == Status.CONVERGED
    assert abs(float(x[0])) < 1e-10 and float(x[1]) == pytest.approx(SQRT2, abs=1e-9)


def rotated_saddle(n=24, k=3):
    gen = torch.Generator().manual_seed(0)
    a = 1.0 + torch.rand(n - k, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))

    def fun(u):
        z = q.T @ u
        return 0.5 * (a * z[: n - k] ** 2).sum() + (-z[n - k :] ** 2 + z[n - k :] ** 4 / 4).sum()

    start = torch.cat([torch.ones(n - k, dtype=torch.float64), torch.full((k,), 1e-8, dtype=torch.float64)])
    return fun, (q @ start).tolist(), -float(k)


@pytest.mark.parametrize("options", [
    {"mode": "exact", "trust_region": False, "on_failure": "ignore"}, {"mode": "saddle-free", "krylov_dim": 8},
])  # fmt: skip
def test_higher_dimensional_saddle(options):
    fun, u0, f_star = rotated_saddle()
    x, opt, _ = run(fun, u0, **options)
    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(fun, x))
    if options["mode"] == "exact":  # plain Newton: the saddle (f = 0, a negative eigenvalue)
        assert abs(float(fun(x))) < 1e-12 and float(eigenvalues.min()) < -1.0 and opt.status == Status.SADDLE
    else:  # saddle-free in an 8-vector Krylov space: a minimum, f* = -k
        assert float(fun(x)) == pytest.approx(f_star, abs=1e-9) and float(eigenvalues.min()) > 0.5
        assert opt.status == Status.CONVERGED


def test_exact_mode_size_cap_suggests_cg():
    with pytest.raises(ValueError, match=r"n=11 entries, above max_exact_params=10\. Use mode='cg'"):
        Newton([torch.zeros(11, requires_grad=True)], max_exact_params=10)
    Newton([torch.zeros(11, requires_grad=True)], mode="cg", max_exact_params=10)  # no error


def test_closure_that_calls_backward_is_explained():
    x = torch.ones(2, requires_grad=True)
    opt = Newton([x])

    def closure():
        loss = (x * x).sum()
        loss.backward()
        return loss

    with pytest.raises(ValueError, match="without calling backward"):
        opt.step(closure)


def test_singular_hessian_without_damping():
    x, opt, _ = run(lambda v: v[0] ** 2 + 0.0 * v[1] ** 2 + v[1], [1.0, 1.0], trust_region=False, on_failure="ignore")
    assert opt.status == Status.SINGULAR and "damping" in opt.message


def test_non_finite_loss_is_reported():
    _, opt, _ = run(lambda v: (v * v).sum() * math.inf, [1.0, 1.0], on_failure="ignore")
    assert opt.status == Status.NON_FINITE


def test_callback_can_stop():
    _, opt, trajectory = run(rosenbrock, [-1.2, 1.0], on_failure="ignore")
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = Newton([x], max_iter=50)
    opt.step(lambda: rosenbrock(x), callback=lambda info: info.nit >= 2)
    assert opt.status == Status.CALLBACK and opt.nit == 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="bfgs"), "mode must be one of .* got 'bfgs'"),
    (dict(damping=-1.0), "damping must be a non-negative number, got -1.0"),
    (dict(lr=0), "lr must be a positive number, got 0"),
    (dict(krylov_dim=0), "krylov_dim must be a positive integer, got 0"),
    (dict(trust_region="yes"), "trust_region must be True or False, got 'yes'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Newton([torch.zeros(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("mode", ["exact", "cg", "saddle-free"])
def test_step_scale_below_one_is_judged_by_its_own_prediction(mode):
    """x+ = x + lr d on a quadratic: the model predicts the decrease of lr d exactly (rho = 1), so the
    damping stays 0 and the gradient contracts by exactly 1 - lr per iteration: 0.9^k <= 1e-4 / ||g0||.
    (Judged against the prediction for d instead, rho = 0.19 < 0.25 grew the damping until no step was left.)"""
    fun, solution = quadratic()
    x, opt, _ = run(fun, [0.0] * 5, mode=mode, lr=0.1, tolerance_grad=1e-4, max_iter=500, cg_rtol=1e-12)
    torch.testing.assert_close(x, solution, rtol=0, atol=1e-3)
    assert opt.status == Status.CONVERGED and opt.damping_now == 0.0
    assert opt.nit == math.ceil(math.log(1e-4) / math.log(0.9)) == 88 and opt.nfev == opt.nit + 1
