"""The behaviour each surface is meant to show, measured with torch.optim from the default start."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from inertia.problems import Problem, get_surface

Factory = Callable[[list[torch.Tensor]], torch.optim.Optimizer]


def _run(problem: Problem, make: Factory, steps: int) -> torch.Tensor:
    x = problem.init_params()
    optimizer = make([x])
    for step in range(steps):
        optimizer.step(problem.closure(x, step))
    return x.detach()


def test_adagrad_stops_early_on_the_long_valley_while_rmsprop_arrives() -> None:
    valley = get_surface("long_valley")
    adagrad = _run(valley, lambda p: torch.optim.Adagrad(p, lr=0.1), 200)
    rmsprop = _run(valley, lambda p: torch.optim.RMSprop(p, lr=0.1), 200)
    # On the unit-slope floor AdaGrad covers about 2 lr sqrt(t) = 2.8 of the 8 units.
    assert -6.0 < float(adagrad[0]) < -4.0
    assert float(valley.gap(rmsprop)) < 1e-6


def test_plateau_stalls_sgd_but_not_adam() -> None:
    plateau = get_surface("plateau")
    start = torch.tensor(plateau.start, dtype=torch.float64)
    sgd = _run(plateau, lambda p: torch.optim.SGD(p, lr=0.1), 100)
    adam = _run(plateau, lambda p: torch.optim.Adam(p, lr=0.1), 100)
    assert float((sgd - start).norm()) < 0.1 and float(plateau.loss(sgd)) > 0.99
    assert float(plateau.gap(adam)) < 1e-2


def test_gd_creeps_into_the_monkey_saddle_like_one_over_t() -> None:
    """On the ridge y = 0, x' = x - 3 lr x^2, so 1/x_t = 1/x_0 + 3 lr t + O(log t)."""
    lr, steps = 0.05, 200
    x = _run(get_surface("monkey_saddle"), lambda p: torch.optim.SGD(p, lr=lr), steps)
    assert float(x[1]) == 0.0
    assert float(x[0]) * (1.0 + 3.0 * lr * steps) == pytest.approx(1.0, rel=0.1)
    bounded = get_surface("monkey_saddle_bounded")
    ball = _run(bounded, lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9), steps)
    torch.testing.assert_close(ball, torch.tensor(bounded.minima[0], dtype=torch.float64), atol=1e-3, rtol=0)


def test_saddle_is_escaped_slowly_and_local_minima_trap_gd() -> None:
    bounded = get_surface("saddle_bounded")
    early = _run(bounded, lambda p: torch.optim.SGD(p, lr=0.01), 100)
    late = _run(bounded, lambda p: torch.optim.SGD(p, lr=0.01), 1500)
    assert float(early[1]) < 0.01  # still lingering near the saddle's stable axis
    assert float(bounded.gap(late)) < 1e-6
    rastrigin = get_surface("rastrigin")
    end = _run(rastrigin, lambda p: torch.optim.SGD(p, lr=1e-3), 300)
    nearest = min(rastrigin.local_minima, key=lambda m: float((end - torch.tensor(m)).norm()))
    assert float((end - torch.tensor(nearest, dtype=torch.float64)).norm()) < 1e-3
    assert float(rastrigin.loss(end)) > 20.0


def test_narrow_minimum_holds_small_steps_and_loses_momentum_runs() -> None:
    surface = get_surface("narrow_wide")
    narrow = torch.tensor(surface.minima[0], dtype=torch.float64)
    wide = torch.tensor(surface.local_minima[0], dtype=torch.float64)
    gd = _run(surface, lambda p: torch.optim.SGD(p, lr=0.02), 1500)
    heavy_ball = _run(surface, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), 1500)
    assert float((gd - narrow).norm()) < 1e-3
    assert float((heavy_ball - wide).norm()) < 1e-3
