"""A person's own model from `--model-spec FILE.py:NAME`: loading it, feeding it, and blaming it.

Loading a .py file runs the code in it: that is what the person asked for, on their own
machine, and the help text says so. Whatever the file does at import (an exception, a
`sys.exit` from argparse's `parse_args()`, even a `KeyboardInterrupt`) becomes a ParamError on
`model_spec` naming the file and line (exit 2), never a traceback and never a dead engine
thread. Anything the file prints is captured and handed back, not written to stdout.

Once loaded, anything the model raises in `forward` or `backward` is the model's error
(`UserModelError`, exit 1): it names the line in the person's file and the input pttui gave it
(shape, dtype and the flags that set them), so a bug is not mistaken for a wrong `--input-shape`.

The file is imported under a name derived from its resolved path (`module_name`), the same in
every process: a whole-model pickle names its class by that module, and the exported script
registers the file under the same name, so both can find the class.

Torch is imported inside the functions: the labs import this module's names without torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pttui.engine import numbers
from pttui.engine.params import ParamError

FIELD = "model_spec"
_IMPORTED: dict[str, tuple[tuple[int, int], Any]] = {}  # module name -> (file's mtime and size, module)


class UserModelError(RuntimeError):
    """The person's model raised while pttui ran it: its words, their line, and the input given.

    `file` is the person's file; `frames()` is the traceback in it alone (pttui's and torch's
    frames are noise for an error that is theirs)."""

    def __init__(self, message: str, file: Path | None = None):
        super().__init__(message)
        self.file = file

    def frames(self) -> str:
        """`Traceback ...` with only the frames in the person's file and the exception's last line;
        '' when none is known."""
        cause = self.__cause__
        if cause is None or self.file is None:
            return ""
        mine = [f for f in traceback.extract_tb(cause.__traceback__) if _same_file(f.filename, self.file)]
        if not mine:
            return ""
        lines = traceback.format_list(mine)
        return (
            "Traceback (your file's frames only):\n"
            + "".join(lines)
            + "".join(traceback.format_exception_only(type(cause), cause))
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


def module_name(file: str | Path) -> str:
    """The stable module name a user's file is imported under: `pttui_user_<stem>_<sha1 of path>`.

    `hash()` differs per process (PYTHONHASHSEED); a digest of the resolved path does not.
    """
    resolved = Path(file).expanduser().resolve()
    stem = re.sub(r"\W", "_", resolved.stem)
    return f"pttui_user_{stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:10]}"


def parse_kwargs(text: str) -> dict[str, Any]:
    """`--model-kwargs` as a dict ({} when empty); the Param's check has vetted the JSON."""
    if not text or not text.strip():
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ParamError("model_kwargs", text, 'a JSON object such as {"hidden": 32}')
    return value


def import_file(spec: str) -> tuple[Any, Path, str, str]:
    """Import FILE (under `module_name`); (module, file, NAME, what it printed).

    Raises ParamError on `model_spec` for anything the file raises or exits with at import.
    """
    file, name = split_spec(spec)
    mod_name = module_name(file)
    stat = file.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _IMPORTED.get(mod_name)
    if cached is not None and cached[0] == stamp and sys.modules.get(mod_name) is cached[1]:
        # Once per process: a model built from a second import would have classes that are
        # not those in sys.modules, and pickling the first model would then fail.
        return cached[1], file, name, ""
    out = io.StringIO()
    try:
        spec_obj = importlib.util.spec_from_file_location(mod_name, file)
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[mod_name] = module  # dataclasses and pickling look classes up here
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            spec_obj.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(mod_name, None)
        raise ParamError(
            FIELD, spec, f"a file that imports cleanly; {at_import(exc, file, out.getvalue())}"
        ) from None
    _IMPORTED[mod_name] = (stamp, module)
    return module, file, name, out.getvalue()


