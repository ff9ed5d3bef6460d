"""L-BFGS's compiled vector work gives the torch operations' numbers bit for bit, and steps aside where it
does not apply."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inertia.second_order import LBFGS, lbfgs_vectors
from inertia.second_order.lbfgs_vectors import VectorWork, infinity_norm, torch_advance

KERNELS = lbfgs_vectors.compiled_kernels()
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="no rounding of the kernels matches torch's here")


def vectors(count: int, n: int, seed: int, dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    scale = 10.0 ** torch.randint(-4, 5, (count, n), generator=generator).to(dtype)
    return list(torch.randn(count, n, dtype=dtype, generator=generator).mul(scale).clone().unbind())


def bits(value: float) -> str:
    return float(value).hex()


def memory_state(n: int, pairs: int, seed: int, t: float, h_diag: float, entering: bool) -> tuple[torch.Tensor, dict]:
    g, g_old, d, *rest = vectors(3 + 2 * pairs, n, seed)
    if entering:  # make s'y > 0
        d = (g - g_old).abs() * torch.sign(d)
        g = g_old + (g - g_old).abs() * torch.sign(d)
    state = dict(old_stps=rest[:pairs], old_dirs=rest[pairs:], ro=[1.0 / (1.0 + i) for i in range(pairs)],
                 H_diag=h_diag, prev_flat_grad=g_old.clone(), d=d.clone(), t=t)  # fmt: skip
    return g.clone(), state


def copied(state: dict) -> dict:
    return {key: list(value) if isinstance(value, list) else value for key, value in state.items()}


@needs_kernels
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), pairs=st.integers(0, 6), seed=st.integers(0, 2**31 - 1), t=st.floats(1e-6, 1e3),
       h_diag=st.floats(1e-6, 1e6), entering=st.booleans(), line_search=st.booleans())  # fmt: skip
def test_advance_equals_the_torch_operations_bit_for_bit(n, pairs, seed, t, h_diag, entering, line_search) -> None:
    g, state = memory_state(n, pairs, seed, t, h_diag, entering)
    expected_state = copied(state)
    expected, expected_gtd = torch_advance(g, expected_state, 6, line_search)
    d, gtd, d_max = VectorWork().advance(g, state, 6, line_search)
    assert d_max is not None  # the kernels ran
    assert torch.equal(d, expected)
    assert bits(gtd) == bits(expected_gtd) and bits(d_max) == bits(infinity_norm(expected))
    assert state["ro"] == expected_state["ro"] and bits(state["H_diag"]) == bits(expected_state["H_diag"])
    assert len(state["old_dirs"]) == len(expected_state["old_dirs"])
    assert all(map(torch.equal, state["old_dirs"] + state["old_stps"],
                   expected_state["old_dirs"] + expected_state["old_stps"]))  # fmt: skip


@needs_kernels
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**31 - 1))
def test_slope_equals_torch_bit_for_bit(n: int, seed: int) -> None:
    g, d = (v.clone() for v in vectors(2, n, seed))
    slope, largest = VectorWork().slope(g, d)
    assert bits(slope) == bits(g.dot(d)) and bits(largest) == bits(infinity_norm(g))


@needs_kernels
def test_a_nan_shows_in_the_norms() -> None:
    g, d = (v.clone() for v in vectors(2, 20, 1))
    g[7] = math.nan
    _, largest = VectorWork().slope(g, d)
    assert math.isnan(largest)
    _, state = memory_state(20, 0, 1, 0.5, 1.0, False)
    _, gtd, d_max = VectorWork().advance(g, state, 4, True)
    assert math.isnan(gtd) and math.isnan(d_max)


@pytest.mark.parametrize("case", ["float32", "strided", "too long", "tensor scalars"])
def test_other_vectors_take_the_torch_operations(case: str) -> None:
    n = lbfgs_vectors.MAX_KERNEL_LENGTH + 1 if case == "too long" else 30
    g, state = memory_state(n, 2, 2, 0.5, 0.5, True)
    if case == "float32":
        g = g.float()
        state = {k: ([v.float() for v in val] if k in ("old_stps", "old_dirs") else val.float()
                     if isinstance(val, torch.Tensor) else val) for k, val in state.items()}  # fmt: skip
    if case == "strided":
        state["old_stps"][0] = torch.stack([state["old_stps"][0]] * 2, dim=1)[:, 0]
        assert not state["old_stps"][0].is_contiguous()
    if case == "tensor scalars":
        state["ro"] = [torch.tensor(value, dtype=torch.float64) for value in state["ro"]]
    expected_state = copied(state)
    expected, _ = torch_advance(g, expected_state, 4, True)
    d, _, d_max = VectorWork().advance(g, state, 4, True)
    assert d_max is None  # the torch operations ran (they leave max|d| to the caller)
    assert torch.equal(d, expected)


@needs_kernels
def test_lbfgs_takes_the_kernels_and_forgets_old_vectors() -> None:
    x = torch.tensor([-1.2, 1.0] * 5, dtype=torch.float64, requires_grad=True)
    opt = LBFGS([x], max_iter=200, history_size=4)

    def closure():
        opt.zero_grad()
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert opt.nit > 20 and opt.status.value in ("converged", "small_change")
    known = opt._vectors.known
    assert 0 < len(known) <= 3 + 2 * 4 + 32 + 4  # the memory, the current vectors, those since the last pruning
    state = opt.state_dict()["state"][0]
    assert all(id(v) in known for v in state["old_dirs"] + state["old_stps"])
