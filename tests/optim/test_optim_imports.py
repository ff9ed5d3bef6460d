"""The modules of inertia.optim import each other one way (no circle) and only at module top.

Imports under ``if TYPE_CHECKING:`` serve annotations alone (they never run) and are left out of the
graph; every other import of an inertia module must sit at module level, not inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import inertia.optim

PACKAGE = Path(inertia.optim.__file__).parent


def _is_type_checking_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _module_level_imports(tree: ast.Module) -> set[str]:
    """The inertia modules imported by statements that run when the module is imported."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("inertia.")}


def _imports_inside_functions(tree: ast.Module) -> set[str]:
    """The inertia modules imported anywhere but at module level or in a ``TYPE_CHECKING`` block."""
    top = {id(node) for node in tree.body}
    top.update(id(inner) for node in tree.body if _is_type_checking_block(node) for inner in node.body)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in top:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inertia"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("inertia"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"inertia.optim.{path.stem}": path for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    return {name: _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))) & modules.keys()
            for name, path in modules.items()}


def _circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` (as a path that returns to its start), or [] if there is none."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str]:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return []
        for target in sorted(graph.get(name, ())):
            found = visit(target, path + [name])
            if found:
                return found
        done.add(name)
        return []

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return []


def test_the_optim_modules_import_each_other_without_a_circle() -> None:
    graph = _graph()
    assert {"inertia.optim.fused_dispatch", "inertia.optim.param_helpers"} <= graph["inertia.optim.base"]
    assert "inertia.optim.fused_buckets" in graph["inertia.optim.param_helpers"]
    assert "inertia.optim.fused_buckets" in graph["inertia.optim.fused_shards"]
    assert _circle(graph) == []


def test_no_optim_module_imports_inertia_inside_a_function() -> None:
    offending = {f"{path.name}: {name}" for path in sorted(PACKAGE.glob("*.py"))
                 for name in _imports_inside_functions(ast.parse(path.read_text(encoding="utf-8")))}
    assert not offending, sorted(offending)


def test_the_checks_see_a_circle_and_an_import_inside_a_function() -> None:
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from inertia.optim.base import X\n\n"
                     "def f():\n    from inertia.kernels import spec\n")
    assert _imports_inside_functions(tree) == {"inertia.kernels"}
    assert _module_level_imports(tree) == set()  # the TYPE_CHECKING import never runs
