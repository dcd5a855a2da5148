"""The standard "functions under ~60 lines (docstrings aside)", over the whole package:
every function's body after its docstring, counted from the AST."""
from __future__ import annotations

import ast
from pathlib import Path

import vision_studio

LIMIT = 60
KNOWN: set[str] = set()
"""Long functions merged from other branches, to split by their owners (file and name;
the test fails when one of them is no longer long, so the list only shrinks)."""


def long_functions(root: Path, limit: int = LIMIT) -> list[tuple[int, str]]:
    """``(lines, "file:line name")`` of every function whose body, docstring aside, is
    longer than ``limit`` lines."""
    out = []
    for f in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]
            if body and node.end_lineno - body[0].lineno + 1 > limit:
                out.append((node.end_lineno - body[0].lineno + 1, f"{f.relative_to(root.parent)}:{node.lineno} "
                                                                   f"{node.name}"))
    return sorted(out, reverse=True)


def test_no_function_over_sixty_lines():
    root = Path(vision_studio.__file__).parent
    assert long_functions(root, limit=40), "the counter finds nothing at all (it could not fail)"
    found = {f"{where.split(':')[0]} {where.split(' ')[-1]}": n for n, where in long_functions(root)}
    assert set(found) - KNOWN == set(), {k: v for k, v in found.items() if k not in KNOWN}
    assert KNOWN <= set(found), f"no longer long (remove from KNOWN): {KNOWN - set(found)}"
