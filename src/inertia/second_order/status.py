"""Why an iterative method stopped.

Every run of :class:`~inertia.second_order.LBFGS`, :class:`~inertia.second_order.Newton` and
:func:`inertia.minimize` ends with one of these codes and a sentence that says what happened.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """Stopping reason. The value is a short lowercase code, so ``status == "converged"`` works."""

    RUNNING = "running"
    CONVERGED = "converged"  # gradient infinity-norm <= tolerance
    SMALL_CHANGE = "small_change"  # change in f or x fell below tolerance_change
    MAX_ITER = "max_iter"
    MAX_EVAL = "max_eval"
    LINE_SEARCH_FAILED = "line_search_failed"
    NON_FINITE = "non_finite"
    NON_DESCENT = "non_descent"
    NO_PROGRESS = "no_progress"  # trust region rejected every step it tried
    SINGULAR = "singular"  # undamped Newton system could not be solved
    SADDLE = "saddle"  # gradient vanished where the Hessian has a negative eigenvalue
    CALLBACK = "callback"

    @property
    def success(self) -> bool:
        """True when the run ended at a point the method accepts as a solution."""
        return self in (Status.CONVERGED, Status.SMALL_CHANGE)

    def __str__(self) -> str:
        return self.value


#: Status codes after which a warning is worth raising: the run did not end where it wanted to.
FAILURES = frozenset(
    {
        Status.LINE_SEARCH_FAILED, Status.NON_FINITE, Status.NON_DESCENT, Status.NO_PROGRESS, Status.SINGULAR,
        Status.SADDLE,
    }
)

ON_FAILURE_CHOICES = ("warn", "raise", "ignore")


class OptimizationError(RuntimeError):
    """Raised by a second-order optimizer created with ``on_failure="raise"`` when a step fails."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
