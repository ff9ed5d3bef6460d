"""Argument and saved-state checks shared by the schedules of :mod:`inertia.schedules`."""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from inertia.optim.validation import is_number

Schedule = Callable[[int], float]


def _check_int(name: str, value: Any, minimum: int) -> int:
    if not is_number(value, integer=True) or value < minimum:  # numpy ints too
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_real(name: str, value: Any, low: float, high: float, low_open: bool = False,
                high_open: bool = False) -> float:
    ok = is_number(value) and math.isfinite(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return float(value)


def _check_schedule(name: str, value: Any) -> Schedule:
    if not callable(value):
        raise ValueError(f"{name} must be a callable step -> multiplier, got {value!r}")
    return value


def _check_step(step: Any) -> int:
    try:
        step = operator.index(step)
    except TypeError:
        raise ValueError(f"step must be an integer >= 0, got {step!r}") from None
    if step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    return step


def _state_of(schedule: Schedule) -> Any:
    return schedule.state_dict() if hasattr(schedule, "state_dict") else None


def _load_state(schedule: Schedule, state: Any, where: str) -> None:
    """Load ``state`` into ``schedule``, all or nothing; ValueError (naming ``where``) if it does not fit."""
    current = _state_of(schedule)
    if state is None and current is None:
        return
    if state is None or not hasattr(schedule, "load_state_dict"):
        saved = "no saved state" if state is None else f"a saved {type(state).__name__}"
        raise ValueError(f"{where}: {saved} does not fit schedule {type(schedule).__name__}; "
                         "load a state saved from the same schedule")
    backup = copy.deepcopy(current)
    try:
        schedule.load_state_dict(state)
    except Exception as exc:
        if backup is not None:
            schedule.load_state_dict(backup)
        raise (ValueError(f"{where}: {exc}") if isinstance(exc, ValueError) else exc) from exc


def _check_state_keys(where: str, state: Any, keys: set[str]) -> None:
    if not isinstance(state, Mapping) or set(state) != keys:
        found = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"{where}: expected a state with keys {sorted(keys)}, got {found}")


def _takes_metric(schedule: Schedule) -> bool:
    return bool(getattr(schedule, "takes_metric", False))
