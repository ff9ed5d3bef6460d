"""The run modules import one another one way, at module top: config, then the spec parsers, then
validation and storage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import inertia.lab

LAB = Path(inertia.lab.__file__).parent
# module -> the run modules of the lab it may import (a strict order: each imports only earlier ones)
ALLOWED = {
    "run_config": set(),
    "hyper_spec": {"run_config"},
    "schedule_spec": {"run_config"},
    "run_storage": {"run_config"},
    "run_validation": {"run_config", "hyper_spec", "schedule_spec"},
}


def _lab_imports(node: ast.AST) -> set[str]:
    """Names of ``inertia.lab.X`` modules imported anywhere under ``node``."""
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("inertia.lab."):
            found.add(child.module.removeprefix("inertia.lab."))
        elif isinstance(child, ast.Import):
            found.update(a.name.removeprefix("inertia.lab.") for a in child.names if a.name.startswith("inertia.lab."))
    return found


def _tree(name: str) -> ast.Module:
    return ast.parse((LAB / f"{name}.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_a_run_module_imports_only_the_run_modules_below_it(name: str) -> None:
    imported = _lab_imports(_tree(name)) & set(ALLOWED)
    assert imported <= ALLOWED[name], f"{name} imports {sorted(imported - ALLOWED[name])}"


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_a_run_module_imports_nothing_inside_a_function(name: str) -> None:
    tree = _tree(name)
    inner = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
             and node not in tree.body]
    assert [ast.unparse(node) for node in inner if not _under_type_checking(tree, node)] == []


def _under_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    blocks = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test).endswith("TYPE_CHECKING")]
    return any(node in ast.walk(block) for block in blocks)


def test_the_allowed_imports_have_no_circle() -> None:
    order = ["run_config", "hyper_spec", "schedule_spec", "run_storage", "run_validation"]
    for position, name in enumerate(order):
        assert ALLOWED[name] <= set(order[:position])


def test_the_old_runs_module_is_gone() -> None:
    assert not (LAB / "runs.py").exists()
