"""inertia's classes against torch's own optimizer test tables (``optim_db``, see ``torch_db_cases``).

1. Every configuration torch tests a class under, on inertia's reference path in float64: the
   parameters after 5 steps equal torch.optim's for-loop path's bit for bit.
2. The same configurations on inertia's fused path in float32: within float32 rounding of torch
   (bit for bit where the fused path falls back to the reference path, with a warning); and, per
   class, a step after ``zero_grad()`` without backward (a no-op in torch.optim).
3. Every error input: the same exception (or warning) type, with a message naming the argument.

Each case that does not pass is listed in ``KNOWN_DIFFERENCES`` with the reason, and runs as a
strict xfail: when inertia catches up, the case passes, the xfail fails, and the entry must go.
"""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any

import pytest
import torch
from torch_db_cases import (
    CONSTRUCTION_ERROR,
    ERROR_CASES,
    FUSED_CASES,
    INFO_BY_NAME,
    NO_BACKWARD_CASES,
    REFERENCE_CASES,
    ConfigCase,
    ErrorInputCase,
    counts,
    error_argument_names,
    error_params,
    format_counts,
    run_steps,
    takes_impl,
    torch_forloop_kwargs,
)

import inertia
from inertia.kernels.rule_info import FusedFallbackWarning

LBFGS_TRAJECTORY = ("inertia.LBFGS is its own L-BFGS (a Moré–Thuente strong Wolfe line search by default, "
                    "its own first step): it converges, but not along torch.optim.LBFGS's path")
FUSED_ZERO_GRAD = ("the fused path's zero_grad() zeroes the flat gradient buffer in place instead of setting "
                   ".grad to None (documented), so a step without backward still steps on zero gradients")

