"""The hyperparameter checks of LBFGS and Newton, for the constructor and for every param group.

Each takes a dict of hyperparameters, raises ValueError naming the first bad one and its value, and
returns them normalised (Python numbers, defaults resolved).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from inertia.checks import (
    STYLE_SENTENCE,
    argument_error,
    check_flag,
    check_non_negative,
    check_positive,
    is_number,
)

LINE_SEARCHES = ("strong_wolfe", None)
NEWTON_MODES = ("exact", "cg", "saddle-free")


def check_lbfgs_lr(value: Any) -> Any:
    """``lr`` of :class:`LBFGS`: a finite number > 0 (as a float), or a one-element floating-point tensor
    holding one, as torch.optim.LBFGS accepts it (returned as it is, so an in-place change applies)."""
    if not isinstance(value, torch.Tensor):
        return check_positive("lr", value, style=STYLE_SENTENCE)
    if value.numel() != 1 or not value.is_floating_point():
        raise argument_error("lr", value, "must be a positive number or a floating-point tensor of one element",
                             STYLE_SENTENCE)
    number = value.detach().item()
    if not (math.isfinite(number) and number > 0):
        raise argument_error("lr", value, "must hold a positive finite number", STYLE_SENTENCE)
    return value


def check_any_tolerance(name: str, value: Any) -> float:
    """A stopping tolerance of :class:`LBFGS`: any real number but NaN, as a float (``-inf`` or a
    negative value never stops on its test, ``0`` only on an exact zero), as torch.optim.LBFGS."""
    if not is_number(value) or math.isnan(value):
        raise argument_error(name, value, "must be a number (any float but NaN)", STYLE_SENTENCE)
    return float(value)


def check_lbfgs_hyperparameters(values: dict[str, Any], *, in_group: bool) -> dict[str, Any]:
    """Check and normalise the hyperparameters of :class:`LBFGS` (of the constructor, or of one param group).

    ``max_eval=None`` means the default only in the constructor; a group holds a number."""
    checked = dict(values)
    checked["lr"] = check_lbfgs_lr(values["lr"])
    for name in ("history_size", "max_iter", "max_ls"):
        checked[name] = check_positive(name, values[name], integer=True, style=STYLE_SENTENCE)
    checked["max_eval"] = check_positive(
        "max_eval", values["max_eval"], integer=True, allow_none=not in_group, style=STYLE_SENTENCE)
    for name in ("tolerance_grad", "tolerance_change"):
        checked[name] = check_any_tolerance(name, values[name])
    line_search, c1, c2 = values["line_search"], values["c1"], values["c2"]
    if line_search not in LINE_SEARCHES:
        raise ValueError(f"line_search must be 'strong_wolfe' or None, got {line_search!r}")
    if not (is_number(c1) and is_number(c2) and 0.0 < c1 < c2 < 1.0):
        raise ValueError(f"c1 and c2 must satisfy 0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")
    checked["c1"], checked["c2"] = float(c1), float(c2)
    if checked["max_eval"] is None:  # torch's default for fixed steps; room for one trial per iteration
        max_iter = checked["max_iter"]
        checked["max_eval"] = (
            max_iter * 5 // 4 if line_search is None else max(max_iter * 5 // 4, max_iter + 1)
        )
    return checked


def check_newton_hyperparameters(values: dict[str, Any], *, in_group: bool) -> dict[str, Any]:
    """Check and normalise the hyperparameters of :class:`Newton` (of the constructor, or of one param group).

    ``max_eval=None`` means the default only in the constructor; a group holds a number."""
    checked = dict(values)
    if not isinstance(values["mode"], str) or values["mode"] not in NEWTON_MODES:
        raise ValueError(f"mode must be one of {NEWTON_MODES}, got {values['mode']!r}")
    checked["lr"] = check_positive("lr", values["lr"], style=STYLE_SENTENCE)
    checked["damping"] = check_non_negative("damping", values["damping"], style=STYLE_SENTENCE)
    for name in ("max_iter", "max_exact_params"):
        checked[name] = check_positive(name, values[name], integer=True, style=STYLE_SENTENCE)
    checked["max_eval"] = check_positive(
        "max_eval", values["max_eval"], integer=True, allow_none=not in_group, style=STYLE_SENTENCE)
    for name in ("krylov_dim", "cg_max_iter"):
        checked[name] = check_positive(name, values[name], integer=True, allow_none=True, style=STYLE_SENTENCE)
    cg_rtol = values["cg_rtol"]
    if cg_rtol is not None and not (is_number(cg_rtol) and 0.0 < cg_rtol < 1.0):
        raise ValueError(f"cg_rtol must be a number in (0, 1) or None, got {cg_rtol!r}")
    checked["cg_rtol"] = None if cg_rtol is None else float(cg_rtol)
    for name in ("tolerance_grad", "tolerance_change"):
        checked[name] = check_non_negative(name, values[name], style=STYLE_SENTENCE)
    for name in ("trust_region", "check_curvature"):
        checked[name] = check_flag(name, values[name], style=STYLE_SENTENCE)
    if checked["max_eval"] is None:
        checked["max_eval"] = checked["max_iter"] * 10 + 10
    return checked
