"""The N-d quadratic, seeded gradient noise, closures and the problem registry."""

from __future__ import annotations

import math

import pytest
import torch

from inertia.problems import (
    PROBLEMS,
    Quadratic,
    get_problem,
    get_surface,
    list_problems,
    noisy_quadratic,
    seeded_normal,
    with_gradient_noise,
)


def test_quadratic_spectrum_minimum_and_gradient() -> None:
    q = Quadratic(dim=12, condition=1e3, seed=3)
    eig = torch.linalg.eigvalsh(q.matrix)
    torch.testing.assert_close(eig.flip(0), torch.logspace(0, -3, 12, dtype=torch.float64))
    assert q.condition_number == pytest.approx(1e3)
    torch.testing.assert_close(q.rotation.T @ q.rotation, torch.eye(12, dtype=torch.float64))
    assert float(q.loss(q.x_star)) == 0.0 and float(q.grad(q.x_star).abs().max()) < 1e-14
    x = torch.randn(5, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    (auto,) = torch.autograd.grad(q.loss(x).sum(), x)
    torch.testing.assert_close(q.grad(x.detach()), auto)
    torch.testing.assert_close(q.hessian(x[0]), torch.autograd.functional.hessian(q.loss, x[0].detach()))
    start = torch.tensor(q.start, dtype=torch.float64)
    assert float((start - q.x_star).norm()) == pytest.approx(1.0)


def test_quadratic_given_eigenvalues_unrotated_and_offset() -> None:
    q = Quadratic(dim=3, eigenvalues=[1.0, 4.0, 2.0], rotate=False, min_value=-2.5)
    torch.testing.assert_close(q.matrix, torch.diag(torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)))
    assert q.minima == (tuple(q.x_star.tolist()),) and q.min_value == -2.5
    assert float(q.loss(q.x_star)) == -2.5
    e = q.x_star + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert float(q.gap(e)) == pytest.approx(2.0)  # (4 * 1^2) / 2


def test_quadratic_is_deterministic_in_seed() -> None:
    a, b, c = Quadratic(dim=6, seed=1), Quadratic(dim=6, seed=1), Quadratic(dim=6, seed=2)
    torch.testing.assert_close(a.matrix, b.matrix)
    assert a.start == b.start and a.start != c.start


def test_quadratic_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="dim must be an integer >= 1, got 0"):
        Quadratic(dim=0)
    with pytest.raises(ValueError, match="condition must be a finite number >= 1, got 0.5"):
        Quadratic(condition=0.5)
    with pytest.raises(ValueError, match="eigenvalues must be 2 finite positive numbers"):
        Quadratic(dim=2, eigenvalues=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 4\), got \(3,\)"):
        Quadratic(dim=4).loss(torch.zeros(3))


def test_gradient_noise_depends_only_on_seed_and_step() -> None:
    base = get_surface("rosenbrock")
    noisy = base.with_gradient_noise(0.5, seed=7)
    assert base.noise_scale == 0.0  # the original is untouched
    x = torch.tensor([0.3, -0.2], dtype=torch.float64)
    later = noisy.stochastic_grad(x, step=5)
    for step in range(5):  # drawing other steps first does not change step 5
        noisy.stochastic_grad(x, step)
    torch.testing.assert_close(noisy.stochastic_grad(x, step=5), later)
    torch.testing.assert_close(later - base.grad(x), 0.5 * seeded_normal(7, 5, (2,), torch.float64))
    assert not torch.equal(noisy.stochastic_grad(x, 6), later)
    other_seed = with_gradient_noise(base, 0.5, seed=8)
    assert not torch.equal(other_seed.stochastic_grad(x, 5), later)
    torch.testing.assert_close(base.stochastic_grad(x, 5), base.grad(x))


def test_gradient_noise_has_the_given_scale() -> None:
    q = noisy_quadratic(dim=1000, condition=10.0, noise_scale=0.3, seed=2, rotate=False)
    x = q.x_star.clone()
    noise = torch.stack([q.stochastic_grad(x, step) for step in range(10)])  # grad(x*) = 0
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(noise.std()) == pytest.approx(0.3, rel=0.03)


