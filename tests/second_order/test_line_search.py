"""Moré–Thuente line search: same trial steps as MINPACK-2 (via scipy's port), strong Wolfe steps."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize._dcsrch import DCSRCH

from inertia.second_order.line_search import strong_wolfe


def phi1(a: float, b: float = 2.0) -> tuple[float, float]:
    """Moré–Thuente (1994) test function 1: -a / (a^2 + b)."""
    return -a / (a * a + b), (a * a - b) / (a * a + b) ** 2


def phi2(a: float, b: float = 0.004) -> tuple[float, float]:
    """Test function 2: (a + b)^5 - 2 (a + b)^4."""
    return (a + b) ** 5 - 2 * (a + b) ** 4, 5 * (a + b) ** 4 - 8 * (a + b) ** 3


def phi3(a: float, beta: float = 0.01, ell: int = 39) -> tuple[float, float]:
    """Test function 3: a kinked function plus a fast oscillation."""
    if a <= 1 - beta:
        p, dp = 1 - a, -1.0
    elif a >= 1 + beta:
        p, dp = a - 1, 1.0
    else:
        p, dp = (a - 1) ** 2 / (2 * beta) + beta / 2, (a - 1) / beta
    w = ell * math.pi / 2
    return p + 2 * (1 - beta) / (ell * math.pi) * math.sin(w * a), dp + (1 - beta) * math.cos(w * a)


@pytest.mark.parametrize("phi, ftol, gtol", [(phi1, 1e-3, 0.1), (phi2, 0.1, 0.1), (phi3, 0.1, 0.1)])
@pytest.mark.parametrize("step0", [1e-3, 1e-1, 10.0, 1e3])
def test_trial_steps_match_minpack2(phi, ftol, gtol, step0):
    ours: list[float] = []

    def evaluate(t: float) -> tuple[float, float]:
        ours.append(t)
        return phi(t)

    f0, g0 = phi(0.0)
    result = strong_wolfe(evaluate, f0, g0, step0, ftol=ftol, gtol=gtol, max_evals=100)
    reference: list[float] = []

    def ref_phi(t: float) -> float:
        reference.append(t)
        return phi(t)[0]

    search = DCSRCH(ref_phi, lambda t: phi(t)[1], ftol, gtol, 0.1, 0.0, 1e10)
    _, _, _, task = search(step0, phi0=f0, derphi0=g0, maxiter=100)
    assert ours == reference
    assert result.task == task.decode().replace(".LT.", "<").replace(".GT.", ">")


@pytest.mark.parametrize("step0, nfev, step", [(1e-3, 6, 1.365), (1e-1, 3, 1.441), (10.0, 1, 10.0), (1e3, 4, 36.89)])
def test_paper_table_function_1(step0, nfev, step):
    """Moré & Thuente (1994), Table 1: evaluations and final step for phi1, ftol 1e-3, gtol 0.1."""
    result = strong_wolfe(phi1, *phi1(0.0), step0, ftol=1e-3, gtol=0.1)
    assert result.converged and result.accepted
    assert result.nfev == nfev
    assert result.step == pytest.approx(step, rel=1e-3)


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(0.1, 10.0), b=st.floats(-5.0, -0.1), c=st.floats(0.0, 2.0), step0=st.floats(1e-3, 1e3),
)
def test_strong_wolfe_conditions_hold(a, b, c, step0):
    """phi(t) = a t^2 / 2 + b t + c t^4 is bounded below with phi'(0) = b < 0: a step must exist."""

    def phi(t: float) -> tuple[float, float]:
        return 0.5 * a * t * t + b * t + c * t**4, a * t + b + 4 * c * t**3

    ftol, gtol = 1e-3, 0.9
    result = strong_wolfe(phi, 0.0, b, step0, ftol=ftol, gtol=gtol, max_evals=50)
    assert result.accepted
    f, g = phi(result.step)
    assert f == result.f and f <= ftol * result.step * b + 1e-12
    if result.converged:
        assert abs(g) <= gtol * abs(b)


def test_non_finite_values_shrink_the_step():
    def phi(t: float) -> tuple[float, float]:
        return (math.inf, math.nan) if t > 2.0 else ((t - 1.5) ** 2, 2 * (t - 1.5))

    result = strong_wolfe(phi, 2.25, -3.0, 10.0)
    assert result.accepted and result.converged
    assert result.step <= 2.0 and result.f < 2.25


def test_all_non_finite_is_not_accepted():
    result = strong_wolfe(lambda t: (math.nan, math.nan), 1.0, -1.0, 1.0, max_evals=5)
    assert not result.accepted and result.nfev == 5


def test_bad_initial_step_is_rejected():
    with pytest.raises(ValueError, match="initial step must be positive.*-1"):
        strong_wolfe(phi1, *phi1(0.0), -1.0)


def test_ascent_direction_is_an_error_task():
    result = strong_wolfe(phi1, 0.0, 1.0, 1.0)
    assert not result.accepted and result.nfev == 0 and result.task.startswith("ERROR")
