"""Assemble the playground: one self-contained HTML file (scripts, styles and font inlined, no network)."""

from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

from inertia.io.atomic import atomic_write_text
from inertia.lab.korean_font import font_face_css
from inertia.lab.playground.strings import STRINGS
from inertia.lab.run_storage import check_output_dir
from inertia.problems.surfaces import SURFACES

# Scripts in the order they must run: the rules first, the application last.
SCRIPTS = ("surfaces.js", "optimizers.js", "theory.js", "state.js", "plots.js", "controls.js", "app.js")
FILENAME = "playground.html"
LANGS = tuple(STRINGS)

# First-order learning rates that show each surface's story from its default start:
# (SGD, momentum and Nesterov; AdaGrad, RMSprop, Adam and AdamW).
SURFACE_LR: dict[str, tuple[float, float]] = {
    "valley": (0.1, 0.3), "long_valley": (0.05, 0.5), "rosenbrock": (0.001, 0.05), "beale": (0.01, 0.05),
    "saddle": (0.05, 0.05), "saddle_bounded": (0.05, 0.05), "monkey_saddle": (0.05, 0.02),
    "monkey_saddle_bounded": (0.05, 0.02), "rastrigin": (0.002, 0.05), "himmelblau": (0.005, 0.1),
    "narrow_wide": (0.02, 0.05), "plateau": (0.5, 0.1),
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if the playground speaks it, else raise ValueError naming it."""
    if lang not in STRINGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")
    return lang


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def surface_config() -> dict[str, Any]:
    """Every 2-D surface of ``inertia problems`` as the page needs it: default params, start, window,
    minima, minimum value and default learning rates."""
    out = {}
    for name, factory in SURFACES.items():
        surface = factory()
        sgd_lr, adaptive_lr = SURFACE_LR[name]
        out[name] = {
            "params": dict(surface.params), "start": list(surface.start),
            "window": [list(surface.window[0]), list(surface.window[1])],
            "minima": [list(m) for m in surface.minima], "min_value": _finite(surface.min_value),
            "lr": {"sgd": sgd_lr, "adaptive": adaptive_lr},
        }
    return out


def _asset(name: str) -> str:
    return resources.files("inertia.lab.playground").joinpath("assets", name).read_text(encoding="utf-8")


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def render_playground(lang: str = "en") -> str:
    """The whole page as one HTML string, in ``lang`` (``"en"`` or ``"ko"``)."""
    strings = STRINGS[check_lang(lang)]
    replacements = {
        "{lang}": lang, "{title}": strings["title"], "{css}": _asset("playground.css"),
        "{font_face}": font_face_css("".join(strings.values())) if lang != "en" else "",
        "{config}": _script_json({"lang": lang, "surfaces": surface_config()}),
        "{strings}": _script_json(strings),
        "{scripts}": "\n".join(_asset(name) for name in SCRIPTS).replace("</", "<\\/"),
    }
    page = _asset("playground.html")
    for key, value in replacements.items():
        page = page.replace(key, value, 1)
    return page


def write_playground(out_dir: str | os.PathLike, lang: str = "en", filename: str = FILENAME) -> Path:
    """Write the playground to ``out_dir/filename`` (atomically) and return its path.

    Raises ValueError for an unknown ``lang`` or an ``out_dir`` that is not, or cannot be created as,
    a writable directory.
    """
    check_lang(lang)
    out = check_output_dir(out_dir, "out_dir")
    out.mkdir(parents=True, exist_ok=True)
    target = out / filename
    atomic_write_text(target, render_playground(lang))
    return target
