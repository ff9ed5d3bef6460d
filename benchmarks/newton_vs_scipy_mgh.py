"""inertia's Newton against scipy's trust-exact on the 18 problems of Moré, Garbow & Hillstrom (1981).

Both start from the standard points (``inertia.problems.mgh``) in float64, with gradients and Hessians
from torch autograd, at most ``--max-iter`` iterations and the gradient tolerance ``--tol`` (scipy's
``gtol`` is on the 2-norm of the gradient, inertia's ``tol`` on its infinity norm). inertia runs
``minimize(method="newton")`` with its default settings otherwise; ``--damping`` runs the
Levenberg–Marquardt damping instead of the default trust radius. "Solved" is the same test for both:
``f - f* <= 1e-8 * max(1, |f*|)`` (plus half a unit in the last printed figure of a published f*).
Evaluations: f (inertia evaluates f and its gradient together), gradients, Hessians (inertia's dense
Hessians, including the curvature check at the end point).

Run: python benchmarks/newton_vs_scipy_mgh.py
     python benchmarks/newton_vs_scipy_mgh.py --tol 1e-5 --max-iter 500 --damping
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np
import scipy.optimize
import torch

from inertia.minimize import minimize
from inertia.problems.mgh import MGH_PROBLEMS, MGHProblem


def scipy_functions(problem: MGHProblem):
    """f, gradient and Hessian of a problem as numpy functions, by torch autograd."""

    def fun(x: np.ndarray) -> float:
        return float(problem.objective(torch.from_numpy(x.copy())))

    def jac(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x.copy()).requires_grad_(True)
        (grad,) = torch.autograd.grad(problem.objective(t), t)
        return grad.numpy()

    def hess(x: np.ndarray) -> np.ndarray:
        return torch.autograd.functional.hessian(problem.objective, torch.from_numpy(x.copy())).numpy()

    return fun, jac, hess


def run_scipy(problem: MGHProblem, tol: float, max_iter: int) -> dict:
    fun, jac, hess = scipy_functions(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scipy.optimize.minimize(fun, np.array(problem.x0), jac=jac, hess=hess, method="trust-exact",
                                      options={"gtol": tol, "maxiter": max_iter})
    return {"solved": problem.solved(res.fun), "nit": res.nit, "nfev": res.nfev, "ngev": res.njev,
            "nhev": res.nhev, "f": float(res.fun)}  # fmt: skip


def run_inertia(problem: MGHProblem, tol: float, max_iter: int, damping: bool) -> dict:
    options = {"trust_radius": None} if damping else {}
    res = minimize(problem.objective, np.array(problem.x0), method="newton", tol=tol, max_iter=max_iter, **options)
    return {"solved": problem.solved(res.fun), "nit": res.nit, "nfev": res.nfev, "ngev": res.ngev,
            "nhev": res.nhvp // problem.n, "f": float(res.fun)}  # fmt: skip


def row(name: str, ours: dict, theirs: dict) -> str:
    def cells(r: dict) -> str:
        return f"{'yes' if r['solved'] else 'no'} | {r['nit']} | {r['nfev']}/{r['ngev']}/{r['nhev']} | {r['f']:.6e}"

    return f"| {name} | {cells(ours)} | {cells(theirs)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tol", type=float, default=1e-9)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--damping", action="store_true", help="inertia with the damping, not the trust radius")
    args = parser.parse_args()
    if not (math.isfinite(args.tol) and args.tol >= 0):
        parser.error(f"--tol must be a finite number >= 0, got {args.tol}")
    if args.max_iter < 1:
        parser.error(f"--max-iter must be at least 1, got {args.max_iter}")
    label = "inertia newton (damping)" if args.damping else "inertia newton"
    print(f"tol={args.tol:g}, max_iter={args.max_iter}; evaluations are f/gradient/Hessian\n")
    print(f"| problem (n) | {label}: solved | iterations | evaluations | final f "
          "| scipy trust-exact: solved | iterations | evaluations | final f |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = {"inertia": [0, 0, 0, 0, 0], "scipy": [0, 0, 0, 0, 0]}
    for problem in MGH_PROBLEMS.values():
        ours = run_inertia(problem, args.tol, args.max_iter, args.damping)
        theirs = run_scipy(problem, args.tol, args.max_iter)
        print(row(f"{problem.title} ({problem.n})", ours, theirs), flush=True)
        for key, result in (("inertia", ours), ("scipy", theirs)):
            for i, field in enumerate(("solved", "nit", "nfev", "ngev", "nhev")):
                totals[key][i] += int(result[field])

    def total_cells(t: list[int]) -> str:
        return f"{t[0]} of 18 | {t[1]} | {t[2]}/{t[3]}/{t[4]} | "

    print(f"| **total** | {total_cells(totals['inertia'])} | {total_cells(totals['scipy'])} |")


if __name__ == "__main__":
    main()
