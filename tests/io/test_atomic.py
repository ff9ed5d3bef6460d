"""inertia.io.atomic: atomic writes and the output-path check shared by the commands."""

from __future__ import annotations

import os

import pytest


def test_unwritable_reason_for_directories_and_files(tmp_path):
    from inertia.io.atomic import unwritable_reason

    a_file = tmp_path / "taken"
    a_file.write_text("x")
    assert unwritable_reason(tmp_path / "new" / "dir", directory=True) is None
    assert unwritable_reason(a_file, directory=False) is None  # an existing file may be replaced
    assert unwritable_reason(a_file, directory=True) == f"{str(a_file)!r} exists and is not a directory"
    assert unwritable_reason(tmp_path, directory=False) == f"{str(tmp_path)!r} is a directory (give a file name)"
    assert unwritable_reason(a_file / "out.json", directory=False) == (
        f"{str(a_file / 'out.json')!r} cannot be created: {str(a_file)!r} is not a directory")


def test_the_check_really_creates_the_path_and_leaves_nothing(tmp_path, monkeypatch):
    """Permission bits say yes to root even where nothing can be created: the check tries, in a temporary
    folder beside the target, and removes what it made."""
    import tempfile

    from inertia.io.atomic import unwritable_reason

    assert unwritable_reason(tmp_path / "a" / "b" / "out.json", directory=False) is None
    assert unwritable_reason(tmp_path, directory=True) is None
    assert list(tmp_path.iterdir()) == []

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    assert unwritable_reason(tmp_path / "out", directory=True) == (
        f"{str(tmp_path / 'out')!r} cannot be written: nothing can be created in {str(tmp_path)!r} "
        "(Operation not permitted)")


def test_paths_the_file_system_cannot_hold_are_named(tmp_path):
    from inertia.io.atomic import unwritable_reason

    assert unwritable_reason("", directory=True) == "an empty path names no output (give a directory or file name)"
    assert unwritable_reason("a\0b", directory=False) == "'a\\x00b' cannot be used as a path (embedded null byte)"
    long_name = tmp_path / "new" / ("x" * 300)
    assert unwritable_reason(long_name, directory=True) == (
        f"{str(long_name)!r} cannot be created in {str(tmp_path)!r} (File name too long)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_proc_is_refused_even_for_root():
    from inertia.io.atomic import unwritable_reason

    reason = unwritable_reason("/proc/inertia/out.json", directory=False)
    assert reason is not None and reason.startswith("'/proc/inertia/out.json' cannot be written: nothing can be "
                                                    "created in '/proc'")


def test_atomic_write_replaces_whole_file_with_usual_permissions(tmp_path):
    from inertia.io.atomic import atomic_write_text

    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    target.chmod(0o640)
    atomic_write_text(target, "new content")
    assert target.read_text() == "new content" and len(list(tmp_path.iterdir())) == 1
    assert target.stat().st_mode & 0o777 == 0o640

