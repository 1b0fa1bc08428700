"""Loads a person's own model from `--model-spec FILE.py:NAME` (a class or a factory).

Loading a .py file runs the code in it: that is what the person asked for, on their own
machine, and the help text says so. Whatever goes wrong (no file, a syntax error, a missing
name, a constructor that needs arguments) becomes a ParamError on `model_spec`, never a
traceback; anything the file prints is captured and handed back, not written to stdout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import traceback
from pathlib import Path
from typing import Any

from pttui.engine.params import ParamError

FIELD = "model_spec"
HELP = (
    "your own model as FILE.py:NAME (an nn.Module class or a function, called with no arguments); "
    "this runs the code in FILE.py"
)


def split_spec(spec: str) -> tuple[Path, str]:
    """`path/to/file.py:Name` -> (path, name); the last ':' splits, so C:\\x.py:Net works."""
    path, sep, name = spec.strip().rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise ParamError(FIELD, spec, "FILE.py:NAME, e.g. my_model.py:Net")
    file = Path(path).expanduser()
    if file.suffix != ".py":
        raise ParamError(FIELD, spec, "a Python file: FILE.py:NAME")
    if not file.is_file():
        raise ParamError(FIELD, spec, f"an existing file; {file} is not there")
    return file, name


def load(spec: str) -> tuple[Any, str]:
    """The nn.Module that NAME in FILE builds, and whatever the file printed while loading."""
    from torch import nn

    file, name = split_spec(spec)
    module_name = f"pttui_user_{abs(hash(str(file.resolve())))}"
    out = io.StringIO()
    try:
        spec_obj = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[module_name] = module  # dataclasses and pickling look classes up here
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            spec_obj.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ParamError(FIELD, spec, f"a file that runs; it raised {_where(exc, file)}") from None
    target = getattr(module, name, None)
    if target is None:
        found = [
            k
            for k, v in vars(module).items()
            if not k.startswith("_") and callable(v) and getattr(v, "__module__", None) == module_name
        ]
        raise ParamError(FIELD, spec, f"a name defined in {file.name}: {', '.join(found) or 'none found'}")
    if not callable(target):
        raise ParamError(FIELD, spec, f"{name} to be an nn.Module class or a function")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            model = target()
    except Exception as exc:
        raise ParamError(
            FIELD, spec, f"{name}() to work with no arguments; it raised {_where(exc, file)}"
        ) from None
    if not isinstance(model, nn.Module):
        raise ParamError(FIELD, spec, f"{name}() to return an nn.Module, not a {type(model).__name__}")
    return model, out.getvalue()


def _where(exc: BaseException, file: Path) -> str:
    """`TypeError: ... (line 12)`: the error and the line of the person's file it came from."""
    line = ""
    if isinstance(exc, SyntaxError) and exc.lineno:
        line = f" (line {exc.lineno})"
    else:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if Path(frame.filename).resolve() == file.resolve():
                line = f" (line {frame.lineno})"
                break
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}{line}"
