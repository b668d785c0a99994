"""The project's own imports: no module of edge/, train/ or convert/ imports one that imports it back (imports
inside functions count: they only hide a circle), and edge/ imports nothing from train/ or convert/.

Imports under `if TYPE_CHECKING:` are left out: they never run (a type named in an annotation only)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("edge", "train", "convert")

KNOWN_CIRCLES: dict[tuple[str, str], str] = {}
"""Import edges left out of the circle check, each with its reason; an edge that is gone must leave this list."""


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Every module of `packages` under `root`, by dotted name (a package by its own name)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def run_time_nodes(node: ast.AST):
    """`node` and every node under it, but for the bodies of `if TYPE_CHECKING:` blocks."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for other in child.orelse:
                yield from run_time_nodes(other)
        else:
            yield from run_time_nodes(child)


def imported_names(path: Path, module: str) -> set[str]:
    """The dotted names a module imports anywhere in it (in functions too), relative imports resolved; for
    `from a import b` both `a` and `a.b` (which one is a module is the graph's business)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in run_time_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name that is no module counts as its nearest module)."""
    modules = module_files(root, packages)

    def nearest_module(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        targets = {nearest_module(name) for name in imported_names(path, module)}
        graph[module] = {target for target in targets if target is not None and target != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other through imports (each group a circle), sorted."""
    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    reach = {module: reachable(module) for module in graph}
    groups = {tuple(sorted(other for other in reach[module] if module in reach[other])) for module in graph
              if module in reach[module]}
    return sorted(list(group) for group in groups)


def without_known_circles(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {module: {t for t in targets if (module, t) not in KNOWN_CIRCLES} for module, targets in graph.items()}


def test_no_module_imports_one_that_imports_it_back():
    assert circles(without_known_circles(import_graph(ROOT))) == []


def test_each_known_circle_is_still_there():
    """An exemption outlives its reason silently otherwise."""
    graph = import_graph(ROOT)
    for importer, imported in KNOWN_CIRCLES:
        assert imported in graph[importer], f"{importer} no longer imports {imported}: drop it from KNOWN_CIRCLES"


def test_edge_imports_nothing_from_train_or_convert():
    modules = module_files(ROOT, PACKAGES)
    wrong = {module: sorted(name for name in imported_names(path, module)
                            if name.split(".")[0] in ("train", "convert"))
             for module, path in modules.items() if module.split(".")[0] == "edge"}
    assert {module: names for module, names in wrong.items() if names} == {}


@pytest.mark.parametrize("first, second, found", [
    ("def load():\n    from pkg import two\n", "from pkg.one import load\n", True),  # inside a function
    ("from . import two\n", "import pkg.one\n", True),  # relative
    ("from .two import helper\n", "def helper():\n    from .one import x\n", True),  # relative, in a function
    ("import pkg.two\n", "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.one import A\n",
     False),  # an annotation's import never runs
], ids=["in-a-function", "relative", "relative-in-a-function", "type-checking-only"])
def test_a_planted_circle_is_found(first, second, found, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "one.py").write_text(first)
    (tmp_path / "pkg" / "two.py").write_text(second)
    (tmp_path / "pkg" / "three.py").write_text("import pkg.one\nimport numpy\n")  # in no circle: not reported
    assert circles(import_graph(tmp_path, ("pkg",))) == ([["pkg.one", "pkg.two"]] if found else [])
