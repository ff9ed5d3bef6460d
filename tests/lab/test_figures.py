"""inertia.lab.figures: the lab's plots from data (non-finite values included) and trajectory GIFs."""

from __future__ import annotations

import numpy as np

from inertia.lab import figures


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def test_figures_build_from_data_with_divergence():
    path = np.array([[-1.2, 1.0], [-1.0, 0.9], [np.nan, np.nan]])
    fig = figures.contour_with_trajectories(rosenbrock, (-2, 2), (-1, 3), {"a": path}, minima=[(1, 1)])
    line = next(line for line in fig.axes[0].get_lines() if line.get_label() == "a")
    assert np.allclose(line.get_xydata(), path[:2])  # the non-finite tail is dropped
    losses = {"a": [3.0, 2.0, 1.0, float("inf")], "b": [2.0, 0.0, -1.0, -1.5]}
    fig = figures.loss_curves(losses, times={"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]})
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    assert "- (" in fig.axes[0].get_ylabel()  # negative values: plotted as a gap to the minimum
    fig = figures.lr_sensitivity({"sgd": ([1e-3, 1e-2, 1e-1], [1.0, 0.1, float("inf")])}, chosen={"sgd": 1e-2})
    assert fig.axes[0].get_xscale() == "log"
    fig = figures.schedule_curves({"half": lambda t: 0.5 ** (t // 5)}, 20)
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata()[[0, 5, 19]], [1.0, 0.5, 0.125])
    assert fig.axes[0].get_ylabel() == "lr multiplier"
    lrs = figures.schedule_curves({"lrs": [0.1, 0.05]}, 2, ylabel="learning rate")
    assert lrs.axes[0].get_ylabel() == "learning rate"
    assert list(figures.frame_indices(100, 5)) == [0, 25, 50, 74, 99]


def test_gif_frame_count_and_grid_fallback():
    import io

    from PIL import Image as PILImage

    gif = figures.trajectory_gif(lambda x, y: float(x * x + y * y), (-1, 1), (-1, 1),
                                 {"a": np.linspace([1, 1], [0, 0], 30)}, frames=6, dpi=40)
    image = PILImage.open(io.BytesIO(gif))
    assert image.n_frames == 6 and image.info.get("loop") == 0
