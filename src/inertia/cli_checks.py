"""Checks of command-line values shared by the commands of every area: bounded counts and output paths.

Each check raises :class:`inertia.errors.UserInputError` with a message that starts with the flag and
names the value, so the command line's ``main`` prints one line and exits 2 before any work is done.

The upper bounds keep a typo (an extra digit, a pasted number) from becoming an hour of work, an
allocation the machine cannot make, or an integer overflow deep inside torch or numpy; each is far
above what any of the lab's workloads needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inertia.checks import STYLE_FIELD, check_int
from inertia.checks import check_seed as check_seed_value
from inertia.errors import UserInputError
from inertia.io.atomic import unwritable_reason

MAX_THREADS = 1024  # torch intra-op threads
MAX_STEPS = 1_000_000  # optimizer steps of lr-find and diagnose (their losses are kept per step)
MAX_SWEEPS = 1000  # lr-find sweeps (seeds)
MAX_BATCH_SIZE = 10_000_000  # more than any dataset of the lab holds: a larger batch is the full batch
MAX_HVP = 10_000  # Hessian-vector products per eigenvalue estimate (each keeps a vector of the model's size)
MAX_BENCH_STEPS = 100_000  # timed steps per benchmark row
SEED_LIMIT_32 = 2**32  # numpy's legacy seeding and scikit-learn's random_state take 32-bit seeds


@contextmanager
def user_input_errors() -> Iterator[None]:
    """Turn a ValueError of an :mod:`inertia.checks` check into a :class:`UserInputError` (same message)."""
    try:
        yield
    except UserInputError:
        raise
    except ValueError as exc:
        raise UserInputError(str(exc)) from None


def check_count(flag: str, value: int, low: int, high: int) -> int:
    """``value`` if it is an integer in ``[low, high]``; else :class:`UserInputError` naming ``flag``."""
    with user_input_errors():
        return check_int(flag, value, low=low, high=high, style=STYLE_FIELD)


def check_seed(flag: str, value: int, limit: int = SEED_LIMIT_32) -> int:
    """``value`` if it is an integer in ``[0, limit)`` (``limit`` a power of two)."""
    with user_input_errors():
        return check_seed_value(flag, value, limit=limit, style=STYLE_FIELD)


def output_path(flag: str, text: str | Path, *, directory: bool) -> Path:
    """The output directory (``directory=True``) or file named by ``text``, checked by really creating
    it in a temporary folder beside it (and removing that again): nothing is left on disk either way.

    An empty ``text`` is refused (``Path("")`` would silently be the current directory).
    """
    reason = unwritable_reason(text, directory=directory)
    if reason is not None:
        raise UserInputError(f"{flag}: {reason}")
    return Path(text)