def at_import(exc: BaseException, file: Path, printed: str = "") -> str:
    """Why the import failed, in words: the error (or exit), the file and line, what it printed."""
    where = where_in(exc, file)
    if isinstance(exc, SystemExit):
        said = [line for line in printed.splitlines() if line.strip()]
        hint = f" (it printed: {said[-1].strip()[:200]})" if said else ""
        return (
            f"{file.name} called sys.exit({exc.code!r}) while being imported{where}{hint}; argparse's "
            'parse_args() does this: put such code under `if __name__ == "__main__":`'
        )
    if isinstance(exc, KeyboardInterrupt):
        return f"{file.name} raised KeyboardInterrupt while being imported{where}"
    return f"{file.name} raised {_words(exc)} while being imported{where}"


def load(spec: str, kwargs_text: str = "") -> tuple[Any, str]:
    """The nn.Module that NAME in FILE builds (with `--model-kwargs`), and what the file printed."""
    from torch import nn

    module, file, name, printed = import_file(spec)
    mod_name = module.__name__
    target = getattr(module, name, None)
    if target is None:
        found = [
            k
            for k, v in vars(module).items()
            if not k.startswith("_") and callable(v) and getattr(v, "__module__", None) == mod_name
        ]
        from pttui.engine.early import not_defined

        raise not_defined(spec, file.name, name, sorted(found), FIELD)
    if not callable(target):
        raise ParamError(FIELD, spec, f"{name} to be an nn.Module class or a function")
    kwargs = parse_kwargs(kwargs_text)
    out = io.StringIO()
    call = (
        f"{name}(**{kwargs_text.strip()})"
        if kwargs
        else f"{name}() with no arguments (--model-kwargs gives some)"
    )
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            model = target(**kwargs)
    except BaseException as exc:
        field = "model_kwargs" if kwargs and isinstance(exc, TypeError) else FIELD
        shown = kwargs_text if field == "model_kwargs" else spec
        raise ParamError(
            field, shown, f"{call} to build a model; it raised {_words(exc)}{where_in(exc, file)}"
        ) from None
    if not isinstance(model, nn.Module):
        raise ParamError(FIELD, spec, f"{name}() to return an nn.Module, not a {type(model).__name__}")
    return model, printed + out.getvalue()


def where_in(exc: BaseException, file: Path) -> str:
    """` (my_model.py line 12)`: the deepest line of the person's file in the traceback, or ''."""
    if isinstance(exc, SyntaxError) and exc.lineno and exc.filename and _same_file(exc.filename, file):
        return f" ({file.name} line {exc.lineno})"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if _same_file(frame.filename, file):
            return f" ({file.name} line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()[:120]})"
    return ""


def _same_file(name: str, file: Path) -> bool:
    try:
        return Path(name).resolve() == file.resolve()
    except OSError:
        return False


def _words(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.msg:  # str() adds "(file, line N)": where_in says that once
        return f"{type(exc).__name__}: {exc.msg[:300]}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


# --- what pttui feeds the model ----------------------------------------------------------------


def first_leaf(model):
    """The first registered module without children (the model itself when it has none)."""
    for module in model.modules():
        if not any(True for _ in module.children()):
            return module
    return model


def first_embedding(model):
    from torch import nn

    # nn.EmbeddingBag takes indices too, and is no subclass of nn.Embedding
    return next((m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))), None)


def input_dtype(model, choice="auto", high=0):
    """(dtype name, exclusive upper bound for integers or 0, why) for `--input-dtype choice`.

    `auto` gives int64 indices below `num_embeddings` when the first registered leaf module is an
    nn.Embedding or nn.EmbeddingBag, else the dtype of the model's first floating parameter (float32 without one).
    """

    if choice == "int64":
        embedding = first_embedding(model)
        bound = high or (embedding.num_embeddings if embedding is not None else 2)
        return "int64", bound, "--input-dtype int64"
    if choice != "auto":
        return choice, 0, f"--input-dtype {choice}"
    leaf = first_leaf(model)
    if leaf is first_embedding(leaf):  # an nn.Embedding or nn.EmbeddingBag
        bound = high or leaf.num_embeddings
        return (
            "int64",
            bound,
            f"--input-dtype auto: the first layer is nn.{type(leaf).__name__}({leaf.num_embeddings}, ...)",
        )
    for p in model.parameters():
        if p.is_floating_point():
            name = str(p.dtype).removeprefix("torch.")
            return name, 0, f"--input-dtype auto: the model's parameters are {name}"
    return "float32", 0, "--input-dtype auto: the model has no floating parameters"


