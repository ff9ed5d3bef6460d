"""inertia's L-BFGS against scipy's L-BFGS-B and torch.optim.LBFGS: function evaluations.

Same settings for all three: history 10, gradient infinity-norm tolerance 1e-8, no tolerance on the
change of f (scipy ``ftol=0``, torch/inertia ``tolerance_change=0``), float64. Problems: Rosenbrock
n = 2, 10, 100 from (-1.2, 1, -1.2, 1, ...), and f(x) = x' diag(logspace(0, 4, 50)) x / 2 from ones
(condition number 1e4), also rotated by three random orthogonal matrices. The bar: inertia reaches f < 1e-10 with at most 1.1x scipy's evaluations.

Run: python benchmarks/lbfgs_vs_scipy.py
     python benchmarks/lbfgs_vs_scipy.py --dim 30 --condition 1e5 --seeds 0 1 2 3 4 5
(the second: other quadratics; the Rosenbrock rows are the same)
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import scipy.optimize
import torch

from inertia.minimize import minimize

HISTORY, GTOL, TARGET, ALLOWANCE = 10, 1e-8, 1e-10, 1.10


def rosenbrock_torch(x: torch.Tensor) -> torch.Tensor:
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def quadratic_problem(n: int = 50, condition: float = 1e4, seed: int | None = None):
    """f(x) = x'Ax/2 with eigenvalues logspace(0, log10(condition), n); A diagonal, or rotated by a
    random orthogonal matrix when a seed is given."""
    eig = np.logspace(0.0, np.log10(condition), n)
    if seed is None:
        a = np.diag(eig)
    else:
        q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
        a = (q * eig) @ q.T
    a_t = torch.from_numpy(a)
    return (lambda x: 0.5 * float(x @ a @ x), lambda x: a @ x, lambda x: 0.5 * (x @ (a_t @ x)), np.ones(n))


def _power_of_ten(value: float) -> str:
    """1e4 for 10000.0; other values as %g."""
    exponent = round(math.log10(value))
    return f"1e{exponent}" if 10.0**exponent == value else f"{value:g}"


def problems(dim: int = 50, condition: float = 1e4, seeds: tuple[int, ...] = (0, 1, 2)):
    for n in (2, 10, 100):
        x0 = np.array([-1.2, 1.0] * (n // 2))
        yield f"Rosenbrock n={n}", scipy.optimize.rosen, scipy.optimize.rosen_der, rosenbrock_torch, x0
    yield (f"quadratic n={dim}, cond {_power_of_ten(condition)}", *quadratic_problem(dim, condition))
    for seed in seeds:
        yield (f"rotated quadratic, seed {seed}", *quadratic_problem(dim, condition, seed=seed))


def first_below(values: list[float], target: float) -> int | None:
    """1-based index of the first evaluation with value below target."""
    return next((i + 1 for i, v in enumerate(values) if v < target), None)


def run_scipy(f, g, x0):
    values: list[float] = []

    def fun(x):
        values.append(f(x))
        return values[-1]

    options = dict(maxcor=HISTORY, gtol=GTOL, ftol=0.0, maxiter=100_000, maxfun=100_000)
    res = scipy.optimize.minimize(fun, x0, jac=g, method="L-BFGS-B", options=options)
    return res.nfev, float(res.fun), first_below(values, TARGET)


def run_inertia(f_t, x0):
    values: list[float] = []

    def fun(x):
        value = f_t(x)
        values.append(float(value.detach()))
        return value

    res = minimize(fun, x0, "lbfgs", tol=GTOL, history_size=HISTORY, tolerance_change=0.0, max_eval=100_000)
    return res.nfev, res.fun, first_below(values, TARGET), res.status.value


def run_torch(f_t, x0):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1, history_size=HISTORY, max_iter=100_000, max_eval=100_000,
                            tolerance_grad=GTOL, tolerance_change=0.0, line_search_fn="strong_wolfe")  # fmt: skip
    values: list[float] = []

    def closure():
        opt.zero_grad()
        value = f_t(x)
        value.backward()
        values.append(float(value.detach()))
        return value

    opt.step(closure)
    return opt.state[x]["func_evals"], float(f_t(x.detach())), first_below(values, TARGET)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=50, help="dimension of the quadratics (default 50)")
    parser.add_argument("--condition", type=float, default=1e4, help="their condition number (default 1e4)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="seeds of the rotated ones")
    args = parser.parse_args(argv)
    if args.dim < 2:
        parser.error(f"--dim must be at least 2, got {args.dim}")
    if not args.condition >= 1:
        parser.error(f"--condition must be at least 1, got {args.condition}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    torch.set_default_dtype(torch.float64)
    header = ("problem", "scipy nfev", "inertia nfev", "inertia/scipy", "torch nfev", "inertia f",
              "evals to f<1e-10 (scipy / inertia / torch)", "verdict")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    all_pass = True
    for name, f, g, f_t, x0 in problems(args.dim, args.condition, tuple(args.seeds)):
        s_nfev, s_f, s_hit = run_scipy(f, g, x0)
        i_nfev, i_f, i_hit, i_status = run_inertia(f_t, x0)
        t_nfev, t_f, t_hit = run_torch(f_t, x0)
        ok = i_f < TARGET and i_nfev <= ALLOWANCE * s_nfev
        all_pass &= ok
        verdict = "pass" if ok else f"FAIL ({i_status})"
        print(f"| {name} | {s_nfev} | {i_nfev} | {i_nfev / s_nfev:.3f} | {t_nfev} | {i_f:.2e} | "
              f"{s_hit} / {i_hit} / {t_hit} | {verdict} |")  # fmt: skip
    print(f"\nbar: inertia f < {TARGET:g} with nfev <= {ALLOWANCE:g} x scipy: {'met' if all_pass else 'NOT met'}")
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
