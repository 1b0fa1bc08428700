"""Checks a field's syntax as it is typed, without torch: the app runs them on every edit.

Building the real checks needs torch (the Evaluator reads torch.Tensor; a model file runs
when loaded), which lives only in the run's process, two seconds away. These look at the
text alone and answer in well under a millisecond:
- `expr`: Python expression syntax and the evaluator's allow-list, over the leaves' names;
- `leaves`: `name = value` statements (the autograd lab's own parser);
- `input_shape`: sizes like 1,3,28,28 (the summary's own parser);
- `model_spec`: FILE.py:NAME, the file exists and parses, and NAME is defined at its top
  level, read with `ast`: the file is not run.
Devices need nothing here: their grammar is in the parameter declaration.
They may be looser than the run's checks; the run stays the authority and names the field.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from pttui.engine.params import ParamError

MAX_FILE_BYTES = 2 << 20  # a model file bigger than this is not parsed as you type


def check(values: Mapping[str, Any], names: bool = True) -> list[ParamError]:
    """Every syntax problem in `values` (a lab's parsed values), one ParamError per field.

    `names=False` skips asking whether a model file defines NAME: the command line leaves
    that to the run, which imports the file and says more (what the import raised, where)."""
    from pttui.engine.safe_eval import Checker, Refused, param_error

    problems: list[ParamError] = []
    leaves: list[str] = []
    if isinstance(values.get("leaves"), str):
        from pttui.engine.labs.autograd import parse_leaves

        try:
            leaves = [name for name, _, _ in parse_leaves(values["leaves"])]
        except ParamError as exc:
            problems.append(exc)
            # The expression is judged against the names the leaves meant to give, so a
            # mistake in the leaves is said once, on `leaves`, not again as an unknown name.
            leaves = _named(values["leaves"])
    expr = values.get("expr")
    if isinstance(expr, str) and expr.strip():
        try:
            Checker(leaves).check_text(expr)
        except Refused as exc:
            problems.append(param_error("expr", expr, str(exc)))
    shape = values.get("input_shape")
    if isinstance(shape, str) and shape.strip():
        from pttui.engine.summary import parse_shapes

        try:
            parse_shapes(shape)
        except ParamError as exc:
            problems.append(exc)
    spec = values.get("model_spec")
    if isinstance(spec, str) and spec.strip():
        try:
            model_spec(spec, names=names)
        except ParamError as exc:
            problems.append(exc)
    return problems


def _named(text: str) -> list[str]:
    """The names `name = ...` statements in `text` try to give, even when the text is not valid."""
    return re.findall(r"(?:^|[;\n])\s*([A-Za-z_]\w*)\s*=(?!=)", text)


def model_spec(spec: str, field: str = "model_spec", names: bool = True) -> None:
    """FILE.py:NAME names an existing .py file that parses and defines NAME at its top level
    (a class, a function, an assignment or an import). Raises ParamError on `field`."""
    from pttui.engine.safe_eval import param_error
    from pttui.engine.usermodel import split_spec

    file, name = split_spec(spec)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            return  # too big to read as you type: the run checks it
        source = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise param_error(field, spec, f"a file that can be read; {exc.strerror or exc}") from None
    try:
        tree = ast.parse(source, filename=str(file))
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        raise param_error(field, spec, f"a file that parses; {file.name}: {exc.msg}{where}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise param_error(field, spec, f"a file that parses; {file.name}: {exc}") from None
    if not names:
        return
    defined = top_level_names(tree)
    dynamic = "__getattr__" in defined or any(  # names made at run time: only the run can tell
        isinstance(n, ast.Name) and n.id in ("globals", "setattr", "exec") for n in ast.walk(tree)
    )
    if name not in defined and "*" not in defined and not dynamic:
        shown = ", ".join(sorted(n for n in defined if not n.startswith("_"))[:12]) or "none"
        raise param_error(field, spec, f"a name defined at the top of {file.name}: {shown}")


def top_level_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level (inside if/try blocks too); `*` for a star import."""
    names: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for part in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, part, []) or []:
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return names
