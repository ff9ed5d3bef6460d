"""Saddle points are not solutions: the ``saddle`` status, the escape along negative curvature, and the
curvature check itself (dense eigenvalues or Lanczos), on saddles whose minima are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from so_problems import saddle

from inertia.minimize import minimize
from inertia.second_order import Newton, OptimizationError, Status
from inertia.second_order.curvature import dense_curvature, lanczos_curvature

SQRT2 = math.sqrt(2.0)


def rotated_saddle(n: int = 200, k: int = 10, seed: int = 0):
    """f(u) = sum_i a_i z_i^2 / 2 + sum_j (-w_j^2 + w_j^4 / 4), (z, w) = Q'u, a_i in [1, 2]: a saddle at 0
    (k eigenvalues -2), minima at z = 0, w_j = +-sqrt(2), f* = -k. Start: z = 1, w ~ 1e-8 (near the saddle)."""
    gen = torch.Generator().manual_seed(seed)
    a = 1.0 + torch.rand(n - k, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))

    def fun(u: torch.Tensor) -> torch.Tensor:
        zw = q.T @ u
        z, w = zw[: n - k], zw[n - k :]
        return 0.5 * (a * z * z).sum() + (-w * w + w**4 / 4).sum()

    start = torch.cat([torch.ones(n - k, dtype=torch.float64), 1e-8 * torch.randn(k, generator=gen, dtype=torch.float64)])
    return fun, (q @ start).numpy(), q, -float(k)


def lowest_eigenvalue(fun, x) -> float:
    return float(torch.linalg.eigvalsh(torch.func.hessian(fun)(torch.as_tensor(x, dtype=torch.float64))).min())


# ----------------------------------------------------------------------------- the 2-D saddle of the issue
def test_saddle_free_newton_with_default_settings_reaches_the_minimum():
    res = minimize(saddle, [1.0, 1e-8], method="saddle-free-newton")
    assert res.success and res.status == Status.CONVERGED, res.message
    assert abs(res.x[1]) == pytest.approx(SQRT2, abs=1e-6) and abs(res.x[0]) < 1e-6
    assert res.fun == pytest.approx(-1.0, abs=1e-10) and lowest_eigenvalue(saddle, res.x) > 1.9


@pytest.mark.parametrize("method", ["newton", "newton-cg"])
def test_trust_region_newton_with_default_settings_reaches_a_minimum(method):
    res = minimize(saddle, [1.0, 1e-8], method=method)
    assert res.success, res.message
    assert abs(res.x[1]) == pytest.approx(SQRT2, abs=1e-5) and lowest_eigenvalue(saddle, res.x) > 1.9


def test_plain_newton_reports_the_saddle_with_its_eigenvalue():
    res = minimize(saddle, [1.0, 1e-8], method="newton", trust_region=False)
    assert res.status == Status.SADDLE and not res.success
    assert "eigenvalue -2 < 0" in res.message and "trust_region=True" in res.message
    assert np.abs(res.x).max() < 1e-12  # it is at the saddle, and says so


def test_newton_optimizer_without_trust_region_says_saddle_and_can_raise():
    x = torch.tensor([1.0, 1e-8], dtype=torch.float64, requires_grad=True)
    opt = Newton([x], trust_region=False, max_iter=20, on_failure="raise")
    with pytest.raises(OptimizationError, match="eigenvalue -2 < 0") as raised:
        opt.step(lambda: saddle(x))
    assert raised.value.status == Status.SADDLE == opt.status


def test_the_curvature_check_can_be_switched_off():
    """check_curvature=False: the old first-order verdict, "converged" at the saddle, and no extra products."""
    res = minimize(saddle, [1.0, 1e-8], method="newton", trust_region=False, check_curvature=False)
    assert res.status == Status.CONVERGED and res.nhvp == 2  # the one Newton step's dense Hessian


@pytest.mark.parametrize("method, options", [
    ("lbfgs", {}), ("sgd", {"lr": 0.1}), ("adam", {"lr": 0.1}), ("momentum", {"lr": 0.05}),
])  # fmt: skip
def test_check_curvature_turns_a_saddle_into_status_saddle(method, options):
    """From y = 0 exactly, first-order methods and L-BFGS never leave the y = 0 line: they stop at the saddle."""
    plain = minimize(saddle, [1.0, 0.0], method, **options)
    checked = minimize(saddle, [1.0, 0.0], method, check_curvature=True, **options)
    assert plain.status == Status.CONVERGED and plain.nhvp == 0  # the default: no products spent
    assert checked.status == Status.SADDLE and not checked.success and "eigenvalue -2 < 0" in checked.message
    assert checked.nhvp == 2 and checked.nfev == plain.nfev + 1  # Lanczos spans R^2; one evaluation with the graph
    np.testing.assert_array_equal(checked.x, plain.x)


def test_check_curvature_at_a_minimum_keeps_success_and_says_what_it_saw():
    res = minimize(lambda v: ((v - 1.0) ** 2 * torch.tensor([1.0, 3.0])).sum(), [0.0, 0.0], "lbfgs", check_curvature=True)
    assert res.success and "lowest Hessian eigenvalue found 2" in res.message


def test_a_state_saved_before_the_curvature_check_loads_with_it_on():
    x = torch.tensor([1.0, 1e-8], dtype=torch.float64, requires_grad=True)
    opt = Newton([x], trust_region=False, max_iter=20, on_failure="ignore")
    saved = opt.state_dict()
    del saved["param_groups"][0]["check_curvature"]
    opt.load_state_dict(saved)
    opt.step(lambda: saddle(x))
    assert opt.param_groups[0]["check_curvature"] is True and opt.status == Status.SADDLE


def test_check_curvature_must_be_a_flag():
    with pytest.raises(ValueError, match="check_curvature must be True or False, got 'yes'"):
        minimize(saddle, [1.0, 0.0], "lbfgs", check_curvature="yes")
    with pytest.raises(ValueError, match="check_curvature must be True or False, got 1"):
        minimize(saddle, [1.0, 0.0], "newton", check_curvature=1)


def test_the_escape_respects_the_evaluation_budget():
    """At the saddle with one evaluation left, no trial point: max_eval, not success, x unchanged."""
    res = minimize(saddle, [0.0, 0.0], "saddle-free-newton", max_eval=1)
    assert res.status == Status.MAX_EVAL and not res.success and "saddle" in res.message
    np.testing.assert_array_equal(res.x, [0.0, 0.0])


@pytest.mark.parametrize("method", ["saddle-free-newton", "newton", "newton-cg"])
def test_from_the_saddle_itself_each_escaping_method_reaches_a_minimum(method):
    res = minimize(saddle, [0.0, 0.0], method)  # g = 0 exactly: only the curvature can say where to go
    assert res.success and abs(res.x[1]) == pytest.approx(SQRT2, abs=1e-5) and res.fun == pytest.approx(-1.0)


# ----------------------------------------------------------------------------- rotated, 200-dimensional
@pytest.fixture(scope="module")
def rotated():
    return rotated_saddle()


@pytest.mark.parametrize("method, options", [
    ("saddle-free-newton", {}), ("saddle-free-newton", {"krylov_dim": 20}), ("newton", {}), ("newton-cg", {}),
])  # fmt: skip
def test_rotated_200d_saddle_escaping_methods_reach_the_minimum(rotated, method, options):
    fun, u0, q, f_star = rotated
    res = minimize(fun, u0, method, **options)
    assert res.success, res.message
    w = (q.T @ torch.from_numpy(res.x))[-10:]
    assert res.fun == pytest.approx(f_star, abs=1e-8) and float((w.abs() - SQRT2).abs().max()) < 1e-4
    assert lowest_eigenvalue(fun, res.x) > 0.9  # min(a_i, 4) - rounding: a minimum


def test_rotated_200d_saddle_plain_newton_reports_saddle(rotated):
    fun, u0, _, _ = rotated
    res = minimize(fun, u0, "newton", trust_region=False)
    assert res.status == Status.SADDLE and not res.success and "eigenvalue -2 < 0" in res.message
    assert abs(res.fun) < 1e-12


def test_rotated_200d_saddle_lbfgs_check_by_lanczos(rotated):
    """L-BFGS from the saddle's own subspace (w = 0) stays in it; 20 Lanczos products find the -2."""
    fun, _, q, _ = rotated
    u0 = (q @ torch.cat([torch.ones(190, dtype=torch.float64), torch.zeros(10, dtype=torch.float64)])).numpy()
    res = minimize(fun, u0, "lbfgs", check_curvature=True)
    assert res.status == Status.SADDLE and res.nhvp == 20
    assert float(res.message.split("eigenvalue ")[1].split(" ")[0]) == pytest.approx(-2.0, abs=1e-8)


