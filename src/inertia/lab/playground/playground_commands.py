"""The ``inertia playground`` command (registered by the command line)."""

from __future__ import annotations

from pathlib import Path

import typer

from inertia.errors import UserInputError
from inertia.lab.playground.page import LANGS, write_playground
from inertia.lab.run_config import ConfigError


def playground(
    out: Path = typer.Option(Path("inertia-report"), help="output directory for playground.html"),
    lang: str = typer.Option("en", help="language of the page: en or ko"),
) -> int:
    """Write the offline optimizer playground (one HTML file) into --out."""
    if lang not in LANGS:
        raise UserInputError(f"--lang: must be one of {', '.join(LANGS)}, got {lang!r}")
    try:
        page = write_playground(out, lang=lang)
    except ConfigError as exc:
        raise UserInputError(f"--out: {exc.detail}") from exc
    print(f"playground: {page}")
    return 0


def register(app: typer.Typer) -> None:
    """Add the playground command to the inertia app."""
    app.command("playground")(playground)
