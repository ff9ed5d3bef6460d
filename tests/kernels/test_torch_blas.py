"""torch's ``ddot_`` and an exact FMA, reached from numba (:mod:`inertia.kernels.torch_blas`)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from inertia.kernels.torch_blas import numba_blas

BLAS = numba_blas()
pytestmark = pytest.mark.skipif(BLAS is None, reason="numba or torch's ddot_ is missing")


@pytest.fixture(scope="module")
def kernels():
    numba = BLAS.numba
    fma, call_ddot = BLAS.fma, BLAS.call_ddot

    @numba.njit
    def fused(a, b, c):
        return fma(a, b, c)

    @numba.njit
    def dot(address, x, y, n):
        sizes = np.empty(2, dtype=np.int32)
        sizes[0], sizes[1] = n, 1
        return call_ddot(address, sizes.ctypes.data, x, sizes.ctypes.data + 4, y, sizes.ctypes.data + 4)

    return fused, dot


def test_fma_rounds_once(kernels) -> None:
    fused, _ = kernels
    rng = np.random.default_rng(0)
    for a, b, c in rng.standard_normal((200, 3)) * 10.0 ** rng.integers(-5, 6, (200, 3)):
        exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
        assert fused(a, b, c) == float(exact)  # Fraction -> float rounds to nearest, once


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 50, 257, 1000])
def test_ddot_is_torch_dot(kernels, n: int) -> None:
    _, dot = kernels
    generator = torch.Generator().manual_seed(n)
    x, y = torch.randn(2, n, dtype=torch.float64, generator=generator).mul(1e3).clone().unbind()
    x, y = x.clone(), y.clone()
    got = dot(np.uint64(BLAS.ddot_address), x.data_ptr(), y.data_ptr(), n)
    assert float(got).hex() == float(x.dot(y)).hex()
