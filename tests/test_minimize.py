"""inertia.minimize: every method, the Result contract, stopping reasons, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import torch
from so_problems import WrongGradient

from inertia.minimize import METHODS, Iterate, Result, Status, minimize


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def bowl(x: torch.Tensor) -> torch.Tensor:
    """(x - c)' diag(1, 2, 3) (x - c) / 2 with c = (1, -1, 2): minimum 0 at c."""
    c = torch.tensor([1.0, -1.0, 2.0], dtype=x.dtype)
    return 0.5 * (torch.tensor([1.0, 2.0, 3.0], dtype=x.dtype) * (x - c) ** 2).sum()


FIRST_ORDER_LR = {"sgd": 0.3, "momentum": 0.1, "nesterov": 0.1, "adagrad": 1.0, "rmsprop": 0.01, "adam": 0.05,
                  "adamw": 0.05}  # fmt: skip
PINNED_NIT = {"sgd": 26, "momentum": 174, "nesterov": 64, "adagrad": 20, "rmsprop": 408, "adam": 152, "adamw": 152,
              "lbfgs": 7, "newton": 2, "newton-cg": 5, "saddle-free-newton": 1}  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
def test_every_method_solves_a_bowl(method):
    options = {"lr": FIRST_ORDER_LR[method]} if method in FIRST_ORDER_LR else {}
    if method == "adamw":
        options["weight_decay"] = 0.0
    res = minimize(bowl, np.zeros(3), method, tol=1e-4, max_iter=3000, **options)
    assert isinstance(res, Result) and isinstance(res.x, np.ndarray) and res.x.dtype == np.float64
    assert res.status == Status.CONVERGED and res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, -1.0, 2.0], atol=1e-3)
    assert res.grad_norm <= 1e-4 and res.nit == PINNED_NIT[method]
    assert res.fun == pytest.approx(float(bowl(torch.from_numpy(res.x))))
    assert len(res.history) == res.nit + 1 and res.history.x.shape == (res.nit + 1, 3)
    np.testing.assert_array_equal(res.history.x[0], np.zeros(3))
    np.testing.assert_array_equal(res.history.x[-1], res.x)
    assert res.history.f[-1] == res.fun and np.all(np.diff(res.history.nfev) > 0)
    assert res.ngev == res.nfev >= res.nit and (res.nhvp > 0) == ("newton" in method)


def test_lbfgs_matches_scipy_on_rosenbrock_and_keeps_a_2d_path():
    res = minimize(rosenbrock, [-1.2, 1.0], "lbfgs", tol=1e-8, tolerance_change=0.0)
    reference = scipy.optimize.minimize(scipy.optimize.rosen, [-1.2, 1.0], jac=scipy.optimize.rosen_der,
                                        method="L-BFGS-B", options=dict(gtol=1e-8, ftol=0.0, maxcor=10))  # fmt: skip
    assert (res.nit, res.nfev) == (reference.nit, reference.nfev) == (38, 46)
    np.testing.assert_allclose(res.x, reference.x, atol=1e-9)
    path = res.history.x  # what a 2-D trajectory plot needs
    assert path.shape == (39, 2) and np.all(np.isfinite(path))


def test_newton_history_on_a_2d_surface():
    res = minimize(rosenbrock, np.array([-1.2, 1.0]), "newton", tol=1e-10)
    assert res.success and res.nit == 23 and res.nfev == 27  # pinned
    assert res.history.x.shape == (24, 2) and np.all(np.diff(res.history.f) < 0)  # the trust region only descends


def test_tensor_in_tensor_out_and_dtype_kept():
    res = minimize(bowl, torch.zeros(3, dtype=torch.float32), "lbfgs", tol=1e-4)
    assert isinstance(res.x, torch.Tensor) and res.x.dtype == torch.float32 and not res.x.requires_grad
    assert res.success


def test_saddle_free_newton_vs_newton():
    def saddle(v):
        return v[0] ** 2 - v[1] ** 2 + v[1] ** 4 / 4

    plain = minimize(saddle, [1.0, 1e-8], "newton", tol=1e-10, trust_region=False)
    free = minimize(saddle, [1.0, 1e-8], "saddle-free-newton", tol=1e-10)
    assert abs(plain.x[1]) < 1e-12 and plain.fun == pytest.approx(0.0, abs=1e-15)
    assert free.x[1] == pytest.approx(math.sqrt(2.0), abs=1e-9) and free.fun == pytest.approx(-1.0)


def test_callback_receives_iterates_and_can_stop():
    seen: list[Iterate] = []

    def callback(it: Iterate) -> bool:
        seen.append(it)
        return it.nit == 3

    res = minimize(rosenbrock, np.array([-1.2, 1.0]), "lbfgs", callback=callback)
    assert res.status == Status.CALLBACK and not res.success and res.nit == 3 and len(seen) == 3
    assert isinstance(seen[0].x, np.ndarray) and seen[-1].fun == res.fun

    def stop(it):
        raise StopIteration

    assert minimize(bowl, np.zeros(3), "sgd", lr=0.1, callback=stop).status == Status.CALLBACK


def test_evaluation_limits():
    res = minimize(rosenbrock, [-1.2, 1.0], "lbfgs", max_eval=15)
    assert res.status == Status.MAX_EVAL and res.nfev <= 15 and "max_eval=15" in res.message
    res = minimize(rosenbrock, [-1.2, 1.0], "adam", max_eval=7)
    assert res.status == Status.MAX_EVAL and res.nfev == 7
    res = minimize(rosenbrock, [-1.2, 1.0], "newton", max_iter=2)
    assert res.status == Status.MAX_ITER and res.nit == 2


