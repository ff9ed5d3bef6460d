"""inertia.io sits below the lab and the diagnostics: it imports neither them nor the CLI or the bench, and the
diagnostics take the report and the writers from it, not from the lab."""

from __future__ import annotations

import re
from pathlib import Path

import inertia.diagnostics
import inertia.io

IMPORT_LINE = re.compile(r"^\s*(?:from|import)\s+(inertia(?:\.\w+)*)", re.MULTILINE)
ABOVE_IO = ("inertia.lab", "inertia.cli", "inertia.cli_checks", "inertia.bench", "inertia.diagnostics")


def _inertia_imports(path: Path) -> set[str]:
    """The ``inertia`` modules that ``path`` imports, at module level or inside a function."""
    return set(IMPORT_LINE.findall(path.read_text(encoding="utf-8")))


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def _offending(package_file: str, forbidden: tuple[str, ...]) -> set[str]:
    files = sorted(Path(package_file).parent.rglob("*.py"))
    assert len(files) >= 4  # the package was found
    return {f"{path.name}: {name}" for path in files for name in _inertia_imports(path) if _within(name, forbidden)}


def test_io_imports_no_application_and_not_the_diagnostics() -> None:
    assert not _offending(inertia.io.__file__, ABOVE_IO)


def test_diagnostics_do_not_import_the_lab() -> None:
    assert not _offending(inertia.diagnostics.__file__, ("inertia.lab",))


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from inertia.io.atomic import atomic_write_text\n\n"
                      "def f():\n    from inertia.lab.runs import RunConfig\n    import inertia.cli\n", encoding="utf-8")
    imported = _inertia_imports(sample)
    assert imported == {"inertia.io.atomic", "inertia.lab.runs", "inertia.cli"}
    assert {name for name in imported if _within(name, ABOVE_IO)} == {"inertia.lab.runs", "inertia.cli"}
    assert not _within("inertia.labels", ("inertia.lab",))  # a name that only starts like a package is not it
