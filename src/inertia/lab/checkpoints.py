"""``checkpoint.pt`` of a run directory: saved atomically, loaded without unpickling anything but data."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from inertia.io.atomic import atomic_write_bytes
from inertia.lab.run_config import ConfigError, one_line


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """``torch.save`` to memory, then an atomic replace of ``path``."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write_bytes(path, buffer.getvalue())


CHECKPOINT_KEYS = ("position", "params", "optimizer", "rows", "elapsed_s")


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None when there is none.

    A checkpoint holds tensors, numbers, strings and containers of them only (parameters, optimizer and
    schedule state dicts, records), so it is loaded with ``weights_only=True``: nothing else is
    unpickled, and a file planted in a run directory cannot run code. A file that cannot be loaded
    (truncated by a killed copy, holding other objects, or lacking a checkpoint's entries) raises
    :class:`ConfigError` on ``run_dir``, before the run touches anything.
    """
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways (UnpicklingError, RuntimeError, EOFError, ...)
        raise ConfigError("run_dir", f"{str(path)!r} cannot be loaded as a checkpoint ({_why(exc)}); "
                                     "discard it by starting again (inertia train --restart; execute(..., rerun=True))") from None
    if not isinstance(state, dict) or not all(key in state for key in CHECKPOINT_KEYS):
        raise ConfigError("run_dir", f"{str(path)!r} is not a checkpoint of a run (it lacks "
                                     f"{', '.join(CHECKPOINT_KEYS)}); discard it by starting again (--restart)")
    return state


def _why(exc: Exception) -> str:
    """The part of torch's message that says what is wrong (a refused global is named deep inside it)."""
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    if refused:
        return f"it holds {refused.group(1)}, which is not plain data, and was not unpickled"
    return one_line(exc)