def test_stochastic_gradients_have_the_stated_mean_and_covariance() -> None:
    """g_t(x) = grad f(x) + sigma xi_t with xi_t ~ N(0, I): sample mean grad f(x), covariance sigma^2 I
    (float64, away from the minimum, rotated spectrum); within 5 standard errors of each estimate."""
    sigma, samples = 0.7, 20000
    q = noisy_quadratic(dim=3, condition=50.0, noise_scale=sigma, seed=4)
    x = torch.tensor(q.start, dtype=torch.float64)
    noise = torch.stack([q.stochastic_grad(x, step) for step in range(samples)]) - q.grad(x)
    assert float(q.grad(x).norm()) > 0.1 and noise.dtype == torch.float64
    assert float(noise.mean(0).abs().max()) < 5 * sigma / math.sqrt(samples)
    covariance = torch.cov(noise.T) / sigma**2
    torch.testing.assert_close(covariance, torch.eye(3, dtype=torch.float64), atol=5 * math.sqrt(2 / samples), rtol=0)
    x32 = q.init_params(dtype=torch.float32)  # the float32 closure sees the same draw, rounded
    q.closure(x32, 9)()
    torch.testing.assert_close(x32.grad, q.stochastic_grad(x32.detach().double(), 9).float())


def test_sgd_noise_floor_matches_simulation() -> None:
    """Stationary E[f - f*] of SGD equals sum_i lr sigma^2 / (2 (2 - lr lambda_i))."""
    q = noisy_quadratic(dim=8, condition=10.0, noise_scale=0.5, seed=0, rotate=False)
    lr, burn_in, steps = 0.5, 200, 4000
    x = q.x_star.clone()
    losses = []
    for step in range(burn_in + steps):
        x = x - lr * q.stochastic_grad(x, step)
        if step >= burn_in:
            losses.append(float(q.gap(x)))
    predicted = q.sgd_noise_floor(lr)
    assert sum(losses) / len(losses) == pytest.approx(predicted, rel=0.1)
    with pytest.raises(ValueError, match=r"lr must be in \(0, 2\)"):
        q.sgd_noise_floor(2.5)


def test_closure_drives_a_torch_optimizer_to_the_minimum() -> None:
    surface = get_surface("valley", kappa=10.0)
    x = surface.init_params()
    assert x.requires_grad and x.is_leaf and x.dtype == torch.float64
    opt = torch.optim.SGD([x], lr=0.5)
    first = float(opt.step(surface.closure(x, 0)))
    assert first == pytest.approx(float(surface.loss(torch.tensor(surface.start, dtype=torch.float64))))
    for step in range(1, 400):
        opt.step(surface.closure(x, step))
    assert float(surface.gap(x.detach())) < 1e-12
    # L-BFGS calls the closure several times per step; all calls see the same noisy gradient.
    noisy = surface.with_gradient_noise(1.0, seed=0)
    y = noisy.init_params()
    closure = noisy.closure(y, 3)
    closure()
    g1 = y.grad.clone()
    closure()
    torch.testing.assert_close(y.grad, g1)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        surface.closure(torch.zeros(3), 0)


def test_noise_and_start_arguments_are_checked() -> None:
    surface = get_surface("beale")
    with pytest.raises(ValueError, match="noise scale must be a finite number >= 0, got -1"):
        surface.with_gradient_noise(-1.0)
    with pytest.raises(ValueError, match="noise seed must be a non-negative integer, got 1.5"):
        surface.with_gradient_noise(1.0, seed=1.5)
    with pytest.raises(ValueError, match="start must have 2 coordinates"):
        surface.init_params((1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="unbounded below"):
        get_surface("saddle").gap(torch.zeros(2))


def test_get_problem_and_list_problems() -> None:
    q = get_problem("quadratic", dim=5, condition=50.0, noise_scale=0.2, noise_seed=4)
    assert isinstance(q, Quadratic) and q.dim == 5 and q.noise_scale == 0.2 and q.noise_seed == 4
    assert q.config()["noise_scale"] == 0.2
    assert get_problem("rosenbrock", b=5.0).params == {"a": 1.0, "b": 5.0}
    with pytest.raises(ValueError, match=r"unknown problem 'banana'; valid problems: valley, .*quadratic"):
        get_problem("banana")
    with pytest.raises(ValueError, match=r"unknown parameter 'kappa' for problem 'quadratic'"):
        get_problem("quadratic", kappa=3.0)
    rows = list_problems()
    names = [name for name, _, _ in rows]
    assert set(PROBLEMS) <= set(names) and "digits" in names
    assert {kind for _, kind, _ in rows} == {"surface", "quadratic", "dataset"}
    assert all(isinstance(text, str) and text for _, _, text in rows)
    assert math.isfinite(float(get_problem("plateau").loss(torch.zeros(2))))
