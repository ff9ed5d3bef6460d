"""The ``inertia`` command line: thin parsing and validation over the library.

Each area registers its own commands (``register(app)``) from its own module, so this
file stays a table of contents. Bad user input ends with one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import BadParameter, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer depends on click itself
    from click.exceptions import BadParameter, NoArgsIsHelpError, UsageError

app = typer.Typer(
    name="inertia",
    help="Gradient-based optimizers, second-order methods and an optimization lab.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Modules that contribute commands; each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = (
    "inertia.lab.commands",
    "inertia.lab.playground.commands",
    "inertia.kernels.commands",
    "inertia.diagnostics.commands",
)


class UserInputError(ValueError):
    """Raised by command implementations for bad user input (exit code 2)."""


def _register_all() -> None:
    """Register every area's commands, once per process (main may be called many times)."""
    if app.registered_commands:
        return
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def _one_line(text: object) -> str:
    """The message on a single line: the contract is one line on stderr per error."""
    return " ".join(str(text).split())


def _usage_message(exc: UsageError) -> str:
    """Click's message, plus the rejected value when the parser names it only in the exception's cause."""
    message = exc.format_message()
    errors = getattr(exc.__cause__, "errors", None)  # typer's conversion errors hide the input there
    if isinstance(exc, BadParameter) and callable(errors):
        try:
            value = errors()[0]["input"]
        except (LookupError, TypeError):
            return message
        message = f"{message.rstrip('.')}, got {value!r}"
    return message


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``inertia`` console script."""
    _register_all()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="inertia", standalone_mode=False)
    except NoArgsIsHelpError:
        return 0
    except UsageError as exc:
        print(f"inertia: error: {_one_line(_usage_message(exc))}", file=sys.stderr)
        return 2
    except (UserInputError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:  # the OS errors: an output or data path the user gave
        print(f"inertia: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("inertia: aborted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
