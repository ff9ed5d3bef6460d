"""Saddle points: plain Newton is attracted to them, saddle-free Newton is repelled.

Part 1: f(x, y) = x^2 - y^2 + y^4/4 from (1, 1e-8). The saddle is (0, 0) (Hessian diag(2, -2));
the minima are (0, +-sqrt(2)). Part 2: a rotated n-dimensional version,
f(u) = sum_i a_i z_i^2 / 2 + sum_j (-c_j w_j^2 + w_j^4 / 4), (z, w) = Q'u, with k negative-curvature
directions w at the saddle u = 0 and minima at w_j = +-sqrt(2 c_j), f* = -sum_j c_j^2; the start has
|w| ~ 1e-8. Each verdict comes from the smallest Hessian eigenvalue at the end point.

Run: python benchmarks/saddle_escape.py
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

from inertia.minimize import minimize

RUNS = (  # label, method, options
    ("Newton (plain)", "newton", {"trust_region": False}),
    ("Newton (trust region)", "newton", {}),
    ("Newton-CG", "newton-cg", {}),
    ("saddle-free Newton (eigh)", "saddle-free-newton", {}),
    ("saddle-free Newton (Lanczos)", "saddle-free-newton", {"krylov_dim": 20}),
    ("L-BFGS", "lbfgs", {}),
    ("L-BFGS (check_curvature)", "lbfgs", {"check_curvature": True}),
)


def saddle_2d(v: torch.Tensor) -> torch.Tensor:
    x, y = v[0], v[1]
    return x**2 - y**2 + y**4 / 4


def saddle_nd(n: int = 200, k: int = 10, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    a = 1.0 + 9.0 * torch.rand(n - k, generator=gen, dtype=torch.float64)
    c = 0.5 + 1.5 * torch.rand(k, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))

    def fun(u: torch.Tensor) -> torch.Tensor:
        zw = q.T @ u
        z, w = zw[: n - k], zw[n - k :]
        return 0.5 * (a * z * z).sum() + (-c * w * w + w**4 / 4).sum()

    start = torch.cat([torch.randn(n - k, generator=gen, dtype=torch.float64),
                       1e-8 * torch.randn(k, generator=gen, dtype=torch.float64)])  # fmt: skip
    return fun, q @ start, float(-(c**2).sum())


def min_eigenvalue(fun, x: np.ndarray | torch.Tensor) -> float:
    x = torch.as_tensor(x, dtype=torch.float64)
    return float(torch.linalg.eigvalsh(torch.func.hessian(fun)(x)).min())


def table(fun, x0, describe, tol: float | None = 1e-10) -> dict[str, float]:
    print("| method | end point | f | grad inf-norm | min eig of H | verdict | status | nit | nfev | nhvp |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    verdicts = {}
    for label, method, options in RUNS:
        res = minimize(fun, x0, method, tol=tol, max_iter=500, **options)
        lam_min = min_eigenvalue(fun, res.x)
        verdict = "minimum" if lam_min > 0 else "saddle"
        verdicts[label] = lam_min
        print(f"| {label} | {describe(res.x)} | {res.fun:.6g} | {res.grad_norm:.1e} | {lam_min:.3g} | {verdict} "
              f"| {res.status.value} | {res.nit} | {res.nfev} | {res.nhvp} |")
    return verdicts


def main() -> int:
    print("Part 1: f = x^2 - y^2 + y^4/4 from (1, 1e-8); minima at y = +-sqrt(2) = +-1.41421356")
    v1 = table(saddle_2d, np.array([1.0, 1e-8]), lambda x: f"({x[0]:.3g}, {x[1]:.9f})")
    print("\nPart 1b: the same with minimize's default tolerance (tol=1e-5)")
    table(saddle_2d, np.array([1.0, 1e-8]), lambda x: f"({x[0]:.3g}, {x[1]:.9f})", tol=None)
    fun, u0, f_star = saddle_nd()
    print(f"\nPart 2: rotated saddle, n = 200 with 10 negative-curvature directions; f* = {f_star:.6g}, f(saddle) = 0")
    v2 = table(fun, u0.numpy(), lambda x: f"norm(u) = {np.linalg.norm(x):.3g}")
    expected = all(v["Newton (plain)"] < 0 and v["saddle-free Newton (eigh)"] > 0
                   and v["saddle-free Newton (Lanczos)"] > 0 for v in (v1, v2))  # fmt: skip
    print(f"\nplain Newton ends at the saddle, saddle-free Newton at a minimum (both problems): {expected}")
    print(f"(sqrt(2) = {math.sqrt(2):.9f})")
    return 0 if expected else 1


if __name__ == "__main__":
    sys.exit(main())
