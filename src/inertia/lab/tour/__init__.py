"""``inertia tour``: the optimization notes' story, chapter by chapter, measured with inertia.

Twelve chapters (SGD's zig-zag, mini-batch noise, local minima, saddles, momentum, Nesterov,
AdaGrad, RMSprop, Adam, lr decay, Newton/L-BFGS, a real training run on digits) each run a small
experiment, tabulate the measured numbers and compute a verdict on the notes' claim from them.
:func:`run_tour` runs them all and writes one self-contained ``index.html``.

Example::

    from inertia.lab.tour import run_tour
    path = run_tour("inertia-report", lang="ko")
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from inertia.lab.figure_text import figure_language
from inertia.lab.tour import (
    ch_adam,
    ch_adaptive,
    ch_digits,
    ch_landscape,
    ch_momentum,
    ch_schedules,
    ch_second_order,
    ch_sgd,
)
from inertia.lab.tour._model import ChapterResult, Figure, Table, Verdict
from inertia.lab.tour._shared import TourContext
from inertia.lab.tour.render import render_tour
from inertia.lab.tour.text import check_lang, text


class Chapter(NamedTuple):
    """One chapter: its number, key, experiment and the verdict rule applied to its measurements."""

    number: int
    key: str
    compute: Callable[[TourContext], ChapterResult]
    verdicts: Callable[[dict[str, Any]], list[Verdict]]


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "zigzag", ch_sgd.compute_zigzag, ch_sgd.verdicts_zigzag),
    Chapter(2, "minibatch", ch_sgd.compute_minibatch, ch_sgd.verdicts_minibatch),
    Chapter(3, "minima", ch_landscape.compute_local_minima, ch_landscape.verdicts_local_minima),
    Chapter(4, "saddle", ch_landscape.compute_saddles, ch_landscape.verdicts_saddles),
    Chapter(5, "momentum", ch_momentum.compute_momentum, ch_momentum.verdicts_momentum),
    Chapter(6, "nesterov", ch_momentum.compute_nesterov, ch_momentum.verdicts_nesterov),
    Chapter(7, "adagrad", ch_adaptive.compute_adagrad, ch_adaptive.verdicts_adagrad),
    Chapter(8, "rmsprop", ch_adaptive.compute_rmsprop, ch_adaptive.verdicts_rmsprop),
    Chapter(9, "adam", ch_adam.compute_adam, ch_adam.verdicts_adam),
    Chapter(10, "schedules", ch_schedules.compute_schedules, ch_schedules.verdicts_schedules),
    Chapter(11, "second_order", ch_second_order.compute_second_order, ch_second_order.verdicts_second_order),
    Chapter(12, "digits", ch_digits.compute_digits, ch_digits.verdicts_digits),
)


SEED_LIMIT = 2**32  # the tour's seed also splits the digits (scikit-learn's random_state: 32 bits)


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is an integer in ``[0, 2**32)``, else raise ValueError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return seed


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
    """Run the chapters' experiments (deterministic given ``seed``) and return their results;
    the figures' axes and legends are labelled in ``lang``."""
    check_lang(lang)
    check_seed(seed)
    context = TourContext(seed=seed)
    results = []
    with single_thread(), figure_language(lang), _progress(progress, len(chapters)) as advance:
        for chapter in chapters:
            advance(text("progress.chapter", lang, number=chapter.number,
                         title=text(f"{chapter.key}.title", lang)))
            start = time.perf_counter()
            result = chapter.compute(context)
            result.seconds = time.perf_counter() - start
            results.append(result)
        advance(None)
    return results


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[str | None], None]]:
    """A rich progress bar on stderr; ``advance(description)`` starts the next chapter, ``None`` ends."""
    if not enabled:
        yield lambda description: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

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


def run_tour(out_dir: Path | str = "inertia-report", lang: str = "en", progress: bool = True,
             seed: int = 0) -> Path:
    """Run every chapter and write ``out_dir/index.html``; return the path of the page.

    Raises ValueError for an unknown ``lang``, a negative ``seed`` or an ``out_dir`` that is not, or
    cannot be created as, a writable directory, before any work is done. The page is written atomically, so a failed run
    leaves no partial file.
    """
    check_lang(lang)
    check_seed(seed)
    from inertia.lab.run_storage import check_output_dir

    out = check_output_dir(out_dir, "out_dir")
    start = time.perf_counter()
    results = compute_chapters(seed=seed, progress=progress, lang=lang)
    return render_tour(results, out, lang=lang, seed=seed, seconds=time.perf_counter() - start)


__all__ = ["CHAPTERS", "SEED_LIMIT", "Chapter", "ChapterResult", "Figure", "Table", "Verdict", "compute_chapters",
           "render_tour", "run_tour"]
