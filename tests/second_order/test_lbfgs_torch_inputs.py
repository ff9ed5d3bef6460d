"""LBFGS takes what torch.optim.LBFGS takes: complex params (seen as their real view), a one-element
tensor lr, and any float tolerance but NaN (``-inf``: never stop on that test)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from so_problems import backward_closure

from inertia.second_order import LBFGS, Status

LINE_SEARCHES = [dict(line_search="strong_wolfe"), dict(line_search=None, lr=0.1)]


def least_squares(m: int = 7, n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A complex system ``A z = b`` of ``m`` equations in ``n`` unknowns (float64 parts)."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(m, n, 2, generator=generator, dtype=torch.float64)
    b = torch.randn(m, 2, generator=generator, dtype=torch.float64)
    return torch.view_as_complex(a), torch.view_as_complex(b)


def complex_loss(a: torch.Tensor, b: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return (a @ z - b).abs().pow(2).sum()


def real_loss(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The same loss of ``w = view_as_real(z)``, written with real matrices only."""
    x, y = w[:, 0], w[:, 1]
    real = a.real @ x - a.imag @ y - b.real
    imag = a.imag @ x + a.real @ y - b.imag
    return (real.pow(2) + imag.pow(2)).sum()


def trajectory(param: torch.Tensor, loss, steps: int = 4, cls: type = LBFGS, **kwargs) -> list[torch.Tensor]:
    """``param`` (as a real tensor) after each of ``steps`` calls of ``step``."""
    optimizer = cls([param], **kwargs)
    closure = backward_closure(optimizer, lambda: loss(param))
    points = []
    for _ in range(steps):
        optimizer.step(closure)
        points.append(torch.view_as_real(param.detach()).clone() if param.is_complex() else param.detach().clone())
    return points


@pytest.mark.parametrize("settings", LINE_SEARCHES, ids=["strong_wolfe", "fixed-step"])
def test_complex_least_squares_has_the_iterates_of_its_real_form(settings):
    a, b = least_squares()
    z = torch.zeros(a.shape[1], dtype=torch.complex128, requires_grad=True)
    w = torch.zeros(a.shape[1], 2, dtype=torch.float64, requires_grad=True)
    kwargs = dict(settings, max_iter=5, on_failure="ignore")
    ours = trajectory(z, lambda p: complex_loss(a, b, p), **kwargs)
    real = trajectory(w, lambda p: real_loss(a, b, p), **kwargs)
    assert not torch.equal(ours[-1], torch.zeros_like(ours[-1]))  # it moved
    for complex_point, real_point in zip(ours, real, strict=True):
        torch.testing.assert_close(complex_point, real_point, rtol=1e-10, atol=1e-12)


def test_complex_least_squares_converges_to_the_solution():
    a, b = least_squares()
    z = torch.zeros(a.shape[1], dtype=torch.complex128, requires_grad=True)
    optimizer = LBFGS([z], max_iter=200, tolerance_grad=1e-8, tolerance_change=0.0)  # loss ~10: grads round at ~1e-9
    optimizer.step(backward_closure(optimizer, lambda: complex_loss(a, b, z)))
    solution = torch.linalg.lstsq(a, b.unsqueeze(1)).solution.squeeze(1)
    assert optimizer.status == Status.CONVERGED, optimizer.message
    torch.testing.assert_close(z.detach(), solution, rtol=1e-7, atol=1e-8)


def test_complex_params_with_a_fixed_step_equal_torch():
    a, b = least_squares()
    settings = dict(lr=0.1, max_iter=6, history_size=4)
    starts = [torch.zeros(a.shape[1], dtype=torch.complex128, requires_grad=True) for _ in range(2)]
    ours = trajectory(starts[0], lambda p: complex_loss(a, b, p), line_search=None, **settings)
    theirs = trajectory(starts[1], lambda p: complex_loss(a, b, p), cls=torch.optim.LBFGS, **settings)
    assert all(torch.equal(mine, torch_point) for mine, torch_point in zip(ours, theirs, strict=True))


