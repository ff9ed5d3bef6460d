"""Chapter 13 ("beyond the notes"): its slowdowns, its problems and the measured costs it reports (its verdict
rules are tested in test_tour_rules.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inertia
from inertia.lab.tour import ch_beyond
from inertia.lab.tour.context import TourContext
from inertia.problems import Quadratic


def test_slowdown_is_the_worse_angle_and_a_lower_bound_when_the_rotated_run_misses():
    assert ch_beyond.slowdown({"0": 10, "22.5": 30, "45": 20}, 150) == (3.0, False)
    assert ch_beyond.slowdown({"0": 10, "22.5": 30, "45": None}, 150) == (15.0, True)
    assert ch_beyond.slowdown({"0": None, "45": 20}, 150) == (None, False)
    assert ch_beyond.slowdown_text({"0": 10, "45": None}, 150) == ">= 15×"


def test_the_quadratic_twins_are_one_problem_seen_in_two_bases():
    aligned, rotated = ch_beyond.quadratic_twins()
    problem = Quadratic(dim=ch_beyond.QUAD_DIM, condition=ch_beyond.QUAD_CONDITION,
                                         seed=ch_beyond.QUAD_SEED)
    rotation = problem.rotation.numpy()
    points = np.random.default_rng(0).standard_normal((4, ch_beyond.QUAD_DIM))
    np.testing.assert_allclose(aligned.loss(points @ rotation), rotated.loss(points), rtol=1e-12)
    np.testing.assert_allclose(aligned.grad(points @ rotation, 0), rotated.grad(points, 0) @ rotation, atol=1e-12)
    assert aligned.target == pytest.approx(rotated.target, rel=1e-12)
    assert not np.allclose(rotation, np.eye(ch_beyond.QUAD_DIM))
    np.testing.assert_allclose(rotated.torch_loss(torch.from_numpy(points[0])).item(), rotated.loss(points[0]),
                               rtol=1e-12)


def test_state_bytes_counts_the_tensors_the_optimizer_keeps():
    param = torch.zeros(3, 7, dtype=torch.float64, requires_grad=True)
    optimizer = inertia.Adam([param], lr=0.1)
    assert ch_beyond.state_bytes(optimizer) == 0
    param.grad = torch.ones_like(param)
    optimizer.step()
    kept = optimizer.state_dict()["state"][0]
    expected = sum(v.numel() * v.element_size() for v in kept.values() if isinstance(v, torch.Tensor))
    assert ch_beyond.state_bytes(optimizer) == expected >= 2 * param.numel() * param.element_size()


def test_muon_on_a_row_matrix_steps_along_the_normalised_gradient():
    """The orthogonal factor of a 1 x n matrix is its direction: Muon's first update points along -g, and on the
    axis-aligned valley that is not the direction of -sign(g)."""
    first = ch_beyond.muon_first_update(ch_beyond.valley(0.0))
    assert first["cos_gradient"] > 0.999
    assert first["cos_sign"] < first["cos_gradient"] - 0.1
    assert 0.0 < first["length"] < 1.5


def test_second_order_tuning_picks_the_fewest_iterations_as_a_full_search_would(tour_context):
    problem = ch_beyond.valley(45.0)
    for name in ch_beyond.SECOND_ORDER:
        picked = ch_beyond.second_order_hit(tour_context, problem, name, ch_beyond.VALLEY_STEPS)
        full = {lr: ch_beyond.second_order_run(name, problem, lr, ch_beyond.VALLEY_STEPS)[0]
                for lr in ch_beyond.SECOND_ORDER_GRID}
        fewest = min(h for h in full.values() if h is not None)
        assert picked == {"lr": min(lr for lr, h in full.items() if h == fewest), "hit": fewest}, (name, full)


@pytest.fixture
def tour_context() -> TourContext:
    return TourContext()