def test_non_finite_start_is_explicit():
    res = minimize(lambda x: (x * x).sum() * math.nan, np.ones(2), "lbfgs")
    assert res.status == Status.NON_FINITE and not res.success and "non-finite" in res.message
    assert math.isnan(res.fun)


def test_divergence_returns_the_last_finite_iterate():
    res = minimize(lambda x: (x * x).sum(), np.ones(2), "sgd", lr=10.0)
    assert res.status == Status.NON_FINITE and "not finite" in res.message
    assert np.all(np.isfinite(res.x)) and math.isfinite(res.fun) and np.all(np.isfinite(res.history.f))
    assert res.fun == pytest.approx(float((torch.from_numpy(res.x) ** 2).sum()))


def test_line_search_failure_is_explicit():
    res = minimize(WrongGradient.apply, np.ones(2), "lbfgs")
    assert res.status == Status.LINE_SEARCH_FAILED and "line search failed" in res.message
    np.testing.assert_array_equal(res.x, np.ones(2))


def test_fixed_step_lbfgs_result_matches_its_x():
    res = minimize(bowl, np.zeros(3), "lbfgs", line_search=None, lr=0.5, max_iter=4)
    assert res.status == Status.MAX_ITER
    assert res.fun == pytest.approx(float(bowl(torch.from_numpy(res.x))))  # evaluated once more at the end


def test_history_x_can_be_switched_off():
    res = minimize(bowl, np.zeros(3), "newton", history_x=False)
    assert res.history.x is None and len(res.history.f) == res.nit + 1


@pytest.mark.parametrize("call, match", [
    (lambda: minimize(bowl, np.zeros(3), "bfgs"), "method must be one of .*; got 'bfgs'"),
    (lambda: minimize(bowl, np.zeros((3, 1))), r"x0 must be a non-empty 1-D array, got shape \(3, 1\)"),
    (lambda: minimize(bowl, []), r"x0 must be a non-empty 1-D array, got shape \(0,\)"),
    (lambda: minimize(bowl, [0.0, math.nan, 0.0]), "x0 must be finite"),
    (lambda: minimize(bowl, ["a", "b"]), "x0 must hold real numbers, got dtype <U1"),
    (lambda: minimize(bowl, np.zeros(3), tol=-1.0), "tol must be a finite non-negative number, got -1.0"),
    (lambda: minimize(bowl, np.zeros(3), max_iter=0), "max_iter must be a positive integer, got 0"),
    (lambda: minimize("bowl", np.zeros(3)), "fun must be callable, got str"),
    (lambda: minimize(lambda x: 1.0, np.zeros(3)), "fun must return a scalar torch tensor .* got float"),
    (lambda: minimize(lambda x: x * 2, np.zeros(3)), r"got a tensor of shape \(3,\)"),
    (lambda: minimize(bowl, np.zeros(3), history_size=5, damping=1.0), "unknown option damping=1.0 for method 'lbfgs'"),
    (lambda: minimize(bowl, np.zeros(3), "newton", history_x="yes"), "history_x must be True, False or None, got 'yes'"),
    (lambda: minimize(bowl, np.zeros(3), "newton", max_exact_params=2), "n=3 entries, above max_exact_params=2; use method='newton-cg'"),
    (lambda: minimize(bowl, np.zeros(3), "sgd", lr=-1.0), "lr: -1.0"),
    (lambda: minimize(bowl, np.zeros(3), "adam", max_eval=0), "max_eval must be a positive integer, got 0"),
    (lambda: minimize(bowl, np.zeros(3), callback=3), "callback must be callable, got int"),
])
def test_bad_input_names_the_argument_and_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("method, options", [("lbfgs", dict(line_search=None, lr=0.5)), ("newton", dict(trust_region=False))])
def test_callback_sees_every_iteration_even_an_unevaluated_last_one(method, options):
    """Fixed-step L-BFGS and plain Newton do not evaluate after their last move; minimize does, and reports it."""
    seen: list[Iterate] = []
    res = minimize(rosenbrock, np.array([-1.2, 1.0]), method, max_iter=3, callback=seen.append, **options)
    assert res.status == Status.MAX_ITER and [it.nit for it in seen] == [1, 2, 3]
    np.testing.assert_array_equal(seen[-1].x, res.x)
    assert seen[-1].fun == res.fun and seen[-1].nfev == res.nfev == res.history.nfev[-1]


def test_scalar_x0_is_a_vector_of_one_like_scipy():
    res = minimize(lambda x: ((x - 3.0) ** 2).sum(), 0.0, "newton")
    reference = scipy.optimize.minimize(lambda x: float(((x - 3.0) ** 2).sum()), 0.0)
    assert res.x.shape == reference.x.shape == (1,) and res.x[0] == pytest.approx(3.0)
    res = minimize(lambda x: ((x - 3.0) ** 2).sum(), torch.tensor(0.0, dtype=torch.float64), "lbfgs")
    assert isinstance(res.x, torch.Tensor) and tuple(res.x.shape) == (1,) and float(res.x[0]) == pytest.approx(3.0)


def test_numpy_scalars_for_tol_max_iter_and_options():
    res = minimize(bowl, np.zeros(3), "newton", tol=np.float32(1e-6), max_iter=np.int64(5), lr=np.float64(1.0))
    assert res.success and res.grad_norm <= 1e-6


@pytest.mark.parametrize("call, match", [
    (lambda: minimize(bowl, np.zeros(3), "newton", max_exact_params="2"), "max_exact_params must be a positive integer, got '2'"),
    (lambda: minimize(bowl, np.zeros((1, 3))), r"x0 must be a non-empty 1-D array, got shape \(1, 3\)"),
])  # fmt: skip
def test_more_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
