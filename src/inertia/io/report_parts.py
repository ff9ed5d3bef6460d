"""The parts of an HTML report: images, tables, sections, and the conversions that build them.

A :class:`~inertia.io.report.Report` holds :class:`Section` objects; each holds :class:`Image` objects
(bytes and a MIME type, later embedded as ``data:`` URIs) and :class:`Table` objects.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from matplotlib.figure import Figure

from inertia.checks import is_flag

ImageLike = Union[Figure, bytes, str, os.PathLike]
TableLike = Union["Table", tuple[Sequence[Any], Sequence[Sequence[Any]]]]

__all__ = [
    "Image", "Table", "Section", "ImageLike", "TableLike", "sniff_mime", "figure_to_png", "to_image",
    "to_table", "format_cell", "escape",
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
    if is_flag(value):
        return str(bool(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


def escape(text: str) -> str:
    """HTML-escape text (quotes included)."""
    return html.escape(text, quote=True)
