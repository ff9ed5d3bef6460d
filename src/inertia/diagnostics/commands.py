"""Command-line commands of inertia.diagnostics (registered by inertia.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the inertia app."""
