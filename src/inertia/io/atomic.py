"""Atomic file writes: a temporary file in the target's directory, then ``os.replace``."""

from __future__ import annotations

import os
import shutil
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


def check_output_directory(out_dir: object, name: str = "out_dir") -> Path:
    """``out_dir`` as a :class:`~pathlib.Path`, checked before any output is built: a TypeError naming
    ``name`` unless it is a non-empty path, a ValueError if it exists and is not a directory."""
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir):
        raise TypeError(f"{name}: must be a non-empty path, got {out_dir!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{name}: {str(out)!r} exists and is not a directory")
    return out


def unwritable_reason(path: str | os.PathLike, *, directory: bool) -> str | None:
    """Why ``path`` could not be written as a directory (``directory=True``) or a file, or None.

    Checked before long work starts, so that it does not fail only when it writes its output: the
    path must not be empty, a file (a directory) or a directory (a file). Permission bits are not
    trusted (they say yes to root, even where nothing can be created, as in ``/proc``): the missing
    part of the path is really created, inside a temporary folder beside it, then removed again, so
    the check leaves nothing behind.
    """
    if not str(path).strip():
        return "an empty path names no output (give a directory or file name)"
    out = Path(path)
    try:
        return _unusable(out, directory)
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        return f"{str(out)!r} cannot be used as a path ({exc.strerror if isinstance(exc, OSError) else exc})"


def _unusable(out: Path, directory: bool) -> str | None:
    if directory and out.exists() and not out.is_dir():
        return f"{str(out)!r} exists and is not a directory"
    if not directory and out.is_dir():
        return f"{str(out)!r} is a directory (give a file name)"
    candidates = (out, *out.parents) if directory else out.parents  # a relative path ends at "."
    existing = next(p for p in candidates if p.exists())
    if not existing.is_dir():
        return f"{str(out)!r} cannot be created: {str(existing)!r} is not a directory"
    missing = out.relative_to(existing) if existing != out else None
    return _probe(out, existing, missing, directory)


def _probe(out: Path, existing: Path, missing: Path | None, directory: bool) -> str | None:
    """Create ``missing`` (the part of ``out`` below ``existing``) in a temporary folder in ``existing``.

    An existing file is replaced by a temporary file in its folder (:func:`atomic_write_bytes`), so
    for files the folder is what must be writable, and a file of the same name is created there.
    """
    try:
        probe = Path(tempfile.mkdtemp(prefix=".inertia-probe-", dir=existing))
    except OSError as exc:
        return f"{str(out)!r} cannot be written: nothing can be created in {str(existing)!r} ({_reason(exc)})"
    try:
        if missing is not None:
            target = probe / missing
            target.mkdir(parents=True) if directory else _touch(target)
    except OSError as exc:
        return f"{str(out)!r} cannot be created in {str(existing)!r} ({_reason(exc)})"
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return None


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
