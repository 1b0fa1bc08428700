"""Reads the source of the engine's own functions and classes without importing them.

The code view copies these definitions into the exported script, so the script runs the
very code the engine runs. Reading the file with `ast` keeps torch out of the caller (the
app builds its code view without loading torch).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parent


@cache
def _definitions(module: str) -> dict[str, str]:
    path = ENGINE_DIR / (module.replace(".", "/") + ".py")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found[node.name] = "\n".join(lines[first - 1 : node.end_lineno])
        elif (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            found[node.targets[0].id] = "\n".join(lines[node.lineno - 1 : node.end_lineno])
    return found


def definition(module: str, name: str) -> str:
    """The source of `name` defined at the top of engine/`module`.py: a function or class with
    its decorators, or a `NAME = ...` constant. Raises KeyError for a name not defined there."""
    return _definitions(module)[name]


def definitions(*names: tuple[str, str]) -> str:
    """Several (module, name) definitions, in order, two blank lines apart as ruff writes them."""
    return "\n\n\n".join(definition(module, name) for module, name in names)
