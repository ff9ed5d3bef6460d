"""Bytes per parameter of a step under each ``precision`` mode: the formula against the tensors a real step
reads and writes, and the measured state against the formula."""

from __future__ import annotations

import warnings

import pytest
import torch

import inertia
from inertia.bench.step_bytes import (
    ALL_MODES,
    NATIVE,
    impl_mode,
    line_impls,
    measured_state_bytes,
    mode_dtype,
    parse_modes,
    step_bytes,
)
from inertia.bench.steps import _prepare, build_optimizer
from inertia.kernels.rule_info import FusedFallbackWarning

#: Sizes at or above the 8-bit threshold and whole blocks of 256, so that every tensor is quantised.
LARGE = [4096, 8192]


def _stepped(class_name: str, precision: str, numels: list[int], impl: str = "reference") -> torch.optim.Optimizer:
    dtype = mode_dtype(precision)
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(n, generator=generator).to(dtype)) for n in numels]
    for param in params:
        param.grad = torch.randn(param.shape, generator=generator).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FusedFallbackWarning)
        optimizer = getattr(inertia, class_name)(params, lr=1e-3, impl=impl, precision=precision)
        optimizer.step()
    return optimizer


def _moved_by_tensors(optimizer: torch.optim.Optimizer) -> float:
    """Bytes per parameter counted from the step's own tensors: each parameter read and written, its gradient
    read, each state tensor (master included, 0-dim counts left out) read and written."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    total = 0
    for p in params:
        state = [v for v in optimizer.state[p].values() if isinstance(v, torch.Tensor) and v.dim() > 0]
        total += 2 * p.nbytes + p.grad.nbytes + 2 * sum(v.nbytes for v in state)
    return total / sum(p.numel() for p in params)


def test_known_cases_of_the_formula() -> None:
    """fp32 Adam moves 28 B (read p, g, m, v; write p, m, v) and holds 8; bf16 parameters with fp32 master
    weights move 2+2 (p) + 2 (g) + 2*8 (m, v) + 2*4 (master) and hold 12; 8-bit moments hold 1 B of code
    and 4/256 B of absmax each."""
    assert step_bytes(NATIVE, torch.float32, 2) == (3 * 4 + 2 * 8, 8)
    assert step_bytes("master", torch.bfloat16, 2) == (3 * 2 + 2 * (8 + 4), 8 + 4)
    assert step_bytes("stochastic", torch.bfloat16, 2) == (3 * 2 + 2 * 8, 8)
    assert step_bytes("stochastic+bf16-state", torch.bfloat16, 2) == (3 * 2 + 2 * 4, 4)
    assert step_bytes("master+bf16-state", torch.bfloat16, 2) == (3 * 2 + 2 * (4 + 4), 4 + 4)
    eight = 2 * (1 + 4 / 256)
    assert step_bytes("native+8bit-state", torch.float32, 2) == pytest.approx((3 * 4 + 2 * eight, eight))
    assert step_bytes(NATIVE, torch.float32, 1) == (3 * 4 + 2 * 4, 4)  # SGD with momentum


@pytest.mark.parametrize("precision", ALL_MODES)
@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_formula_matches_the_tensors_of_a_real_step(precision: str, impl: str) -> None:
    """Moved and held bytes from the formula equal those counted (and measured) from Adam's own tensors after
    a step, in every mode of ``--precision all``, on both paths."""
    optimizer = _stepped("Adam", precision, LARGE, impl)
    expected = step_bytes(precision, mode_dtype(precision), 2)
    assert _moved_by_tensors(optimizer) == pytest.approx(expected.moved)
    assert measured_state_bytes(optimizer) == pytest.approx(expected.state)


@pytest.mark.parametrize(("class_name", "n_states"), [("RMSprop", 1), ("Adagrad", 1), ("Adamax", 2)])
@pytest.mark.parametrize("precision", ["master", "stochastic+bf16-state", "master+bf16-state"])
def test_formula_matches_other_rules(class_name: str, n_states: int, precision: str) -> None:
    optimizer = _stepped(class_name, precision, LARGE)
    assert _moved_by_tensors(optimizer) == pytest.approx(step_bytes(precision, torch.bfloat16, n_states).moved)
    assert measured_state_bytes(optimizer) == pytest.approx(step_bytes(precision, torch.bfloat16, n_states).state)


def test_small_tensors_keep_float32_moments_under_8bit_state() -> None:
    """A tensor below the 8-bit threshold keeps float32 moments: the list's formula counts it so, as measured."""
    numels = [8192, 300]
    optimizer = _stepped("AdamW", "native+8bit-state", numels)
    expected = step_bytes("native+8bit-state", torch.float32, 2, numels)
    assert measured_state_bytes(optimizer) == pytest.approx(expected.state)
    assert _moved_by_tensors(optimizer) == pytest.approx(expected.moved)
    assert expected.state > step_bytes("native+8bit-state", torch.float32, 2).state


@pytest.mark.parametrize("impl", ["torch-foreach", "torch-fused-bf16", "inertia-fused"])
def test_bench_rows_hold_what_the_formula_says(impl: str) -> None:
    """The bench's own rows: torch.optim over float32 or bfloat16 parameters (its bf16 state) and inertia's
    in the line's mode measure the state the formula gives for the row's mode and dtype."""
    masters, grads = [torch.randn(4096), torch.randn(1024)], [torch.randn(4096), torch.randn(1024)]
    for name, n_states in (("adam", 2), ("sgd_momentum", 1)):
        optimizer, note = _prepare(name, impl, masters, grads, "master+bf16-state")
        assert optimizer is not None, note
        mode, dtype = impl_mode(impl, "master+bf16-state")
        assert measured_state_bytes(optimizer) == pytest.approx(step_bytes(mode, dtype, n_states).state)


def test_modes_are_parsed_and_refused_by_name() -> None:
    assert parse_modes(["all"]) == list(ALL_MODES)
    assert parse_modes(["master,stochastic+bf16-state", "master+fp32-state"]) == ["master+fp32-state",
                                                                                 "stochastic+bf16-state"]
    with pytest.raises(ValueError, match=r"Invalid --precision: 'master\+fp16-state'"):
        parse_modes(["master+fp16-state"])


def test_lines_skip_rows_a_mode_has_no_use_for() -> None:
    impls = ["inertia-fused", "torch-fused", "torch-fused-bf16"]
    assert line_impls("Adam", impls, None) == impls
    assert line_impls("Adam", impls, "master") == impls
    assert line_impls("Adam", impls, "native+8bit-state") == ["inertia-fused", "torch-fused"]
    assert line_impls("SGD", impls, "native+8bit-state") == []
    optimizer = build_optimizer("adam", "torch-fused-bf16", [torch.nn.Parameter(torch.zeros(4, dtype=torch.bfloat16))])
    assert optimizer.defaults["fused"] is True
