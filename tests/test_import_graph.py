"""The import graph of ``src/inertia``, read with ``ast`` (nothing is imported).

Checks: no circle among module-level imports; no import from a lower layer to a higher one; no ``inertia``
import inside a function unless :data:`ALLOWED_FUNCTION_IMPORTS` says why; no private name imported from
another package; no file over :data:`MAX_LINES` lines.

Imports under ``if TYPE_CHECKING:`` do not run, so they close no circle, but they must respect the layers.
``from inertia.x import name`` where ``name`` is a submodule is an import of ``inertia.x.name``. A package
is the first component below ``inertia`` when that is a directory (``lab``, ``optim``); the single-file
modules at the top (``inertia.cli``, ``inertia.schedules``, ...) form the root package.

The ``TEMPORARY_*`` lists hold violations in modules still being reworked: each entry says why; they only
shrink. An entry that no longer matches a violation fails :func:`test_no_stale_allow_list_entry`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "inertia"
ROOT = "inertia"
MAX_LINES = 400

# Layers, highest first: a module imports only from its own layer or lower ones.
LAYERS: dict[int, tuple[str, ...]] = {
    5: ("inertia.cli", "inertia.__main__", "inertia.cli_checks", "inertia.lab", "inertia.bench"),
    4: ("inertia.diagnostics",),
    3: ("inertia.problems", "inertia.minimize"),
    2: ("inertia.optim", "inertia.second_order", "inertia.schedules", "inertia.schedule_checks"),
    1: ("inertia.kernels",),
    0: ("inertia.io", "inertia.errors", "inertia.checks"),
}
APPLICATIONS = 5  # the only layer that may import the package facade ``inertia`` itself

# (module, imported inertia module) -> why the import is inside a function. Keep it empty or tiny.
ALLOWED_FUNCTION_IMPORTS: dict[tuple[str, str], str] = {}

# ---- Temporary allow-lists: violations in modules reworked elsewhere; remove entries as they are fixed.
# (module, imported module) -> reason: an import inside a function.
TEMPORARY_FUNCTION_IMPORTS: dict[tuple[str, str], str] = {}
# (module, imported module) -> reason: a module-level edge left out of the circle check.
TEMPORARY_CIRCLE_EDGES: dict[tuple[str, str], str] = {}
# (module, imported module) -> reason: an import from a lower layer to a higher one.
TEMPORARY_LAYER_IMPORTS: dict[tuple[str, str], str] = {}
# (module, imported module, private name) -> reason: a private name imported from another package.
TEMPORARY_PRIVATE_IMPORTS: dict[tuple[str, str, str], str] = {}
# path below src/inertia -> reason: a file over MAX_LINES lines.
TEMPORARY_LONG_FILES: dict[str, str] = {}


@dataclass(frozen=True)
class Edge:
    """One ``inertia`` import: ``source`` imports ``target`` (taking ``names`` from it) at ``line``.

    ``where`` is ``"module"`` (runs on import), ``"type-checking"`` or ``"function"``.
    """

    source: str
    target: str
    line: int
    names: tuple[str, ...]
    where: str


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    """Every module under ``src/inertia``, by dotted name."""
    return {_module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")  # where statements nest


class _ImportCollector:
    """The ``inertia`` imports of one module, each with where it runs (statements only: imports are ones)."""

    def __init__(self, module: str, is_package: bool, known: dict[str, Path]) -> None:
        self.module, self.known = module, known
        self.package = module if is_package else module.rpartition(".")[0]
        self.edges: list[Edge] = []

    def visit(self, node: ast.AST, where: str = "module") -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self._add(alias.name, node.lineno, (), where)
        elif isinstance(node, ast.ImportFrom):
            self._add_from(node, where)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            self._visit_all(node.body, "type-checking" if where == "module" else where)
            self._visit_all(node.orelse, where)
        else:
            inner = "function" if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
            for field in STATEMENT_LISTS:
                self._visit_all(getattr(node, field, ()), inner)

    def _visit_all(self, nodes: list[ast.AST], where: str) -> None:
        for node in nodes:
            self.visit(node, where)

    def _add(self, target: str, line: int, names: tuple[str, ...], where: str) -> None:
        if target == ROOT or target.startswith(ROOT + "."):
            self.edges.append(Edge(self.module, target, line, names, where))

    def _add_from(self, node: ast.ImportFrom, where: str) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.known:
                self._add(submodule, node.lineno, (), where)
            else:
                self._add(base, node.lineno, (alias.name,), where)


@lru_cache(maxsize=1)
def edges() -> tuple[Edge, ...]:
    """Every ``inertia`` import of every module."""
    known = modules()
    found: list[Edge] = []
    for name, path in known.items():
        collector = _ImportCollector(name, path.name == "__init__.py", known)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found.extend(collector.edges)
    return tuple(found)


def layer_of(module: str) -> int | None:
    """The layer of ``module``; None for the facade ``inertia`` and for a module in no layer."""
    for layer, prefixes in LAYERS.items():
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return layer
    return None


def package_of(module: str) -> str:
    """``lab`` for ``inertia.lab.x``; the root package ``inertia`` for the single-file modules at the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (SRC / parts[1]).is_dir() else ROOT


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules that ``start`` reaches through one import or more."""
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` that hold a circle (two modules or more, or one
    importing itself)."""
    reach = {node: reachable(graph, node) for node in graph}
    found: list[list[str]] = []
    for node in sorted(graph):
        if node in reach[node] and not any(node in component for component in found):
            found.append(sorted(m for m in reach[node] if node in reach.get(m, ())))
    return found


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One circle through the first module of ``component``: ``[a, b, ..., a]``."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, ()) & members):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    return component  # unreachable for a strongly connected component


