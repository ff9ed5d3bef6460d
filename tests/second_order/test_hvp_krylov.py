"""Hessian-vector products, dense Hessians (reference: torch.autograd.functional.hessian), truncated CG and Lanczos against dense linear algebra."""

from __future__ import annotations

import pytest
import torch
from so_problems import logistic, rosenbrock

from inertia.second_order import (
    dense_hessian_from_gradient,
    gradient_with_graph,
    hessian,
    hessian_vector_product,
    hvp_from_gradient,
    lanczos,
    truncated_cg,
)


@pytest.mark.parametrize("fun, n", [(rosenbrock, 5), (logistic(), 6)])
def test_products_match_torch_func_hessian(fun, n):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, generator=gen, dtype=torch.float64)
    v = torch.randn(n, generator=gen, dtype=torch.float64)
    reference = torch.autograd.functional.hessian(fun, x)
    xp = x.clone().requires_grad_()
    g = gradient_with_graph(fun(xp), [xp])
    torch.testing.assert_close(hvp_from_gradient(g, [xp], v), reference @ v)
    torch.testing.assert_close(dense_hessian_from_gradient(g, [xp]), reference)
    torch.testing.assert_close(hessian_vector_product(fun, x, v), reference @ v)
    torch.testing.assert_close(hessian(fun, x), reference)


def test_products_over_several_tensors_and_a_linear_loss():
    a = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[3.0]], dtype=torch.float64, requires_grad=True)
    g = gradient_with_graph((a * a).sum() * b.sum(), [a, b])
    expected = torch.tensor([[6.0, 0.0, 2.0], [0.0, 6.0, 4.0], [2.0, 4.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(dense_hessian_from_gradient(g, [a, b]), expected)
    linear = gradient_with_graph((a * 2.0).sum(), [a])
    assert torch.equal(hvp_from_gradient(linear, [a], torch.ones(2, dtype=torch.float64)), torch.zeros(2, dtype=torch.float64))


def spd_matrix(n=30, condition=100.0, negative=0):
    gen = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    eig = torch.logspace(0, torch.log10(torch.tensor(condition)), n, dtype=torch.float64)
    if negative:
        eig[-negative:] = -eig[-negative:]
    return (q * eig) @ q.T, eig


def test_cg_solves_a_positive_definite_system():
    a, _ = spd_matrix()
    b = torch.ones(30, dtype=torch.float64)
    result = truncated_cg(lambda v: a @ v, b, damping=0.5, rtol=1e-10, max_iter=100)
    assert not result.negative_curvature
    torch.testing.assert_close(result.x, torch.linalg.solve(a + 0.5 * torch.eye(30, dtype=torch.float64), b))
    torch.testing.assert_close(result.residual, b - (a @ result.x + 0.5 * result.x))
    assert result.matvecs == result.iterations <= 60  # n = 30 in exact arithmetic


def test_cg_stops_at_negative_curvature_with_a_descent_direction():
    a, _ = spd_matrix(negative=3)
    g = torch.linspace(-1.0, 1.0, 30, dtype=torch.float64)
    result = truncated_cg(lambda v: a @ v, -g, rtol=1e-12, max_iter=100)
    assert result.negative_curvature
    assert float(g @ result.x) < 0.0


def test_lanczos_builds_an_orthonormal_basis_and_finds_extreme_eigenvalues():
    a, eig = spd_matrix(n=40, condition=1e3, negative=2)
    v0 = torch.ones(40, dtype=torch.float64)
    result = lanczos(lambda v: a @ v, v0, 25)
    q = result.Q
    torch.testing.assert_close(q.T @ q, torch.eye(25, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(q.T @ a @ q, result.T, atol=1e-8, rtol=0)
    ritz = torch.linalg.eigvalsh(result.T)
    assert float(ritz.min()) == pytest.approx(float(eig.min()), rel=1e-6)
    assert float(ritz.max()) == pytest.approx(float(eig.max()), rel=1e-6)


def test_lanczos_stops_on_an_invariant_subspace_and_rejects_bad_input():
    a = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    result = lanczos(lambda v: a @ v, torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64), 4)
    assert result.matvecs == 2
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        lanczos(lambda v: v, torch.ones(2), 0)
    with pytest.raises(ValueError, match="v0 is zero"):
        lanczos(lambda v: v, torch.zeros(2), 2)
    with pytest.raises(ValueError, match=r"x must be 1-D, got shape \(2, 2\)"):
        hessian(lambda x: x.sum(), torch.zeros(2, 2))
