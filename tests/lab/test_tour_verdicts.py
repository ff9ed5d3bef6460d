"""Verdict rules on synthetic measurements: a contradicting measurement yields a contradicting verdict."""

from __future__ import annotations

import string

import numpy as np
import pytest

from inertia.lab.tour import CHAPTERS, ch_adam, ch_digits, ch_schedules, ch_second_order, find_chapter
from inertia.lab.tour.model import Verdict
from inertia.lab.tour.text import STRINGS, check_lang, fmt, text, verdict_text
from inertia.lab.tour.text_quotes import QUOTES


def _zigzag(sgd_flips: int, gd_flips: int) -> dict:
    return {"steps": 150, "sgd_flips": sgd_flips, "sgd_path_ratio": 1.1, "sgd_shallow_flips": 0, "gd_lr": 1.9,
            "gd_flips": gd_flips, "cautious_lr": 0.5, "cautious_flips": 0, "cautious_final": 0.07, "gd_final": 1e-3}


def _nesterov(ratio: float | None) -> dict:
    summary = {"overshoot": 12.0, "lr": 0.9, "hit": 30}
    return {"median_ratio": ratio, "matched": 5, "min_ratio": ratio, "max_ratio": ratio,
            "nesterov": summary, "momentum": summary}


def _schedules(constant: float, decayed: float, plateau: float, decays: list[int]) -> dict:
    m = {name: {"final": decayed} for name in ("step", "exponential", "inverse_time")}
    m["constant"] = {"final": constant}
    m["plateau"] = {"final": plateau, "decays": decays}
    return m


def _outcomes(verdicts: list[Verdict]) -> list[str]:
    return [v.outcome for v in verdicts]


def test_zigzag_rule_follows_the_sign_flips():
    assert _outcomes(find_chapter("zigzag").verdicts(_zigzag(sgd_flips=60, gd_flips=150))) == ["supports", "contradicts"]
    assert _outcomes(find_chapter("zigzag").verdicts(_zigzag(sgd_flips=3, gd_flips=0))) == ["contradicts", "supports"]


@pytest.mark.parametrize(("ratio", "outcome"), [(0.6, "supports"), (1.0, "mixed"), (1.4, "contradicts"),
                                                 (None, "contradicts")])
def test_nesterov_overshoot_rule(ratio, outcome):
    verdict = find_chapter("nesterov").verdicts(_nesterov(ratio))[0]
    assert verdict.outcome == outcome
    sentence = verdict_text(verdict, "en")
    if outcome == "contradicts":
        assert sentence.startswith("Contradicts the notes:")
    if ratio is not None:
        assert fmt(100.0 * (1.0 - ratio)) in sentence or outcome != "supports"


def test_contradicting_measurement_says_so_in_both_languages():
    verdict = find_chapter("schedules").verdicts(_schedules(constant=1e-3, decayed=2e-3, plateau=3e-3, decays=[100]))
    assert _outcomes(verdict) == ["contradicts", "contradicts"]
    assert verdict_text(verdict[0], "en").startswith("Contradicts the notes: Decay did not help")
    assert "2×" in verdict_text(verdict[0], "en")  # 2e-3 / 1e-3, computed
    assert verdict_text(verdict[0], "ko").startswith("노트와 반대:")
    supported = find_chapter("schedules").verdicts(_schedules(constant=1e-3, decayed=5e-4, plateau=8e-4, decays=[50]))
    assert _outcomes(supported) == ["supports", "supports"]


def test_adagrad_rules_on_synthetic_runs():
    base = {"early": 10, "lr": 0.1, "adagrad_tuned": {"lr": 1.0, "final": 0.0},
            "rmsprop_tuned": {"lr": 0.1, "final": 1e-9}}
    stalled = dict(base, adagrad={"step_early": 0.03, "step_last": 0.003, "shrink": 10.0, "first_half": 2.0,
                                  "second_half": 0.5, "final": 4.0},
                   rmsprop={"step_early": 0.3, "step_last": 0.6, "shrink": 0.5, "final": 1e-12})
    assert _outcomes(find_chapter("adagrad").verdicts(stalled)) == ["supports", "supports", "contradicts"]
    fine = dict(stalled, adagrad=dict(stalled["adagrad"], shrink=1.1, final=1e-12))
    assert _outcomes(find_chapter("adagrad").verdicts(fine))[:2] == ["contradicts", "contradicts"]


