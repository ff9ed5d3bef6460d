"""Optimizer hyperparameters from the command line: ``KEY=VALUE[,KEY=VALUE...]``.

Values: ``true``/``false`` (bool), ``none``, integers, finite floats (``1e-4``), tuples with
``:`` (``betas=0.9:0.99``), anything else a string (``nonfinite=skip``). For example
``momentum=0.9,betas=0.9:0.99,weight_decay=1e-4``. :func:`check_hyper` builds the optimizer on a
dummy parameter, so an unknown key or a value the optimizer refuses is reported before a run starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch

from inertia.checks import is_flag, is_number
from inertia.lab.optimizer_setup import build_optimizer
from inertia.lab.run_config import number_or_text

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    return number_or_text(text)


def parse_value(key: str, text: str, flag: str = "--hyper") -> Any:
    """One value of a spec (see the module docstring); ValueError naming ``key`` and ``text`` if bad."""
    if not text.strip():
        raise ValueError(f"{flag}: empty value for key {key!r}")
    parts = [_scalar(part.strip()) for part in text.split(":")] if ":" in text else [_scalar(text.strip())]
    for part in parts:
        if isinstance(part, float) and not math.isfinite(part):
            raise ValueError(f"{flag}: {key}={text} is not a finite number")
        if len(parts) > 1 and not is_number(part):
            raise ValueError(f"{flag}: {key}={text}: a ':' tuple takes numbers only")
    return tuple(parts) if len(parts) > 1 else parts[0]


def format_value(value: Any) -> str:
    """The spec text of a parsed value (inverse of :func:`parse_value`)."""
    if isinstance(value, (tuple, list)):
        return ":".join(format_value(v) for v in value)
    if is_flag(value):
        return str(bool(value)).lower()
    return "none" if value is None else str(value)


def parse_hyper(text: str | None, flag: str = "--hyper") -> dict[str, Any]:
    """``"momentum=0.9,betas=0.9:0.99"`` -> ``{"momentum": 0.9, "betas": (0.9, 0.99)}``; None or "" -> {}."""
    hyper: dict[str, Any] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise ValueError(f"{flag}: expected KEY=VALUE, got {item.strip()!r}")
        if key in hyper:
            raise ValueError(f"{flag}: key {key!r} given twice")
        hyper[key] = parse_value(key, value, flag)
    if text and text.strip() and not hyper:
        raise ValueError(f"{flag}: expected KEY=VALUE[,KEY=VALUE...], got {text!r}")
    return hyper


def _build(optimizer: str, hyper: Mapping[str, Any]) -> torch.optim.Optimizer:
    """The optimizer as the lab builds it, on a dummy matrix and bias (Muon takes matrices only)."""
    dummy = [("weight", torch.zeros(2, 2, requires_grad=True)), ("bias", torch.zeros(2, requires_grad=True))]
    return build_optimizer(optimizer, dummy, **hyper)


def check_hyper(optimizer: str, hyper: Mapping[str, Any], flag: str = "hyper") -> None:
    """Raise ValueError naming the key and value if ``optimizer`` does not accept ``hyper``.

    The accepted keys are those of the optimizer's ``defaults`` (``lr`` excepted: it has its own
    setting). A value the optimizer refuses is reported with the optimizer's own message.
    """
    if not hyper:
        return
    if "lr" in hyper:
        raise ValueError(f"{flag}: lr={format_value(hyper['lr'])}: set the learning rate with --lr (RunConfig.lr)")
    accepted = sorted(k for k in _build(optimizer, {}).defaults if k != "lr")
    for key, value in hyper.items():
        if key not in accepted:
            raise ValueError(f"{flag}: unknown key {key!r} (value {format_value(value)}) for optimizer "
                             f"{optimizer!r}; accepted: {', '.join(accepted)}")
    try:
        _build(optimizer, hyper)
    except (TypeError, ValueError) as exc:
        culprit = _culprit(optimizer, hyper)
        spec = ",".join(f"{k}={format_value(v)}" for k, v in hyper.items() if culprit is None or k == culprit)
        reason = " ".join(str(exc).split())  # one line
        raise ValueError(f"{flag}: {spec} rejected by {optimizer}: {reason}") from None


def _culprit(optimizer: str, hyper: Mapping[str, Any]) -> str | None:
    """The one key whose removal lets the optimizer build, if there is exactly one."""
    found = []
    for key in hyper:
        try:
            _build(optimizer, {k: v for k, v in hyper.items() if k != key})
        except (TypeError, ValueError):
            continue
        found.append(key)
    return found[0] if len(found) == 1 else None
