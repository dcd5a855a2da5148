"""No import cycle in ``vision_studio`` (issue 11: "a test that walks the package's imports").

Every module of the package is parsed with :mod:`ast`; every ``import`` /
``from ... import`` naming a ``vision_studio`` module is an edge, wherever it is written
(top level, inside functions and methods, in ``try`` blocks), except inside an
``if TYPE_CHECKING:`` block, which never runs. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg`` (its ``__init__``). Importing
``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, but those implicit parent edges
are not counted (as in grimp / import-linter): a package's ``__init__`` re-exporting its
children would otherwise make every child that imports a sibling a "cycle".

A cycle is a strongly connected component of more than one module (or a module that
imports itself). The components found must equal :data:`KNOWN_CYCLES` exactly: a new
cycle fails the test, and so does a listed cycle that no longer exists (remove it from
the list when you break it — the list only shrinks).
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import vision_studio

PACKAGE = "vision_studio"
ROOT = Path(vision_studio.__file__).resolve().parent

# Cycles that exist on main today, each owned by the engineer who breaks it (issue 11
# item 3). The lead empties this set after merging; never add to it.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


def module_name(path: Path) -> str:
    """Dotted module name of a file under :data:`ROOT` (``pkg/__init__.py`` → ``pkg``)."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, skipping ``if TYPE_CHECKING:`` bodies
    (their ``else:`` branch runs, so it is walked)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.orelse:
                yield from _import_nodes(ast.Module(body=[sub], type_ignores=[]))
        else:
            yield from _import_nodes(child)


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules that the file ``path`` imports at run time."""
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = _resolve_from(node, module, path.name == "__init__.py")
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        for t in targets:
            while t and t not in modules:  # "import a.b.c" of a non-module attribute
                t = t.rpartition(".")[0]
            if t.startswith(PACKAGE) and t != module:
                out.add(t)
            elif t == module:
                out.add(t)  # a self-import is a cycle too
    return out


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over every ``.py`` file of the package."""
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(files)
    return {m: imports_of(p, modules) for m, p in files.items()}


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components with a cycle (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: set[frozenset[str]] = set()
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.add(m)
                    if m == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    found.add(frozenset(comp))
    return found


def _fmt(cs: set[frozenset[str]] | frozenset[frozenset[str]]) -> str:
    return "\n".join("  " + " <-> ".join(sorted(c)) for c in sorted(cs, key=sorted)) or "  (none)"


def test_the_walker_sees_function_level_imports_and_skips_type_checking(tmp_path, monkeypatch):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from .c import C\n"
                                      "from vision_studio.sub.a import f\n")
    (pkg / "sub" / "c.py").write_text("from vision_studio.sub import b\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    graph = import_graph()
    assert graph["vision_studio.sub.a"] == {"vision_studio.sub.b"}
    assert graph["vision_studio.sub.b"] == {"vision_studio.sub.a"}
    assert graph["vision_studio.sub.c"] == {"vision_studio.sub.b"}
    assert cycles(graph) == {frozenset({"vision_studio.sub.a", "vision_studio.sub.b"})}


def test_no_import_cycle_in_the_package_beyond_the_known_ones():
    graph = import_graph()
    assert len(graph) > 100 and "vision_studio.core.store" in graph
    found = cycles(graph)
    new = found - KNOWN_CYCLES
    gone = KNOWN_CYCLES - found
    assert not new, f"new import cycles (move the shared piece down a level):\n{_fmt(new)}"
    assert not gone, ("these known cycles are gone — remove them from KNOWN_CYCLES in "
                      f"{Path(__file__).name}:\n{_fmt(gone)}")
