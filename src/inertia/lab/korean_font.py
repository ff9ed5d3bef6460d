"""A free Korean font (NanumGothic, SIL Open Font License) for pages and figures on machines without one.

The font ships in the ``koreanize-matplotlib`` package; it is located without importing that package
(whose import changes matplotlib's global settings). :func:`font_face_css` embeds a subset holding only
the characters a page uses, as a base64 ``@font-face``; :func:`matplotlib_family` registers the font
with matplotlib and returns its family name.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import io
from pathlib import Path

FONT_PACKAGE = "koreanize_matplotlib"
FONT_FILE = "NanumGothic.ttf"
WEB_FAMILY = "InertiaHangul"


def font_path() -> Path:
    """Path of NanumGothic.ttf; FileNotFoundError naming the package to install when it is missing."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "fonts" / FONT_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"Korean font {FONT_FILE} not found: install the package koreanize-matplotlib")


@functools.lru_cache(maxsize=1)
def _cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(str(font_path()), lazy=True) as font:
        return frozenset(font.getBestCmap())


def covered_characters(text: str) -> str:
    """The distinct non-ASCII characters of ``text`` that the font has, sorted."""
    cmap = _cmap()
    return "".join(sorted({ch for ch in text if ord(ch) > 127 and ord(ch) in cmap}))


def subset_font(text: str) -> bytes:
    """A TrueType subset of the font with exactly the non-ASCII characters of ``text`` it covers."""
    return _subset("".join(sorted({ch for ch in text if ord(ch) > 127})))  # the subsetter skips the others


@functools.lru_cache(maxsize=8)
def _subset(characters: str) -> bytes:
    from fontTools import subset

    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    # hinting sources, and the legacy kern table (browsers and matplotlib read GPOS): slow to parse
    options.drop_tables = [*options.drop_tables, "TSI0", "TSI1", "TSI2", "TSI3", "TSI5", "kern"]
    font = subset.load_font(str(font_path()), options, dontLoadGlyphNames=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    buffer = io.BytesIO()
    subset.save_font(font, buffer, options)
    font.close()
    return buffer.getvalue()


def font_face_css(text: str, family: str = WEB_FAMILY) -> str:
    """``@font-face`` rule embedding the subset for ``text`` as a data URI (empty when nothing is covered)."""
    if all(ord(ch) <= 127 for ch in text):
        return ""
    data = base64.b64encode(subset_font(text)).decode("ascii")
    return (f'@font-face {{ font-family: "{family}"; font-display: block; '
            f'src: url(data:font/ttf;base64,{data}) format("truetype"); }}')


@functools.lru_cache(maxsize=1)
def matplotlib_family() -> str:
    """Register the font with matplotlib's font manager (once) and return its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(font_path()))
    return font_manager.FontProperties(fname=str(font_path())).get_name()
