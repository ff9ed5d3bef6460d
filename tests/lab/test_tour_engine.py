"""The tour's run engine and measurements against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inertia.lab.tour import CHAPTERS, find_chapter
from inertia.lab.tour import runs as E


def quadratic_grad(x: np.ndarray, step: int) -> np.ndarray:
    return x * np.array([1.0, 10.0])


def test_measurements_on_known_paths():
    assert E.sign_flips(np.array([1.0, -1.0, 0.0, -2.0, 3.0])) == 2
    line = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]])
    assert E.path_length(line) == pytest.approx(9.0)
    past = np.array([[-4.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.5, 0.0]])
    assert E.overshoot(past, np.zeros(2)) == pytest.approx(0.25)
    assert E.overshoot(past[:2], np.zeros(2)) == 0.0
    assert E.first_step_below(np.array([3.0, 2.0, 0.5, 0.1]), 1.0) == 2
    assert E.first_step_below(np.array([3.0, 2.0]), 1.0) is None


def test_gd_matches_the_closed_form_iteration():
    trace = E.run_paths(quadratic_grad, np.array([1.0, 1.0]), E.SGD, 0.15, 5)
    expected = np.array([(1 - 0.15) ** np.arange(6), (1 - 1.5) ** np.arange(6)]).T
    np.testing.assert_allclose(trace.xs, expected, rtol=1e-14)
    assert E.sign_flips(trace.xs[:, 1]) == 5


def test_grid_runs_equal_separate_runs_with_common_noise():
    starts = np.array([[1.0, -2.0], [0.5, 0.5]])
    lrs = [0.01, 0.05, 0.1]
    grid = E.run_grid(quadratic_grad, starts, E.ADAM, lrs, 30, noise_std=0.3, seed=4)
    for lr, trace in zip(lrs, grid, strict=True):
        alone = E.run_paths(quadratic_grad, starts, E.ADAM, lr, 30, noise_std=0.3, seed=4)
        np.testing.assert_array_equal(trace.xs, alone.xs)
        np.testing.assert_array_equal(trace.gs, alone.gs)


def test_effective_step_is_adagrads_step_size():
    lr = 0.2
    trace = E.run_paths(quadratic_grad, np.array([3.0, 1.0]), E.ADAGRAD, lr, 20)
    cache = np.cumsum(trace.gs**2, axis=0)
    expected = np.median(lr / (np.sqrt(cache) + 1e-10), axis=1)
    np.testing.assert_allclose(trace.effective_step(), expected, rtol=1e-10)


def test_uncorrected_adam_first_step_matches_the_formula():
    trace = E.run_paths(quadratic_grad, np.array([3.0, 1.0]), E.ADAM_NO_BC, 0.01, 1)
    first = np.abs(trace.xs[1] - trace.xs[0]) / 0.01
    np.testing.assert_allclose(first, 0.1 / np.sqrt(0.001), rtol=1e-6)


def test_divergent_runs_become_non_finite_and_tuning_skips_them():
    grid = E.run_grid(quadratic_grad, np.array([1.0, 1.0]), E.SGD, [0.1, 1.0], 400)
    assert np.isfinite(grid[0].xs).all() and not np.isfinite(grid[1].xs[-1]).all()

    def score(lr: float) -> float:
        return float(np.sum(E.run_paths(quadratic_grad, np.ones(2), E.SGD, lr, 400).xs[-1] ** 2))

    best, scores = E.tune_lr(score, [0.1, 1.0, 0.19])
    assert best == 0.1 and scores[1.0] == float("inf") and np.isfinite(scores[0.19])


def test_optimizers_are_inertias():
    import inertia

    param = torch.zeros(2, requires_grad=True)
    assert isinstance(E.SGD.make([param], 0.1), inertia.SGD)
    assert isinstance(E.ADAM_NO_BC.make([param], 0.1), inertia.Adam)


def test_rank_correlation_matches_scipy():
    from scipy.stats import spearmanr

    from inertia.lab.tour.ch_sgd import rank_correlation

    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.random(6), rng.random(6)
        assert rank_correlation(list(a), list(b)) == pytest.approx(spearmanr(a, b)[0], abs=1e-12)


def test_runs_converged_to_within_1e_12_tie_and_the_smaller_lr_wins():
    """Final losses of 1e-40 and 1e-20 are both "converged": ranking them would pick by rounding noise."""
    from inertia.lab.tour.context import CONVERGED, TourContext

    def loss(xs: np.ndarray) -> np.ndarray:
        return 0.5 * np.sum(xs**2 * np.array([1.0, 10.0]), axis=-1)

    grid = [0.01, 0.05, 0.08, 0.15]
    run = TourContext().tuned("quadratic", quadratic_grad, loss, np.array([1.0, 1.0]), E.SGD, grid, 400)
    finals = {lr: E.final_loss(loss(trace.xs)) for lr, trace in zip(grid, run.all_traces, strict=True)}
    assert finals[0.01] > CONVERGED > finals[0.05] > finals[0.08]  # 0.08 ends lower, yet only rounding apart
    assert run.lr == 0.05 and run.scores[0.05] == run.scores[0.08] == CONVERGED


def _notes_momentum(grad, x0: np.ndarray, lr: float, mu: float, steps: int, nesterov: bool) -> np.ndarray:
    """The notes' (CS231n) forms: v = mu v - lr grad(x + mu v if nesterov else x); x += v. Returns the points
    the tour plots: x itself, or the look-ahead point x + mu v for Nesterov."""
    x, v, points = x0.copy(), np.zeros_like(x0), [x0.copy()]
    for t in range(steps):
        v = mu * v - lr * grad(x + mu * v if nesterov else x, t)
        x = x + v
        points.append(x + mu * v if nesterov else x.copy())
    return np.array(points)


@pytest.mark.parametrize("spec", [E.MOMENTUM, E.NESTEROV])
def test_torch_forms_take_the_notes_steps_at_a_constant_lr(spec):
    """What chapters 5 and 6 say: at a constant lr torch's momentum is the notes' velocity form, and torch's
    Nesterov is the notes' look-ahead update seen at the look-ahead point x + mu v."""
    x0 = np.array([1.0, -0.5])
    trace = E.run_paths(quadratic_grad, x0, spec, 0.07, 40)
    expected = _notes_momentum(quadratic_grad, x0, 0.07, 0.9, 40, nesterov=spec is E.NESTEROV)
    np.testing.assert_allclose(trace.xs, expected, rtol=1e-12, atol=1e-15)


def test_find_chapter_looks_up_the_table_and_names_an_unknown_key():
    assert [find_chapter(chapter.key) for chapter in CHAPTERS] == list(CHAPTERS)
    with pytest.raises(KeyError, match="key: no tour chapter 'adamq'; chapters: zigzag, minibatch"):
        find_chapter("adamq")
