"""Checks a field's syntax as it is typed, without torch: the app runs them on every edit.

Building the real checks needs torch (the Evaluator reads torch.Tensor; a model file runs
when loaded), which lives only in the run's process, two seconds away. These look at the
text alone and answer in well under a millisecond:
- `expr`: Python expression syntax and the evaluator's allow-list, over the leaves' names;
- `leaves`: `name = value` statements (the autograd lab's own parser);
- `input_shape`: sizes like 1,3,28,28 (the summary's own parser);
- `model_spec`: FILE.py:NAME, the file exists and parses, and NAME is defined at its top
  level, read with `ast`: the file is not run; with no --data, `input_shape` must be given.
- `device`: its grammar is in the parameter declaration; a CUDA device on a CPU-only torch
  build is refused here, read from torch's version file without importing torch.
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

    `names=False` skips asking whether a model file defines NAME (export leaves that to the
    script's run). The command line asks: a missing NAME is the first thing to fix, before the
    input shape the lab would ask for next."""
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
    data = values.get("data")
    if isinstance(data, str) and data.strip():
        try:
            data_file(data, str(values.get("target") or ""))
        except ParamError as exc:
            problems.append(exc)
    device = values.get("device")
    if isinstance(device, str):
        from pttui.engine.devices import cpu_only_refusal

        refusal = cpu_only_refusal(device)
        if refusal is not None:
            problems.append(refusal)
    spec = values.get("model_spec")
    if isinstance(spec, str) and spec.strip():
        try:
            model_spec(spec, names=names)
        except ParamError as exc:
            problems.append(exc)
        else:  # the missing class first: the input shape is what the lab asks next
            if names and needs_input_shape(values):
                problems.append(no_input_shape(spec))
    return problems


# `--data`: what a data file may be, declared once (pttui.engine.userdata reads the file itself).
DATA_FIELD = "data"
DATA_SUFFIXES = (".csv", ".npz", ".pt", ".safetensors")
TARGET_NAMES = ("label", "target", "y")  # a CSV column with one of these names is the target
DATA_ALLOWED = "a .csv with a header, a .npz / .pt / .safetensors holding x and y, or an ImageFolder folder"
MAX_DATA_BYTES = 512 << 20  # a data file larger than this is refused before it is read
HEADER_BYTES = 1 << 20  # a CSV header longer than this is left to the run


def data_file(path: str, target: str = "", max_bytes: int = MAX_DATA_BYTES) -> str:
    """The kind of `--data` file `path` is ("csv", "npz", "pt", "safetensors" or "folder"), after
    the checks that need no torch and no numpy: it is there, readable, small enough, of a kind
    pttui reads, and a CSV's header has the column to predict. ParamError on `data` or `target`."""
    import os
    from pathlib import Path

    file = Path(path).expanduser()
    if not file.exists():
        raise ParamError(DATA_FIELD, path, f"an existing file or folder ({DATA_ALLOWED}); it is not there")
    if file.is_dir():
        if not _installed("torchvision"):
            raise no_torchvision(path)
        if target:
            raise ParamError("target", target, "empty unless --data is a .csv (other files hold x and y)")
        return "folder"
    suffix = file.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise ParamError(DATA_FIELD, path, DATA_ALLOWED)
    if target and suffix != ".csv":
        raise ParamError("target", target, "empty unless --data is a .csv (other files hold x and y)")
    try:
        size = file.stat().st_size
        readable = os.access(file, os.R_OK)
    except OSError as exc:
        raise ParamError(DATA_FIELD, path, f"a readable file ({exc.strerror or exc})") from None
    if not readable:
        raise ParamError(DATA_FIELD, path, "a file you can read (permission denied)")
    if size > max_bytes:
        raise ParamError(
            DATA_FIELD, path, f"a file of at most {max_bytes >> 20} MiB; it has {size >> 20} MiB"
        )
    if suffix == ".csv":
        header = _csv_header(file)
        if header is not None:
            csv_target(header, target, path)
    return suffix[1:]


