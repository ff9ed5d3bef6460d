"""inertia.checks: one rule per kind of argument, errors that name the argument and the value.

Also checks that the package has one int-but-not-bool rule: no module but ``inertia/checks.py`` tests
``isinstance(x, bool)`` by hand, apart from the files listed in :data:`PENDING`.
"""

from __future__ import annotations

import ast
import fractions
import math
import sys
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from inertia import checks
from inertia.checks import (
    STYLE_FIELD,
    STYLE_INVALID,
    STYLE_SENTENCE,
    check_callable,
    check_choice,
    check_finite_at_least,
    check_flag,
    check_int,
    check_non_negative,
    check_positive,
    check_real,
    check_seed,
    check_unit_interval,
    is_flag,
    is_number,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "inertia"

# Files (globs below src/inertia) that may still test isinstance(x, bool) by hand, each with why. None is left;
# an entry that matches no such file makes the test below fail, so the list cannot go stale.
PENDING: dict[str, str] = {}
SMALL = st.integers(min_value=-1000, max_value=1000)


# ----------------------------------------------------------------------------- is_number, is_flag
@given(st.booleans(), st.booleans())
def test_is_number_rejects_every_bool(value, integer):
    assert not is_number(value, integer=integer)
    assert not is_number(np.bool_(value), integer=integer)


@given(st.integers())
def test_every_integer_is_an_integral_number(value):
    assert is_number(value, integer=True) and is_number(value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_float_is_a_number_but_never_integral(value):
    assert is_number(value) and is_number(np.float64(value)) and not is_number(value, integer=True)


@pytest.mark.parametrize("value", [np.int8(3), np.int64(-2), np.uint16(7)])
def test_numpy_integers_are_integral_numbers(value):
    assert is_number(value, integer=True)


@pytest.mark.parametrize("value", ["1", None, 1j, torch.tensor(1.0), [1], b"1"])
def test_non_numbers(value):
    assert not is_number(value) and not is_number(value, integer=True)


def test_is_flag_takes_real_booleans_only():
    assert all(is_flag(value) for value in (True, False, np.bool_(True), np.bool_(False)))
    assert not any(is_flag(value) for value in (0, 1, 1.0, "True", None, torch.tensor(True)))


# ----------------------------------------------------------------------------- check_int
@given(st.integers(), st.one_of(st.none(), SMALL), st.one_of(st.none(), SMALL))
def test_check_int_accepts_exactly_the_integers_within_bounds(value, low, high):
    inside = (low is None or value >= low) and (high is None or value <= high)
    if inside:
        result = check_int("n", value, low=low, high=high)
        assert result == value and type(result) is int
    else:
        with pytest.raises(ValueError, match=rf"^Invalid n: {value} \(must be an integer"):
            check_int("n", value, low=low, high=high)


@given(st.one_of(st.booleans(), st.floats(), st.text(max_size=3), st.none()))
def test_check_int_refuses_every_non_integer(value):
    with pytest.raises(ValueError, match="must be an integer"):
        check_int("n", value)


def test_check_int_returns_python_ints_for_numpy_ones():
    assert type(check_int("n", np.int64(5), low=1)) is int


@pytest.mark.parametrize("low, high, rule", [
    (1, None, "must be an integer >= 1"),
    (None, 9, "must be an integer <= 9"),
    (1, 9, "must be an integer in [1, 9]"),
    (None, None, "must be an integer"),
])
def test_check_int_says_its_bounds(low, high, rule):
    with pytest.raises(ValueError) as error:
        check_int("steps", "x", low=low, high=high)
    assert str(error.value) == f"Invalid steps: 'x' ({rule})"


# ----------------------------------------------------------------------------- reals
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10), st.booleans())
def test_check_finite_at_least_accepts_exactly_the_finite_numbers_from_low(value, low, _):
    if math.isfinite(value) and value >= low:
        assert check_finite_at_least("x", value, low) == value
    else:
        with pytest.raises(ValueError, match=r"^Invalid x: .* \(must be a finite number >= "):
            check_finite_at_least("x", value, low)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_real_never_takes_nan_and_takes_inf_only_when_told(value):
    if math.isnan(value):
        for finite in (True, False):
            with pytest.raises(ValueError):
                check_real("x", value, finite=finite)
        return
    assert check_real("x", value, finite=False) == value
    if math.isinf(value):
        with pytest.raises(ValueError, match=r"must be a finite number\)$"):
            check_real("x", value)


@pytest.mark.parametrize("bounds, rule", [
    (dict(above=0.0), "must be a finite number > 0"),
    (dict(at_least=0.0, below=1.0), "must be a finite number in [0, 1)"),
    (dict(above=0.0, at_most=2.5), "must be a finite number in (0, 2.5]"),
    (dict(above=1.0, finite=False), "must be a number > 1"),
])
def test_check_real_says_its_bounds(bounds, rule):
    with pytest.raises(ValueError) as error:
        check_real("x", -7.0, **bounds)
    assert str(error.value) == f"Invalid x: -7.0 ({rule})"


def test_reals_refuse_bools_strings_and_tensors_and_say_why_for_a_tensor():
    for value in (True, "0.1", None, 1j):
        with pytest.raises(ValueError):
            check_real("lr", value)
    with pytest.raises(ValueError, match="a Tensor is not supported, pass a float"):
        check_finite_at_least("lr", torch.tensor(0.1))
    assert check_real("x", fractions.Fraction(1, 4)) == 0.25 and type(check_real("x", np.float32(2))) is float


@given(st.one_of(st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True)))
def test_positive_and_non_negative_numbers(value):
    finite = math.isfinite(value)
    assert (value > 0 and finite) == _accepts(check_positive, value)
    assert (value >= 0 and finite) == _accepts(check_non_negative, value)


