"""The report renders in headless Chromium: no console errors, every image loads."""

from __future__ import annotations

import numpy as np

from inertia.io.report import Report
from inertia.lab import figures
from inertia.lab.browser import check_page


def valley(x, y):
    return 0.5 * (x**2 / 10 + y**2)


def test_report_renders_with_every_image_loaded(tmp_path, chromium):
    path = np.array([[-8.0, 2.0], [-7.0, -1.5], [-6.0, 1.0], [-5.0, -0.5]])
    report = Report("Report check \u2014 \ud55c\uad6d\uc5b4", lang="ko", intro="Offline page.")
    report.add_section("Figures", "Contours, curves and an animation.", figures=[
        figures.contour_with_trajectories(valley, (-10, 10), (-4, 4), {"sgd": path}, minima=[(0, 0)]),
        figures.loss_curves({"sgd": valley(path[:, 0], path[:, 1])}, times={"sgd": [0, 1, 2, 3]}),
        figures.trajectory_gif(valley, (-10, 10), (-4, 4), {"sgd": path}, frames=4, dpi=40),
    ], tables=[(["optimizer", "final loss"], [["sgd", 1.25]])], verdict="computed from the table")
    report.add_section("Schedules", figures=[figures.schedule_curves({"exp": lambda t: 0.9**t}, 30)])
    page = check_page(report.write(tmp_path), chromium=chromium)
    assert page.title == report.title and page.text_length > 50
    assert len(page.images) == 4 and not page.broken_images, page.images
    assert all(image["src"].startswith("data:image/") for image in page.images)
    assert page.console_errors == []


def test_checker_sees_broken_images_and_console_errors(tmp_path, chromium):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><head><title>bad</title></head><body><img src="missing.png">'
                   '<img src="data:image/png;base64,AAAA"><script>console.error("boom")</script></body></html>')
    page = check_page(bad, chromium=chromium)
    assert len(page.broken_images) == 2
    assert any("boom" in error for error in page.console_errors)
