"""Moré–Thuente line search: a step satisfying the strong Wolfe conditions.

For ``phi(t) = f(x + t d)`` with ``phi'(0) < 0`` it finds ``t > 0`` with

    phi(t) <= phi(0) + ftol * t * phi'(0)          (sufficient decrease)
    |phi'(t)| <= gtol * |phi'(0)|                   (curvature)

by safeguarded cubic/quadratic interpolation on an interval that is kept to contain such a step.
This is a port of MINPACK-2's ``dcsrch``/``dcstep``, the search used by L-BFGS-B.

Reference: J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed sufficient
decrease", ACM Trans. Math. Software 20(3), 1994, 286-307.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

_P5, _P66, _XTRAPL, _XTRAPU = 0.5, 0.66, 1.1, 4.0


def _cubic_gamma(theta: float, da: float, db: float, clamp: bool = False) -> float:
    s = max(abs(theta), abs(da), abs(db))
    radicand = (theta / s) ** 2 - (da / s) * (db / s)
    return s * math.sqrt(max(0.0, radicand) if clamp else radicand)


def _cubic_minimizer(theta: float, origin: float, d_origin: float, other: float, d_other: float) -> float:
    """The minimizer of the cubic interpolating the two steps ``origin`` and ``other`` (derivatives
    ``d_origin``, ``d_other``; ``theta`` from their function values), by ``dcstep``'s formula."""
    gamma = _cubic_gamma(theta, d_origin, d_other)
    if other < origin:
        gamma = -gamma
    p = (gamma - d_origin) + theta
    q = ((gamma - d_origin) + gamma) + d_other
    return origin + (p / q) * (other - origin)


