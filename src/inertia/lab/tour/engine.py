"""The tour's engine: the table of chapters, and the one place where measurements become verdicts.

Each chapter declares a compute function (a :class:`~inertia.lab.tour.context.TourContext` in,
:class:`~inertia.lab.tour.model.Measurements` out: numbers only), its verdict rules
(:class:`~inertia.lab.tour.rules.Rule`) and the constants its setup text quotes. :func:`compute_chapters`
runs the experiments and :func:`judge` applies each chapter's rules to what it measured.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from inertia.checks import STYLE_SENTENCE
from inertia.checks import check_seed as check_seed_value
from inertia.lab.figure_text import figure_language
from inertia.lab.tour import (
    ch_adam,
    ch_adaptive,
    ch_beyond,
    ch_digits,
    ch_landscape,
    ch_momentum,
    ch_schedules,
    ch_second_order,
    ch_sgd,
)
from inertia.lab.tour.context import TourContext
from inertia.lab.tour.model import ChapterResult, Measurements, Verdict
from inertia.lab.tour.rules import Rule
from inertia.lab.tour.text import check_lang, text


def judge(rules: Sequence[Rule], measured: Mapping[str, Any]) -> list[Verdict]:
    """Apply verdict ``rules`` to ``measured``: one verdict per rule, in order."""
    return [rule.verdict(measured) for rule in rules]


class Chapter(NamedTuple):
    """One chapter: its number, key, experiment, verdict rules and the constants its setup text quotes."""

    number: int
    key: str
    compute: Callable[[TourContext], Measurements]
    rules: tuple[Rule, ...]
    setup: Mapping[str, Any]

    def verdicts(self, measured: Mapping[str, Any]) -> list[Verdict]:
        """This chapter's verdicts on ``measured`` (see :func:`judge`)."""
        return judge(self.rules, measured)

    def result(self, measurements: Measurements, seconds: float = 0.0) -> ChapterResult:
        """The chapter's result: ``measurements`` with the verdicts its rules draw from them."""
        return ChapterResult(self.number, self.key, measurements.tables, measurements.figures,
                             measurements.measured, self.verdicts(measurements.measured), seconds, dict(self.setup))


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "zigzag", ch_sgd.compute_zigzag, ch_sgd.ZIGZAG_RULES, ch_sgd.ZIGZAG_SETUP),
    Chapter(2, "minibatch", ch_sgd.compute_minibatch, ch_sgd.MINIBATCH_RULES, ch_sgd.MINIBATCH_SETUP),
    Chapter(3, "minima", ch_landscape.compute_local_minima, ch_landscape.MINIMA_RULES, ch_landscape.MINIMA_SETUP),
    Chapter(4, "saddle", ch_landscape.compute_saddles, ch_landscape.SADDLE_RULES, ch_landscape.SADDLE_SETUP),
    Chapter(5, "momentum", ch_momentum.compute_momentum, ch_momentum.MOMENTUM_RULES, ch_momentum.MOMENTUM_SETUP),
    Chapter(6, "nesterov", ch_momentum.compute_nesterov, ch_momentum.NESTEROV_RULES, ch_momentum.NESTEROV_SETUP),
    Chapter(7, "adagrad", ch_adaptive.compute_adagrad, ch_adaptive.ADAGRAD_RULES, ch_adaptive.ADAGRAD_SETUP),
    Chapter(8, "rmsprop", ch_adaptive.compute_rmsprop, ch_adaptive.RMSPROP_RULES, ch_adaptive.RMSPROP_SETUP),
    Chapter(9, "adam", ch_adam.compute_adam, ch_adam.RULES, ch_adam.SETUP),
    Chapter(10, "schedules", ch_schedules.compute_schedules, ch_schedules.RULES, ch_schedules.SETUP),
    Chapter(11, "second_order", ch_second_order.compute_second_order, ch_second_order.RULES, ch_second_order.SETUP),
    Chapter(12, "digits", ch_digits.compute_digits, ch_digits.RULES, ch_digits.SETUP),
    Chapter(13, "beyond", ch_beyond.compute_beyond, ch_beyond.RULES, ch_beyond.SETUP),
)


def find_chapter(key: str) -> Chapter:
    """The chapter of :data:`CHAPTERS` whose key is ``key``; KeyError naming it (and the keys) otherwise."""
    for chapter in CHAPTERS:
        if chapter.key == key:
            return chapter
    raise KeyError(f"key: no tour chapter {key!r}; chapters: {', '.join(c.key for c in CHAPTERS)}")


SEED_LIMIT = 2**32  # the tour's seed also splits the digits (scikit-learn's random_state: 32 bits)


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is an integer in ``[0, 2**32)``, else raise ValueError naming it."""
    return check_seed_value("seed", seed, limit=SEED_LIMIT, style=STYLE_SENTENCE)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread (the tour's tensors are tiny; threads only add contention), then restore."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def compute_chapters(seed: int = 0, progress: bool = True, lang: str = "en",
                     chapters: Sequence[Chapter] = CHAPTERS) -> list[ChapterResult]:
    """Run the chapters' experiments (deterministic given ``seed``), judge each one's measurements by its
    rules and return the results; the figures' axes and legends are labelled in ``lang``."""
    check_lang(lang)
    check_seed(seed)
    context = TourContext(seed=seed)
    results = []
    with single_thread(), figure_language(lang), progress_bar(progress, len(chapters)) as advance:
        for chapter in chapters:
            advance(text("progress.chapter", lang, number=chapter.number, total=len(CHAPTERS),
                         title=text(f"{chapter.key}.title", lang)))
            start = time.perf_counter()
            measurements = chapter.compute(context)
            results.append(chapter.result(measurements, time.perf_counter() - start))
        advance(None)
    return results


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int) -> Iterator[Callable[[str | None], None]]:
    """A rich progress bar on stderr; ``advance(description)`` starts the next chapter, ``None`` ends."""
    if not enabled:
        yield lambda description: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("", total=total)
        started = [False]

        def advance(description: str | None) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            if description is not None:
                bar.update(task, description=description)

        yield advance
