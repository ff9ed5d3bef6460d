"""``inertia tour``: the optimization notes' story, chapter by chapter, measured with inertia.

Thirteen chapters (SGD's zig-zag, mini-batch noise, local minima, saddles, momentum, Nesterov,
AdaGrad, RMSprop, Adam, lr decay, Newton/L-BFGS, a real training run on digits, and the tilted valley
against Shampoo, SOAP, Muon, L-BFGS and Newton) each run a small
experiment that returns measured numbers; the engine (:mod:`inertia.lab.tour.engine`) applies the
chapter's verdict rules to them, and the page renders the verdicts' sentences from the language
tables. :func:`run_tour` runs them all and writes one self-contained ``index.html``.

Example::

    from inertia.lab.tour import run_tour
    path = run_tour("inertia-report", lang="ko")
"""

from __future__ import annotations

import time
from pathlib import Path

from inertia.lab.run_storage import check_output_dir
from inertia.lab.tour.engine import (
    CHAPTERS,
    SEED_LIMIT,
    Chapter,
    check_seed,
    compute_chapters,
    find_chapter,
    judge,
)
from inertia.lab.tour.model import ChapterResult, Figure, Measurements, Table, Verdict
from inertia.lab.tour.render import render_tour
from inertia.lab.tour.rules import Finding, Rule
from inertia.lab.tour.text import check_lang


def run_tour(out_dir: Path | str = "inertia-report", lang: str = "en", progress: bool = True,
             seed: int = 0) -> Path:
    """Run every chapter and write ``out_dir/index.html``; return the path of the page.

    Raises ValueError for an unknown ``lang``, a negative ``seed`` or an ``out_dir`` that is not, or
    cannot be created as, a writable directory, before any work is done. The page is written atomically, so a failed run
    leaves no partial file.
    """
    check_lang(lang)
    check_seed(seed)
    out = check_output_dir(out_dir, "out_dir")
    start = time.perf_counter()
    results = compute_chapters(seed=seed, progress=progress, lang=lang)
    return render_tour(results, out, lang=lang, seed=seed, seconds=time.perf_counter() - start)


__all__ = ["CHAPTERS", "SEED_LIMIT", "Chapter", "ChapterResult", "Figure", "Finding", "Measurements", "Rule",
           "Table", "Verdict", "check_seed", "compute_chapters", "find_chapter", "judge", "render_tour", "run_tour"]
