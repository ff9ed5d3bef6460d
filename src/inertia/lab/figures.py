"""Figures for the lab (matplotlib, Agg, no pyplot state): every function returns a new ``Figure``.

Contours with trajectories, loss against step and time (log scale), lr-sensitivity curves,
schedule curves, bar charts and an animated GIF of trajectories. Pass the figures to
:meth:`inertia.io.report.Report.add_section`, or save them with ``fig.savefig``.

Surfaces are given either as ``func(X, Y) -> Z`` on numpy grids (vectorised), or as an ``inertia.problems``
surface (``loss(points)`` on tensors ``(..., 2)``; plot window and minima default to its ``window`` and
``minima``). Non-finite points (a diverged run) are dropped; a curve that stops early ends in an ``x``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from inertia.lab.figure_text import localize_figure

ArrayLike = Sequence[float] | np.ndarray
Surface = Callable[[np.ndarray, np.ndarray], np.ndarray]

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
          "#7f7f7f", "#bcbd22")


def color_for(index: int) -> str:
    """The colour used for the ``index``-th series (tab10 order, red second)."""
    return COLORS[index % len(COLORS)]


def numpy_surface(surface: Surface | object) -> Surface:
    """``func(X, Y)`` on numpy arrays for a callable or a problem with ``loss(points[..., 2])``."""
    loss = getattr(surface, "loss", None)
    if loss is None:
        if not callable(surface):
            raise TypeError(f"surface: expected func(X, Y) or a surface problem, got {type(surface).__name__}")
        return surface

    def evaluate(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        import torch

        points = torch.stack([torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(Y, dtype=torch.float64)], -1)
        with torch.no_grad():
            return loss(points).numpy()

    return evaluate


def surface_window(surface: object, xlim: tuple[float, float] | None, ylim: tuple[float, float] | None,
                   minima: Sequence[tuple[float, float]] | None
                   ) -> tuple[tuple[float, float], tuple[float, float], Sequence[tuple[float, float]]]:
    """Fill in ``xlim``, ``ylim`` and ``minima`` from a surface's ``window`` and ``minima`` when None."""
    window = getattr(surface, "window", None)
    if xlim is None or ylim is None:
        if window is None:
            raise ValueError("xlim/ylim: required when the surface has no window")
        xlim = tuple(window[0]) if xlim is None else xlim
        ylim = tuple(window[1]) if ylim is None else ylim
    if minima is None:
        minima = [tuple(m) for m in getattr(surface, "minima", ())]
    return xlim, ylim, minima


