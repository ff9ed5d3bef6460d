"""inertia's L-BFGS against scipy's L-BFGS-B and torch.optim.LBFGS: function evaluations and time per iteration.

Same settings for all three: history 10, gradient infinity-norm tolerance 1e-8, no tolerance on the
change of f (scipy ``ftol=0``, torch/inertia ``tolerance_change=0``), float64. Problems: Rosenbrock
n = 2, 10, 100, 200, 1000 from (-1.2, 1, -1.2, 1, ...), and f(x) = x' diag(logspace(0, 4, 50)) x / 2 from
ones (condition number 1e4), also rotated by three random orthogonal matrices, and rotated quadratics of
n = 200 and 1000. The bars: inertia reaches f < 1e-10 with at most 1.1x scipy's evaluations, and its time
per iteration is at most 1.5x scipy's for n <= 1000 when both minimise the same torch function (scipy
gets its value and gradient by autograd, as a user with a torch model would give them).

Time per iteration is the best of ``--repeats`` runs, wall clock, divided by the run's iterations. The
column "scipy, numpy f" times scipy on numpy's Rosenbrock (or a numpy matrix product): it shows how
much of each iteration is the objective itself, which no optimizer can save.

``--compare-with DIR`` runs the same problems with the ``inertia`` package found in DIR (for instance
the previous version: ``git archive <commit> src | tar -x -C /tmp/old`` and ``--compare-with
/tmp/old/src``) in a second process, interleaved with the current one, and prints its time per
iteration beside the current one, and whether every iterate (each x_k and f_k of ``minimize``'s history,
hashed), the iteration and evaluation counts and the final f are the same.

Timings on a shared machine: run with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` (one thread for torch
and for scipy's BLAS; at these sizes a second thread only waits for a core), when the load is low.

Run: python benchmarks/lbfgs_vs_scipy.py
     python benchmarks/lbfgs_vs_scipy.py --compare-with /tmp/old/src --repeats 5
     python benchmarks/lbfgs_vs_scipy.py --dim 30 --condition 1e5 --seeds 0 1 2 3 4 5
(the last: other quadratics; the Rosenbrock and n = 200, 1000 rows are the same)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.optimize
import torch

from inertia.minimize import minimize

HISTORY, GTOL, TARGET, ALLOWANCE, TIME_BAR, TIME_BAR_MAX_N = 10, 1e-8, 1e-10, 1.10, 1.5, 1000
ROSENBROCK_SIZES, ROTATED_SIZES = (2, 10, 100, 200, 1000), (200, 1000)
QUIET_LOAD = 2.5


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
    """(name, f, grad, torch f, x0) for every row, in the order of the tables."""
    for n in ROSENBROCK_SIZES:
        x0 = np.array([-1.2, 1.0] * (n // 2))
        yield f"Rosenbrock n={n}", scipy.optimize.rosen, scipy.optimize.rosen_der, rosenbrock_torch, x0
    yield (f"quadratic n={dim}, cond {_power_of_ten(condition)}", *quadratic_problem(dim, condition))
    for seed in seeds:
        yield (f"rotated quadratic, seed {seed}", *quadratic_problem(dim, condition, seed=seed))
    for n in ROTATED_SIZES:
        yield (f"rotated quadratic n={n}, cond {_power_of_ten(condition)}, seed 0", *quadratic_problem(n, condition, 0))


def first_below(values: list[float], target: float) -> int | None:
    """1-based index of the first evaluation with value below target."""
    return next((i + 1 for i, v in enumerate(values) if v < target), None)


SCIPY_OPTIONS = dict(maxcor=HISTORY, gtol=GTOL, ftol=0.0, maxiter=100_000, maxfun=100_000)


def run_scipy(f, g, x0):
    values: list[float] = []

    def fun(x):
        values.append(f(x))
        return values[-1]

    res = scipy.optimize.minimize(fun, x0, jac=g, method="L-BFGS-B", options=SCIPY_OPTIONS)
    return res.nfev, float(res.fun), first_below(values, TARGET)


def inertia_minimize(fun, x0):
    return minimize(fun, x0, "lbfgs", tol=GTOL, history_size=HISTORY, tolerance_change=0.0, max_eval=100_000)


def run_inertia(f_t, x0):
    values: list[float] = []

    def fun(x):
        value = f_t(x)
        values.append(float(value.detach()))
        return value

    res = inertia_minimize(fun, x0)
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


# ----------------------------------------------------------------------------- time per iteration
def best_time(run, repeats: int):
    """(the best wall time of ``repeats`` calls of ``run``, the last call's result)."""
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def scipy_on_torch(f_t, x0):
    """scipy's L-BFGS-B on the torch function: value and gradient by autograd, handed over as numpy."""

    def value_and_grad(x):
        xt = torch.from_numpy(x).requires_grad_(True)
        value = f_t(xt)
        value.backward()
        return float(value.detach()), xt.grad.numpy()

    return scipy.optimize.minimize(value_and_grad, x0, jac=True, method="L-BFGS-B", options=SCIPY_OPTIONS)


def time_scipy(f, g, f_t, x0, repeats: int) -> dict:
    numpy_seconds, numpy_res = best_time(lambda: scipy.optimize.minimize(f, x0, jac=g, method="L-BFGS-B",
                                                                         options=SCIPY_OPTIONS), repeats)  # fmt: skip
    seconds, res = best_time(lambda: scipy_on_torch(f_t, x0), repeats)
    return dict(nit=res.nit, ms=1e3 * seconds / res.nit, numpy_ms=1e3 * numpy_seconds / numpy_res.nit)


def fingerprint(res) -> dict:
    """What must not change between versions: counts, final f, and a hash of every iterate (x_k, f_k)."""
    digest = hashlib.sha256(np.ascontiguousarray(res.history.f).tobytes())
    if res.history.x is not None:
        digest.update(np.ascontiguousarray(res.history.x).tobytes())
    return dict(nit=res.nit, nfev=res.nfev, fun=res.fun.hex(), iterates=digest.hexdigest()[:16])


def time_inertia(f_t, x0, repeats: int) -> dict:
    seconds, res = best_time(lambda: inertia_minimize(f_t, x0), repeats)
    return dict(ms=1e3 * seconds / max(res.nit, 1), **fingerprint(res))


class PreviousVersion:
    """This script in a second process that imports ``inertia`` from ``source``; answers one problem a line."""

    def __init__(self, source: Path, argv: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen([sys.executable, __file__, "--worker", *argv], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        package = json.loads(self.process.stdout.readline())["inertia"]
        if not Path(package).resolve().is_relative_to(source.resolve()):
            self.close()
            raise SystemExit(f"--compare-with {source}: the second process imported inertia from {package}")

    def run(self, index: int) -> dict:
        self.process.stdin.write(f"{index}\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def worker(args: argparse.Namespace) -> int:
    """The second process of --compare-with: time inertia (the imported one) on the problems asked for."""
    import inertia

    print(json.dumps({"inertia": inertia.__file__}), flush=True)
    rows = list(problems(args.dim, args.condition, tuple(args.seeds)))
    for line in sys.stdin:
        _, _, _, f_t, x0 = rows[int(line)]
        print(json.dumps(time_inertia(f_t, x0, args.repeats)), flush=True)
    return 0


# ----------------------------------------------------------------------------- tables
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=50, help="dimension of the quadratics (default 50)")
    parser.add_argument("--condition", type=float, default=1e4, help="their condition number (default 1e4)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="seeds of the rotated ones")
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing; the best counts (default 3)")
    parser.add_argument("--compare-with", type=Path, default=None, metavar="DIR",
                        help="a directory holding another inertia package (e.g. an older src/)")  # fmt: skip
    parser.add_argument("--no-evaluations", action="store_true", help="skip the evaluation-count table")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dim < 2:
        parser.error(f"--dim must be at least 2, got {args.dim}")
    if not args.condition >= 1:
        parser.error(f"--condition must be at least 1, got {args.condition}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.compare_with is not None and not (args.compare_with / "inertia" / "__init__.py").is_file():
        parser.error(f"--compare-with must be a directory holding inertia/__init__.py, got {args.compare_with}")
    return args


def evaluation_table(rows) -> bool:
    header = ("problem", "scipy nfev", "inertia nfev", "inertia/scipy", "torch nfev", "inertia f",
              "evals to f<1e-10 (scipy / inertia / torch)", "verdict")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    all_pass, ratios = True, []
    for name, f, g, f_t, x0 in rows:
        s_nfev, s_f, s_hit = run_scipy(f, g, x0)
        i_nfev, i_f, i_hit, i_status = run_inertia(f_t, x0)
        t_nfev, t_f, t_hit = run_torch(f_t, x0)
        ok = i_f < TARGET and i_nfev <= ALLOWANCE * s_nfev
        all_pass &= ok
        ratios.append(i_nfev / s_nfev)
        verdict = "pass" if ok else f"FAIL ({i_status})"
        print(f"| {name} | {s_nfev} | {i_nfev} | {i_nfev / s_nfev:.3f} | {t_nfev} | {i_f:.2e} | "
              f"{s_hit} / {i_hit} / {t_hit} | {verdict} |")  # fmt: skip
    geometric_mean = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"\nbar: inertia f < {TARGET:g} with nfev <= {ALLOWANCE:g} x scipy on every row: "
          f"{'met' if all_pass else 'NOT met'}; geometric mean of inertia/scipy nfev: {geometric_mean:.3f}")
    return all_pass


def timing_table(rows, repeats: int, previous: PreviousVersion | None) -> tuple[bool, bool]:
    header = ["problem", "n", "scipy nit", "scipy ms/iter, numpy f", "scipy ms/iter", "inertia nit", "inertia ms/iter",
              "inertia/scipy"]  # fmt: skip
    if previous is not None:
        header += ["previous ms/iter", "previous/scipy", "iterates identical"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    fast, same = True, True
    for index, (name, f, g, f_t, x0) in enumerate(rows):
        old = previous.run(index) if previous is not None else None
        ours, theirs = time_inertia(f_t, x0, repeats), time_scipy(f, g, f_t, x0, repeats)
        ratio = ours["ms"] / theirs["ms"]
        fast &= ratio <= TIME_BAR or len(x0) > TIME_BAR_MAX_N
        cells = [name, len(x0), theirs["nit"], f"{theirs['numpy_ms']:.3f}", f"{theirs['ms']:.3f}", ours["nit"],
                 f"{ours['ms']:.3f}", f"{ratio:.2f}"]  # fmt: skip
        if old is not None:
            identical = all(old[key] == ours[key] for key in ("nit", "nfev", "fun", "iterates"))
            same &= identical
            cells += [f"{old['ms']:.3f}", f"{old['ms'] / theirs['ms']:.2f}", "yes" if identical else "NO"]
        print("| " + " | ".join(map(str, cells)) + " |")
    print(f"\nbar: inertia's time per iteration <= {TIME_BAR:g} x scipy's (same torch f) for n <= {TIME_BAR_MAX_N}: "
          f"{'met' if fast else 'NOT met'}")  # fmt: skip
    return fast, same


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    torch.set_default_dtype(torch.float64)
    if args.worker:
        return worker(args)
    rows = list(problems(args.dim, args.condition, tuple(args.seeds)))
    load = os.getloadavg()[0]
    print(f"load average at the start: {load:.2f} ({'quiet' if load < QUIET_LOAD else 'NOT quiet'}: "
          f"timings are for a load below {QUIET_LOAD}); torch threads: {torch.get_num_threads()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}\n")
    evaluations_ok = True if args.no_evaluations else evaluation_table(rows)
    print()
    previous = PreviousVersion(args.compare_with, argv) if args.compare_with is not None else None
    try:
        fast, same = timing_table(rows, args.repeats, previous)
    finally:
        if previous is not None:
            previous.close()
    if previous is not None:
        verdict = "identical" if same else "NOT identical"
        print(f"iterates (x_k, f_k), nit, nfev and final f against {args.compare_with}: {verdict}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if evaluations_ok and fast and same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