def test_complex_and_real_params_share_one_vector():
    z = torch.zeros(3, dtype=torch.complex64, requires_grad=True)
    x = torch.zeros(2, dtype=torch.float32, requires_grad=True)
    optimizer = LBFGS([z, x])
    assert (optimizer._flat.numel, optimizer._flat.dtype) == (8, torch.float32)
    target = torch.arange(8, dtype=torch.float32)
    loss = lambda: (torch.cat([torch.view_as_real(z).reshape(-1), x]) - target).pow(2).sum()  # noqa: E731
    optimizer.step(backward_closure(optimizer, loss))
    torch.testing.assert_close(torch.cat([torch.view_as_real(z.detach()).reshape(-1), x.detach()]), target)


def rosenbrock_trajectory(lr, cls: type = LBFGS, change: float | None = None, **kwargs) -> list[torch.Tensor]:
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    optimizer = cls([x], lr=lr, **kwargs)
    closure = backward_closure(optimizer, lambda: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)
    points = []
    for step in range(4):
        if change is not None and step == 2:
            if isinstance(lr, torch.Tensor):
                lr.fill_(change)  # in place: the group holds the same tensor
            else:
                optimizer.param_groups[0]["lr"] = change
        optimizer.step(closure)
        points.append(x.detach().clone())
    return points


@pytest.mark.parametrize("settings", [dict(line_search="strong_wolfe"), dict(line_search=None)],
                         ids=["strong_wolfe", "fixed-step"])
@pytest.mark.parametrize("shape", [(), (1,)], ids=["0-d", "1-element"])
def test_a_tensor_lr_steps_as_the_number_and_follows_in_place_changes(settings, shape):
    rate = 0.25 if settings["line_search"] else 1e-3
    number = rosenbrock_trajectory(rate, change=rate / 2, max_iter=5, **settings)
    tensor = rosenbrock_trajectory(torch.full(shape, rate, dtype=torch.float64), change=rate / 2, max_iter=5,
                                   **settings)  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(tensor, number, strict=True))


def test_a_tensor_lr_with_torchs_line_search_and_history_equals_torch():
    """torch's "Tensor lr" configuration (float32 rate), with torch's defaults given explicitly."""
    ours = rosenbrock_trajectory(torch.tensor(1e-3), line_search=None, history_size=100)
    theirs = rosenbrock_trajectory(torch.tensor(1e-3), cls=torch.optim.LBFGS)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_a_tensor_lr_survives_a_state_dict_round_trip():
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    optimizer = LBFGS([x], lr=torch.tensor(0.5, dtype=torch.float64))
    optimizer.step(backward_closure(optimizer, lambda: (x - 1).pow(2).sum()))
    other = LBFGS([x.detach().clone().requires_grad_()])
    other.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    assert torch.equal(other.param_groups[0]["lr"], torch.tensor(0.5, dtype=torch.float64))


def steps_taken(**tolerances) -> tuple[int, Status]:
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    optimizer = LBFGS([x], max_iter=60, on_failure="ignore", **tolerances)
    optimizer.step(backward_closure(optimizer, lambda: (x - 1).pow(2).sum()))
    return optimizer.nit, optimizer.status


def test_minus_infinite_tolerances_never_stop_on_their_tests():
    default_nit, default_status = steps_taken()
    assert default_status == Status.CONVERGED and default_nit < 60
    nit, status = steps_taken(tolerance_grad=-math.inf, tolerance_change=-math.inf)
    assert nit > default_nit and status != Status.CONVERGED and status != Status.SMALL_CHANGE


@pytest.mark.parametrize("name", ["tolerance_grad", "tolerance_change"])
@pytest.mark.parametrize("value", [0, 0.0, -1e-3, -math.inf, math.inf, 1e300])
def test_any_float_tolerance_is_taken_as_a_float(name, value):
    optimizer = LBFGS([torch.zeros(2, requires_grad=True)], **{name: value})
    stored = optimizer.param_groups[0][name]
    assert type(stored) is float and stored == value


def test_an_infinite_tolerance_grad_stops_at_once():
    nit, status = steps_taken(tolerance_grad=math.inf)
    assert (nit, status) == (0, Status.CONVERGED)