def grid_values(func: Surface, xlim: tuple[float, float], ylim: tuple[float, float],
                resolution: int = 160) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate ``func`` on a ``resolution x resolution`` grid; return ``(X, Y, Z)`` as float64.

    ``func`` is called as ``func(X, Y)`` with numpy arrays (a surface problem is wrapped by
    :func:`numpy_surface`). If that fails it is called once per point with floats (slow).
    """
    func = numpy_surface(func)
    xs = np.linspace(xlim[0], xlim[1], resolution)
    ys = np.linspace(ylim[0], ylim[1], resolution)
    X, Y = np.meshgrid(xs, ys)
    try:
        Z = np.asarray(func(X, Y), dtype=np.float64)
        if Z.shape != X.shape:
            raise ValueError("shape")
    except Exception:
        Z = np.array([[float(func(float(x), float(y))) for x, y in zip(rx, ry, strict=True)]
                      for rx, ry in zip(X, Y, strict=True)])
    return X, Y, Z


def contour_levels(Z: np.ndarray, count: int = 25) -> np.ndarray:
    """Contour levels spread by quantile, denser near the minimum; works for any sign and range."""
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        raise ValueError("surface: no finite values in the plot window")
    quantiles = np.linspace(0.0, 1.0, count) ** 2
    levels = np.unique(np.quantile(finite, quantiles))
    if levels.size < 2:
        levels = np.array([finite.min() - 1.0, finite.min() + 1.0])
    return levels


def finite_points(points: ArrayLike) -> tuple[np.ndarray, bool]:
    """Return the leading finite rows of an ``(n, d)`` array and whether anything was cut off."""
    array = np.asarray(points, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 2)), False
    array = array.reshape(len(array), -1) if array.ndim == 1 else array
    finite_rows = np.all(np.isfinite(array), axis=1)
    if finite_rows.all():
        return array, False
    first_bad = int(np.argmin(finite_rows))
    return array[:first_bad], True


def draw_surface(ax: Axes, func: Surface | object, xlim: tuple[float, float], ylim: tuple[float, float],
                 minima: Sequence[tuple[float, float]] = (), levels: int = 25, filled: bool = True) -> None:
    """Draw the contours of ``func`` in ``ax`` and mark ``minima`` with stars."""
    X, Y, Z = grid_values(func, xlim, ylim)
    level_values = contour_levels(Z, levels)
    if filled:
        ax.contourf(X, Y, Z, levels=level_values, cmap="Greys_r", alpha=0.35, extend="both")
    ax.contour(X, Y, Z, levels=level_values, colors="0.45", linewidths=0.5)
    for mx, my in minima:
        ax.plot([mx], [my], marker="*", color="gold", markeredgecolor="black", markersize=13, zorder=5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def contour_with_trajectories(
    func: Surface | object,
    xlim: tuple[float, float] | None,
    ylim: tuple[float, float] | None,
    trajectories: Mapping[str, ArrayLike],
    minima: Sequence[tuple[float, float]] | None = None,
    title: str = "",
    levels: int = 25,
    markers: bool = True,
    figsize: tuple[float, float] = (6.0, 5.0),
) -> Figure:
    """Contour plot of a 2D surface with one polyline per optimizer.

    ``trajectories`` maps a label to an ``(n, 2)`` array of iterates (x_0 first). The start is
    a circle, the last finite iterate a square, a divergence (non-finite tail) an ``x``.
    ``xlim``/``ylim``/``minima`` may be None for a surface problem (taken from the surface).
    """
    xlim, ylim, minima = surface_window(func, xlim, ylim, minima)
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    draw_surface(ax, func, xlim, ylim, minima, levels)
    for index, (label, points) in enumerate(trajectories.items()):
        path, diverged = finite_points(points)
        if len(path) == 0:
            continue
        color = color_for(index)
        ax.plot(path[:, 0], path[:, 1], "-", color=color, linewidth=1.4, label=label,
                marker="." if markers and len(path) <= 200 else None, markersize=3)
        ax.plot(path[0, 0], path[0, 1], "o", color=color, markersize=6)
        ax.plot(path[-1, 0], path[-1, 1], "x" if diverged else "s", color=color, markersize=7)
    if trajectories:
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _positive_offset(values: list[np.ndarray], offset: float | None) -> float:
    """Offset subtracted before a log plot: the given one, or 0 when all values are positive."""
    if offset is not None:
        return offset
    finite = [v[np.isfinite(v)] for v in values if len(v)]
    lowest = min((float(v.min()) for v in finite if v.size), default=1.0)
    return 0.0 if lowest > 0 else lowest - max(1e-12, abs(lowest) * 1e-6)


def plot_curves(
    ax: Axes,
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    xlabel: str,
    ylabel: str,
    logy: bool = True,
    logx: bool = False,
    offset: float | None = None,
) -> None:
    """Draw ``label -> (x, y)`` curves in ``ax``; with ``logy``, ``y - offset`` is drawn on a log axis.

    When ``offset`` is None and some value is not positive, the smallest value (minus a hair) is
    subtracted so the log scale shows the gap to the best value reached; the axis label says so.
    """
    arrays = {k: (np.asarray(x, np.float64), np.asarray(y, np.float64)) for k, (x, y) in curves.items()}
    shift = _positive_offset([y for _, y in arrays.values()], offset) if logy else 0.0
    for index, (label, (x, y)) in enumerate(arrays.items()):
        keep = np.isfinite(y) & np.isfinite(x)
        stopped = not keep.all()
        cut = int(np.argmin(keep)) if stopped else len(y)
        xs, ys = x[:cut], y[:cut] - shift
        color = color_for(index)
        ax.plot(xs, ys, color=color, linewidth=1.4, label=label)
        if stopped and cut > 0:
            ax.plot(xs[-1], ys[-1], "x", color=color, markersize=8)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel if shift == 0 else f"{ylabel} - ({shift:.4g})")
    ax.grid(True, which="major", alpha=0.3)
    if arrays:
        ax.legend(fontsize=8)


def loss_curves(
    losses: Mapping[str, ArrayLike],
    times: Mapping[str, ArrayLike] | None = None,
    steps: Mapping[str, ArrayLike] | None = None,
    ylabel: str = "loss",
    logy: bool = True,
    offset: float | None = None,
    title: str = "",
) -> Figure:
    """Loss against step (left) and, when ``times`` is given, against wall time in seconds (right).

    ``losses[label]`` is the loss per recorded step; ``steps[label]`` the step numbers (default
    0, 1, 2, ...); ``times[label]`` the elapsed seconds at the same records.
    """
    panels = 2 if times else 1
    fig = Figure(figsize=(5.2 * panels, 4.0))
    axes = fig.subplots(1, panels, squeeze=False)[0]
    by_step = {k: (steps[k] if steps else np.arange(len(v)), v) for k, v in losses.items()}
    plot_curves(axes[0], by_step, "step", ylabel, logy=logy, offset=offset)
    if times:
        by_time = {k: (times[k], v) for k, v in losses.items()}
        plot_curves(axes[1], by_time, "wall time (s)", ylabel, logy=logy, offset=offset)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def lr_sensitivity(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    ylabel: str = "final loss",
    logy: bool = True,
    chosen: Mapping[str, float] | None = None,
    title: str = "learning-rate sensitivity",
) -> Figure:
    """Final metric against learning rate (log x) per optimizer; diverged runs (inf/nan) are gaps.
    ``curves[label] = (lrs, values)``; ``chosen[label]`` (optional) is ringed."""
    fig = Figure(figsize=(6.0, 4.2))
    ax = fig.add_subplot()
    for index, (label, (lrs, values)) in enumerate(curves.items()):
        lrs_a, values_a = np.asarray(lrs, np.float64), np.asarray(values, np.float64)
        finite = np.isfinite(values_a)
        masked = np.where(finite, values_a, np.nan)
        color = color_for(index)
        ax.plot(lrs_a, masked, "-o", color=color, markersize=4, label=label)
        if (~finite).any():  # diverged learning rates: an x at the top edge
            ax.plot(lrs_a[~finite], np.full((~finite).sum(), 0.97), "x", color=color,
                    transform=ax.get_xaxis_transform(), clip_on=False)
        if chosen and label in chosen:
            match = np.argmin(np.abs(np.log(lrs_a) - np.log(chosen[label])))
            ax.plot(lrs_a[match], masked[match], "o", markersize=11, markerfacecolor="none", color=color)
    ax.set_xscale("log")
    if logy and _all_positive(curves):
        ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _all_positive(curves: Mapping[str, tuple[ArrayLike, ArrayLike]]) -> bool:
    values = np.concatenate([np.asarray(v, np.float64).ravel() for _, v in curves.values()] or [[1.0]])
    values = values[np.isfinite(values)]
    return bool(values.size) and bool((values > 0).all())


def schedule_curves(
    schedules: Mapping[str, Callable[[int], float] | ArrayLike],
    steps: int,
    base_lr: float = 1.0,
    logy: bool = False,
    title: str = "learning-rate schedules",
    ylabel: str | None = None,
) -> Figure:
    """Learning rate against step for each schedule: ``base_lr * schedule(t)`` for t in [0, steps).
    ``ylabel`` defaults to "lr multiplier" when ``base_lr`` is 1 and "learning rate" otherwise;
    pass "learning rate" when the curves already are learning rates."""
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot()
    for index, (label, schedule) in enumerate(schedules.items()):
        if callable(schedule):
            values = np.array([base_lr * float(schedule(t)) for t in range(steps)])
        else:
            values = base_lr * np.asarray(schedule, np.float64)[:steps]
        ax.plot(np.arange(len(values)), values, color=color_for(index), linewidth=1.6, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or ("learning rate" if base_lr != 1.0 else "lr multiplier"))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def bar_chart(
    labels: Sequence[str],
    values: ArrayLike,
    errors: ArrayLike | None = None,
    ylabel: str = "",
    logy: bool = False,
    title: str = "",
) -> Figure:
    """A bar per label with optional error bars (e.g. standard deviation over seeds)."""
    fig = Figure(figsize=(max(4.0, 0.9 * len(labels) + 2.0), 3.8))
    ax = fig.add_subplot()
    positions = np.arange(len(labels))
    colors = [color_for(i) for i in range(len(labels))]
    ax.bar(positions, np.asarray(values, np.float64), yerr=errors, color=colors, capsize=4)
    ax.set_xticks(positions, labels, rotation=20 if len(labels) > 5 else 0)
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def frame_indices(length: int, frames: int) -> np.ndarray:
    """``frames`` increasing indices into a sequence of ``length`` items, first and last included."""
    if length <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.round(np.linspace(0, length - 1, min(frames, length))).astype(int))


def trajectory_gif(
    func: Surface | object,
    xlim: tuple[float, float] | None,
    ylim: tuple[float, float] | None,
    trajectories: Mapping[str, ArrayLike],
    minima: Sequence[tuple[float, float]] | None = None,
    frames: int = 40,
    fps: int = 12,
    dpi: int = 60,
    figsize: tuple[float, float] = (5.0, 4.2),
    title: str = "",
) -> bytes:
    """An animated GIF (bytes) of the trajectories growing over the contours of ``func``.

    All trajectories advance together; frame k shows the first ``idx[k] + 1`` iterates, where
    ``idx`` spreads ``frames`` frames over the longest trajectory. The contours are rendered once
    with Agg and the moving lines are blitted onto them; Pillow assembles the GIF (looping).
    ``xlim``/``ylim``/``minima`` may be None for a surface problem (taken from the surface).
    """
    xlim, ylim, minima = surface_window(func, xlim, ylim, minima)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image as PILImage

    paths = {label: finite_points(points)[0] for label, points in trajectories.items()}
    longest = max((len(p) for p in paths.values()), default=1)
    fig = Figure(figsize=figsize, dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw_surface(ax, func, xlim, ylim, minima, filled=True)
    for i, label in enumerate(paths):  # legend entries only; the animated lines are drawn by blitting
        ax.plot([], [], "-", color=color_for(i), linewidth=1.6, label=label)
    if paths:
        ax.legend(loc="best", fontsize=7, framealpha=0.85)
    ax.set_title(title)
    localize_figure(fig).tight_layout()  # labels in the current figure language
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    lines = [ax.plot([], [], "-", color=color_for(i), linewidth=1.6, animated=True)[0] for i in range(len(paths))]
    heads = [ax.plot([], [], "o", color=color_for(i), markersize=5, animated=True)[0] for i in range(len(paths))]
    frames_rgb = []
    for step in frame_indices(longest, frames):
        canvas.restore_region(background)
        for line, head, path in zip(lines, heads, paths.values(), strict=True):
            shown = path[: step + 1]
            line.set_data(shown[:, 0], shown[:, 1])
            head.set_data(shown[-1:, 0], shown[-1:, 1])
            ax.draw_artist(line)
            ax.draw_artist(head)
        canvas.blit(fig.bbox)
        rgba = np.asarray(canvas.buffer_rgba())
        frames_rgb.append(PILImage.fromarray(rgba[..., :3].copy()))
    palette = frames_rgb[-1].quantize(colors=96)  # the last frame shows every line colour
    images = [frame.quantize(palette=palette, dither=PILImage.Dither.NONE) for frame in frames_rgb]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(1000 / fps), loop=0, optimize=False)
    return buffer.getvalue()
