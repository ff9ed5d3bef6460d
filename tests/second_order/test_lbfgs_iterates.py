"""LBFGS's iterates, bit for bit, against a plain restatement of the algorithm kept here.

The restatement holds every scalar of the two-loop recursion (``s'y``, ``rho``, the alphas and betas,
``H0``) as a 0-d tensor and writes each trial point as a new tensor ``x0 + step * d``, as LBFGS did
before its scalars became Python floats and its trial points were written into the param in place.
Every iterate (x_k and f_k) and the evaluation count must come out the same, bit for bit.
"""

from __future__ import annotations

import math

import pytest
import torch
from so_problems import backward_closure, extended_powell, logistic, rosenbrock, rotated_quadratic

from inertia.second_order import LBFGS, strong_wolfe
from inertia.second_order.lbfgs_vectors import scalar_reader, two_loop


def value_and_grad(fun, point: torch.Tensor) -> tuple[float, torch.Tensor]:
    p = point.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        value = fun(p)
        (grad,) = torch.autograd.grad(value, p)
    return float(value.detach()), grad


def tensor_two_loop(g, old_stps, old_dirs, ro, h_diag):
    """The recursion with 0-d tensor scalars (Nocedal & Wright, Algorithm 7.4)."""
    alphas = [None] * len(old_stps)
    q = g.neg()
    for i in range(len(old_stps) - 1, -1, -1):
        alphas[i] = old_stps[i].dot(q) * ro[i]
        q.add_(old_dirs[i], alpha=-alphas[i])
    r = torch.mul(q, h_diag)
    for i in range(len(old_stps)):
        beta = old_dirs[i].dot(r) * ro[i]
        r.add_(old_stps[i], alpha=alphas[i] - beta)
    return r


class Memory:
    """The (s, y) pairs, their ``rho`` and ``H0``'s scale, all tensors."""

    def __init__(self, history: int, fixed_step: bool) -> None:
        self.history, self.fixed_step = history, fixed_step
        self.reset()

    def reset(self) -> None:
        self.steps, self.changes, self.ro, self.h_diag = [], [], [], 1

    def direction(self, g, g_old, d_old, t_old):
        y, s = g.sub(g_old), d_old.mul(t_old)
        ys = y.dot(s)
        keep = ys > 1e-10 if self.fixed_step else ys > torch.finfo(g.dtype).eps * -g_old.dot(s)
        if keep:
            if len(self.steps) == self.history:
                self.steps.pop(0), self.changes.pop(0), self.ro.pop(0)
            self.steps.append(s), self.changes.append(y), self.ro.append(1.0 / ys)
            self.h_diag = ys / y.dot(y)
        return tensor_two_loop(g, self.steps, self.changes, self.ro, self.h_diag)


def first_step(d, g, lr, fresh, fixed_step):
    if not fresh:
        return lr
    if fixed_step:
        return min(1.0, 1.0 / float(g.abs().sum())) * lr
    norm = float(d.norm())
    return lr / norm if 0.0 < norm < math.inf else lr


def search(fun, x, d, f, g, gtd, t, budget, c1=1e-3, c2=0.9, max_ls=20):
    """Strong Wolfe from ``x`` along ``d``: (result, the accepted point or None, its f, its g)."""
    last = {}

    def evaluate(step):
        last["x"] = x.add(d, alpha=step)
        last["f"], last["g"] = value_and_grad(fun, last["x"])
        return last["f"], float(last["g"].dot(d))

    result = strong_wolfe(evaluate, f, gtd, t, ftol=c1, gtol=c2, max_evals=min(max_ls, budget))
    return (result, last["x"], result.f, last["g"]) if result.accepted else (result, None, f, g)


def stop_after(f, g, d, t, f_old, evals, n_iter, max_iter, max_eval, tol_grad, tol_change):
    if not (math.isfinite(f) and bool(torch.isfinite(g).all())) or float(g.abs().max()) <= tol_grad:
        return True
    if n_iter == max_iter or evals >= max_eval:
        return True
    return float(d.abs().max()) * t <= tol_change or abs(f - f_old) < tol_change


def reference_run(fun, x0, *, history=10, max_iter=10_000, max_eval=10_000, tol_grad=1e-8, tol_change=0.0,
                  fixed_step=False, lr=1.0):  # fmt: skip
    """Iterates [(x_k, f_k)] and the evaluation count of one ``step`` from ``x0``."""
    x = x0.clone()
    f, g = value_and_grad(fun, x)
    evals, n_iter, iterates = 1, 0, []
    if not (math.isfinite(f) and bool(torch.isfinite(g).all())) or float(g.abs().max()) <= tol_grad:
        return iterates, evals
    memory, restart, d, t, g_old, f_old = Memory(history, fixed_step), False, None, None, None, None
    while n_iter < max_iter:
        n_iter += 1
        fresh = restart or n_iter == 1
        if fresh:
            memory.reset()
            direction, restart = g.neg(), False
        else:
            direction = memory.direction(g, g_old, d, t)
        gtd = float(g.dot(direction))
        if not gtd < 0.0:
            if fresh:
                break
            restart = True
            continue
        if gtd > -tol_change:
            break
        g_old, f_old = g, f
        step = first_step(direction, g, lr, fresh, fixed_step)
        if fixed_step:
            x.add_(direction, alpha=step)
            if n_iter == max_iter:
                break
            f, g = value_and_grad(fun, x)
            evals += 1
        else:
            result, point, f, g = search(fun, x, direction, f, g, gtd, step, max_eval - evals)
            evals += result.nfev
            if point is None:
                if result.nfev >= max_eval - (evals - result.nfev) or fresh:
                    break
                restart = True
                continue
            x, step = point, result.step
        d, t = direction, step
        iterates.append((x.clone(), f))
        if stop_after(f, g, d, t, f_old, evals, n_iter, max_iter, max_eval, tol_grad, tol_change):
            break
    return iterates, evals


