"""Hessian spectral density by stochastic Lanczos quadrature (SLQ), and its plot.

For a unit random vector ``v``, ``v^T f(H) v ~ sum_j tau_j f(theta_j)``, where ``theta_j`` are
the Ritz values of ``m`` Lanczos steps from ``v`` and ``tau_j`` the squared first components of
the eigenvectors of the tridiagonal matrix (Golub & Meurant, "Matrices, Moments and
Quadrature", 2010). Averaging over probes and taking ``f`` a Gaussian of width ``sigma`` gives a
smoothed density of eigenvalues (Lin, Saad & Yang, SIAM Review 2016; Ghorbani, Krishnan & Xiao,
"An investigation into neural net optimization via Hessian eigenvalue density", ICML 2019).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from inertia.checks import STYLE_FIELD, check_int, check_real, check_seed
from inertia.diagnostics._params import ParamsLike
from inertia.diagnostics.hessian import HessianOperator, LossFn, lanczos
from inertia.io.atomic import atomic_write_bytes
from inertia.io.report_parts import figure_to_png


@dataclass
class SpectralDensity:
    """Quadrature nodes/weights per probe and the Gaussian-smoothed density on a grid.

    ``density`` integrates to about 1 over ``grid``: it is the fraction of eigenvalues per unit.
    """

    nodes: list[np.ndarray]
    weights: list[np.ndarray]
    grid: np.ndarray
    density: np.ndarray
    sigma: float
    hvp_count: int

    @property
    def lambda_max(self) -> float:
        """Largest Ritz value seen by any probe (an estimate of the top eigenvalue)."""
        return float(max(n.max() for n in self.nodes))

    @property
    def lambda_min(self) -> float:
        """Smallest Ritz value seen by any probe."""
        return float(min(n.min() for n in self.nodes))

    def negative_mass(self) -> float:
        """Quadrature estimate of the fraction of eigenvalues below zero (saddle directions)."""
        return float(np.mean([w[n < 0].sum() for n, w in zip(self.nodes, self.weights, strict=True)]))


def spectral_density(loss_fn: LossFn, params: ParamsLike, *, num_probes: int = 4, lanczos_steps: int = 40,
                     grid_size: int = 512, sigma: float | None = None, seed: int = 0) -> SpectralDensity:
    """Estimate the eigenvalue density of the Hessian of ``loss_fn()`` by SLQ.

    Uses ``num_probes * lanczos_steps`` Hessian-vector products. ``sigma`` defaults to 1% of
    the spread of the Ritz values.
    """
    check_int("num_probes", num_probes, low=1, style=STYLE_FIELD)
    check_int("lanczos_steps", lanczos_steps, low=2, style=STYLE_FIELD)
    check_int("grid_size", grid_size, low=2, style=STYLE_FIELD)
    if sigma is not None:
        check_real("sigma", sigma, above=0.0, style=STYLE_FIELD)
    check_seed("seed", seed, style=STYLE_FIELD)
    op = HessianOperator(loss_fn, params)
    generator = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(num_probes):
        start = (torch.randint(0, 2, (op.dim,), generator=generator, dtype=torch.float64) * 2 - 1).to(op.device)
        run = lanczos(op.matvec, start, min(lanczos_steps, op.dim))
        theta, s, _ = run.ritz()
        nodes.append(theta)
        weights.append(s[0, :] ** 2)
    low = min(n.min() for n in nodes)
    high = max(n.max() for n in nodes)
    spread = max(high - low, 1e-12 * max(abs(high), 1.0))
    width = sigma if sigma is not None else 0.01 * spread
    grid = np.linspace(low - 5 * width, high + 5 * width, grid_size)
    density = np.zeros_like(grid)
    for theta, tau in zip(nodes, weights, strict=True):
        kernel = np.exp(-((grid[:, None] - theta[None, :]) ** 2) / (2 * width**2)) / (width * np.sqrt(2 * np.pi))
        density += kernel @ tau
    density /= num_probes
    return SpectralDensity(nodes=nodes, weights=weights, grid=grid, density=density, sigma=width,
                           hvp_count=op.hvp_count)


def density_figure(result: SpectralDensity, title: str = "Hessian spectral density", lr: float | None = None,
                   limit: float | None = None) -> Figure:
    """A log-scale plot of the density; ``limit`` (or ``2/lr``) marks the (S)GD stability limit."""
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    floor = max(result.density.max() * 1e-8, 1e-300)
    ax.semilogy(result.grid, np.maximum(result.density, floor), color="tab:blue", lw=1.5)
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    limit = limit if limit is not None else (2 / lr if lr else None)
    if limit is not None and limit <= result.grid[-1] * 1.5:
        ax.axvline(limit, color="tab:red", lw=1.0, ls="--", label=f"stability limit {limit:.3g}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density (log scale)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_spectral_density(result: SpectralDensity, path: str | Path, title: str = "Hessian spectral density",
                          lr: float | None = None) -> Path:
    """Save :func:`density_figure` as a PNG at ``path`` (written atomically)."""
    path = Path(path)
    atomic_write_bytes(path, figure_to_png(density_figure(result, title, lr=lr), dpi=110))
    return path
