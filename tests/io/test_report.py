"""inertia.io.report: the self-contained HTML report."""

from __future__ import annotations

import base64
import re

import pytest
from matplotlib.figure import Figure

from inertia.io.report import Report
from inertia.io.report_parts import format_cell, sniff_mime
from inertia.lab import figures


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


def test_format_cell_and_mime():
    assert [format_cell(v) for v in (float("inf"), float("nan"), 3, True, 1e-7)] == \
        ["inf", "nan", "3", "True", "1e-07"]
    assert sniff_mime(b"GIF87a...") == "image/gif" and sniff_mime(b"<svg ...") == "image/svg+xml"

