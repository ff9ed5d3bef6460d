"""The setup texts take their constants from the chapter code, through placeholders, in both languages."""

from __future__ import annotations

import inspect
import numbers
import re
import string
from types import ModuleType

import pytest

from inertia.lab.tour import CHAPTERS, find_chapter
from inertia.lab.tour.ch_sgd import VALLEY_STEPS
from inertia.lab.tour.text import STRINGS, fmt, text

# each chapter's module: the one its experiment is defined in, which holds the constants it quotes
MODULES: dict[str, ModuleType] = {chapter.key: inspect.getmodule(chapter.compute) for chapter in CHAPTERS}
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")
CHAPTER_KEYS = [chapter.key for chapter in CHAPTERS]


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def _setup(key: str, lang: str) -> str:
    return STRINGS[lang][f"{key}.setup"]


def _real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _module_constants(module: ModuleType) -> dict[str, float]:
    """The module's upper-case numeric constants, and the first, last and count of its number sequences (grids)."""
    constants = {}
    for name, value in vars(module).items():
        if not name.isupper():
            continue
        if _real(value):
            constants[name] = value
        elif isinstance(value, (list, tuple)) and value and all(_real(v) for v in value):
            constants.update({f"{name}[0]": value[0], f"{name}[-1]": value[-1], f"len({name})": len(value)})
    return constants


def test_every_chapter_has_a_module():
    assert set(MODULES) == set(CHAPTER_KEYS)
    assert all(module.__name__.startswith("inertia.lab.tour.ch_") for module in MODULES.values()), MODULES


@pytest.mark.parametrize("key", CHAPTER_KEYS)
def test_setup_placeholders_are_the_chapter_constants_in_both_languages(key):
    """Every placeholder is provided by the chapter, every constant the chapter declares is quoted, and English
    and Korean quote the same ones."""
    chapter = find_chapter(key)
    english, korean = _placeholders(_setup(key, "en")), _placeholders(_setup(key, "ko"))
    assert english == korean, (key, english ^ korean)
    assert english == set(chapter.setup), (key, "unprovided", english - set(chapter.setup),
                                           "unquoted", set(chapter.setup) - english)
    for lang in STRINGS:
        filled = text(f"{key}.setup", lang, **chapter.setup)
        assert "{" not in filled and "}" not in filled, (key, lang)


@pytest.mark.parametrize("key", CHAPTER_KEYS)
def test_setup_constants_appear_only_through_placeholders(key):
    """No number written in a setup text repeats one of the chapter's constants (best effort: single digits are
    left out, since they also occur in formulas such as √(1 + x²) - 1 and in chapter references)."""
    chapter = find_chapter(key)
    constants = dict(_module_constants(MODULES[key]))
    constants.update({f"setup[{name!r}]": v for name, v in chapter.setup.items() if _real(v)})
    tokens = {name: fmt(abs(value)) for name, value in constants.items()}
    for lang in STRINGS:
        literal = re.sub(r"\{\w+\}", " ", _setup(key, lang))
        written = set(NUMBER.findall(literal))
        repeated = {name: token for name, token in tokens.items() if len(token) > 1 and token in written}
        assert not repeated, (key, lang, repeated)


def test_the_constants_check_catches_a_written_constant():
    """The check above finds a constant written as a number (here the valley's 150 steps)."""
    literal = re.sub(r"\{\w+\}", " ", _setup("zigzag", "en").replace("{steps}", "150"))
    assert fmt(VALLEY_STEPS) in set(NUMBER.findall(literal))


@pytest.mark.parametrize("key", CHAPTER_KEYS)
def test_setup_constants_are_numbers_or_points(key):
    chapter = find_chapter(key)
    for name, value in chapter.setup.items():
        assert _real(value) or (isinstance(value, tuple) and all(_real(v) for v in value)), (key, name, value)


@pytest.mark.parametrize("lang", list(STRINGS))
def test_every_rule_has_its_sentences(lang):
    """Each rule's key names a supporting and a contradicting sentence in every language."""
    for chapter in CHAPTERS:
        for rule in chapter.rules:
            for outcome in ("supports", "contradicts"):
                assert f"{rule.key}.{outcome}" in STRINGS[lang], (chapter.key, rule.key, outcome)


def test_english_and_korean_quote_the_same_numbers_everywhere():
    """Headers, captions and verdict sentences too: only the quote's English gloss is left out in Korean."""
    for key, english in STRINGS["en"].items():
        korean = _placeholders(STRINGS["ko"][key])
        expected = _placeholders(english) - {"gist"} if key == "notes" else _placeholders(english)
        assert korean == expected, (key, korean ^ expected)