def _installed(name: str) -> bool:
    """Whether `name` can be imported, found without importing it (torchvision imports torch)."""
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def no_torchvision(path: str) -> ParamError:
    """The refusal of an ImageFolder `--data` where torchvision is not installed: how to get it."""
    from importlib import metadata

    try:
        version = metadata.version("torch").split("+")[0]
    except metadata.PackageNotFoundError:
        version = "yours"
    return ParamError(
        DATA_FIELD,
        path,
        "a file (.csv, .npz, .pt, .safetensors): a folder of images needs torchvision, which is not "
        f'installed. Install the build that matches torch {version}: pip install "pttui[vision]" '
        "(or pip install torchvision --index-url https://download.pytorch.org/whl/cpu on a CPU-only box)",
    )


def csv_target(names: list[str], target: str, path: str) -> str:
    """The column of a CSV header (`names`) to predict: `target`, else the first named label,
    target or y. ParamError naming `--target` when the user's target is not a column, and `data`
    when the user gave none and no column has one of those names."""
    from pathlib import Path

    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    if target:
        if target not in names:
            raise ParamError("target", target, f"a column of {Path(path).name}: {shown}")
        found = target
    else:
        found = next((n for n in names if n.lower() in TARGET_NAMES), None)
    if found is None:
        raise ParamError(
            DATA_FIELD,
            path,
            f"a CSV with a column to predict: {Path(path).name} has no column named label, target or y "
            f"(its columns: {shown}); name one with --target COLUMN",
        )
    if names.count(found) > 1:  # which one is predicted would be a guess; the other, a feature
        raise ParamError(
            DATA_FIELD,
            path,
            f"a CSV that names its target column once: {Path(path).name} has {found!r} twice or more; "
            "rename one",
        )
    return found


def _csv_header(file) -> list[str] | None:
    """The first non-blank row of a CSV, read from its first HEADER_BYTES; None when it is longer,
    is not UTF-8 text, or cannot be read here (the run reads the file and says why)."""
    import csv
    import io

    try:
        with open(file, "rb") as f:
            head = f.read(HEADER_BYTES)
    except OSError:
        return None
    if len(head) == HEADER_BYTES:
        head = head[: head.rfind(b"\n") + 1]  # the last line may be cut
    try:
        text = head.decode("utf-8-sig")  # a byte order mark is no part of the first name
        for row in csv.reader(io.StringIO(text)):
            if any(cell.strip() for cell in row):
                return [cell.strip() for cell in row]
    except (UnicodeDecodeError, csv.Error):
        return None
    return None


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
        raise not_defined(spec, file.name, name, builders(tree), field)


def not_defined(
    spec: str, file_name: str, name: str, candidates: list[str], field: str = "model_spec"
) -> ParamError:
    """The one message for a --model-spec NAME its file does not define, with the names that could
    build a model there (its classes and functions; imported modules cannot)."""
    from pttui.engine.safe_eval import param_error

    shown = ", ".join(candidates[:12]) or "none"
    return param_error(
        field, spec, f"{file_name} defines no {name!r}; expected a class or function there that builds the "
        f"model: {shown}",
    )  # fmt: skip


def needs_input_shape(values: Mapping[str, Any]) -> bool:
    """A person's model with no --data, in a lab that makes inputs: only --input-shape can size them."""
    return bool(str(values.get("model_spec") or "").strip()) and not values.get("data") and (
        "input_shape" in values and not str(values["input_shape"]).strip()
    )  # fmt: skip


def no_input_shape(spec: str, example: str = "1,3,28,28") -> ParamError:
    """Why an empty --input-shape cannot stand for a --model-spec model (the field's "empty" means a
    built-in model's usual input: pttui reads no input size from a person's model)."""
    from pttui.engine.safe_eval import param_error

    name = spec.rpartition(":")[2].strip() or "your model"
    return param_error(
        "input_shape", "", f"empty, but {name} declares no input size (pttui knows the usual input of its "
        f"built-in models only, and reads none from a --model-spec model); give --input-shape: its input "
        f"sizes, batch first, e.g. {example} (pttui makes random inputs of them)",
    )  # fmt: skip


def builders(tree: ast.Module) -> list[str]:
    """The public classes and functions `tree` defines at its top level: what NAME could be."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return sorted(
        n.name for n in _top_statements(tree) if isinstance(n, kinds) and not n.name.startswith("_")
    )


def _top_statements(tree: ast.Module) -> list[ast.stmt]:
    """The statements at a module's top level, with those inside its if/try/with/for/while blocks."""
    found: list[ast.stmt] = []
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for part in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, part, []) or []:
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return found


def top_level_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level (inside if/try blocks too); `*` for a star import."""
    names: set[str] = set()
    for node in _top_statements(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
    return names
