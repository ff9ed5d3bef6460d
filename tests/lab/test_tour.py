"""The full tour: thirteen chapters, each with a figure, a table and verdicts derived from its numbers.

The engine is checked to judge what a chapter's compute measured (moving one measured number turns the
verdict on the page), and the setup text to follow the chapter's constants; the rules themselves are fed
hand-made measurements in test_tour_rules.py.
"""

from __future__ import annotations

import copy
import html
import numbers
import os
import pickle
import re
import time

import pytest

import inertia.lab.tour as tour
from inertia.lab.tour.model import Measurements
from inertia.lab.tour.render import chapter_prose, chapter_verdict
from inertia.lab.tour.text import fmt, text, verdict_text

SECTION = re.compile(r'<section id="s\d+">(.*?)</section>', re.S)


def _run_tour_capturing(out):
    """``run_tour`` into ``out``, also returning the chapter results it rendered."""
    captured = []
    original = tour.compute_chapters

    def capture(*args, **kwargs):
        captured.extend(original(*args, **kwargs))
        return captured

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tour, "compute_chapters", capture)
        path = tour.run_tour(out, progress=False)
    return path, captured


@pytest.fixture(scope="session")
def tour_run(tmp_path_factory):
    """One full ``run_tour`` per test session, shared by pytest-xdist workers through a lock file.

    The first worker to take the lock runs the tour and pickles the results; the others wait for
    them instead of running the whole tour again.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by all workers of this session
    done, failed = root / "tour-results.pkl", root / "tour-failed"
    try:
        os.close(os.open(root / "tour.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        deadline = time.monotonic() + 600
        while not done.exists() and not failed.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not done.exists():
            pytest.fail("the worker that ran the tour failed or timed out")
        return pickle.loads(done.read_bytes())
    try:
        result = _run_tour_capturing(root / "tour-report")
    except BaseException:
        failed.touch()
        raise
    partial = root / "tour-results.tmp"
    partial.write_bytes(pickle.dumps(result))
    partial.replace(done)
    return result


def test_full_tour_writes_thirteen_complete_chapters(tour_run):
    path, results = tour_run
    assert path == path.parent / "index.html" and path.is_file()
    page = path.read_text(encoding="utf-8")
    sections = SECTION.findall(page)
    assert len(sections) == 13 and [r.number for r in results] == list(range(1, 14))
    for section, result in zip(sections, results, strict=True):
        assert '<img src="data:image/' in section, result.key
        assert "<table>" in section and "<td>" in section, result.key
        assert '<div class="verdict">' in section, result.key
        assert html.escape(chapter_verdict(result, "en"), quote=True) in section, result.key
        assert "{" not in section and "}" not in section, result.key  # every placeholder filled
    assert "http://" not in page and "https://" not in page  # self-contained


def _measured_numbers(measured: dict, path: tuple = ()):
    """(path, value) of every number held under a key of ``measured``, through nested dicts."""
    for key, value in measured.items():
        if isinstance(value, dict):
            yield from _measured_numbers(value, (*path, key))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            yield (*path, key), value


def _far_from(value):
    """Two values of ``value``'s kind far above and below it: enough to cross a verdict rule's threshold."""
    if isinstance(value, numbers.Integral):
        return value * 10 + 1, value // 10 - 1
    return value * 10 + 1, value / 10 - 1


def _replaced(measured: dict, path: tuple, value) -> dict:
    """A deep copy of ``measured`` with the number at ``path`` replaced by ``value``."""
    changed = copy.deepcopy(measured)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def _verdicts_turned_by_one_number(chapter, result) -> set[int]:
    """Indices of the chapter's verdicts whose outcome and sentence both change when one measured
    number of the report moves far from its value."""
    turned = set()
    for path, value in _measured_numbers(result.measured):
        for moved in _far_from(value):
            verdicts = chapter.verdicts(_replaced(result.measured, path, moved))
            for index, (old, new) in enumerate(zip(result.verdicts, verdicts, strict=True)):
                if new.outcome != old.outcome and verdict_text(new, "en") != verdict_text(old, "en"):
                    turned.add(index)
    return turned


def test_verdicts_are_computed_from_the_measured_numbers(tour_run):
    """Every verdict quotes its numbers, and moving one measured number far enough turns its outcome."""
    _, results = tour_run
    for chapter, result in zip(tour.CHAPTERS, results, strict=True):
        assert chapter.key == result.key
        for verdict in result.verdicts:
            assert verdict.outcome in ("supports", "contradicts", "mixed")
            sentence = verdict_text(verdict, "en")
            for name, value in verdict.values.items():
                assert fmt(value) in sentence, (result.key, name)
        every = set(range(len(result.verdicts)))
        turned = _verdicts_turned_by_one_number(chapter, result)
        assert turned == every, (result.key, "verdicts that no measured number turns", every - turned)


def test_tables_quote_the_measured_numbers(tour_run):
    _, results = tour_run
    by_key = {r.key: r for r in results}
    zigzag = by_key["zigzag"].measured
    assert [row[2] for row in by_key["zigzag"].tables[0].rows] == [
        zigzag["gd_flips"], zigzag["cautious_flips"], zigzag["sgd_flips"]]
    digits = by_key["digits"].measured["runs"]
    assert [row[3] for row in by_key["digits"].tables[0].rows] == [100 * r["test_acc"] for r in digits.values()]
    assert all(r["test_acc"] > 0.9 for r in digits.values())
    schedules = by_key["schedules"].measured
    assert schedules["plateau"]["decays"], "the plateau schedule should have decayed at least once"


def test_korean_page_renders_from_the_same_results(tour_run, tmp_path):
    _, results = tour_run
    page = tour.render_tour(results, tmp_path, lang="ko").read_text(encoding="utf-8")
    assert '<html lang="ko">' in page
    sections = SECTION.findall(page)
    assert len(sections) == 13
    assert "Supports the notes" not in page and "Contradicts the notes" not in page
    for section, result in zip(sections, results, strict=True):
        assert text(f"{result.key}.title", "ko") in section
        assert html.escape(chapter_verdict(result, "ko"), quote=True) in section
        assert "{" not in section and "}" not in section, result.key  # every placeholder filled
        for verdict in result.verdicts:
            assert text(f"outcome.{verdict.outcome}", "ko") in section


def test_chapter_measurements_are_deterministic():
    first = tour.compute_chapters(seed=0, progress=False, chapters=tour.CHAPTERS[4:5])[0]
    second = tour.compute_chapters(seed=0, progress=False, chapters=tour.CHAPTERS[4:5])[0]
    assert first.measured == second.measured and first.verdicts == second.verdicts


@pytest.mark.parametrize("lang", ["fr", "", "EN"])
def test_unknown_language_is_rejected_before_any_work(lang, tmp_path):
    with pytest.raises(ValueError, match=f"lang.*{lang!r}"):
        tour.run_tour(tmp_path, lang=lang)
    assert not (tmp_path / "index.html").exists()


def test_bad_out_dir_and_seed_are_rejected(tmp_path):
    occupied = tmp_path / "file"
    occupied.write_text("x")
    with pytest.raises(ValueError, match="out_dir.*exists and is not a directory"):
        tour.run_tour(occupied)
    with pytest.raises(ValueError, match="seed.*-1"):
        tour.run_tour(tmp_path, seed=-1)


def _tuned_lrs(by_key):
    """(chapter, run, tuned lr, grid) for every run a chapter compares at its own tuned lr, where the grid
    is not bounded by a stability limit of the method."""
    from inertia.lab.tour import ch_adam, ch_digits, ch_schedules, ch_second_order

    schedules = by_key["schedules"].measured
    yield from (("schedules", n, schedules[n]["lr"], ch_schedules.GRID)
                for n in ("constant", "step", "exponential", "inverse_time"))
    for problem, runs in by_key["second_order"].measured["problems"].items():
        yield from ((problem, k, runs[k]["lr"], ch_second_order.FIRST_ORDER_GRID) for k in ch_second_order.FIRST_ORDER)
    yield from (("digits", k, r["lr"], ch_digits.GRID) for k, r in by_key["digits"].measured["runs"].items())
    adam = by_key["adam"].measured
    yield from (("adam", k, lr, ch_adam.GRID) for k, lr in (("corrected", adam["lr"]),
                                                            ("uncorrected", adam["uncorrected_tuned"]["lr"])))


def test_compared_lrs_are_not_capped_by_their_grids(tour_run):
    """A best lr on the edge of its grid means the method was not tuned: a comparison with it is unfair."""
    _, results = tour_run
    by_key = {r.key: r for r in results}
    for chapter, run, lr, grid in _tuned_lrs(by_key):
        assert grid[0] < lr < grid[-1], (chapter, run, lr)


def test_plateau_starts_from_the_constant_lr_as_the_lecture_recommends(tour_run):
    _, results = tour_run
    schedules = next(r for r in results if r.key == "schedules").measured
    assert schedules["plateau"]["lr"] == schedules["constant"]["lr"]
    assert schedules["eval_seeds"] == 8


def test_the_engine_judges_what_compute_measured():
    """A chapter whose compute returns given numbers: moving one of them turns the verdict on the page."""
    measured = {"epochs": 6, "runs": {"SGD": {"train_loss": 0.07, "test_acc": 0.95},
                                      "Momentum": {"train_loss": 0.013, "test_acc": 0.97},
                                      "Adam": {"train_loss": 0.004, "test_acc": 0.964}}}

    def compute(ctx):
        return Measurements([], [], copy.deepcopy(measured))

    chapter = tour.find_chapter("digits")._replace(compute=compute)
    before = tour.compute_chapters(progress=False, chapters=[chapter])[0]
    measured["runs"]["SGD"]["train_loss"] = 0.001  # now the fastest of the three
    after = tour.compute_chapters(progress=False, chapters=[chapter])[0]
    assert before.verdicts[0].template_key == "digits.sgd.supports"
    assert after.verdicts[0].template_key == "digits.sgd.contradicts"
    assert "Supports the notes: After 6 epochs plain SGD's training loss is 0.07" in chapter_verdict(before, "en")
    assert "Contradicts the notes: After 6 epochs plain SGD's training loss is 0.001" in chapter_verdict(after, "en")


def test_setup_text_follows_the_chapter_constants():
    """The setup text is filled from the chapter's constants: a changed constant changes both languages."""
    chapter = tour.find_chapter("zigzag")
    measured = {"steps": 150, "sgd_flips": 60, "sgd_path_ratio": 1.1, "sgd_shallow_flips": 0, "gd_lr": 1.9,
                "gd_flips": 2, "cautious_lr": 0.5, "cautious_flips": 0, "cautious_final": 0.07, "gd_final": 1e-3}
    changed = chapter._replace(setup=dict(chapter.setup, steps=777, cautious_lr=0.123),
                               compute=lambda ctx: Measurements([], [], measured))
    result = tour.compute_chapters(progress=False, chapters=[changed])[0]
    english, korean = chapter_prose(result, "en"), chapter_prose(result, "ko")
    assert "777 steps" in english and "the cautious lr 0.123" in english
    assert "777 step" in korean and "lr 0.123" in korean
    assert "{" not in english and "{" not in korean


def _leaves(value, path=()):
    """(path, leaf) of every value under nested dicts, lists and tuples."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def test_chapters_measure_numbers_only(tour_run):
    """What a chapter hands to its rules holds numbers (and booleans, None for "never"): no sentence, no verdict."""
    _, results = tour_run
    for result in results:
        for path, leaf in _leaves(result.measured):
            assert leaf is None or isinstance(leaf, numbers.Real), (result.key, path, leaf)
