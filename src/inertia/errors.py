"""Errors for bad user input, shared by the command line and every command module.

A command raises :class:`UserInputError` with a message that starts with the flag and names the
value; the command line's ``main`` prints it on one line and exits with code 2. It lives below
every command module (it imports nothing from inertia), so no command imports the command-line
application module back.
"""

from __future__ import annotations

__all__ = ["UserInputError"]


class UserInputError(ValueError):
    """Raised by command implementations for bad user input (exit code 2)."""
