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

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from matplotlib.figure import Figure

from inertia.lab.atomic import atomic_write_bytes, atomic_write_text

ImageLike = Union[Figure, bytes, str, os.PathLike]
TableLike = Union["Table", tuple[Sequence[Any], Sequence[Sequence[Any]]]]

__all__ = [
    "Image", "Table", "Section", "Report", "sniff_mime", "figure_to_png", "to_image", "to_table",
    "format_cell", "atomic_write_bytes", "atomic_write_text", "escape",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_GIF_MAGICS = (b"GIF87a", b"GIF89a")
_JPEG_MAGIC = b"\xff\xd8\xff"
_SVG_PREFIXES = (b"<svg", b"<?xml")


@dataclass
class Image:
    """An embedded image: raw bytes, their MIME type, and an optional caption."""

    data: bytes
    mime: str
    caption: str = ""
    alt: str = ""

    def data_uri(self) -> str:
        """Return the image as a ``data:`` URI (base64)."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass
class Table:
    """A table: column headers, rows of cells, and an optional caption."""

    headers: Sequence[Any]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass
class Section:
    """One section of a report (a chapter of the tour, one comparison, ...)."""

    title: str
    text: str = ""
    images: list[Image] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    verdict: str | None = None
    anchor: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, relative href)


def sniff_mime(data: bytes) -> str:
    """Return the MIME type of PNG, GIF, JPEG or SVG bytes; raise ValueError for anything else."""
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    if data.startswith(_GIF_MAGICS):
        return "image/gif"
    if data.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    if data.lstrip()[:5].lower().startswith(_SVG_PREFIXES):
        return "image/svg+xml"
    raise ValueError("image: bytes are not PNG, GIF, JPEG or SVG (unknown magic number)")


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes (Agg backend; the figure is not modified)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def to_image(image: ImageLike | Image, caption: str = "", dpi: int = 100) -> Image:
    """Convert a Figure, PNG/GIF/JPEG/SVG bytes, or a path to such a file into an ``Image``."""
    if isinstance(image, Image):
        return image
    if isinstance(image, Figure):
        data = figure_to_png(image, dpi=dpi)
        return Image(data, "image/png", caption, alt=caption or _figure_title(image))
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        return Image(data, sniff_mime(data), caption, alt=caption)
    if isinstance(image, (str, os.PathLike)):
        data = Path(image).read_bytes()
        return Image(data, sniff_mime(data), caption, alt=caption or Path(image).name)
    raise TypeError(f"image: expected a matplotlib Figure, bytes or a path, got {type(image).__name__}")


def _figure_title(fig: Figure) -> str:
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else ""
    return suptitle or "; ".join(titles) or "figure"


def to_table(table: TableLike) -> Table:
    """Accept a ``Table`` or a ``(headers, rows)`` pair; check that every row has len(headers) cells."""
    if not isinstance(table, Table):
        headers, rows = table
        table = Table(list(headers), [list(row) for row in rows])
    width = len(table.headers)
    for index, row in enumerate(table.rows):
        if len(row) != width:
            raise ValueError(f"table row {index}: has {len(row)} cells, headers have {width}")
    return table


def format_cell(value: Any) -> str:
    """Format a table cell: floats with 4 significant digits, None as an em dash, rest via str()."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


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
        from inertia.lab.report_html import render_page

        return render_page(self)

    def write(self, out_dir: str | os.PathLike, filename: str = "index.html") -> Path:
        """Write the page to ``out_dir/filename`` atomically and return its path."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"out_dir: {str(out)!r} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        target = out / filename
        atomic_write_text(target, self.to_html())
        return target


def escape(text: str) -> str:
    """HTML-escape text (quotes included)."""
    return html.escape(text, quote=True)
