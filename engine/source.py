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
    return found


def definition(module: str, name: str) -> str:
    """The source of `name` defined at the top of engine/`module`.py, decorators included."""
    return _definitions(module)[name]
