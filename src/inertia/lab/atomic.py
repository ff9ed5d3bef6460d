"""Atomic file writes: a temporary file in the target's directory, then ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _new_file_mode() -> int:
    """Mode an ordinary ``open(path, "w")`` would give a new file: 0o666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _new_file_mode()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and ``os.replace``.

    Readers see either the old file or the complete new one, never a partial write, even if the
    process is killed mid-write. ``fsync=True`` also survives a power loss, at some cost. A new
    file gets the usual permissions (0o666 minus the umask); a replaced file keeps its mode.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 files; give the result the mode of the file it replaces, or the default
        os.chmod(tmp_name, path.stat().st_mode & 0o7777 if path.exists() else _NEW_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """UTF-8 variant of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def unwritable_reason(path: str | os.PathLike, *, directory: bool) -> str | None:
    """Why ``path`` could not be written as a directory (``directory=True``) or a file, or None.

    Checked before long work starts, so that it does not fail only when it writes its output: the
    path must not be a file (a directory), or a directory (a file), and its nearest existing
    ancestor must be a directory this process may write into.
    """
    out = Path(path)
    if directory and out.exists() and not out.is_dir():
        return f"{str(out)!r} exists and is not a directory"
    if not directory and out.is_dir():
        return f"{str(out)!r} is a directory (give a file name)"
    candidates = (out, *out.parents) if directory else out.parents  # a relative path ends at "."
    existing = next(p for p in candidates if p.exists())
    if not existing.is_dir():
        return f"{str(out)!r} cannot be created: {str(existing)!r} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{str(out)!r} cannot be written: {str(existing)!r} is not writable"
    return None
