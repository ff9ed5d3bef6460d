"""Data model of the tour: what a chapter measured, independent of the language it is shown in.

A chapter's computation produces :class:`Measurements`: numbers only (tables of measured values,
a ``measured`` dict, figures as PNG bytes). The engine (:mod:`inertia.lab.tour.engine`) applies the
chapter's verdict rules to ``measured`` and returns a :class:`ChapterResult` with the
:class:`Verdict` list. Text is attached at render time from :mod:`inertia.lab.tour.text`, so the
same result renders in English or Korean without recomputation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Cell = str | float | int | None


@dataclass(frozen=True)
class Figure:
    """A rendered PNG image and the text key of its caption."""

    png: bytes
    caption_key: str
    caption_args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A table of measured values; ``header_keys`` are text keys, cells are numbers or names, and
    ``text_args`` are the constants its headers and caption quote."""

    header_keys: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    caption_key: str = ""
    text_args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A verdict computed from measured numbers.

    ``outcome`` is ``"supports"``, ``"contradicts"`` or ``"mixed"`` (relative to the notes'
    claim); ``template_key`` names the sentence in :mod:`inertia.lab.tour.text`, and
    ``values`` are the measured numbers it quotes.
    """

    outcome: str
    template_key: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Measurements:
    """What a chapter's experiment returns: tables, figures and the raw numbers its verdict rules read.

    ``measured`` holds numbers (and booleans, ``None`` for "never", lists and dicts of them) only: no
    sentence and no verdict; the engine judges it.
    """

    tables: list[Table]
    figures: list[Figure]
    measured: dict[str, Any]


@dataclass
class ChapterResult:
    """Everything one chapter measured, the verdicts its rules drew from that, and the constants its
    setup text quotes."""

    number: int
    key: str
    tables: list[Table]
    figures: list[Figure]
    measured: dict[str, Any]
    verdicts: list[Verdict]
    seconds: float = 0.0
    setup: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.verdicts:
            raise ValueError(f"chapter {self.key!r} has no verdict")
