"""State shared by the chapters of one tour: the seed, a cache of tuned runs, figure encoding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from inertia.io.report_parts import figure_to_png
from inertia.lab.figure_text import localize_figure
from inertia.lab.tour.model import Figure
from inertia.lab.tour.runs import GradFn, LossFn, OptSpec, Trace, final_loss, run_grid

FIGURE_DPI = 72
CONVERGED = 1e-12  # final losses below this (on surfaces whose minimum is 0) count as converged and tie


def converged_final_loss(losses: np.ndarray) -> float:
    """:func:`final_loss`, floored at :data:`CONVERGED`: runs that all reached the minimum to within
    1e-12 tie instead of being ranked by rounding noise (1e-47 against 1e-21), and the tie goes to the
    smaller lr. Only for losses whose minimum is 0."""
    return max(final_loss(losses), CONVERGED)


@dataclass
class TunedRun:
    """The best run of one optimizer after a log-grid lr search with a fixed step budget.

    ``all_traces[i]`` is the run at ``grid[i]`` (kept for lr-sweep measurements).
    """

    spec: OptSpec
    lr: float
    scores: dict[float, float]
    trace: Trace
    losses: np.ndarray
    all_traces: list[Trace]


@dataclass
class TourContext:
    """Seed and cache of one tour; chapters reuse each other's tuned runs through :meth:`tuned`."""

    seed: int = 0
    cache: dict[Any, Any] = field(default_factory=dict)

    def tuned(
        self,
        problem_key: str,
        grad: GradFn,
        loss: LossFn,
        x0: np.ndarray,
        spec: OptSpec,
        grid: list[float],
        steps: int,
        noise_std: float = 0.0,
        score: Callable[[np.ndarray], float] = converged_final_loss,
    ) -> TunedRun:
        """Run ``spec`` at every lr of ``grid`` with the same budget and keep the best by ``score``.

        ``score`` maps a loss curve to a number, lower is better (non-finite counts as inf; equal scores
        go to the smaller lr, ``grid`` being ascending). The result is cached by its arguments so later chapters reuse the run instead of repeating it.
        """
        key = (problem_key, spec, steps, noise_std, tuple(grid), score)
        if key not in self.cache:
            traces = run_grid(grad, x0, spec, grid, steps, noise_std, self.seed)
            losses = [loss(trace.xs) for trace in traces]
            scores = {lr: _finite_or_inf(score(curve)) for lr, curve in zip(grid, losses, strict=True)}
            best = min(range(len(grid)), key=lambda i: scores[grid[i]])
            self.cache[key] = TunedRun(spec, grid[best], scores, traces[best], losses[best], traces)
        return self.cache[key]


def _finite_or_inf(value: float) -> float:
    value = float(value)
    return value if np.isfinite(value) else float("inf")


def to_figure(fig: MplFigure, caption_key: str, **caption_args: Any) -> Figure:
    """Encode a matplotlib figure as PNG bytes for the report, its labels in the current figure language."""
    return Figure(figure_to_png(localize_figure(fig), dpi=FIGURE_DPI), caption_key, caption_args)