def test_saddle_rule_uses_the_share_of_stalled_steps():
    def run(escape: int, stall: int = 0) -> dict:
        return {"escape": escape, "escape_text": escape, "escaped": True, "stall": stall}

    census = {2: {"saddle": 0.7}, 32: {"saddle": 1.0}}
    slow = {"gd": run(100, stall=80), "momentum": run(20), "sgd": run(90), "adam": run(2), "census": census}
    assert _outcomes(find_chapter("saddle").verdicts(slow)) == ["supports"] * 4
    quick = {"gd": run(20, stall=2), "momentum": run(25), "sgd": run(20), "adam": run(2),
             "census": {2: {"saddle": 0.7}, 32: {"saddle": 0.5}}}
    assert _outcomes(find_chapter("saddle").verdicts(quick)) == ["contradicts", "contradicts", "supports",
                                                               "contradicts"]


def test_noise_that_frees_sgd_from_the_saddle_contradicts_the_notes_stalled_sgd():
    """The notes say SGD (on mini-batches) stops at a saddle; noise that makes it escape sooner says otherwise."""
    def run(escape: int, stall: int = 0) -> dict:
        return {"escape": escape, "escape_text": escape, "escaped": True, "stall": stall}

    freed = {"gd": run(100, stall=80), "momentum": run(20), "sgd": run(30), "adam": run(2),
             "census": {2: {"saddle": 0.7}, 32: {"saddle": 1.0}}}
    noise = find_chapter("saddle").verdicts(freed)[2]
    assert noise.outcome == "contradicts" and noise.values["speedup"] == pytest.approx(100 / 30)
    assert verdict_text(noise, "en").startswith("Contradicts the notes: The notes' SGD runs on noisy mini-batch")
    stuck = dict(freed, sgd={"escape": 200, "escape_text": ">200", "escaped": False, "stall": 150})
    assert find_chapter("saddle").verdicts(stuck)[2].outcome == "supports"


def test_every_verdict_template_exists_for_both_outcomes_and_languages():
    bases = {key.rsplit(".", 1)[0] for key in STRINGS["en"] if key.endswith((".supports", ".contradicts"))}
    bases.discard("outcome")
    assert len(bases) >= 30
    for base in bases:
        for lang in STRINGS:
            assert f"{base}.supports" in STRINGS[lang] and f"{base}.contradicts" in STRINGS[lang], (base, lang)


def test_english_and_korean_have_the_same_keys_and_placeholders():
    assert STRINGS["en"].keys() == STRINGS["ko"].keys()
    parse = string.Formatter().parse
    for key, english in STRINGS["en"].items():
        names_en = {field for _, field, _, _ in parse(english) if field}
        names_ko = {field for _, field, _, _ in parse(STRINGS["ko"][key]) if field}
        assert names_ko <= names_en, key  # Korean may leave out the English gloss of a quote
    for chapter in CHAPTERS:
        assert chapter.key in QUOTES
        for suffix in ("title", "setup"):
            assert text(f"{chapter.key}.{suffix}", "en") and text(f"{chapter.key}.{suffix}", "ko")


def test_number_format():
    assert [fmt(v) for v in (3, 0.0, 1.23456, 1337.8, 4.5e-7, np.float64(0.5), None, ">150", float("inf"))] == [
        "3", "0", "1.23", "1338", "4.5e-07", "0.5", "\u2014", ">150", "inf"]
    with pytest.raises(ValueError, match="lang.*'de'"):
        check_lang("de")


@pytest.mark.parametrize(("key", "english", "korean"), [
    ("schedules", "grid {lo}…{hi} ({n} values)", "{lo}~{hi} 격자({n}개 값)"),
    ("second_order", "best lr of {n} values from {lo} to {hi}", "{lo}~{hi}의 {n}개 값"),
    ("digits", "best of {n} values from {lo} to {hi}", "{lo}~{hi}의 {n}개 값"),
    ("adam", "(grid {lo}…{hi}, {n} values)", "lr({lo}~{hi} 격자, {n}개 값)"),
])
def test_setup_texts_quote_the_grids_the_chapters_use(key, english, korean):
    grid = {"schedules": ch_schedules.GRID, "second_order": ch_second_order.FIRST_ORDER_GRID,
            "digits": ch_digits.GRID, "adam": ch_adam.GRID}[key]
    values = {"lo": f"{grid[0]:g}", "hi": f"{grid[-1]:g}", "n": len(grid)}
    setup = find_chapter(key).setup
    assert english.format(**values) in text(f"{key}.setup", "en", **setup)
    assert korean.format(**values) in text(f"{key}.setup", "ko", **setup)
