"""Stochastic Lanczos quadrature against quadratics with known spectra."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inertia.diagnostics import plot_spectral_density, spectral_density


def _quadratic(eigenvalues: torch.Tensor):
    n = len(eigenvalues)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    a = q @ torch.diag(eigenvalues) @ q.T
    x = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    return (lambda: 0.5 * x @ a @ x), x


def test_density_puts_the_right_mass_on_each_cluster_and_below_zero(tmp_path) -> None:
    generator = torch.Generator().manual_seed(1)
    spectrum = torch.cat([-1.0 + 0.1 * torch.rand(60, generator=generator, dtype=torch.float64),   # 20%
                          1.0 + 0.2 * torch.rand(180, generator=generator, dtype=torch.float64),   # 60%
                          10.0 + torch.rand(60, generator=generator, dtype=torch.float64)])        # 20%
    loss, x = _quadratic(spectrum)
    result = spectral_density(loss, [x], num_probes=8, lanczos_steps=30, seed=0)
    assert result.hvp_count == 8 * 30
    step = result.grid[1] - result.grid[0]
    assert result.density.sum() * step == pytest.approx(1.0, abs=0.01)
    for low, high, share in [(-2, 0, 0.2), (0, 5, 0.6), (5, 20, 0.2)]:
        inside = (result.grid >= low) & (result.grid < high)
        assert result.density[inside].sum() * step == pytest.approx(share, abs=0.07)
    assert result.negative_mass() == pytest.approx(0.2, abs=0.07)
    assert result.lambda_max == pytest.approx(float(spectrum.max()), rel=1e-3)
    assert result.lambda_min == pytest.approx(float(spectrum.min()), rel=1e-2)
    path = plot_spectral_density(result, tmp_path / "density.png", lr=0.15)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_quadrature_is_exact_for_low_degree_moments() -> None:
    """m Lanczos steps integrate polynomials of degree < 2m exactly: check tr(H)/n and tr(H^2)/n."""
    spectrum = torch.linspace(0.5, 3.0, 50, dtype=torch.float64)
    loss, x = _quadratic(spectrum)
    result = spectral_density(loss, [x], num_probes=30, lanczos_steps=5, seed=2)
    first = np.mean([(w * n).sum() for n, w in zip(result.nodes, result.weights, strict=True)])
    second = np.mean([(w * n**2).sum() for n, w in zip(result.nodes, result.weights, strict=True)])
    # Rademacher probes: v^T H^j v / n averages to tr(H^j) / n
    assert first == pytest.approx(float(spectrum.mean()), rel=0.05)
    assert second == pytest.approx(float((spectrum**2).mean()), rel=0.08)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_probes": 0}, "num_probes: must be an integer >= 1, got 0"),
    ({"lanczos_steps": 1}, "lanczos_steps: must be an integer >= 2"),
    ({"sigma": -1.0}, "sigma: must be a finite number > 0, got -1.0"),
])
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    x = torch.ones(4, requires_grad=True)
    with pytest.raises(ValueError, match=message):
        spectral_density(lambda: (x**2).sum(), [x], **kwargs)
