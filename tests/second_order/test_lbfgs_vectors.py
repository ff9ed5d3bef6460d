"""L-BFGS's compiled vector work gives the torch operations' numbers bit for bit, and steps aside where it
does not apply."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inertia.second_order import LBFGS, lbfgs_vectors
from inertia.second_order.lbfgs_vectors import VectorWork, infinity_norm, torch_pair, two_loop

KERNELS = lbfgs_vectors.compiled_kernels()
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="no rounding of the kernels matches torch's here")


def vectors(count: int, n: int, seed: int, dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    scale = 10.0 ** torch.randint(-4, 5, (count, n), generator=generator).to(dtype)
    return list(torch.randn(count, n, dtype=dtype, generator=generator).mul(scale).clone().unbind())


def bits(value: float) -> str:
    return float(value).hex()


@needs_kernels
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), pairs=st.integers(0, 12), seed=st.integers(0, 2**31 - 1),
       h_diag=st.floats(1e-6, 1e6))  # fmt: skip
def test_direction_equals_the_torch_recursion_bit_for_bit(n: int, pairs: int, seed: int, h_diag: float) -> None:
    g, *rest = vectors(1 + 2 * pairs, n, seed)
    steps, changes = [v.clone() for v in rest[:pairs]], [v.clone() for v in rest[pairs:]]
    rho = [1.0 / (1.0 + i) for i in range(pairs)]
    expected = two_loop(g, steps, changes, rho, h_diag, float)
    d, gtd, d_max = VectorWork().direction(g, steps, changes, rho, h_diag, float)
    assert torch.equal(d, expected)
    assert bits(gtd) == bits(g.dot(expected)) and bits(d_max) == bits(infinity_norm(expected))


@needs_kernels
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**31 - 1), t=st.floats(1e-8, 1e4))
def test_pair_and_slope_equal_torch_bit_for_bit(n: int, seed: int, t: float) -> None:
    g, g_old, d = (v.clone() for v in vectors(3, n, seed))
    work = VectorWork()
    y, s, *scalars = work.pair(g, g_old, d, t, float)
    want_y, want_s, *want = torch_pair(g, g_old, d, t, float)
    assert torch.equal(y, want_y) and torch.equal(s, want_s)
    assert [bits(v) for v in scalars] == [bits(v) for v in want]
    slope, largest = work.slope(g, d)
    assert bits(slope) == bits(g.dot(d)) and bits(largest) == bits(infinity_norm(g))


@needs_kernels
def test_a_nan_shows_in_the_norms() -> None:
    g, d = (v.clone() for v in vectors(2, 20, 1))
    g[7] = math.nan
    _, largest = VectorWork().slope(g, d)
    assert math.isnan(largest)
    _, gtd, d_max = VectorWork().direction(g, [], [], [], 1.0, float)
    assert math.isnan(gtd) and math.isnan(d_max)


@pytest.mark.parametrize("case", ["float32", "strided", "too long", "tensor scalars"])
def test_other_vectors_take_the_torch_operations(case: str) -> None:
    n = lbfgs_vectors.MAX_KERNEL_LENGTH + 1 if case == "too long" else 30
    dtype = torch.float32 if case == "float32" else torch.float64
    g, *pairs = vectors(5, n, 2, dtype)
    steps, changes = pairs[:2], pairs[2:]
    if case == "strided":
        steps[0] = torch.stack([steps[0], steps[0]], dim=1)[:, 0]
        assert not steps[0].is_contiguous()
    rho: list = [0.5, 0.25]
    number = lbfgs_vectors.scalar_reader(dtype)
    if case == "tensor scalars":
        rho, number = [torch.tensor(0.5, dtype=torch.float64), torch.tensor(0.25, dtype=torch.float64)], lbfgs_vectors._same
    work = VectorWork()
    d, _, d_max = work.direction(g, steps, changes, rho, 0.5, number)
    assert d_max is None  # the torch operations ran (they leave max|d| to the caller)
    assert torch.equal(d, two_loop(g, steps, changes, rho, 0.5, number))


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
    assert 0 < len(known) <= 2 * 4 + 16 + 4  # the memory, the current vectors, a few since the last pruning
    state = opt.state_dict()["state"][0]
    assert all(id(v) in known for v in state["old_dirs"] + state["old_stps"])