def module_graph(skipped: dict[tuple[str, str], str]) -> dict[str, set[str]]:
    """Module-level (run on import) edges, less ``skipped``."""
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for edge in edges():
        if edge.where == "module" and (edge.source, edge.target) not in skipped:
            graph.setdefault(edge.source, set()).add(edge.target)
    return graph


def _where(edge: Edge) -> str:
    return f"{edge.source}:{edge.line}"


def circles() -> list[str]:
    """Each circle of module-level imports (less the temporarily skipped edges), as ``a -> b -> a``."""
    graph = module_graph(TEMPORARY_CIRCLE_EDGES)
    return [" -> ".join(a_cycle(graph, component)) for component in strongly_connected(graph)]


def unresolved_imports() -> list[str]:
    """Imports of ``inertia`` modules that are not under ``src/inertia``."""
    known = set(modules())
    return [f"{_where(e)} imports {e.target}, which is no module under src/inertia"
            for e in edges() if e.target not in known]


def modules_without_layer() -> list[str]:
    """Modules that no entry of :data:`LAYERS` covers (the facade aside)."""
    return [name for name in modules() if name != ROOT and layer_of(name) is None]


def layer_violations() -> Iterator[tuple[tuple[str, str], str]]:
    """Imports from a lower layer to a higher one, or of the facade outside the applications."""
    for edge in edges():
        if edge.source == ROOT:
            continue  # the facade may import anything
        source, target = layer_of(edge.source), layer_of(edge.target)
        if edge.target == ROOT and source != APPLICATIONS:
            yield (edge.source, edge.target), f"{_where(edge)} ({edge.where}) imports the facade `inertia`"
        elif source is not None and target is not None and source < target:
            yield (edge.source, edge.target), (f"{_where(edge)} ({edge.where}, L{source}) imports "
                                               f"{edge.target} (L{target})")


def function_imports() -> Iterator[tuple[tuple[str, str], str]]:
    """``inertia`` imports inside a function, keyed ``(module, imported module)``."""
    for edge in edges():
        if edge.where == "function":
            yield (edge.source, edge.target), f"{_where(edge)} imports {edge.target} inside a function"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def foreign_private_names(edge: Edge) -> list[tuple[str, str]]:
    """``(name, owning package)`` of each private name ``edge`` takes from another package.

    A private module ``inertia.a._b`` is a private name of ``inertia.a``, ``inertia._b`` one of the root.
    """
    parts = edge.target.split(".")
    owned = [(part, package_of(".".join(parts[:k])))
             for k, part in enumerate(parts) if k and _is_private(part)]
    owned += [(name, package_of(edge.target)) for name in edge.names if _is_private(name)]
    return [(name, owner) for name, owner in owned if owner != package_of(edge.source)]


def private_imports() -> Iterator[tuple[tuple[str, str, str], str]]:
    """Each private name imported from another package, keyed ``(module, imported module, name)``."""
    for edge in edges():
        for name, owner in foreign_private_names(edge):
            yield ((edge.source, edge.target, name),
                   f"{_where(edge)} imports private {name} from {edge.target} (package {owner})")


def long_files() -> Iterator[tuple[str, str]]:
    """Files over :data:`MAX_LINES` lines, keyed by their path below ``src/inertia``."""
    for path in modules().values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            key = path.relative_to(SRC).as_posix()
            yield key, f"src/inertia/{key}: {lines} lines"


def _report(title: str, found: list[str]) -> str:
    return f"{title} ({len(found)}):\n  " + "\n  ".join(found)


def _not_allowed(found: Iterator[tuple[object, str]], *allowed: dict) -> list[str]:
    return sorted({message for key, message in found if not any(key in entries for entries in allowed)})


def test_the_walk_finds_the_package() -> None:
    assert len(modules()) >= 50 and ROOT in modules()
    assert any(edge.where == "module" for edge in edges())


