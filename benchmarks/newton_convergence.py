"""Newton's local convergence rate, and Newton-CG on a 10^6-dimensional quadratic.

Part 1: L2-regularised logistic regression (strongly convex). Errors e_k = ||w_k - w*||, with w*
from a separate run to gradient norm 1e-14 (checked against scipy's trust-exact). Quadratic
convergence shows as e_{k+1}/e_k -> 0 while e_{k+1}/e_k^2 stays bounded; L-BFGS is listed for
contrast (superlinear: e_{k+1}/e_k -> 0 slowly).

Part 2: f(x) = x'Dx/2 + sum_i (x_{i+1} - x_i)^2/2 - b'x with n = 10^6: Newton-CG through
Hessian-vector products (a dense Hessian would take 8 TB). The answer is checked against a banded
direct solve of the same (tridiagonal) system.

Run: python benchmarks/newton_convergence.py
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.linalg
import scipy.optimize
import torch

from inertia.minimize import minimize


def logistic_problem(samples: int = 2000, dim: int = 50, l2: float = 1e-2, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(samples, dim, generator=gen, dtype=torch.float64)
    w_true = torch.randn(dim, generator=gen, dtype=torch.float64)
    y = (torch.rand(samples, generator=gen, dtype=torch.float64) < torch.sigmoid(X @ w_true)).double()

    def loss(w: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y) + 0.5 * l2 * (w * w).sum()

    return loss, dim


def scipy_reference(loss, dim: int) -> np.ndarray:
    def fun(w):
        wt = torch.tensor(w, requires_grad=True)
        value = loss(wt)
        (grad,) = torch.autograd.grad(value, wt)
        return float(value.detach()), grad.numpy()

    def hess(w):
        return torch.func.hessian(loss)(torch.tensor(w)).numpy()

    res = scipy.optimize.minimize(fun, np.zeros(dim), jac=True, hess=hess, method="trust-exact",
                                  options=dict(gtol=1e-13))  # fmt: skip
    return res.x, float(np.abs(res.jac).max())


def error_table(name: str, xs: np.ndarray, w_star: np.ndarray, rows: int) -> list[float]:
    errors = [float(np.linalg.norm(x - w_star)) for x in xs]
    print(f"\n{name}: e_k = ||w_k - w*||")
    print("| k | e_k | e_k / e_(k-1) | e_k / e_(k-1)^2 |")
    print("|---|---|---|---|")
    for k, e in enumerate(errors[:rows]):
        if k == 0 or errors[k - 1] == 0.0:
            print(f"| {k} | {e:.3e} | | |")
        else:
            print(f"| {k} | {e:.3e} | {e / errors[k - 1]:.3e} | {e / errors[k - 1] ** 2:.3e} |")
    return errors


def part_logistic() -> bool:
    loss, dim = logistic_problem()
    w0 = np.zeros(dim)
    star = minimize(loss, w0, "newton", tol=1e-14, tolerance_change=0.0)
    w_star = star.x
    w_scipy, scipy_grad = scipy_reference(loss, dim)
    print("Part 1: logistic regression, 2000 samples, 50 features, L2 1e-2 (float64)")
    print(f"w*: Newton {star.status.value} in {star.nit} iterations, grad norm {star.grad_norm:.1e}; "
          f"||w* - w*_scipy(trust-exact)|| = {np.linalg.norm(w_star - w_scipy):.1e} "
          f"(scipy's grad norm {scipy_grad:.1e})")  # fmt: skip
    newton = minimize(loss, w0, "newton", tol=1e-12)
    errors = error_table(f"Newton (exact), {newton.nfev} evaluations", newton.history.x, w_star, 12)
    lbfgs = minimize(loss, w0, "lbfgs", tol=1e-12, tolerance_change=0.0)
    error_table(f"L-BFGS, {lbfgs.nfev} evaluations (first 12 of {lbfgs.nit} iterations)", lbfgs.history.x, w_star, 12)
    # verdict: among the last steps whose error is above rounding, the quadratic ratio stays bounded
    # while the linear ratio falls by orders of magnitude
    tail = [k for k in range(1, len(errors)) if errors[k] > 1e-13 and errors[k - 1] > 0]
    linear = [errors[k] / errors[k - 1] for k in tail]
    quad = [errors[k] / errors[k - 1] ** 2 for k in tail]
    quadratic = len(tail) >= 3 and linear[-1] < 1e-2 and max(quad[-3:]) < 10 * min(quad[-3:])
    print(f"\nNewton: last linear ratios {[f'{r:.1e}' for r in linear[-3:]]}, quadratic ratios "
          f"{[f'{r:.2f}' for r in quad[-3:]]} -> {'quadratic' if quadratic else 'NOT quadratic'} convergence")  # fmt: skip
    return quadratic


def part_large_quadratic(n: int = 1_000_000) -> bool:
    gen = torch.Generator().manual_seed(1)
    diag = 1.0 + 9.0 * torch.rand(n, generator=gen, dtype=torch.float64)
    b = torch.randn(n, generator=gen, dtype=torch.float64)

    def fun(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (diag * x * x).sum() + 0.5 * ((x[1:] - x[:-1]) ** 2).sum() - b @ x

    # the same system, solved directly: (D + L) x = b, L the path-graph Laplacian (tridiagonal)
    main = diag.numpy() + np.r_[1.0, 2.0 * np.ones(n - 2), 1.0]
    banded = np.vstack([np.r_[0.0, -np.ones(n - 1)], main, np.r_[-np.ones(n - 1), 0.0]])
    x_direct = scipy.linalg.solve_banded((1, 1), banded, b.numpy())
    print(f"\nPart 2: Newton-CG on a quadratic with n = {n:,} (dense Hessian would be {8 * n * n / 1e12:.0f} TB)")
    print("| CG tolerance | status | Newton iterations | nfev | Hessian-vector products | grad inf-norm "
          "| rel. error vs banded solve | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for label, options in (("forcing min(0.5, sqrt(norm g))", {}), ("cg_rtol=1e-10", {"cg_rtol": 1e-10})):
        start = time.perf_counter()
        res = minimize(fun, torch.zeros(n, dtype=torch.float64), "newton-cg", tol=1e-8, **options)
        seconds = time.perf_counter() - start
        rel_error = float(np.linalg.norm(res.x.numpy() - x_direct) / np.linalg.norm(x_direct))
        print(f"| {label} | {res.status.value} | {res.nit} | {res.nfev} | {res.nhvp} | {res.grad_norm:.1e} "
              f"| {rel_error:.1e} | {seconds:.1f} |")
        ok &= res.success and rel_error < 1e-6
    print(f"-> {'solved' if ok else 'NOT solved'} without forming the Hessian")
    return ok


def main() -> int:
    ok = part_logistic()
    ok &= part_large_quadratic()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
