"""Error-input table of ``inertia.minimize``: each bad argument refused with its name, before any work,
leaving ``x0`` as it was and writing nothing."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from error_cases import ErrorCase, case_ids, expect_refused, listing, same_state

from inertia.minimize import minimize

E = ErrorCase


def bowl(x: torch.Tensor) -> torch.Tensor:
    return ((x - 1.0) ** 2).sum()


def _x0_case(name: str, x0, pattern: str, error: type[Exception] = ValueError) -> tuple[object, ErrorCase]:
    return x0, E(f"x0 {name}", lambda x: minimize(bowl, x), error, pattern)


def _arg_cases(argument: str, values: list, pattern: str, method: str = "lbfgs") -> list[tuple[object, ErrorCase]]:
    """``minimize(bowl, zeros(3), method, argument=value)`` refused; ``pattern`` gets the value's repr."""
    cases = []
    for value in values:
        shown = pattern.format(value=_escape(repr(value)))
        cases.append((np.zeros(3), E(f"{method} {argument}={value!r}",
                                     lambda x, v=value: minimize(bowl, x, method, **{argument: v}), ValueError, shown)))
    return cases


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in r"\.^$*+?{}[]|()" else ch for ch in text)


ZEROS = np.zeros(3)
X0_CASES = [
    _x0_case("complex tensor", torch.tensor([1j, 0j]), r"x0 must hold real numbers, got dtype torch\.complex64"),
    _x0_case("complex numpy", np.array([1j, 0j]), r"x0 must hold real numbers, got dtype complex128"),
    _x0_case("complex scalar", 1j, r"x0 must hold real numbers, got dtype complex128"),
    _x0_case("bool tensor", torch.tensor([True, False]), r"x0 must hold real numbers, got dtype torch\.bool"),
    _x0_case("bool numpy", np.array([True, False]), r"x0 must hold real numbers, got dtype bool"),
    _x0_case("sparse tensor", torch.tensor([1.0, 0.0]).to_sparse(), r"x0 must be a dense tensor, got layout torch\.sparse_coo"),
    _x0_case("meta tensor", torch.empty(2, device="meta"), r"x0 must hold values, got a tensor on the meta device"),
    *([_x0_case("long double", np.ones(2, dtype=np.longdouble), r"x0 must hold real numbers, got dtype float\d+; torch holds")]
      if np.dtype(np.longdouble).itemsize > 8 else []),  # where long double is wider than float64
    _x0_case("timedelta64", np.array([1, 2], dtype="timedelta64[s]"), r"x0 must hold real numbers, got dtype timedelta64"),
    _x0_case("datetime64", np.array([1, 2], dtype="datetime64[s]"), r"x0 must hold real numbers, got dtype datetime64"),
    _x0_case("strings", ["a", "b"], r"x0 must hold real numbers, got dtype <U1"),
    _x0_case("None", None, r"x0 must hold real numbers, got dtype object"),
    _x0_case("a dict", {"a": 1.0}, r"x0 must hold real numbers, got dtype object"),
    _x0_case("objects", np.array([1.0, "a"], dtype=object), r"x0 must hold real numbers, got dtype object"),
    _x0_case("ragged", [[1.0], [1.0, 2.0]], r"x0 must be a 1-D array or tensor, got list"),
    _x0_case("2-D", np.zeros((3, 1)), r"x0 must be a non-empty 1-D array, got shape \(3, 1\)"),
    _x0_case("2-D tensor", torch.zeros(1, 3), r"x0 must be a non-empty 1-D array, got shape \(1, 3\)"),
    _x0_case("empty", [], r"x0 must be a non-empty 1-D array, got shape \(0,\)"),
    _x0_case("empty tensor", torch.zeros(0), r"x0 must be a non-empty 1-D array, got shape \(0,\)"),
    _x0_case("nan", [0.0, math.nan], r"x0 must be finite"),
    _x0_case("inf tensor", torch.tensor([math.inf, 0.0]), r"x0 must be finite"),
]  # fmt: skip
CALL_CASES = [
    (ZEROS, E("fun='bowl'", lambda x: minimize("bowl", x), ValueError, r"fun must be callable, got str")),
    (ZEROS, E("fun=None", lambda x: minimize(None, x), ValueError, r"fun must be callable, got NoneType")),
    (ZEROS, E("fun returns a float", lambda x: minimize(lambda v: 1.0, x), ValueError,
              r"fun must return a scalar torch tensor .* got float")),
    (ZEROS, E("fun returns a vector", lambda x: minimize(lambda v: v * 2, x), ValueError,
              r"fun must return .* got a tensor of shape \(3,\)")),
    (ZEROS, E("fun returns a constant", lambda x: minimize(lambda v: torch.tensor(1.0), x), ValueError,
              r"fun must return a tensor computed from x .* no gradient")),
    (ZEROS, E("fun returns numpy", lambda x: minimize(lambda v: np.float64(1.0), x), ValueError,
              r"fun must return a scalar torch tensor .* got float64")),
    *[(ZEROS, E(f"method={m!r}", lambda x, m=m: minimize(bowl, x, m), ValueError, rf"method must be one of .*; got {_escape(repr(m))}"))
      for m in ("bfgs", None, 3, "", "newton_cg")],
    *_arg_cases("tol", [-1.0, math.inf, math.nan, "1e-5", True, torch.tensor(1e-5)],
                r"tol must be a finite non-negative number, got {value}"),
    *_arg_cases("max_iter", [0, -1, 2.5, True, "10", math.inf], r"max_iter must be a positive integer, got {value}"),
    *_arg_cases("callback", [3, "f"], r"callback must be callable, got (int|str)"),
    *_arg_cases("history_x", ["yes", 2, 0.5], r"history_x must be True, False or None, got {value}"),
    *[case for method in ("lbfgs", "sgd", "adam") for case in
      _arg_cases("check_curvature", ["yes", 1, None], r"check_curvature must be True or False, got {value}", method)],
    *_arg_cases("check_curvature", ["yes", 0], r"check_curvature must be True or False, got {value}", "newton"),
    *_arg_cases("max_eval", [0, True, 2.5], r"max_eval must be a positive integer, got {value}"),
    *_arg_cases("max_eval", [0, True, 2.5], r"max_eval must be a positive integer, got {value}", "sgd"),
    *_arg_cases("max_eval", [0, -2], r"max_eval must be a positive integer, got {value}", "newton"),
    *_arg_cases("lr", [-1.0, 0.0, math.inf], r"lr must be a positive number, got {value}"),
    *_arg_cases("lr", [-1.0, math.inf], r"lr must be a positive number, got {value}", "newton-cg"),
    *_arg_cases("lr", [-1.0, math.nan, "0.1"], r"Invalid lr: {value}", "sgd"),
    *_arg_cases("history_size", [0, 1.5], r"history_size must be a positive integer, got {value}"),
    *_arg_cases("tolerance_change", [math.nan, "0"], r"tolerance_change must be .*got {value}"),
    *_arg_cases("line_search", ["armijo"], r"line_search must be 'strong_wolfe' or None, got {value}"),
    *_arg_cases("on_failure", ["explode"], r"on_failure must be one of .* got {value}"),
    *_arg_cases("damping", [math.inf], r"damping must be finite, got {value}", "newton"),
    *_arg_cases("damping", [-1.0, math.nan, "1"], r"damping must be a non-negative number, got {value}", "newton"),
    *_arg_cases("cg_rtol", [0.0, 1.0, 2.0], r"cg_rtol must be a number in \(0, 1\) or None, got {value}", "newton-cg"),
    *_arg_cases("krylov_dim", [0, 2.5], r"krylov_dim must be a positive integer, got {value}", "saddle-free-newton"),
    *_arg_cases("trust_region", ["yes", 1], r"trust_region must be True or False, got {value}", "newton"),
    *_arg_cases("max_exact_params", [2], r"n=3 entries, above max_exact_params=2; use method='newton-cg'", "newton"),
    *_arg_cases("max_exact_params", ["2", 0], r"max_exact_params must be a positive integer, got {value}", "newton"),
    *_arg_cases("momentum", [-1.0], r"Invalid momentum: {value}", "momentum"),
    *_arg_cases("betas", [(2.0, 0.9)], r"Invalid betas: \(2\.0, 0\.9\)", "adam"),
    *_arg_cases("damping", [1.0], r"unknown option damping=1\.0 for method 'lbfgs'"),
    *_arg_cases("tolerance_grad", [1e-3], r"unknown option tolerance_grad=0\.001 for method 'lbfgs'"),
    *_arg_cases("mode", ["cg"], r"unknown option mode='cg' for method 'newton'", "newton"),
    *_arg_cases("max_iter_", [3], r"unknown option max_iter_=3 for method 'newton'", "newton"),
    *_arg_cases("params", [[1]], r"unknown option params=\[1\] for method 'lbfgs'"),
    *_arg_cases("bogus", [1], r"Unknown option for inertia\.SGD: bogus=1", "sgd"),
]  # fmt: skip
TABLE = X0_CASES + CALL_CASES


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One empty directory for the whole table: every refusal runs in it and must leave it empty."""
    return tmp_path_factory.mktemp("minimize_refusals")


@pytest.mark.parametrize(("x0", "case"), TABLE, ids=case_ids(case for _, case in TABLE))
def test_refused_by_name_and_nothing_changed(x0, case, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    before = snapshot(x0)
    expect_refused(case, x0)
    assert same_state(snapshot(x0), before), case.id
    assert listing(workdir) == []


def snapshot(value):
    """A copy of x0 that compares by content (tensors bit for bit, NaN equal to NaN)."""
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta":
            return ("meta", tuple(value.shape), value.dtype)
        return (value.to_dense() if value.layout != torch.strided else value).detach().clone()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fiub" and value.dtype != np.longdouble:
            return torch.from_numpy(value.copy())
        return (str(value.dtype), value.tolist())
    return copy.deepcopy(value)


def test_refusals_spend_no_evaluation():
    """A bad option is refused before fun is called once (nothing computed, nothing to undo)."""
    evaluations = []

    def fun(x):
        evaluations.append(1)
        return (x * x).sum()

    for options in ({"tol": math.inf}, {"damping": math.inf}, {"check_curvature": "yes"}, {"cg_rtol": 1.0}):
        method = "newton-cg" if "cg_rtol" in options else "newton" if "damping" in options else "lbfgs"
        with pytest.raises(ValueError, match=next(iter(options))):
            minimize(fun, np.ones(3), method, **options)
    assert evaluations == []