def test_every_inertia_import_names_a_module() -> None:
    found = unresolved_imports()
    assert not found, _report("imports of modules that do not exist", found)


def test_every_module_has_a_layer() -> None:
    found = modules_without_layer()
    assert not found, _report("modules in no layer (add them to LAYERS)", found)


def test_no_circle_among_module_level_imports() -> None:
    found = circles()
    assert not found, _report("import circles", found)


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    found = _not_allowed(layer_violations(), TEMPORARY_LAYER_IMPORTS)
    assert not found, _report("imports against the layers", found)


def test_inertia_imports_inside_functions_are_allowed_with_a_reason() -> None:
    found = _not_allowed(function_imports(), ALLOWED_FUNCTION_IMPORTS, TEMPORARY_FUNCTION_IMPORTS)
    assert not found, _report("inertia imports inside functions (move them to the top)", found)


def test_no_private_name_imported_from_another_package() -> None:
    found = _not_allowed(private_imports(), TEMPORARY_PRIVATE_IMPORTS)
    assert not found, _report("private names imported across packages", found)


def test_no_file_over_the_line_limit() -> None:
    found = _not_allowed(long_files(), TEMPORARY_LONG_FILES)
    assert not found, _report(f"files over {MAX_LINES} lines", found)


def test_no_stale_allow_list_entry() -> None:
    full = module_graph({})
    in_circles = {(a, b) for component in strongly_connected(full) for a in component
                  for b in full[a] & set(component)}
    current = {
        "ALLOWED_FUNCTION_IMPORTS": ({key for key, _ in function_imports()}, ALLOWED_FUNCTION_IMPORTS),
        "TEMPORARY_FUNCTION_IMPORTS": ({key for key, _ in function_imports()}, TEMPORARY_FUNCTION_IMPORTS),
        "TEMPORARY_CIRCLE_EDGES": (in_circles, TEMPORARY_CIRCLE_EDGES),
        "TEMPORARY_LAYER_IMPORTS": ({key for key, _ in layer_violations()}, TEMPORARY_LAYER_IMPORTS),
        "TEMPORARY_PRIVATE_IMPORTS": ({key for key, _ in private_imports()}, TEMPORARY_PRIVATE_IMPORTS),
        "TEMPORARY_LONG_FILES": ({key for key, _ in long_files()}, TEMPORARY_LONG_FILES),
    }
    stale = [f"{name}: {key}" for name, (seen, entries) in current.items()
             for key in entries if key not in seen]
    assert not stale, _report("allow-list entries that match nothing any more (remove them)", stale)
    assert all(reason.strip() for _, entries in current.values() for reason in entries.values())


def test_the_walk_resolves_relative_and_submodule_imports() -> None:
    known = {"inertia.a": Path("a/__init__.py"), "inertia.a.b": Path("a/b.py"), "inertia.a.c": Path("a/c.py")}
    source = ("from . import c\nfrom .c import _x, y\nfrom inertia.a import b, z\nimport inertia.a.b\n"
              "if TYPE_CHECKING:\n    from inertia import q\n"
              "def f():\n    from ..a import b\n    import numba\n"
              "class K:\n    try:\n        import inertia.a.c\n    except ImportError:\n        pass\n")
    collector = _ImportCollector("inertia.a.b", False, known)
    collector.visit(ast.parse(source))
    assert [(e.target, e.names, e.where) for e in collector.edges] == [
        ("inertia.a.c", (), "module"), ("inertia.a.c", ("_x",), "module"), ("inertia.a.c", ("y",), "module"),
        ("inertia.a.b", (), "module"), ("inertia.a", ("z",), "module"), ("inertia.a.b", (), "module"),
        ("inertia", ("q",), "type-checking"), ("inertia.a.b", (), "function"), ("inertia.a.c", (), "module"),
    ]


def test_a_private_name_is_foreign_only_across_packages() -> None:
    def private(source: str, target: str, *names: str) -> list[tuple[str, str]]:
        return foreign_private_names(Edge(source, target, 1, names, "module"))

    taken = private("inertia.lab.x", "inertia.diagnostics.stats", "_add", "Sample")
    assert taken == [("_add", "diagnostics")]
    assert private("inertia.lab.compare", "inertia.diagnostics._checks") == [("_checks", "diagnostics")]
    assert private("inertia.diagnostics.hessian", "inertia.diagnostics._checks", "_x") == []
    assert private("inertia.schedules", "inertia._schedule_checks", "__all__") == []  # both in the root
    assert private("inertia.lab.compare", "inertia._schedule_checks") == [("_schedule_checks", ROOT)]


def test_the_circle_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert strongly_connected(graph) == [["a", "b", "c"], ["e"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert layer_of("inertia.lab.tour.render") == 5 and layer_of("inertia.labels") is None
    assert package_of("inertia.lab.tour") == "lab" and package_of("inertia.schedules") == ROOT
