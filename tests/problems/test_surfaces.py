"""2D surfaces: closed-form gradients, stated minima and saddles, registry, batching and pickling."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inertia.problems import SURFACES, Surface, get_surface

NAMES = sorted(SURFACES)
VARIANTS = [(name, {}) for name in NAMES] + [
    ("valley", {"kappa": 100.0, "angle_deg": 30.0}),
    ("rosenbrock", {"a": 2.0, "b": 10.0}),
    ("rastrigin", {"amplitude": 3.0}),
    ("plateau", {"width": 0.5}),
]


def _points(surface: Surface, n: int = 64, seed: int = 0) -> torch.Tensor:
    """Random points in the surface's plot window (float64)."""
    gen = torch.Generator().manual_seed(seed)
    (x0, x1), (y0, y1) = surface.window
    u = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    return torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], dim=-1)


@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_closed_form_gradient_matches_autograd(name: str, params: dict) -> None:
    surface = get_surface(name, **params)
    xy = _points(surface).requires_grad_(True)
    (auto,) = torch.autograd.grad(surface.loss(xy).sum(), xy)
    torch.testing.assert_close(surface.grad(xy.detach()), auto, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_gradient_matches_central_differences(name: str, params: dict) -> None:
    surface = get_surface(name, **params)
    xy, h = _points(surface, n=16, seed=1), 1e-6
    for axis in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[axis] = h
        fd = (surface.loss(xy + e) - surface.loss(xy - e)) / (2 * h)
        scale = 1.0 + surface.grad(xy)[:, axis].abs()
        assert torch.all((fd - surface.grad(xy)[:, axis]).abs() / scale < 1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_minima_are_stationary_with_stated_value(name: str) -> None:
    surface = get_surface(name)
    if surface.min_value is None:
        assert surface.minima == ()
        return
    assert surface.minima
    for point in surface.minima:
        p = torch.tensor(point, dtype=torch.float64)
        assert surface.grad(p).abs().max() < 1e-9, (name, point)
        assert float(surface.loss(p)) == pytest.approx(surface.min_value, abs=1e-12)
        assert torch.linalg.eigvalsh(surface.hessian(p)).min() > 0.0
    # The stated minimum is the lowest value found on a dense grid of the window.
    *_, z = surface.grid(n=401)
    assert float(z.min()) >= surface.min_value - 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_saddles_and_local_minima_are_stationary(name: str) -> None:
    surface = get_surface(name)
    for point in surface.saddles:
        p = torch.tensor(point, dtype=torch.float64)
        assert surface.grad(p).abs().max() < 1e-9, (name, point)
        eig = torch.linalg.eigvalsh(surface.hessian(p))
        if float(eig.abs().max()) > 1e-9:  # a non-degenerate saddle has both signs of curvature
            assert eig.min() < 0.0 < eig.max(), (name, point, eig)
    for point in surface.local_minima:
        p = torch.tensor(point, dtype=torch.float64)
        assert surface.grad(p).abs().max() < 1e-8, (name, point)
        assert torch.linalg.eigvalsh(surface.hessian(p)).min() > 0.0
        assert float(surface.loss(p)) > surface.min_value


def test_closed_form_values() -> None:
    assert get_surface("rastrigin").local_minima.__len__() == 120
    bounded = get_surface("saddle_bounded")
    assert bounded.minima == ((0.0, math.sqrt(2.0)), (0.0, -math.sqrt(2.0)))
    assert float(bounded.loss(torch.tensor([0.0, math.sqrt(2.0)], dtype=torch.float64))) == pytest.approx(-1.0)
    # Monkey saddle: gradient and Hessian both vanish at the origin.
    monkey = get_surface("monkey_saddle")
    origin = torch.zeros(2, dtype=torch.float64)
    assert torch.count_nonzero(monkey.hessian(origin)) == 0
    narrow = get_surface("narrow_wide")
    assert narrow.min_value < float(narrow.loss(torch.tensor(narrow.local_minima[0], dtype=torch.float64)))


@settings(max_examples=25, deadline=None)
@given(kappa=st.floats(1.0, 1e4), angle=st.floats(-180.0, 180.0))
def test_valley_hessian_has_condition_number_kappa(kappa: float, angle: float) -> None:
    valley = get_surface("valley", kappa=kappa, angle_deg=angle)
    eig = torch.linalg.eigvalsh(valley.hessian(torch.tensor(valley.start, dtype=torch.float64)))
    torch.testing.assert_close(eig, torch.tensor([1.0 / kappa, 1.0], dtype=torch.float64))
    # The start lies 8 units up the shallow axis, 2 units across the steep one.
    assert float(torch.tensor(valley.start).norm()) == pytest.approx(math.hypot(8.0, 2.0), rel=1e-6)


def test_batched_shapes_and_grid() -> None:
    surface = get_surface("himmelblau")
    xy = torch.zeros(3, 4, 2, dtype=torch.float64)
    assert surface.loss(xy).shape == (3, 4)
    assert surface.f(xy).shape == (3, 4)
    assert surface.grad(xy).shape == (3, 4, 2)
    gx, gy, z = surface.grid(n=5)
    assert gx.shape == gy.shape == z.shape == (5, 5)
    assert float(gx.min()) == -5.0 and float(gy.max()) == 5.0
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        surface.loss(torch.zeros(3))
    with pytest.raises(ValueError, match="grid size"):
        surface.grid(n=1)


def test_start_and_minima_lie_in_window() -> None:
    for name in NAMES:
        surface = get_surface(name)
        (x0, x1), (y0, y1) = surface.window
        for x, y in (surface.start, *surface.minima):
            assert x0 <= x <= x1 and y0 <= y <= y1, (name, (x, y))


def test_registry_errors_name_the_input() -> None:
    with pytest.raises(ValueError, match=r"unknown surface 'nope'.*valley.*rosenbrock"):
        get_surface("nope")
    with pytest.raises(ValueError, match=r"unknown parameter 'kapa'.*kappa, angle_deg"):
        get_surface("valley", kapa=3.0)
    with pytest.raises(ValueError, match=r"unknown parameter 'kappa'.*none"):
        get_surface("beale", kappa=3.0)
    with pytest.raises(ValueError, match=r"kappa must be >= 1, got 0.5"):
        get_surface("valley", kappa=0.5)
    with pytest.raises(ValueError, match=r"'kappa'.*must be a number, got 'big'"):
        get_surface("valley", kappa="big")
    with pytest.raises(ValueError, match="width must be > 0"):
        get_surface("plateau", width=0.0)
    with pytest.raises(ValueError, match="finite"):
        get_surface("rosenbrock", b=float("nan"))


def test_surfaces_pickle_and_config() -> None:
    surface = get_surface("valley", kappa=10.0, angle_deg=45.0)
    clone = pickle.loads(pickle.dumps(surface))
    xy = _points(surface, n=8)
    torch.testing.assert_close(clone.loss(xy), surface.loss(xy))
    config = surface.config()
    assert config["params"] == {"kappa": 10.0, "angle_deg": 45.0}
    assert config["kind"] == "surface" and config["window"] == [[-10.0, 10.0], [-10.0, 10.0]]
