"""Exporting a lab's script: the values are checked as a run checks them, then the file is written.

A script is code someone will run, and in `pttui serve` the values come from a stranger. So
expressions and leaves pass the same parser and allow-list as a run (engine.safe_eval) before
a byte is written: `__import__('os').system(...)` is refused with the run's message instead of
landing in a script that a later `--model-spec` would import. The target must be a file in a
folder that exists; every failure is a ParamError naming the field, so the command line exits 2.
Torch-free: the app calls it for `e`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pttui.engine.params import ParamError

FIELD = "export_script"  # the flag --export-script


def check_values(lab: Any, values: dict[str, Any]) -> None:
    """Refuse (ParamError with the run's message) any expression or leaf a run would refuse.

    engine.early's checks (expression syntax and allow-list over the leaves' names, leaves,
    input shapes, model files), and each leaf's value through the same allow-list.
    """
    from pttui.engine import early, safe_eval

    problems = early.check(values, names=False)
    if problems:
        raise problems[0]
    if "leaves" in values:
        from pttui.engine.labs.autograd import parse_leaves

        for name, text, _ in parse_leaves(values["leaves"]):
            try:
                safe_eval.Checker().check_text(text)
            except safe_eval.Refused as exc:
                raise safe_eval.param_error("leaves", values["leaves"], f"{name}: {exc}") from None


def _error(path: Any, reason: str, field: str) -> ParamError:
    error = ParamError(field, str(path), reason)
    error.args = (f"{field}: {path}: {reason}",)
    return error


def write_script(lab: Any, values: dict[str, Any], path: str | os.PathLike, field: str = FIELD) -> Path:
    """Check the values, then write `lab.code(values)` to `path`; returns the path written.

    ParamError naming `field` when a value is refused, when `path` is a folder, when its folder
    does not exist, or when it cannot be written.
    """
    check_values(lab, values)
    target = Path(path).expanduser()
    if target.is_dir():
        raise _error(path, "is a folder; give a file name, e.g. script.py", field)
    folder = target.parent
    if not folder.is_dir():
        raise _error(path, f"its folder {str(folder)!r} does not exist", field)
    text = lab.code(values)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _error(path, f"cannot be written ({exc.strerror or exc})", field) from None
    return target