def cstep(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """One safeguarded step of the interval update (MINPACK-2 ``dcstep``).

    ``(stx, fx, dx)`` is the best step so far, ``(sty, fy, dy)`` the other interval end and
    ``(stp, fp, dp)`` the trial. Returns the updated ``stx, fx, dx, sty, fy, dy, stp, brackt``.
    """
    sgnd = dp * math.copysign(1.0, dx)
    if fp > fx:  # case 1: higher function value, the minimum is bracketed
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        stpc = _cubic_minimizer(theta, stx, dx, stp, dp)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if abs(stpc - stx) < abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        brackt = True
    elif sgnd < 0.0:  # case 2: lower value, derivatives of opposite sign
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        stpc = _cubic_minimizer(theta, stp, dp, stx, dx)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
        brackt = True
    elif abs(dp) < abs(dx):  # case 3: lower value, same sign, derivative magnitude decreases
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        gamma = _cubic_gamma(theta, dx, dp, clamp=True)
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        if r < 0.0 and gamma != 0.0:
            stpc = stp + r * (stx - stp)
        else:
            stpc = stpmax if stp > stx else stpmin
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            stpf = stpc if abs(stpc - stp) < abs(stpq - stp) else stpq
            bound = stp + _P66 * (sty - stp)
            stpf = min(bound, stpf) if stp > stx else max(bound, stpf)
        else:
            stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
            stpf = max(stpmin, min(stpmax, stpf))
    else:  # case 4: lower value, same sign, derivative magnitude does not decrease
        if brackt:
            theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
            stpf = _cubic_minimizer(theta, stp, dp, sty, dy)
        else:
            stpf = stpmax if stp > stx else stpmin
    if fp > fx:
        sty, fy, dy = stp, fp, dp
    else:
        if sgnd < 0.0:
            sty, fy, dy = stx, fx, dx
        stx, fx, dx = stp, fp, dp
    return stx, fx, dx, sty, fy, dy, stpf, brackt


def _start_error(stp: float, g: float, search: MoreThuente) -> str | None:
    """``dcsrch``'s checks of a search's start, in its order: the error task of the first that fails."""
    if stp < search.stpmin:
        return "ERROR: STP < STPMIN"
    if stp > search.stpmax:
        return "ERROR: STP > STPMAX"
    if not g < 0.0:
        return "ERROR: INITIAL DERIVATIVE >= 0"
    if search.ftol < 0.0 or search.gtol < 0.0 or search.xtol < 0.0:
        return "ERROR: NEGATIVE TOLERANCE"
    if search.stpmin < 0.0 or search.stpmax < search.stpmin:
        return "ERROR: BAD STEP BOUNDS"
    return None


class MoreThuente:
    """State machine of MINPACK-2 ``dcsrch``. Call :meth:`start`, then :meth:`iterate` per evaluation.

    Both return ``(stp, task)``; ``task == "FG"`` asks for ``phi`` and ``phi'`` at ``stp``.
    Other tasks start with ``"CONVERGENCE"``, ``"WARNING"`` or ``"ERROR"``.
    """

    def __init__(self, ftol: float, gtol: float, xtol: float, stpmin: float, stpmax: float) -> None:
        self.ftol, self.gtol, self.xtol = ftol, gtol, xtol
        self.stpmin, self.stpmax = stpmin, stpmax

    def start(self, f: float, g: float, stp: float) -> tuple[float, str]:
        """Begin a search from ``phi(0) = f``, ``phi'(0) = g`` with first trial ``stp``."""
        error = _start_error(stp, g, self)
        if error is not None:
            return stp, error
        self.brackt, self.stage = False, 1
        self.finit, self.ginit = f, g
        self.gtest = self.ftol * g
        self.width = self.stpmax - self.stpmin
        self.width1 = self.width / _P5
        self.stx, self.fx, self.gx = 0.0, f, g
        self.sty, self.fy, self.gy = 0.0, f, g
        self.stmin, self.stmax = 0.0, stp + _XTRAPU * stp
        return stp, "FG"

    def _task_after(self, stp: float, f: float, g: float, ftest: float) -> str:
        task = "FG"
        if self.brackt and (stp <= self.stmin or stp >= self.stmax):
            task = "WARNING: ROUNDING ERRORS PREVENT PROGRESS"
        if self.brackt and self.stmax - self.stmin <= self.xtol * self.stmax:
            task = "WARNING: XTOL TEST SATISFIED"
        if stp == self.stpmax and f <= ftest and g <= self.gtest:
            task = "WARNING: STP = STPMAX"
        if stp == self.stpmin and (f > ftest or g >= self.gtest):
            task = "WARNING: STP = STPMIN"
        if f <= ftest and abs(g) <= self.gtol * -self.ginit:
            task = "CONVERGENCE"
        return task

    def iterate(self, stp: float, f: float, g: float) -> tuple[float, str]:
        """Digest ``phi(stp) = f``, ``phi'(stp) = g``; return the next trial step and task."""
        ftest = self.finit + stp * self.gtest
        if self.stage == 1 and f <= ftest and g >= 0.0:
            self.stage = 2
        task = self._task_after(stp, f, g, ftest)
        if task != "FG":
            return stp, task
        if self.stage == 1 and self.fx >= f > ftest:
            # Use the modified function psi(t) = phi(t) - gtest * t until psi has a minimizer.
            gt = self.gtest
            stx, fxm, gxm, sty, fym, gym, stp, self.brackt = cstep(
                self.stx, self.fx - self.stx * gt, self.gx - gt, self.sty, self.fy - self.sty * gt,
                self.gy - gt, stp, f - stp * gt, g - gt, self.brackt, self.stmin, self.stmax,
            )  # fmt: skip
            self.stx, self.sty = stx, sty
            self.fx, self.fy = fxm + stx * gt, fym + sty * gt
            self.gx, self.gy = gxm + gt, gym + gt
        else:
            (self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp, self.brackt) = cstep(
                self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp, f, g,
                self.brackt, self.stmin, self.stmax,
            )  # fmt: skip
        if self.brackt:
            if abs(self.sty - self.stx) >= _P66 * self.width1:
                stp = self.stx + _P5 * (self.sty - self.stx)
            self.width1 = self.width
            self.width = abs(self.sty - self.stx)
            self.stmin, self.stmax = min(self.stx, self.sty), max(self.stx, self.sty)
        else:
            self.stmin = stp + _XTRAPL * (stp - self.stx)
            self.stmax = stp + _XTRAPU * (stp - self.stx)
        stp = min(max(stp, self.stpmin), self.stpmax)
        if self.brackt and (stp <= self.stmin or stp >= self.stmax or self.stmax - self.stmin <= self.xtol * self.stmax):
            stp = self.stx
        return stp, "FG"


@dataclass
class LineSearchResult:
    """Outcome of :func:`strong_wolfe`.

    ``step`` is the last step evaluated (so the caller's last evaluation belongs to it); ``accepted``
    says whether the caller may move there; ``task`` is the search's final state.
    """

    step: float
    f: float
    gtd: float
    nfev: int
    accepted: bool
    converged: bool
    task: str


def strong_wolfe(
    evaluate: Callable[[float], tuple[float, float]],
    f0: float,
    gtd0: float,
    step: float,
    *,
    ftol: float = 1e-3,
    gtol: float = 0.9,
    xtol: float = 0.1,
    step_min: float = 0.0,
    step_max: float = 1e10,
    max_evals: int = 20,
) -> LineSearchResult:
    """Search along a descent direction with Moré–Thuente until the strong Wolfe conditions hold.

    ``evaluate(t)`` returns ``(phi(t), phi'(t))``. Defaults are L-BFGS-B's (ftol 1e-3, gtol 0.9,
    xtol 0.1, at most 20 evaluations). A non-finite trial value shrinks the step towards the best
    step so far and caps later trials there. The step is accepted when the conditions hold, or
    when the search ends with a warning at a point of lower value than ``f0``.
    """
    if not math.isfinite(step) or step <= 0.0:
        raise ValueError(f"line search: initial step must be positive and finite, got {step}")
    search = MoreThuente(ftol, gtol, xtol, step_min, step_max)
    stp, task = search.start(f0, gtd0, step)
    f, gtd, nfev, evaluated = f0, gtd0, 0, 0.0
    while task == "FG":
        if nfev >= max_evals:
            task = f"WARNING: {max_evals} EVALUATIONS WITHOUT A STRONG WOLFE STEP"
            break
        f, gtd = evaluate(stp)
        nfev, evaluated = nfev + 1, stp
        if not (math.isfinite(f) and math.isfinite(gtd)):
            search.stpmax = search.stx + _P5 * (stp - search.stx)
            stp = search.stpmax
            task = "FG" if stp > search.stx else "WARNING: NON-FINITE VALUES AT EVERY TRIAL STEP"
            continue
        stp, task = search.iterate(stp, f, gtd)
    finite = math.isfinite(f) and math.isfinite(gtd)
    converged = task == "CONVERGENCE"
    accepted = nfev > 0 and finite and (converged or (task.startswith("WARNING") and f < f0))
    return LineSearchResult(evaluated, f, gtd, nfev, accepted, converged, task)
