"""Error-input tables: a bad call, the exception it must raise, and a regex naming the argument.

Each door's test table is a list of :class:`ErrorCase`; the test runs ``case.call(...)``, checks the
exception type and message, then checks that nothing changed (state dicts equal before and after,
no file or directory created).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch


@dataclass(frozen=True)
class ErrorCase:
    """``call(*args)`` must raise ``error`` with a message matching ``match`` (which names the argument)."""

    id: str
    call: Callable[..., Any]
    error: type[Exception]
    match: str


def case_ids(cases: Iterable[ErrorCase]) -> list[str]:
    """Test ids of a table (they must be unique)."""
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    return ids


def expect_refused(case: ErrorCase, *args: Any) -> None:
    """Run the case and check the exception type and that the message names the argument."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the type is checked exactly below
        case.call(*args)
    assert type(raised.value) is case.error or isinstance(raised.value, case.error), (
        f"{case.id}: expected {case.error.__name__}, got {type(raised.value).__name__}: {raised.value}")
    assert raised.match(case.match), case.id


def same_state(a: Any, b: Any) -> bool:
    """Deep equality of state dicts: tensors bit for bit (NaN equal to NaN), containers by content."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and bool(torch.equal(a, b) or torch.isnan(a).eq(torch.isnan(b)).all()
                                                 and torch.equal(a.nan_to_num(), b.nan_to_num())))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_state, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def listing(root: str | os.PathLike) -> list[str]:
    """Every file and directory under ``root``, relative, sorted."""
    base = Path(root)
    return sorted(str(path.relative_to(base)) for path in base.rglob("*"))
