"""A small text grammar for learning-rate schedules, parsed into :mod:`inertia.schedules` objects.

Grammar::

    spec    := term | "warmup" ":" N "+" term
    term    := name [ ":" args ]
    args    := arg ( "," arg )*
    arg     := key "=" number | number            (a bare number sets the first key)

Names and keys (first key first; the unit is the run's step: an optimizer step for problems, an
epoch for ``inertia train``):

    constant
    step       every, gamma           m(t) = gamma ** (t // every)
    exp        gamma                  m(t) = gamma ** t
    invtime    k                      m(t) = 1 / (1 + k t)          (alias: 1/t)
    cosine     total, final           half cosine from 1 to final over total steps
    warmup     steps                  m(t) = (t + 1) / steps, then constant (or the term after "+")
    plateau    factor, patience, threshold, cooldown, min
                                      decay by factor when the monitored loss stops improving

Examples: ``step:every=10,gamma=0.5``, ``exp:0.99``, ``cosine:total=100``, ``warmup:5+cosine``.
For ``cosine`` the ``total`` may be left out when the run length is known: it is then the run
length minus any warmup.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from inertia import schedules
from inertia.lab.run_config import ConfigError
from inertia.schedules import Schedule

# name -> (factory, ordered keys, integer keys)
_TERMS: dict[str, tuple[Callable[..., Schedule], tuple[str, ...], frozenset[str]]] = {
    "constant": (schedules.constant, (), frozenset()),
    "step": (schedules.step_decay, ("every", "gamma"), frozenset({"every"})),
    "exp": (schedules.exponential_decay, ("gamma",), frozenset()),
    "invtime": (schedules.inverse_time_decay, ("k",), frozenset()),
    "cosine": (schedules.cosine_decay, ("total", "final"), frozenset({"total"})),
    "warmup": (schedules.linear_warmup, ("steps",), frozenset({"steps"})),
    "plateau": (schedules.plateau, ("factor", "patience", "threshold", "cooldown", "min"),
                frozenset({"patience", "cooldown"})),
}
_ALIASES = {"1/t": "invtime", "exponential": "exp", "cos": "cosine", "const": "constant"}
_REQUIRED = {"step": ("every", "gamma"), "exp": ("gamma",), "invtime": ("k",), "warmup": ("steps",)}
_RENAMED = {"total": "total_steps", "min": "min_multiplier"}
SCHEDULE_NAMES = tuple(_TERMS)


def _error(spec: str, why: str) -> ConfigError:
    return ConfigError("schedule", f"{spec!r} is not a valid schedule spec: {why}")


def _number(spec: str, key: str, text: str, integer: bool) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise _error(spec, f"{key}={text!r} is not a number") from None
    if integer:
        if not value.is_integer():
            raise _error(spec, f"{key}={text!r} must be an integer")
        return int(value)
    if not math.isfinite(value):
        raise _error(spec, f"{key}={text!r} must be finite")
    return value


def parse_term(spec: str, term: str) -> tuple[str, dict[str, int | float]]:
    """Split one ``name:args`` term into the canonical name and its keyword arguments."""
    name, _, arg_text = term.strip().partition(":")
    name = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in _TERMS:
        raise _error(spec, f"unknown schedule {name!r} (choose from {', '.join(SCHEDULE_NAMES)})")
    _, keys, integer_keys = _TERMS[name]
    values: dict[str, int | float] = {}
    for position, arg in enumerate(a.strip() for a in arg_text.split(",") if a.strip()):
        key, equals, value = arg.partition("=")
        if not equals:
            if position > 0 or not keys:
                raise _error(spec, f"bare value {arg!r}: use key=value ({name} takes {', '.join(keys) or 'none'})")
            key, value = keys[0], arg
        key = key.strip()
        if key not in keys:
            raise _error(spec, f"{name} has no parameter {key!r} (it takes {', '.join(keys) or 'none'})")
        if key in values:
            raise _error(spec, f"{key} given twice")
        values[key] = _number(spec, key, value.strip(), key in integer_keys)
    return name, values


def _build(spec: str, name: str, values: dict[str, Any], total_steps: int | None) -> Schedule:
    factory = _TERMS[name][0]
    if name == "cosine" and "total" not in values:
        if total_steps is None or total_steps < 1:
            raise _error(spec, "cosine needs total=N here (the run length is unknown)")
        values = {**values, "total": total_steps}
    missing = [k for k in _REQUIRED.get(name, ()) if k not in values]
    if missing:
        raise _error(spec, f"{name} needs {', '.join(missing)}")
    try:
        return factory(**{_RENAMED.get(k, k): v for k, v in values.items()})
    except ValueError as exc:
        raise _error(spec, str(exc)) from None


def parse_schedule(spec: str | None, total_steps: int | None = None) -> Schedule:
    """Parse a schedule SPEC (see the module docstring) into an :mod:`inertia.schedules` schedule.

    ``total_steps`` (the run length) fills in a missing ``cosine`` total. None or an empty
    string means :func:`inertia.schedules.constant`. Raises :class:`~inertia.lab.run_config.ConfigError`
    (a ValueError, field ``schedule``) naming the spec and the fault.
    """
    if spec is None or not spec.strip():
        return schedules.constant()
    parts = spec.split("+")
    if len(parts) > 2:
        raise _error(spec, "at most one '+', as in warmup:N+REST")
    if len(parts) == 2:
        name, values = parse_term(spec, parts[0])
        if name != "warmup":
            raise _error(spec, "only warmup:N may come before '+'")
        if "steps" not in values:
            raise _error(spec, "warmup needs steps")
        rest_name, rest_values = parse_term(spec, parts[1])
        remaining = None if total_steps is None else total_steps - int(values["steps"])
        if remaining is not None and remaining < 1:
            raise _error(spec, f"warmup of {values['steps']} steps leaves nothing of a {total_steps}-step run")
        then = _build(spec, rest_name, rest_values, remaining)
        try:
            return schedules.linear_warmup(int(values["steps"]), then)
        except ValueError as exc:
            raise _error(spec, str(exc)) from None
    name, values = parse_term(spec, parts[0])
    return _build(spec, name, values, total_steps)


def takes_metric(schedule: Schedule) -> bool:
    """Whether the schedule must be fed the monitored loss (plateau, or warmup into plateau)."""
    return bool(getattr(schedule, "takes_metric", False))
