"""Turn measured chapters into the self-contained HTML page (English or Korean)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from inertia.io.report import Report
from inertia.io.report_parts import Table as ReportTable
from inertia.lab.korean_font import WEB_FAMILY, font_face_css
from inertia.lab.playground import FILENAME as PLAYGROUND
from inertia.lab.playground import chapter_hash, write_playground
from inertia.lab.playground.presets import CHAPTER_VIEWS
from inertia.lab.tour.model import ChapterResult
from inertia.lab.tour.text import check_lang, fmt, text, verdict_text
from inertia.lab.tour.text_quotes import QUOTES

HANGUL_BODY_FONT = f'body {{ font-family: "{WEB_FAMILY}", system-ui, -apple-system, "Segoe UI", sans-serif; }}'


def chapter_title(result: ChapterResult, lang: str) -> str:
    """``"<number>. <title>"`` in ``lang``."""
    return f"{result.number}. {text(f'{result.key}.title', lang)}"


def chapter_prose(result: ChapterResult, lang: str) -> str:
    """The quoted claim and the experiment's description (its constants filled in from the chapter), as paragraphs."""
    notes = text("notes", lang, quote=QUOTES[result.key], gist=text(f"{result.key}.gist", "en"))
    return f"{notes}\n\n{text(f'{result.key}.setup', lang, **result.setup)}"


def chapter_verdict(result: ChapterResult, lang: str) -> str:
    """All verdict sentences of a chapter, each prefixed by its outcome."""
    return " ".join(verdict_text(verdict, lang) for verdict in result.verdicts)


def render_tour(results: Sequence[ChapterResult], out_dir: str | os.PathLike, lang: str = "en",
                seed: int = 0, seconds: float | None = None) -> Path:
    """Write ``out_dir/index.html`` (atomically) from measured chapters, and the playground it links to
    (``playground.html``, a "try it" link per chapter), and return the page's path."""
    check_lang(lang)
    intro = text("page.intro", lang, seed=seed)
    if seconds is not None:
        intro += "\n\n" + text("page.footer", lang, seconds=round(seconds, 1))
    report = Report(text("page.title", lang), lang=lang, intro=intro)
    report.links = [(text("page.playground", lang), PLAYGROUND)]
    for result in results:
        tables = [ReportTable([text(key, lang, **table.text_args) for key in table.header_keys],
                              [list(row) for row in table.rows],
                              text(table.caption_key, lang, **table.text_args) if table.caption_key else "")
                  for table in result.tables]
        report.add_section(
            chapter_title(result, lang),
            chapter_prose(result, lang),
            figures=[figure.png for figure in result.figures],
            captions=[text(figure.caption_key, lang, **figure.caption_args) for figure in result.figures],
            tables=tables,
            verdict=chapter_verdict(result, lang),
            links=_try_it(result.key, lang),
        )
    write_playground(out_dir, lang=lang)
    if lang != "en":  # embed the glyphs of the page, so that it renders without a Korean font installed
        report.style = font_face_css(report.to_html()) + HANGUL_BODY_FONT
    return report.write(out_dir)


def _try_it(key: str, lang: str) -> list[tuple[str, str]]:
    """The chapter's "try it" link into the playground, when the playground has a view for it."""
    return [(text("page.tryit", lang), PLAYGROUND + chapter_hash(key))] if key in CHAPTER_VIEWS else []


__all__ = ["chapter_prose", "chapter_title", "chapter_verdict", "fmt", "render_tour"]
