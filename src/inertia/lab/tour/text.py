"""The tour's words: English and Korean strings, number formatting and verdict sentences.

Every string the tour prints comes from :data:`STRINGS` (``text_en`` and ``text_ko``); every
number in a sentence is formatted by :func:`fmt` from a :class:`~inertia.lab.tour.model.Verdict`'s
measured ``values``, so the same result renders in both languages.
"""

from __future__ import annotations

import math
from typing import Any

from inertia.lab.tour.model import Verdict
from inertia.lab.tour.text_en import EN
from inertia.lab.tour.text_ko import KO

STRINGS: dict[str, dict[str, str]] = {"en": EN, "ko": KO}
LANGS = tuple(STRINGS)


def check_lang(lang: str) -> str:
    """Return ``lang`` if the tour speaks it, else raise ValueError naming it."""
    if lang not in STRINGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")
    return lang


def fmt(value: Any) -> str:
    """A number as the tour prints it: integers exactly, floats with 3 significant digits (whole
    numbers from 100 to 1e6 without an exponent), None as an em dash, strings unchanged; a tuple
    as a point ``(x, y)``, a list as its entries separated by commas (``-`` when empty)."""
    if value is None:
        return "\u2014"
    if isinstance(value, tuple):
        return "(" + ", ".join(fmt(v) for v in value) + ")"
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value) or "-"
    if isinstance(value, (str, int)):  # bools too: True and False print as words
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0.0:
        return "0"
    if 100.0 <= abs(value) < 1e6:
        return f"{value:.0f}"
    return f"{value:.3g}"


def text(key: str, lang: str, **values: Any) -> str:
    """The string ``key`` in ``lang``, with ``values`` formatted by :func:`fmt` filled in."""
    template = STRINGS[check_lang(lang)][key]
    return template.format(**{name: fmt(v) for name, v in values.items()}) if values else template


def verdict_text(verdict: Verdict, lang: str) -> str:
    """One verdict as a sentence, prefixed by whether it supports or contradicts the notes."""
    label = text(f"outcome.{verdict.outcome}", lang)
    return f"{label}: {text(verdict.template_key, lang, **verdict.values)}"