# ----------------------------------------------------------------------------- the check itself
def _symmetric(eigenvalues: list[float], seed: int) -> torch.Tensor:
    n = len(eigenvalues)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return (q * torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-10.0, 10.0), min_size=2, max_size=12), st.integers(0, 2**16))
def test_lanczos_never_invents_negative_curvature_and_spanning_finds_the_lowest(eigenvalues, seed):
    """Ritz values lie inside the spectrum (a negative one is real); with k = n they are the spectrum."""
    a = _symmetric(eigenvalues, seed)
    found = lanczos_curvature(lambda v: a @ v, torch.zeros(len(eigenvalues), dtype=torch.float64))
    lowest = min(eigenvalues)
    assert found.eigenvalue >= lowest - 1e-8
    assert float(found.vector @ a @ found.vector) == pytest.approx(found.eigenvalue, abs=1e-8)  # a certificate
    if len(set(eigenvalues)) == len(eigenvalues):  # no exact repeats: the Krylov space is all of R^n
        assert found.eigenvalue == pytest.approx(lowest, abs=1e-6)


@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=8), st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_positive_semidefinite_is_never_called_negative(eigenvalues, seed):
    a = _symmetric([*eigenvalues, 0.0], seed)  # a flat direction too
    assert not dense_curvature(a, 0).negative


def test_clearly_negative_is_relative_to_the_largest_curvature():
    eps_root = torch.finfo(torch.float64).eps ** 0.5
    assert dense_curvature(torch.diag(torch.tensor([1e4, -1e-3], dtype=torch.float64)), 0).negative
    assert not dense_curvature(torch.diag(torch.tensor([1e4, -0.5e4 * eps_root], dtype=torch.float64)), 0).negative
