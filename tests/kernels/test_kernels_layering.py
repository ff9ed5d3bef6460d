"""The kernels are a leaf: no module of inertia.kernels imports the lab, the CLI, the step benchmark,
the diagnostics, the optimizers that use it (``inertia.optim``) or the top-level ``inertia`` package."""

from __future__ import annotations

import ast
from pathlib import Path

import inertia.kernels

APPLICATIONS = ("inertia.lab", "inertia.cli", "inertia.cli_checks", "inertia.bench", "inertia.diagnostics")
LIBRARIES_ABOVE = ("inertia.optim", "inertia.second_order")
ABOVE_KERNELS = APPLICATIONS + LIBRARIES_ABOVE


def _imported_modules(path: Path) -> set[str]:
    """Every module that ``path`` imports, at module level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "inertia":  # `from inertia import x` may name a subpackage
                names.update(f"inertia.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str) -> bool:
    """Whether a kernel module importing ``name`` would import upwards."""
    return name == "inertia" or name in ABOVE_KERNELS or name.startswith(tuple(f"{pkg}." for pkg in ABOVE_KERNELS))


def test_no_kernel_module_imports_an_application_the_optimizers_or_the_top_level_package() -> None:
    files = sorted(Path(inertia.kernels.__file__).parent.glob("*.py"))
    assert len(files) > 5  # the package was found
    offending = {f"{path.name}: {name}" for path in files for name in _imported_modules(path) if _forbidden(name)}
    assert not offending, sorted(offending)


def test_the_layering_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The check above can fail: a file importing the CLI inside a function, the optimizers, or ``inertia``
    itself, is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text("import inertia\nfrom inertia.optim.layout import FlatBucket\nfrom inertia import optim\n\n"
                      "def f():\n    from inertia.cli import UserInputError\n", encoding="utf-8")
    imported = _imported_modules(sample)
    assert {"inertia", "inertia.cli", "inertia.optim.layout", "inertia.optim"} <= imported
    assert {"inertia.cli", "inertia.optim.layout", "inertia.optim"} <= {name for name in imported if _forbidden(name)}
    assert not _forbidden("inertia.kernels.rule_info") and _forbidden("inertia.optim.adam")
    assert not _forbidden("inertia.optimizers")  # a name that only starts like a package is not that package
