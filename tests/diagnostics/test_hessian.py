"""Hessian tools against closed forms: quadratics with known spectra, explicit Hessians, GD stability."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from inertia.diagnostics import (
    HessianOperator,
    edge_of_stability,
    hessian_eigenvalues,
    hessian_trace,
    layer_curvature,
)


def _quadratic(eigenvalues: torch.Tensor, seed: int = 0):
    """``f(x) = x^T A x / 2`` with ``A = Q diag(eigenvalues) Q^T`` for a random rotation ``Q``."""
    n = len(eigenvalues)
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    a = q @ torch.diag(eigenvalues) @ q.T
    x = torch.randn(n, generator=generator, dtype=torch.float64).requires_grad_(True)
    return (lambda: 0.5 * x @ a @ x), x, a


@pytest.mark.parametrize("spectrum", [
    torch.linspace(1.0, 100.0, 400, dtype=torch.float64),            # condition number 100
    torch.linspace(-2.0, 50.0, 400, dtype=torch.float64),            # a saddle
    torch.cat([torch.rand(398, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 10,
               torch.tensor([-1.0, 30.0], dtype=torch.float64)]),    # isolated outliers
])
def test_extreme_eigenvalues_within_one_percent_in_at_most_100_hvps(spectrum: torch.Tensor) -> None:
    loss, x, _ = _quadratic(spectrum)
    top = hessian_eigenvalues(loss, [x], which="largest")
    bottom = hessian_eigenvalues(loss, [x], which="smallest")
    assert top.hvp_count <= 100 and bottom.hvp_count <= 100
    assert top.values[0] == pytest.approx(float(spectrum.max()), rel=1e-2)
    assert bottom.values[0] == pytest.approx(float(spectrum.min()), rel=1e-2)
    assert (bottom.values[0] < 0) == bool(spectrum.min() < 0)  # negative smallest eigenvalue = saddle


def test_k_largest_and_ritz_vectors_match_eigh() -> None:
    spectrum = torch.tensor([50.0, 40.0, 30.0] + [1.0 + 0.01 * i for i in range(60)], dtype=torch.float64)
    loss, x, a = _quadratic(spectrum, seed=3)
    result = hessian_eigenvalues(loss, [x], k=3, return_vectors=True)
    assert result.values == pytest.approx([50.0, 40.0, 30.0], rel=1e-6)
    assert result.converged
    for value, vector in zip(result.values, result.vectors, strict=True):
        v = vector[0]
        assert torch.allclose(a @ v, value * v, atol=1e-5)


def test_hvp_equals_explicit_hessian_product_on_a_network() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    inputs, targets = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    params = list(net.parameters())
    shapes = [p.shape for p in params]
    flat0 = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        tensors, offset = [], 0
        for shape in shapes:
            size = math.prod(shape)
            tensors.append(flat[offset:offset + size].reshape(shape))
            offset += size
        out = torch.func.functional_call(net, dict(zip([n for n, _ in net.named_parameters()], tensors,
                                                       strict=True)), (inputs,))
        return ((out - targets) ** 2).mean()

    explicit = torch.autograd.functional.hessian(loss_of, flat0)
    op = HessianOperator(lambda: ((net(inputs) - targets) ** 2).mean(), net)
    v = torch.randn(op.dim, dtype=torch.float64)
    assert torch.allclose(op.matvec(v), explicit @ v, atol=1e-10)
    assert op.hvp_count == 1


def test_subset_of_params_and_unused_params() -> None:
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    unused = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    linear = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)

    def loss() -> torch.Tensor:
        return 3.0 * (w**2).sum() + 4.0 * linear.sum()

    assert hessian_eigenvalues(loss, [w]).values[0] == pytest.approx(6.0)
    # the Hessian w.r.t. (w, unused, linear) is diag(6, 6, 0, 0, 0, 0)
    assert hessian_eigenvalues(loss, {"w": w, "unused": unused, "linear": linear},
                               which="smallest").values[0] == pytest.approx(0.0, abs=1e-12)


def test_hutchinson_trace_is_unbiased_with_the_predicted_error() -> None:
    spectrum = torch.linspace(0.5, 5.0, 60, dtype=torch.float64)
    loss, x, a = _quadratic(spectrum, seed=5)
    estimate = hessian_trace(loss, [x], num_samples=400, seed=1)
    off_diagonal = (a**2).sum() - (torch.diagonal(a) ** 2).sum()
    predicted_stderr = math.sqrt(2 * float(off_diagonal) / 400)
    assert estimate.hvp_count == 400
    assert abs(estimate.value - float(spectrum.sum())) < 4 * predicted_stderr
    assert estimate.stderr == pytest.approx(predicted_stderr, rel=0.25)


def test_hutchinson_trace_is_exact_for_a_diagonal_hessian() -> None:
    x = torch.ones(5, dtype=torch.float64, requires_grad=True)
    d = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    estimate = hessian_trace(lambda: 0.5 * (d * x**2).sum(), [x], num_samples=8)
    assert estimate.value == pytest.approx(15.0) and estimate.stderr == pytest.approx(0.0, abs=1e-12)


def test_layer_curvature_matches_the_diagonal_blocks_of_the_hessian() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    inputs, targets = torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 1, dtype=torch.float64)

    def loss() -> torch.Tensor:
        return ((net(inputs) - targets) ** 2).mean()

    layers = layer_curvature(loss, net, max_hvp=40, trace_samples=4)
    assert [c.layer for c in layers] == ["0", "2"]
    for curvature, module in zip(layers, (net[0], net[2]), strict=True):
        block = _explicit_block_hessian(loss, list(module.parameters()))
        eigenvalues = torch.linalg.eigvalsh(block)
        assert curvature.num_params == block.shape[0]
        assert curvature.lambda_max == pytest.approx(float(eigenvalues.max()), rel=1e-6, abs=1e-9)
        assert curvature.lambda_min == pytest.approx(float(eigenvalues.min()), rel=1e-6, abs=1e-9)


def _explicit_block_hessian(loss, params: list[torch.Tensor]) -> torch.Tensor:
    op = HessianOperator(loss, params)
    return torch.stack([op.matvec(e) for e in torch.eye(op.dim, dtype=torch.float64)])


def test_edge_of_stability_limits_match_gradient_descent_on_a_quadratic() -> None:
    lam = 4.0
    for momentum, nesterov in [(0.0, False), (0.9, False), (0.9, True)]:
        check = edge_of_stability(lam, 1.0, momentum=momentum, nesterov=nesterov)
        limit_lr = check.threshold / lam  # the lr at which lr * lam hits the limit
        for factor, should_diverge in [(0.97, False), (1.03, True)]:
            assert _diverges(lam, factor * limit_lr, momentum, nesterov) is should_diverge
    check = edge_of_stability(lam, lr=1.9 / lam)
    assert check.threshold == pytest.approx(2 / (1.9 / lam)) and check.ratio == pytest.approx(0.95)
    assert check.verdict.startswith("at the edge")
    assert edge_of_stability(lam, lr=0.5 / lam).verdict == "stable"
    assert edge_of_stability(lam, lr=3.0 / lam).verdict.startswith("unstable")


def test_dampening_raises_the_limit_as_torch_sgd_shows() -> None:
    lam, momentum, dampening = 4.0, 0.9, 0.5
    check = edge_of_stability(lam, 1.0, momentum=momentum, dampening=dampening)
    assert check.threshold == pytest.approx(2 * (1 + momentum) / (1 - dampening))
    limit_lr = check.threshold / lam
    for factor, should_diverge in [(0.97, False), (1.03, True)]:
        assert _diverges(lam, factor * limit_lr, momentum, False, dampening=dampening) is should_diverge
    with pytest.raises(ValueError, match=r"dampening: must be in \[0, 1\), got 1.0"):
        edge_of_stability(lam, 1.0, momentum=momentum, dampening=1.0)


def _diverges(lam: float, lr: float, momentum: float, nesterov: bool, steps: int = 200,
              dampening: float = 0.0) -> bool:
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([x], lr=lr, momentum=momentum, nesterov=nesterov, dampening=dampening)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * lam * x**2).sum().backward()
        opt.step()
    size = abs(x.item())
    assert size < 1e-3 or size > 1e3 or not math.isfinite(size), f"undecided after {steps} steps: |x| = {size}"
    return not size < 1e-3


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "k: must be a positive integer"),
    ({"which": "middle"}, "which: must be one of largest, smallest, got 'middle'"),
    ({"k": 5, "max_hvp": 3}, "max_hvp: must be an integer at least k=5, got 3"),
    ({"max_hvp": 10.5}, "max_hvp: must be an integer at least k=1, got 10.5"),
    ({"max_hvp": True}, "max_hvp: must be an integer at least k=1, got True"),
    ({"tol": -1.0}, r"tol: must be a number in \(0, 1\), got -1.0"),
    ({"tol": float("nan")}, r"tol: must be a number in \(0, 1\), got nan"),
])
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match=message):
        hessian_eigenvalues(lambda: (x**2).sum(), [x], **kwargs)


def test_bad_loss_and_params_are_named() -> None:
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="loss_fn: must return a scalar tensor"):
        hessian_eigenvalues(lambda: x**2, [x])
    with pytest.raises(ValueError, match="params: no tensor that requires grad"):
        hessian_eigenvalues(lambda: (x**2).sum(), [torch.ones(2)])
    with pytest.raises(ValueError, match="lr: must be positive"):
        edge_of_stability(1.0, 0.0)
    with pytest.raises(ValueError, match="num_samples: must be an integer >= 2"):
        hessian_trace(lambda: (x**2).sum(), [x], num_samples=1)
