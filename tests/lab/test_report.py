"""Tests of the HTML report builder and the figures."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from inertia.lab import figures
from inertia.lab.report import Report, atomic_write_text, format_cell, sniff_mime


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def small_figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def embedded_images(html: str) -> list[tuple[str, bytes]]:
    return [(mime, base64.b64decode(data))
            for mime, data in re.findall(r'src="data:([a-z/+]+);base64,([A-Za-z0-9+/=]+)"', html)]


def test_report_embeds_figures_and_escapes_text(tmp_path):
    report = Report("Title <x>", lang="ko", intro="a & b")
    gif = figures.trajectory_gif(rosenbrock, (-2, 2), (-1, 3), {"gd": [[-1.2, 1.0], [-1.0, 0.9]]}, frames=3)
    report.add_section("S1", "para one\n\npara <two>", figures=[small_figure(), gif],
                       tables=[(["name", "value"], [["a", 0.123456789], ["b", None]])],
                       verdict="computed", captions=["cap1"])
    path = report.write(tmp_path / "out")
    html = path.read_text(encoding="utf-8")
    assert path.name == "index.html" and '<html lang="ko">' in html
    assert "Title &lt;x&gt;" in html and "para &lt;two&gt;" in html and "a &amp; b" in html
    assert html.count("<p>") >= 3 and "cap1" in html and "0.1235" in html and "\u2014" in html
    images = embedded_images(html)
    assert [mime for mime, _ in images] == ["image/png", "image/gif"]
    assert images[0][1].startswith(b"\x89PNG") and images[1][1].startswith(b"GIF89a")
    assert not re.search(r'(src|href)="(https?:|//)', html), "external resource in the page"
    assert list(path.parent.iterdir()) == [path], "temporary files left behind"


def test_report_rejects_bad_input(tmp_path):
    report = Report("t")
    with pytest.raises(ValueError, match="row 0"):
        report.add_section("s", tables=[(["a", "b"], [[1]])])
    with pytest.raises(ValueError, match="not PNG"):
        report.add_section("s", figures=[b"not an image"])
    with pytest.raises(TypeError, match="image"):
        report.add_section("s", figures=[42])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        report.write(tmp_path / "file")
    with pytest.raises(ValueError, match="title"):
        Report("")


def test_atomic_write_replaces_whole_file_with_usual_permissions(tmp_path):
    import os

    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    target.chmod(0o640)
    atomic_write_text(target, "new content")
    assert target.read_text() == "new content" and len(list(tmp_path.iterdir())) == 1
    assert target.stat().st_mode & 0o777 == 0o640


def test_format_cell_and_mime():
    assert [format_cell(v) for v in (float("inf"), float("nan"), 3, True, 1e-7)] == \
        ["inf", "nan", "3", "True", "1e-07"]
    assert sniff_mime(b"GIF87a...") == "image/gif" and sniff_mime(b"<svg ...") == "image/svg+xml"


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
