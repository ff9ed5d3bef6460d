"""A trial: Adamax's update written once per element and looped by a generic numba kernel, against the
hand-written loop in inertia.optim.adamax, on 40M float32 elements (one thread; medians of 15 steps).

Prints whether both give the same bits and the ratio of their times. Run: python benchmarks/elementwise_trial.py
"""
import time

import numpy as np
from numba import njit

import inertia.optim.adamax  # noqa: F401  (the module whose kernel sources are compiled)
from inertia.kernels.jit import compiled


@njit(error_model="numpy", inline="always")
def adamax_element(p, g, m, u, omb1, beta2, eps, wd, clr, sign, use_wd):
    gi = g * sign
    gi = gi + wd * p if use_wd else gi
    mi = m + omb1 * (gi - m)
    ui = np.maximum(u * beta2, np.abs(gi) + eps)
    return p - clr * (mi / ui), mi, ui

@njit(error_model="numpy", nogil=True)
def two_state_loop(element, p, g, a, b, scalars):
    for i in range(p.size):
        p[i], a[i], b[i] = element(p[i], g[i], a[i], b[i], *scalars)

hand = compiled("inertia.optim.adamax", "adamax_step", "numba")
n = 40_000_000
rng = np.random.default_rng(0)
base = {k: rng.standard_normal(n).astype(np.float32) for k in ("p", "g")}
base["m"] = np.zeros(n, np.float32)
base["u"] = np.zeros(n, np.float32)
c = np.float32
s = (c(0.1), c(0.999), c(1e-8), c(0.0), c(0.01), c(1.0), False)
A = {k: v.copy() for k, v in base.items()}
B = {k: v.copy() for k, v in base.items()}
hand(A["p"], A["g"], A["m"], A["u"], *s)
two_state_loop(adamax_element, B["p"], B["g"], B["m"], B["u"], s)
print("same result:", all(np.array_equal(A[k], B[k]) for k in A))
times = {"hand-written": [], "generated": []}
for _ in range(15):
    start = time.perf_counter()
    hand(A["p"], A["g"], A["m"], A["u"], *s)
    times["hand-written"].append(time.perf_counter() - start)
    start = time.perf_counter()
    two_state_loop(adamax_element, B["p"], B["g"], B["m"], B["u"], s)
    times["generated"].append(time.perf_counter() - start)
med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
print({k: f"{v:.2f} ms" for k, v in med.items()}, f"generated/hand = {med['generated']/med['hand-written']:.3f}")
