"""Figure labels in Korean: phrases translated, names kept, and every Hangul glyph drawn by a real font."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from inertia.io.report_parts import figure_to_png
from inertia.lab import figures
from inertia.lab.figure_text import current_language, figure_language, localize_figure, translate


def missing_glyph_warnings(render) -> list[str]:
    """Messages of matplotlib's missing-glyph warnings raised while ``render()`` runs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render()
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


@pytest.mark.parametrize(("english", "korean"), [
    ("train loss", "훈련 손실"),
    ("step", "스텝"),
    ("y (steep axis)", "y (가파른 축)"),
    ("Newton-CG", "뉴턴-CG"),
    ("bias_correction=False, lr=0.862", "편향 보정 없음, lr=0.862"),
    ("step_decay(150, 0.3)", "step_decay(150, 0.3)"),  # a schedule's name stays
    ("GD, lr=1.9", "GD, lr=1.9"),
])
def test_phrases_are_translated_and_names_kept(english, korean):
    assert translate(english, "ko") == korean
    assert translate(english, "en") == english


def test_the_language_is_scoped_to_the_block():
    assert current_language() == "en"
    with figure_language("ko"):
        assert current_language() == "ko" and translate("loss") == "손실"
    assert current_language() == "en"
    with pytest.raises(ValueError, match="lang must be one of en, ko; got 'fr'"):
        with figure_language("fr"):
            pass


def test_a_korean_figure_has_korean_labels_and_draws_every_glyph():
    curves = {"Momentum": np.geomspace(1.0, 1e-3, 20), "Adam": np.geomspace(1.0, 1e-2, 20)}
    with figure_language("ko"):
        fig = localize_figure(figures.loss_curves(curves, times={k: np.arange(20.0) for k in curves}))
        assert missing_glyph_warnings(lambda: figure_to_png(fig, dpi=40)) == []
    texts = {t.get_text() for t in fig.findobj(Text)}
    assert {"스텝", "손실", "모멘텀", "경과 시간 (초)"} <= texts


def test_the_check_sees_a_missing_glyph():
    fig = Figure(figsize=(2, 1))
    fig.text(0.1, 0.5, "손실", fontfamily=["DejaVu Sans"])
    assert missing_glyph_warnings(lambda: fig.savefig(io.BytesIO(), format="png")) != []


def test_a_korean_tour_chapter_draws_every_glyph_and_differs_from_english():
    from inertia.lab.tour import compute_chapters, find_chapter

    chapter = [find_chapter("momentum")]
    korean: list = []
    assert missing_glyph_warnings(lambda: korean.extend(compute_chapters(lang="ko", progress=False,
                                                                         chapters=chapter))) == []
    english = compute_chapters(lang="en", progress=False, chapters=chapter)
    assert [f.png for f in korean[0].figures] != [f.png for f in english[0].figures]
    assert korean[0].measured == english[0].measured
