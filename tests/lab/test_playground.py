"""The playground's writer, command, presets and Python reference runs, without a browser."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from hypothesis import given, settings
from hypothesis import strategies as st

from inertia.cli import main
from inertia.lab.korean_font import covered_characters, subset_font
from inertia.lab.playground import chapter_hash, render_playground, surface_config, write_playground
from inertia.lab.playground.presets import CHAPTER_VIEWS
from inertia.lab.playground.reference import DEFAULTS, python_run
from inertia.lab.playground.strings import STRINGS
from inertia.lab.tour import CHAPTERS
from inertia.problems.surfaces import SURFACES, get_surface

CONFIG = re.compile(r"window\.PLAYGROUND_CONFIG = (\{.*?\});\n", re.S)


def page_config(html: str) -> dict:
    return json.loads(CONFIG.search(html).group(1).replace("<\\/", "</"))


def test_the_page_carries_every_surface_of_inertia_problems():
    config = page_config(render_playground("en"))
    assert list(config["surfaces"]) == list(SURFACES)
    for name, info in config["surfaces"].items():
        surface = SURFACES[name]()
        assert info["params"] == surface.params and info["start"] == list(surface.start)
        assert info["minima"] == [list(m) for m in surface.minima]


def test_the_korean_page_embeds_a_subset_with_exactly_its_hangul():
    html = render_playground("ko")
    data = re.search(r"url\(data:font/ttf;base64,([A-Za-z0-9+/=]+)\)", html)
    assert data is not None and len(html.encode()) < 2 * 1024 * 1024
    font = TTFont(io.BytesIO(base64.b64decode(data.group(1))))
    wanted = covered_characters("".join(STRINGS["ko"].values()))
    assert {chr(c) for c in font.getBestCmap()} == set(wanted)
    hangul = {ch for ch in "".join(STRINGS["ko"].values()) if "\uac00" <= ch <= "\ud7a3"}
    assert hangul <= set(wanted) and len(hangul) > 100  # every syllable of the page, and it has many
    assert "@font-face" not in render_playground("en")


def test_a_subset_holds_only_the_characters_asked_for():
    font = TTFont(io.BytesIO(subset_font("가나 abc")))
    assert {chr(c) for c in font.getBestCmap()} == {"가", "나"}


def test_the_command_writes_the_page_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["playground", "--out", str(out), "--lang", "ko"]) == 0
    assert (out / "playground.html").is_file() and "playground.html" in capsys.readouterr().out
    assert main(["playground", "--out", str(out), "--lang", "fr"]) == 2
    assert "--lang" in (err := capsys.readouterr().err) and "'fr'" in err
    (tmp_path / "file").write_text("x")
    assert main(["playground", "--out", str(tmp_path / "file")]) == 2
    assert "--out" in (err := capsys.readouterr().err) and "file" in err


def test_the_writer_refuses_a_bad_language_before_writing(tmp_path):
    with pytest.raises(ValueError, match="lang.*'de'"):
        write_playground(tmp_path, lang="de")
    assert list(tmp_path.iterdir()) == []


def test_every_tour_chapter_has_a_playground_view():
    assert set(CHAPTER_VIEWS) == {chapter.key for chapter in CHAPTERS}
    for key, (surface, _, runs) in CHAPTER_VIEWS.items():
        assert surface in SURFACES and 1 <= len(runs) <= 4
        hash_ = chapter_hash(key)
        assert hash_.startswith(f"#surface={surface}&") and hash_.count("&run") == len(runs)
        for optimizer, hyper in runs:
            assert set(hyper) - {"steps"} <= set(DEFAULTS[optimizer])
    with pytest.raises(ValueError, match="unknown chapter 'nope'"):
        chapter_hash("nope")


@settings(max_examples=10, deadline=None)
@given(lr=st.floats(0.01, 1.9), kappa=st.floats(1.0, 100.0), angle=st.floats(0.0, 90.0))
def test_python_gd_on_the_valley_is_the_linear_iteration(lr, kappa, angle):
    """On the quadratic valley, GD is x <- (I - lr H) x exactly (up to rounding)."""
    surface = get_surface("valley", kappa=kappa, angle_deg=angle)
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    rotation = np.array([[c, s], [-s, c]])
    hessian = rotation.T @ np.diag([1.0 / kappa, 1.0]) @ rotation
    xs = python_run("valley", surface.params, "sgd", {"lr": lr}, surface.start, 20)
    expected = [np.array(surface.start)]
    for _ in range(20):
        expected.append(expected[-1] - lr * hessian @ expected[-1])
    assert np.allclose(xs, np.array(expected), rtol=1e-12, atol=1e-12)


def test_python_heavy_ball_and_newton_follow_their_closed_forms():
    surface = get_surface("valley", kappa=10.0)
    momentum = python_run("valley", surface.params, "momentum", {"lr": 0.5, "mu": 0.8}, surface.start, 40)
    x, previous = np.array(surface.start), np.array(surface.start)
    hessian = np.diag([0.1, 1.0])
    for t in range(40):
        x, previous = x - 0.5 * hessian @ x + 0.8 * (x - previous), x
        assert np.allclose(momentum[t + 1], x, rtol=1e-12, atol=1e-12)
    newton = python_run("valley", surface.params, "newton", {}, surface.start, 3)
    assert np.abs(newton[1:]).max() < 1e-14  # one Newton step solves a quadratic


def test_python_noise_is_added_to_each_gradient():
    noise = np.array([[0.5, -0.25], [0.0, 1.0]])
    xs = python_run("valley", {"kappa": 1.0}, "sgd", {"lr": 0.1}, [1.0, 2.0], 2, noise)
    x1 = np.array([1.0, 2.0]) - 0.1 * (np.array([1.0, 2.0]) + noise[0])
    assert np.allclose(xs[1], x1) and np.allclose(xs[2], x1 - 0.1 * (x1 + noise[1]))


@pytest.mark.parametrize(("optimizer", "hyper", "steps", "match"), [
    ("adamq", {}, 5, "unknown optimizer 'adamq'"),
    ("adam", {"momentum": 0.9}, 5, r"unknown hyperparameter\(s\) \['momentum'\] for 'adam'"),
    ("sgd", {}, -1, "steps must be an integer >= 0, got -1"),
    ("sgd", {}, 2.5, "steps must be an integer >= 0, got 2.5"),
])
def test_python_run_names_the_bad_argument(optimizer, hyper, steps, match):
    with pytest.raises(ValueError, match=match):
        python_run("valley", {}, optimizer, hyper, [1.0, 1.0], steps)


def test_every_surface_config_is_finite_json():
    text = json.dumps(surface_config(), allow_nan=False)
    assert "valley" in text