def inertia_run(fun, x0, *, history=10, max_iter=10_000, max_eval=10_000, tol_grad=1e-8, tol_change=0.0,
                fixed_step=False, lr=1.0):  # fmt: skip
    x = x0.clone().requires_grad_(True)
    opt = LBFGS([x], lr=lr, history_size=history, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tol_grad,
                tolerance_change=tol_change, line_search=None if fixed_step else "strong_wolfe", on_failure="ignore")  # fmt: skip
    iterates = []
    opt.step(backward_closure(opt, lambda: fun(x)), callback=lambda info: iterates.append((x.detach().clone(), info.loss)))
    return iterates, opt.nfev


QUADRATIC, _ = rotated_quadratic(40, 1e4, seed=3)


def nan_below(x: torch.Tensor) -> torch.Tensor:
    """sum(x^2), NaN where x[1] < 1.2: the first trial from (1, 2) lands there."""
    return (x * x).sum() + torch.where(x[1] < 1.2, torch.tensor(math.nan, dtype=x.dtype), 0.0 * x[0])


CASES = {
    "rosenbrock-2": (rosenbrock, [-1.2, 1.0], {}),
    "rosenbrock-60": (rosenbrock, [-1.2, 1.0] * 30, {}),
    "rosenbrock-60-history-3": (rosenbrock, [-1.2, 1.0] * 30, dict(history=3)),
    "rotated-quadratic-40": (QUADRATIC, [1.0] * 40, {}),
    "extended-powell-8": (extended_powell, [3.0, -1.0, 0.0, 1.0] * 2, {}),
    "logistic-fixed-step": (logistic(), [0.0] * 6, dict(fixed_step=True, lr=0.5, history=3, max_iter=40,
                                                         tol_grad=1e-12, tol_change=1e-14)),  # fmt: skip
    "nan-region": (nan_below, [1.0, 2.0], dict(max_iter=5)),
    "eval-budget": (rosenbrock, [-1.2, 1.0] * 5, dict(max_eval=40)),
    # a kink: line searches along the quasi-Newton direction fail, and the memory restarts
    "l1-kink-restarts": (lambda x: x.abs().sum() + 0.1 * (x * x).sum(), [1.0, -2.0, 3.0, 0.5],
                         dict(max_iter=200, max_eval=400)),  # fmt: skip
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", CASES)
def test_every_iterate_equals_the_tensor_scalar_restatement(name, dtype):
    fun, x0, settings = CASES[name]
    start = torch.tensor(x0, dtype=dtype)
    if dtype == torch.float32:  # the same function, its values and gradients rounded to float32
        settings = dict(settings, tol_grad=max(settings.get("tol_grad", 1e-8), 1e-4))
        fun = (lambda f: lambda x: f(x.double()).float())(fun)
    expected, expected_evals = reference_run(fun, start, **settings)
    got, evals = inertia_run(fun, start, **settings)
    assert len(expected) > 1 and len(got) == len(expected)
    for k, ((x, f), (x_ref, f_ref)) in enumerate(zip(got, expected, strict=True)):
        assert torch.equal(x, x_ref) and f == f_ref, f"iterate {k} differs"
    assert evals == expected_evals


@pytest.mark.parametrize("seed", range(40))
def test_float_scalars_round_as_float64_tensors(seed):
    """``two_loop`` with Python-float scalars equals the 0-d tensor version bit for bit on random pairs."""
    gen = torch.Generator().manual_seed(seed)
    n, m = int(torch.randint(2, 300, (1,), generator=gen)), int(torch.randint(1, 12, (1,), generator=gen))
    scale = torch.logspace(-6, 6, n, dtype=torch.float64)[torch.randperm(n, generator=gen)]
    steps = [torch.randn(n, generator=gen, dtype=torch.float64) * scale for _ in range(m)]
    changes = [s * scale + 1e-3 * torch.randn(n, generator=gen, dtype=torch.float64) for s in steps]
    ro_tensors = [1.0 / y.dot(s) for s, y in zip(steps, changes, strict=True)]
    g = torch.randn(n, generator=gen, dtype=torch.float64)
    h_tensor = changes[-1].dot(steps[-1]) / changes[-1].dot(changes[-1])
    expected = tensor_two_loop(g, steps, changes, ro_tensors, h_tensor)
    got = two_loop(g, steps, changes, [float(r) for r in ro_tensors], float(h_tensor), scalar_reader(torch.float64))
    assert torch.equal(got, expected)
    assert scalar_reader(torch.float32) is not float  # float32 keeps tensors: Python floats would round in float64


def test_a_closure_that_replaces_the_params_memory_still_gets_every_iterate():
    """Trial points go into the param's current memory, even when the closure swaps it (``p.data = ...``)."""
    start = torch.tensor([-1.2, 1.0] * 3, dtype=torch.float64)
    expected, expected_evals = reference_run(rosenbrock, start)
    x = start.clone().requires_grad_(True)
    opt = LBFGS([x], max_iter=10_000, max_eval=10_000, tolerance_grad=1e-8, tolerance_change=0.0)

    def closure():
        x.data = x.data.clone()  # new memory at every call
        opt.zero_grad()
        value = rosenbrock(x)
        value.backward()
        return value

    got = []
    opt.step(closure, callback=lambda info: got.append((x.detach().clone(), info.loss)))
    assert len(got) == len(expected) > 1 and opt.nfev == expected_evals
    assert all(torch.equal(a, b) and f == f_ref for (a, f), (b, f_ref) in zip(got, expected, strict=True))
