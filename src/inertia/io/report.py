"""A self-contained, offline HTML report: sections of text, figures, tables and verdicts.

Every image is embedded as a ``data:`` URI and the stylesheet is inline, so the page needs no
network access and no neighbouring files. ``Report.write`` replaces ``index.html`` atomically.

Example::

    report = Report("Optimizers on a valley", lang="en")
    report.add_section("Zig-zag", "SGD oscillates across the steep axis.",
                       figures=[fig], tables=[(["optimizer", "steps"], [["sgd", 120]])],
                       verdict="SGD needed 3.1x more steps than momentum.")
    path = report.write("inertia-report")   # -> inertia-report/index.html
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from inertia.io.atomic import atomic_write_text
from inertia.io.report_html import render_page
from inertia.io.report_parts import Image, ImageLike, Section, TableLike, to_image, to_table

__all__ = ["Report"]


class Report:
    """An HTML report assembled from sections and written as one self-contained ``index.html``.

    Args:
        title: page title and top heading.
        lang: the page's language code (``"en"``, ``"ko"``, ...), set as ``<html lang>``.
        intro: optional paragraph(s) under the title; blank lines separate paragraphs.
        dpi: resolution used when rendering matplotlib figures.

    ``links`` (``(label, href)`` pairs, shown under the intro) and ``style`` (extra CSS, e.g. an
    embedded ``@font-face``) may be set before writing.
    """

    def __init__(self, title: str, lang: str = "en", intro: str = "", dpi: int = 100) -> None:
        if not title:
            raise ValueError("title: must be a non-empty string")
        self.title = title
        self.lang = lang
        self.intro = intro
        self.dpi = dpi
        self.sections: list[Section] = []
        self.links: list[tuple[str, str]] = []
        self.style = ""

    def add_section(
        self,
        title: str,
        text: str = "",
        figures: Iterable[ImageLike | Image] = (),
        tables: Iterable[TableLike] = (),
        verdict: str | None = None,
        captions: Sequence[str] = (),
        links: Sequence[tuple[str, str]] = (),
    ) -> Section:
        """Append a section and return it.

        Figures are rendered to bytes immediately, so a matplotlib figure may be discarded after
        the call. ``captions[i]`` (optional) captions ``figures[i]``. ``text`` is plain text:
        it is HTML-escaped and blank lines separate paragraphs. ``links`` are ``(label, href)``
        pairs shown after the verdict.
        """
        figures = list(figures)
        captions = list(captions) + [""] * max(0, len(figures) - len(captions))
        images = [to_image(fig, caption, self.dpi) for fig, caption in zip(figures, captions, strict=False)]
        section = Section(
            title=title,
            text=text,
            images=images,
            tables=[to_table(table) for table in tables],
            verdict=verdict,
            anchor=f"s{len(self.sections) + 1}",
            links=list(links),
        )
        self.sections.append(section)
        return section

    def to_html(self) -> str:
        """Return the whole page as one HTML string."""
        return render_page(self.title, self.lang, self.intro, self.links, self.style, self.sections)

    def write(self, out_dir: str | os.PathLike, filename: str = "index.html") -> Path:
        """Write the page to ``out_dir/filename`` atomically and return its path."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"out_dir: {str(out)!r} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        target = out / filename
        atomic_write_text(target, self.to_html())
        return target