def make_inputs(shapes, dtype, high, device="cpu"):
    """Random inputs: uniform [0, 1) floats, or integers in [0, high) for int64 (torch's RNG)."""
    import torch

    if dtype == "int64":
        return [torch.randint(0, max(high, 1), s, device=device) for s in shapes]
    return [torch.rand(*s, device=device, dtype=getattr(torch, dtype)) for s in shapes]


def describe_inputs(inputs: Sequence[Any], flags: str = "") -> str:
    """`(2, 7) int64 in [0, 50)`, one per input, then the flags that chose them."""
    parts = []
    for x in inputs:
        shape = getattr(x, "shape", None)
        if shape is None:
            parts.append(type(x).__name__)
            continue
        text = f"{numbers.shape(shape)} {str(x.dtype).removeprefix('torch.')}"
        if not x.is_floating_point() and x.numel():
            text += f" in [{int(x.min())}, {int(x.max())}]"
        parts.append(text)
    return "; ".join(parts) + (f" (set by {flags})" if flags else "")


@contextlib.contextmanager
def blamed(file: Path | None, what: str, given: str) -> Iterator[None]:
    """Anything raised inside becomes a UserModelError with the person's line and `given` input.

    `file` None (a built-in model) lets errors through unchanged. The engine thread never sees a
    real Ctrl-C (signals go to the main thread), so a KeyboardInterrupt here is the model's too.
    """
    if file is None:
        yield
        return
    try:
        yield
    except ParamError:
        raise
    except BaseException as exc:  # SystemExit/KeyboardInterrupt from the model are its errors too
        if not where_in(exc, file):
            raise  # not from the person's file: pttui's own failure, reported as such
        raise UserModelError(
            f"your model ({file.name}) raised {_words(exc)}{where_in(exc, file)} in {what}; "
            f"its input was {given}",
            file,
        ) from exc


def has_lazy(model) -> bool:
    from torch.nn.parameter import is_lazy

    return any(is_lazy(p) for p in model.parameters()) or any(is_lazy(b) for b in model.buffers())


def materialize(model, inputs: Sequence[Any], file: Path | None, given: str) -> bool:
    """Run one dry forward when the model has lazy modules, so their sizes exist before counting.

    Returns whether it ran.
    """
    import torch

    if not has_lazy(model):
        return False
    with torch.no_grad(), blamed(file, "the dry forward that sizes its lazy modules", given):
        model(*inputs)
    return True


def synthetic_task(pred, task="auto"):
    """The task for random targets: `auto` means classification when the prediction is
    (batch, classes) floats with at least 2 classes, else regression."""
    if task != "auto":
        return task
    return (
        "classification"
        if pred.dim() == 2 and pred.shape[1] >= 2 and pred.is_floating_point()
        else "regression"
    )


def prediction(output, key=""):
    """The prediction in a model's output: the tensor itself, the first tensor of a tuple or list,
    or the value under `key` of a dict (its first key when empty). None when there is none."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        if not output:
            return None
        if key:
            return output.get(key)
        return prediction(next(iter(output.values())))
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


def check_key(output, key: str) -> None:
    """ParamError on `output_key` when a key is given for an output that is not a dict: tuples and
    lists give their first tensor, a tensor is itself, so the key would do nothing."""
    if key and not isinstance(output, dict):
        raise ParamError(
            "output_key",
            key,
            f"empty: your model returns a {type(output).__name__}, not a dict, so there is no key to "
            "pick (a tuple or list gives its first tensor)",
        )
