"""Verdict rules: small pure functions from a chapter's measurements to a :class:`Finding`.

A chapter declares its rules as :class:`Rule` objects (a text key and a judge function); the engine
(:func:`inertia.lab.tour.engine.judge`) applies them to the chapter's measurements and turns each
finding into a :class:`~inertia.lab.tour.model.Verdict` whose sentence is ``<key>.<outcome>`` (or
``<key>.<case>``) in the language tables. A rule returns an outcome and the numbers its sentence
quotes, never a sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inertia.lab.tour.model import Verdict

OUTCOMES = ("supports", "contradicts", "mixed")


@dataclass(frozen=True)
class Finding:
    """What one rule concluded: ``outcome`` (one of :data:`OUTCOMES`), the numbers the sentence quotes and,
    where one outcome has several wordings, the ``case`` that names the wording (default: the outcome's own)."""

    outcome: str
    values: Mapping[str, Any] = field(default_factory=dict)
    case: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"Invalid outcome: {self.outcome!r} (must be one of {', '.join(OUTCOMES)})")


Judge = Callable[[Mapping[str, Any]], Finding]


@dataclass(frozen=True)
class Rule:
    """One verdict of a chapter: ``key`` prefixes its sentences' text keys, ``judge`` reads the measurements."""

    key: str
    judge: Judge

    def verdict(self, measured: Mapping[str, Any]) -> Verdict:
        """Judge ``measured`` and name the sentence: ``<key>.<case or outcome>``."""
        finding = self.judge(measured)
        return Verdict(finding.outcome, f"{self.key}.{finding.case or finding.outcome}", dict(finding.values))


def supports(claim_holds: bool) -> str:
    """The outcome of a yes/no test of the notes' claim: ``"supports"`` if it holds, else ``"contradicts"``."""
    return "supports" if claim_holds else "contradicts"


def steps_text(hit: int | None, budget: int) -> int | str:
    """A step count for a sentence: the step itself, or ``">budget"`` when the target was never reached."""
    return hit if hit is not None else f">{budget}"
