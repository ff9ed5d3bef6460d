"""Argument checks for the whole package: one rule per kind of argument.

Every check takes the argument's ``name`` and ``value``, returns the value normalised to a Python
type, and otherwise raises an error that names the argument, the value and the rule it breaks. The
wording is a template with the fields ``name``, ``value``, ``rule`` and ``type`` (the value's type
name); :data:`STYLE_INVALID` is the default, ``"Invalid lr: -1.0 (must be a finite number >= 0)"``.
Modules whose messages are already part of their documented behaviour pass :data:`STYLE_FIELD`
(``"lr: must be ..., got -1.0"``) or :data:`STYLE_SENTENCE` (``"lr must be ..., got -1.0"``); the
rule, and so what is accepted, is the same whichever wording is chosen.

This is a leaf module: it imports only the standard library, numpy and torch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
from torch import Tensor

__all__ = [
    "SEED_LIMIT", "STYLE_FIELD", "STYLE_INVALID", "STYLE_SENTENCE", "argument_error", "check_callable",
    "check_choice", "check_finite_at_least", "check_flag", "check_int", "check_non_negative", "check_positive",
    "check_real", "check_seed", "check_unit_interval", "is_flag", "is_number",
]

#: ``Invalid lr: -1.0 (must be a finite number >= 0)``: the default wording.
STYLE_INVALID = "Invalid {name}: {value!r} ({rule})"
#: ``lr: must be a finite number >= 0, got -1.0``: the wording of the diagnostics and the lab.
STYLE_FIELD = "{name}: {rule}, got {value!r}"
#: ``lr must be a finite number >= 0, got -1.0``: the wording of the schedules, problems and second-order methods.
STYLE_SENTENCE = "{name} {rule}, got {value!r}"
#: Seeds feed ``torch.manual_seed`` and numpy's ``SeedSequence``: integers in ``[0, 2**63)``.
SEED_LIMIT = 2**63

Choice = TypeVar("Choice")
TENSOR_HINT = "; a Tensor is not supported, pass a float"


def argument_error(name: str, value: Any, rule: str, style: str = STYLE_INVALID,
                   error: type[Exception] = ValueError) -> Exception:
    """The error (not raised) saying that argument ``name`` with ``value`` breaks ``rule``, worded by ``style``."""
    return error(style.format(name=name, value=value, rule=rule, type=type(value).__name__))


def is_number(value: Any, *, integer: bool = False) -> bool:
    """A real number, an integral one when ``integer`` (Python or numpy scalar), never a bool."""
    return isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)


def is_flag(value: Any) -> bool:
    """A real boolean: ``True``/``False`` or a numpy bool (never the ints 0 and 1)."""
    return isinstance(value, (bool, np.bool_))


def _int_rule(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"must be an integer in [{low}, {high}]"
    if low is not None:
        return f"must be an integer >= {low}"
    return "must be an integer" if high is None else f"must be an integer <= {high}"


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None,
              style: str = STYLE_INVALID) -> int:
    """An integer (Python or numpy, not a bool) in ``[low, high]`` (either bound optional), as an ``int``."""
    if not is_number(value, integer=True) or (low is not None and value < low) or (high is not None and value > high):
        raise argument_error(name, value, _int_rule(low, high), style)
    return int(value)


def _real_rule(value: Any, above: float | None, at_least: float | None, below: float | None,
               at_most: float | None, finite: bool) -> str:
    bounds = [f"{sign} {bound:g}" for sign, bound in ((">", above), (">=", at_least), ("<", below), ("<=", at_most))
              if bound is not None]
    low, high = (above, at_least), (below, at_most)
    if len(bounds) == 2 and any(bound is not None for bound in low) and any(bound is not None for bound in high):
        opening, lower = ("(", above) if above is not None else ("[", at_least)
        closing, upper = (")", below) if below is not None else ("]", at_most)
        bounds = [f"in {opening}{lower:g}, {upper:g}{closing}"]
    rule = " ".join(["must be", "a finite number" if finite else "a number", " and ".join(bounds)]).rstrip()
    return rule + (TENSOR_HINT if isinstance(value, Tensor) else "")


def check_real(name: str, value: Any, *, above: float | None = None, at_least: float | None = None,
               below: float | None = None, at_most: float | None = None, finite: bool = True,
               style: str = STYLE_INVALID) -> float:
    """A real number (not a bool, a string or a tensor; never NaN) within the given bounds, as a ``float``.

    ``finite=False`` lets ``inf`` and ``-inf`` through (the bounds still apply)."""
    ok = is_number(value) and not math.isnan(value) and (not finite or math.isfinite(value))
    ok = ok and (above is None or value > above) and (at_least is None or value >= at_least)
    ok = ok and (below is None or value < below) and (at_most is None or value <= at_most)
    if not ok:
        raise argument_error(name, value, _real_rule(value, above, at_least, below, at_most, finite), style)
    return float(value)


def check_finite_at_least(name: str, value: Any, low: float = 0.0, *, style: str = STYLE_INVALID) -> float:
    """A finite number ``>= low``, as a ``float``."""
    return check_real(name, value, at_least=low, style=style)


def check_positive(name: str, value: Any, *, integer: bool = False, allow_none: bool = False,
                   style: str = STYLE_INVALID) -> Any:
    """A finite number ``> 0`` as a ``float``, or with ``integer`` an integer ``>= 1`` as an ``int``.

    With ``allow_none``, ``None`` is returned as it is."""
    if value is None and allow_none:
        return None
    if integer:
        if not is_number(value, integer=True) or value < 1:
            raise argument_error(name, value, "must be a positive integer", style)
        return int(value)
    if not is_number(value) or not math.isfinite(value) or not value > 0:
        raise argument_error(name, value, "must be a positive number", style)
    return float(value)


def check_non_negative(name: str, value: Any, *, integer: bool = False, style: str = STYLE_INVALID) -> Any:
    """A finite number ``>= 0`` as a ``float``, or with ``integer`` an integer ``>= 0`` as an ``int``."""
    if integer:
        if not is_number(value, integer=True) or value < 0:
            raise argument_error(name, value, "must be a non-negative integer", style)
        return int(value)
    if not is_number(value) or not value >= 0:
        raise argument_error(name, value, "must be a non-negative number", style)
    if not math.isfinite(value):
        raise argument_error(name, value, "must be finite", style)
    return float(value)


def check_unit_interval(name: str, value: Any, *, closed_right: bool, style: str = STYLE_INVALID) -> float:
    """A probability-like number in ``[0, 1)``, or with ``closed_right`` in ``[0, 1]``, as a ``float``."""
    ok = is_number(value) and 0.0 <= value and (value <= 1.0 if closed_right else value < 1.0)
    if not ok:
        raise argument_error(name, value, f"must be in {'[0, 1]' if closed_right else '[0, 1)'}", style)
    return float(value)


def check_flag(name: str, value: Any, *, style: str = STYLE_INVALID) -> bool:
    """A real boolean (see :func:`is_flag`), as a ``bool``."""
    if not is_flag(value):
        raise argument_error(name, value, "must be True or False", style)
    return bool(value)


def check_choice(name: str, value: Choice, choices: Iterable[Any], *, style: str = STYLE_INVALID) -> Choice:
    """One of ``choices`` (compared with ``==``); the error lists them."""
    options = tuple(choices)
    if value not in options:
        raise argument_error(name, value, f"must be one of {', '.join(map(repr, options))}", style)
    return value


def check_callable(name: str, value: Any, what: str = "callable", *, style: str = STYLE_INVALID,
                   error: type[Exception] = TypeError) -> Callable[..., Any]:
    """A callable; else ``error`` (TypeError unless told) saying the argument must be ``what``."""
    if not callable(value):
        raise argument_error(name, value, f"must be {what}", style, error)
    return value


def check_seed(name: str, value: Any, *, limit: int = SEED_LIMIT, style: str = STYLE_INVALID) -> int:
    """A seed: an integer (not a bool) in ``[0, limit)``, ``limit`` a power of two (2**63 unless told)."""
    if not is_number(value, integer=True) or not 0 <= value < limit:
        raise argument_error(name, value, f"must be an integer in [0, 2**{limit.bit_length() - 1})", style)
    return int(value)
