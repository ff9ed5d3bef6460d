"""inertia.lab.atomic: the output-path check shared by the commands."""

from __future__ import annotations


def test_unwritable_reason_for_directories_and_files(tmp_path):
    from inertia.lab.atomic import unwritable_reason

    a_file = tmp_path / "taken"
    a_file.write_text("x")
    assert unwritable_reason(tmp_path / "new" / "dir", directory=True) is None
    assert unwritable_reason(a_file, directory=False) is None  # an existing file may be replaced
    assert unwritable_reason(a_file, directory=True) == f"{str(a_file)!r} exists and is not a directory"
    assert unwritable_reason(tmp_path, directory=False) == f"{str(tmp_path)!r} is a directory (give a file name)"
    assert unwritable_reason(a_file / "out.json", directory=False) == (
        f"{str(a_file / 'out.json')!r} cannot be created: {str(a_file)!r} is not a directory")