@given(st.one_of(st.integers(), st.booleans(), st.floats()))
def test_positive_and_non_negative_integers(value):
    integral = is_number(value, integer=True)
    assert (integral and value >= 1) == _accepts(check_positive, value, integer=True)
    assert (integral and value >= 0) == _accepts(check_non_negative, value, integer=True)


def _accepts(check, value, **options) -> bool:
    try:
        check("x", value, **options)
    except ValueError:
        return False
    return True


def test_positive_and_non_negative_wording():
    assert check_positive("max_eval", None, integer=True, allow_none=True) is None
    cases = [(check_positive, dict(integer=True), 0, "must be a positive integer"),
             (check_positive, {}, 0.0, "must be a positive number"),
             (check_non_negative, dict(integer=True), -1, "must be a non-negative integer"),
             (check_non_negative, {}, -1.0, "must be a non-negative number"),
             (check_non_negative, {}, math.inf, "must be finite")]
    for check, options, value, rule in cases:
        with pytest.raises(ValueError) as error:
            check("x", value, **options, style=STYLE_SENTENCE)
        assert str(error.value) == f"x {rule}, got {value!r}"


@given(st.floats(allow_nan=True, allow_infinity=True), st.booleans())
def test_check_unit_interval_is_the_probability_rule(value, closed_right):
    inside = 0.0 <= value <= 1.0 if closed_right else 0.0 <= value < 1.0
    assert inside == _accepts(lambda name, v: check_unit_interval(name, v, closed_right=closed_right), value)


def test_check_unit_interval_wording():
    with pytest.raises(ValueError) as error:
        check_unit_interval("momentum", 1.0, closed_right=False)
    assert str(error.value) == "Invalid momentum: 1.0 (must be in [0, 1))"
    assert check_unit_interval("p", 1, closed_right=True) == 1.0


# ----------------------------------------------------------------------------- flags, choices, callables, seeds
@pytest.mark.parametrize("value", [0, 1, "yes", None, 1.0, torch.tensor(True)])
def test_check_flag_refuses_all_but_booleans(value):
    with pytest.raises(ValueError) as error:
        check_flag("nesterov", value)
    assert str(error.value) == f"Invalid nesterov: {value!r} (must be True or False)"


def test_check_flag_returns_a_python_bool():
    assert check_flag("x", np.bool_(True)) is True and check_flag("x", False) is False


def test_check_choice():
    assert check_choice("mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError) as error:
        check_choice("mode", "mid", ("min", "max"))
    assert str(error.value) == "Invalid mode: 'mid' (must be one of 'min', 'max')"


def test_check_callable_raises_the_error_it_is_given():
    assert check_callable("fn", len) is len
    with pytest.raises(TypeError, match=r"^Invalid fn: 3 \(must be callable\)$"):
        check_callable("fn", 3)
    with pytest.raises(ValueError, match="^fun must be a function, got int$"):
        check_callable("fun", 3, "a function", style="{name} {rule}, got {type}", error=ValueError)


@given(st.integers())
def test_check_seed_accepts_exactly_0_to_the_limit(value):
    for limit in (2**32, checks.SEED_LIMIT):
        assert (0 <= value < limit) == _accepts(lambda name, v, lim=limit: check_seed(name, v, limit=lim), value)


def test_check_seed_wording():
    with pytest.raises(ValueError) as error:
        check_seed("seed", -1, limit=2**32, style=STYLE_FIELD)
    assert str(error.value) == "seed: must be an integer in [0, 2**32), got -1"


def test_the_three_wordings_name_the_argument_and_the_value():
    expected = {STYLE_INVALID: "Invalid lr: -1.0 (must be a finite number >= 0)",
                STYLE_FIELD: "lr: must be a finite number >= 0, got -1.0",
                STYLE_SENTENCE: "lr must be a finite number >= 0, got -1.0"}
    for style, message in expected.items():
        with pytest.raises(ValueError) as error:
            check_finite_at_least("lr", -1.0, style=style)
        assert str(error.value) == message


# ----------------------------------------------------------------------------- structure
def test_checks_is_a_leaf_module():
    """inertia.checks imports the standard library, numpy and torch only."""
    tree = ast.parse((SRC / "checks.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported - {"__future__", "numpy", "torch"} <= set(sys.stdlib_module_names)


def _bool_isinstance_lines(path: Path) -> list[int]:
    """Lines of ``isinstance(x, bool)`` or ``isinstance(x, (..., bool, ...))`` in ``path``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance" \
                and len(node.args) == 2:
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            if any(isinstance(kind, ast.Name) and kind.id == "bool" for kind in kinds):
                lines.append(node.lineno)
    return lines


def test_no_module_but_checks_tells_ints_from_bools_by_hand():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative == "checks.py" or any(fnmatch(relative, pattern) for pattern in PENDING):
            continue
        found += [f"{relative}:{line}" for line in _bool_isinstance_lines(path)]
    assert found == [], "use inertia.checks (is_number(x, integer=True), check_int, is_flag) instead"
    stale = [pattern for pattern in PENDING
             if not any(fnmatch(path.relative_to(SRC).as_posix(), pattern) and _bool_isinstance_lines(path)
                        for path in SRC.rglob("*.py"))]
    assert stale == [], f"PENDING entries that no longer match a file testing bools by hand: {stale}"


def test_the_scan_sees_a_bool_check(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(x):\n    return isinstance(x, int) and not isinstance(x, (bool, str))\n")
    assert _bool_isinstance_lines(sample) == [2]
