"""The ``inertia`` command line: thin parsing and validation over the library.

Each area registers its own commands (``register(app)``) from its own module, so this
file stays a table of contents. Bad user input ends with one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

import typer

from inertia.errors import UserInputError

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

# Modules that contribute commands, with the commands each registers (``register(app: typer.Typer) -> None``).
# A command line naming one of these commands loads only its module; help and unknown commands load all.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "inertia.lab.lab_commands": ("train", "compare", "problems", "tour"),
    "inertia.lab.playground.playground_commands": ("playground",),
    "inertia.bench.bench_commands": ("bench",),
    "inertia.lab.diagnostics_commands": ("lr-find", "diagnose"),
}


@app.callback()
def _group() -> None:
    # A callback keeps ``inertia`` a group of commands even when only one command is registered.
    pass


_registered: set[str] = set()


def _register(modules: Iterable[str]) -> None:
    """Register the commands of ``modules``, each once per process (main may be called many times)."""
    for name in modules:
        if name not in _registered:
            importlib.import_module(name).register(app)
            _registered.add(name)


def _register_all() -> None:
    """Register every area's commands."""
    _register(COMMAND_MODULES)


def _register_for(argv: list[str]) -> None:
    """Register only the module of the command ``argv`` names, or every module (help, unknown command)."""
    owners = [module for module, commands in COMMAND_MODULES.items() if argv[:1] and argv[0] in commands]
    _register(owners or COMMAND_MODULES)


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
    _register_for(sys.argv[1:] if argv is None else list(argv))
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