#: Every case that does not pass, with why; each runs as a strict xfail, so this table can only shrink.
#: Keys: (class name, "reference: <desc>" | "fused: <desc>" | "error: <desc>"), desc as torch's table has it.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    # Part 1: LBFGS follows another trajectory (with line_search=None, history_size=100 it is torch's).
    ("LBFGS", "reference: default"): LBFGS_TRAJECTORY,
    ("LBFGS", "reference: non-default lr"): LBFGS_TRAJECTORY,
    ("LBFGS", "reference: Tensor lr"): LBFGS_TRAJECTORY,
    ("LBFGS", "reference: tolerance_grad"): LBFGS_TRAJECTORY,
    ("LBFGS", "reference: strong_wolfe"): LBFGS_TRAJECTORY,
    # Part 2: a step after zero_grad() without backward, where the class's fused path is taken.
    ("ASGD", "fused: nonzero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("Adadelta", "fused: nonzero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("Adagrad", "fused: nonzero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("Adam", "fused: nonzero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("AdamW", "fused: nonzero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("Adamax", "fused: nonzero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("NAdam", "fused: weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("RAdam", "fused: nonzero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("RMSprop", "fused: nonzero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
    ("Rprop", "fused: default, a step without backward"): FUSED_ZERO_GRAD,
    ("SGD", "fused: non-zero weight_decay, a step without backward"): FUSED_ZERO_GRAD,
}


def base_class_differences() -> dict[tuple[str, str], str]:
    """Differences of the shared base classes, so of every class in torch's table: one entry per class."""
    found = {}
    for name in INFO_BY_NAME:
        # torch warns (UserWarning) and steps a duplicate twice; inertia refuses it, naming params.
        found[name, "error: a param group cannot have duplicate parameters"] = (
            "a duplicate parameter is refused with ValueError naming params (torch only warns)")
    return found


KNOWN_DIFFERENCES.update(base_class_differences())
# The "& differentiable" configurations run in test_torch_db_differentiable (on non-leaf params).


def params_of(cases: list) -> list:
    """pytest params for ``cases``, the known differences marked strict xfail with their reason."""
    result = []
    for case in cases:
        reason = KNOWN_DIFFERENCES.get(case.key)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        result.append(pytest.param(case, id=f"{case.name}-{case.key[1]}", marks=marks))
    return result


def assert_same(got: list[torch.Tensor], want: list[torch.Tensor], rtol: float = 0.0, atol: float = 0.0) -> None:
    """Each parameter of ``got`` is close to (by default: equal to) the same one of ``want``."""
    for index, (ours, theirs) in enumerate(zip(got, want, strict=True)):
        torch.testing.assert_close(ours, theirs, rtol=rtol, atol=atol, msg=lambda m, i=index: f"param {i}: {m}")


@pytest.mark.parametrize("case", params_of(REFERENCE_CASES))
def test_reference_path_matches_torch_forloop(case: ConfigCase) -> None:
    if case.flag == "differentiable":
        pytest.skip("run on non-leaf params by test_torch_db_differentiable")
    kwargs = {**case.kwargs, "impl": "reference"} if takes_impl(case.name) else case.kwargs
    ours = run_steps(getattr(inertia, case.name), kwargs, torch.float64)
    theirs = run_steps(getattr(torch.optim, case.name), torch_forloop_kwargs(case), torch.float64)
    assert_same(ours, theirs)


@pytest.mark.parametrize("case", params_of(FUSED_CASES))
def test_fused_path_is_close_to_torch(case: ConfigCase) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FusedFallbackWarning)
        ours = run_steps(getattr(inertia, case.name), {**case.kwargs, "impl": "fused"}, torch.float32, no_backward=None)
    fell_back = any(issubclass(w.category, FusedFallbackWarning) for w in caught)
    torch_kwargs = case.kwargs if case.flag == "fused" else torch_forloop_kwargs(case)
    theirs = run_steps(getattr(torch.optim, case.name), torch_kwargs, torch.float32, no_backward=None)
    if fell_back and case.flag != "fused":
        assert_same(ours, theirs)
    else:
        assert_same(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", params_of(NO_BACKWARD_CASES))
def test_fused_step_without_backward_is_a_no_op(case: ConfigCase) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FusedFallbackWarning)
        ours = run_steps(getattr(inertia, case.name), {**case.kwargs, "impl": "fused"}, torch.float32)
    theirs = run_steps(getattr(torch.optim, case.name), torch_forloop_kwargs(case), torch.float32)
    assert_same(ours, theirs, rtol=1e-5, atol=1e-6)


def provoke(cls: type, case: ErrorInputCase) -> BaseException | Warning | None:
    """What ``cls`` raises (or, for a warning case, warns) on the error input; None if nothing."""
    error_input = case.error_input
    kwargs = copy.deepcopy(error_input.optimizer_error_input.kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            optimizer = cls(error_params(case), **kwargs)
            if error_input.error_on != CONSTRUCTION_ERROR:
                step(optimizer, case.name)
        except Exception as exc:  # noqa: BLE001  (any exception is the result under test)
            return exc
    warned = [w.message for w in caught if isinstance(w.message, error_input.error_type)]
    return warned[0] if warned else None


def step(optimizer: Any, name: str) -> None:
    if INFO_BY_NAME[name].step_requires_closure:
        optimizer.step(lambda: sum(p.sum() for group in optimizer.param_groups for p in group["params"]))
    else:
        optimizer.step()


@pytest.mark.parametrize("case", params_of(ERROR_CASES))
def test_error_input_is_refused_like_torch(case: ErrorInputCase) -> None:
    error_input = case.error_input
    theirs = provoke(getattr(torch.optim, case.name), case)
    assert isinstance(theirs, error_input.error_type) and re.search(error_input.error_regex, str(theirs)), theirs
    ours = provoke(getattr(inertia, case.name), case)
    assert isinstance(ours, error_input.error_type), f"expected {error_input.error_type.__name__}, got {ours!r}"
    names = error_argument_names(case)
    assert any(re.search(rf"\b{re.escape(name)}\b", str(ours)) for name in names), (names, str(ours))


def test_known_differences_name_existing_cases() -> None:
    keys = {case.key for case in REFERENCE_CASES + FUSED_CASES + NO_BACKWARD_CASES + ERROR_CASES}
    names = set(INFO_BY_NAME)
    stale = [key for key in KNOWN_DIFFERENCES if key[0] in names and key not in keys]
    assert not stale


def test_counts_cover_every_case() -> None:
    rows = counts(KNOWN_DIFFERENCES)
    print("\n" + "\n".join(format_counts(rows)))
    assert sum(row[1] for row in rows) == len(REFERENCE_CASES) + len(FUSED_CASES) + len(NO_BACKWARD_CASES)
    assert sum(row[4] for row in rows) == len(ERROR_CASES)


if __name__ == "__main__":
    print("\n".join(format_counts(counts(KNOWN_DIFFERENCES))))
    for key, reason in sorted(KNOWN_DIFFERENCES.items()):
        print(f"{key}: {reason}")
