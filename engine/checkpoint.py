"""Saving that never loses the last good checkpoint, and loading that never runs a file's code.

Saving: every write goes to a temporary file in the target's folder, is flushed and fsynced,
and only then `os.replace`d over the target (atomic on POSIX and Windows). A failure part-way
(an exception, a full disk, SIGKILL) leaves the previous file byte-identical.

The temporary file has a name, `.<target>.<pid>.<random>.pttui-tmp`, rather than being an
unnamed O_TMPFILE linked in at the end: that exists only on Linux and on some filesystems,
and the final link-then-rename still has a named moment, so a sweep would be needed anyway.
One code path everywhere: an exception removes its own temporary file; one left by a killed
process (whose pid is gone) is removed by the next save or load of the same target.

Loading: `torch.load(..., weights_only=True)` unless the user explicitly trusts the file
(`--trust`), and nothing retries with `weights_only=False` after a refusal. Refusals, and
truncated or corrupted files, become a `CheckpointError`: a ParamError on the field that named
the file (`load`, `resume`), so the command line exits 2 with a message and no traceback.

Resume: a training checkpoint holds the model, optimizer, scaler, epoch, step and the RNG
states that decide what comes next (torch's CPU and CUDA generators and the batch shuffler's
generator), so a resumed run takes the very steps the uninterrupted run would have taken.
Training draws no numpy or Python `random` numbers (data sets are made from their own seeded
RandomState), so those states are not saved.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import secrets
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch

from pttui.engine import hardened, numbers
from pttui.engine.params import ParamError
from pttui.engine.runs import pid_alive
from pttui.engine.train import Hooks, TrainState

TEMP_SUFFIX = ".pttui-tmp"
FORMAT = "pttui-training-checkpoint"
FORMAT_VERSION = 1
# Values that decide the data, the model's shape and the optimizer's state layout: a checkpoint
# resumes only into a run that agrees on all of them. lr, epochs, batch size may change.
MUST_MATCH = ("dataset", "size", "noise", "seed", "model", "hidden", "activation", "optimizer")
_SAFETENSORS_MAX_HEADER = 100_000_000


class CheckpointError(hardened.FileRefused):
    """A checkpoint that cannot be saved or loaded; names the field and the file."""


# --- atomic saves ------------------------------------------------------------------------------


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def temp_files(target: str | os.PathLike) -> list[Path]:
    """Temporary files of saves to `target` (live or left by a killed process)."""
    target = Path(target)
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return []
    return [
        target.with_name(e.name)
        for e in entries
        if e.name.startswith(prefix) and e.name.endswith(TEMP_SUFFIX) and e.is_file(follow_symlinks=False)
    ]


def clean_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove temporary files that a killed save of `target` left; returns those removed.

    A file whose writer is still alive (another process saving the same target) is kept.
    """
    removed = []
    for path in temp_files(target):
        middle = path.name[len(f".{Path(target).name}.") : -len(TEMP_SUFFIX)]
        pid_text = middle.split(".")[0]
        if pid_text.isdigit() and pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def atomic_write(target: str | os.PathLike, write: Callable[[BinaryIO], None], field: str = "save") -> int:
    """Write a file through `write(stream)` so that it appears whole or not at all.

    Returns the new file's size. On failure the previous file is untouched, the temporary file
    is removed, and an OSError becomes a CheckpointError naming `field` and the file.
    """
    target = Path(target).expanduser()
    tmp = _temp_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise IsADirectoryError(21, "is a folder, not a file")
        clean_stale_temps(target)
        # O_EXCL: never write through a file (or symlink) someone else put at this name.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as stream:
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())  # the bytes are on disk before the name points at them
            os.replace(tmp, target)
        except BaseException:  # KeyboardInterrupt too: never leave the temporary file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_folder(target.parent)  # and the rename itself survives a power cut
        return target.stat().st_size
    except OSError as exc:
        raise CheckpointError(
            field, target, f"could not be written ({exc.strerror or exc}); any previous file is unchanged"
        ) from None
    except RuntimeError as exc:  # torch's zip writer reports a failed write (full disk) this way
        raise CheckpointError(
            field,
            target,
            f"could not be written (is the disk full? torch said: {str(exc).strip()[:160]}); "
            "any previous file is unchanged",
        ) from None


def _fsync_folder(folder: Path) -> None:
    if os.name == "nt":  # folders cannot be opened for fsync there
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save(obj: Any, path: str | os.PathLike, field: str = "save") -> int:
    """`torch.save(obj, path)`, atomically; returns the file's size."""
    return atomic_write(path, lambda stream: torch.save(obj, stream), field)


def check_writable(path: str | os.PathLike, field: str = "save") -> None:
    """Fail before any training if `path` cannot be saved to (an empty temporary file is tried)."""
    target = Path(path).expanduser()
    tmp = _temp_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise IsADirectoryError(21, "is a folder, not a file")
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.unlink(tmp)
    except OSError as exc:
        raise CheckpointError(field, path, f"cannot be written here ({exc.strerror or exc})") from None


# --- safe loading ------------------------------------------------------------------------------


def version_warning(version: str | None = None) -> str | None:
    """A warning when this torch has known `weights_only=True` bypasses; None when it has none known."""
    version = version or torch.__version__
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        return None
    major_minor = (int(match[1]), int(match[2]))
    if major_minor >= (2, 10):
        return None
    known = ["CVE-2026-24747 (fixed in torch 2.10)"]
    if major_minor < (2, 6):
        known.insert(0, "CVE-2025-32434 (fixed in torch 2.6)")
    return (
        f"torch {version} has known ways for a crafted file to run code even with weights_only=True: "
        f"{', '.join(known)}. Load only files you trust, or upgrade torch."
    )


@dataclass
class Loaded:
    """What `load` read: the object, the file's format, and torch's warnings while reading."""

    obj: Any
    format: str  # "torch zip", "torch legacy" or "safetensors"
    seconds: float
    warnings: list[str] = field(default_factory=list)


def file_format(path: Path, field: str = "load") -> str:
    """Tell the formats apart by their first bytes, not the file's name (FileRefused: not a regular file)."""
    with hardened.open_regular(path, field) as stream:
        head = stream.read(9)
    if head.startswith(b"PK\x03\x04"):
        return "torch zip"
    if len(head) == 9 and head[8:9] == b"{":
        size = int.from_bytes(head[:8], "little")
        if 0 < size < _SAFETENSORS_MAX_HEADER:
            return "safetensors"
    return "torch legacy"


def unsafe_globals(path: str | os.PathLike) -> list[str]:
    """The classes and functions a torch zip file's pickle would import, found without loading it."""
    finder = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)  # torch >= 2.5
    if finder is None:
        return []
    try:
        return list(finder(str(path)))
    except Exception:  # not a zip checkpoint, or unreadable: the caller has a better message
        return []


def _refusal(path: Path, error: str) -> str:
    """Why weights_only=True refused a file, and what the user can do."""
    found = unsafe_globals(path) if file_format(path) == "torch zip" else []
    if not found:
        found = re.findall(r"GLOBAL (\S+) was not an allowed global", error)
    if found:
        shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        whole = any(g.startswith(("torch.nn.modules.", "pttui.engine.models.")) for g in found)
        what = (
            "a whole model saved with torch.save(model)"
            if whole
            else "Python objects other than tensors and plain containers"
        )
        return (
            f"it holds {what} ({shown}), which weights_only=True refuses to load: unpickling them "
            "imports and calls code named in the file. If you made this file yourself or trust "
            "whoever did, load it with --trust (weights_only=False); otherwise do not."
        )
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n|$)", error)
    reason = detail[1].strip() if detail else error.strip().splitlines()[0][:200]
    return (
        f"weights_only=True refused it ({reason}): it is not a torch checkpoint of tensors and plain "
        "containers; it may be corrupted, or a pickle made to run code"
    )


def load(
    path: str | os.PathLike,
    *,
    trust: bool = False,
    field: str = "load",
    map_location: Any = "cpu",
    max_bytes: int | None = None,
) -> Loaded:
    """Read a checkpoint safely (weights_only=True), or with the user's explicit `trust`.

    Before torch reads a byte, engine.hardened checks the file: a regular file; for a zip, every
    CRC-32 and every declared size against the storages its pickle declares and `max_bytes`
    (default: half the free memory); for a legacy file, the declared storages against what
    follows. `--trust` skips none of this: it only allows code in the pickle.

    Every failure is a CheckpointError naming `field` and the file: a refusal says what the
    file holds and how to opt in; a truncated or corrupted file says so.
    """
    shown = str(path)
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(field, shown, "no such file")
    if path.is_dir():
        raise CheckpointError(field, shown, "is a folder, not a checkpoint file")
    clean_stale_temps(path)
    try:
        fmt = file_format(path, field)  # first: it refuses a FIFO or device without blocking
        if path.stat().st_size == 0:
            raise CheckpointError(field, shown, "the file is empty (a save that never finished?)")
        limit = max_bytes if max_bytes is not None else hardened.default_max_bytes()
        if fmt == "torch zip":
            hardened.check_torch_zip(path, limit, field)
        elif fmt == "torch legacy":
            hardened.check_torch_legacy(path, limit, field)
        else:
            hardened.open_regular(path, field, limit).close()
    except hardened.FileRefused as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(field, shown, exc.reason) from None
    except OSError as exc:
        raise CheckpointError(field, shown, f"cannot be read ({exc.strerror or exc})") from None
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # report torch's warnings as events, never print them
        try:
            if fmt == "safetensors":
                obj = _load_safetensors(path, shown, field, map_location)
            else:
                obj = torch.load(path, map_location=map_location, weights_only=not trust)
        except CheckpointError:
            raise
        except pickle.UnpicklingError as exc:
            if trust:
                raise CheckpointError(field, shown, _unreadable(exc)) from None
            raise CheckpointError(field, shown, _refusal(path, str(exc))) from None
        except (ModuleNotFoundError, AttributeError) as exc:
            if not trust:
                raise CheckpointError(field, shown, _unreadable(exc)) from None
            raise CheckpointError(
                field,
                shown,
                f"the pickle needs a class that cannot be imported here ({exc}): a whole-model file "
                "loads only where the code that defined its class is importable under the same name",
            ) from None
        except MemoryError:
            raise CheckpointError(field, shown, "does not fit in memory") from None
        except Exception as exc:  # truncated zip, bad records, torn legacy pickle, ...
            raise CheckpointError(field, shown, _unreadable(exc)) from None
    seconds = time.perf_counter() - started
    try:  # every path, bounded: then any walker of the object (recursive ones too) ends
        for _ in hardened.walk(obj.state_dict() if isinstance(obj, torch.nn.Module) else obj, revisit=True):
            pass
    except ValueError as exc:
        raise CheckpointError(field, shown, str(exc)) from None
    return Loaded(obj, fmt, seconds, [str(w.message).splitlines()[0] for w in caught])


def _unreadable(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0].split(". ")[0][:200]  # torch's first sentence
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"cannot be read: it looks truncated or corrupted ({reason})"


def _load_safetensors(path: Path, shown: str, field: str, map_location: Any) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(
            field, shown, "is a safetensors file; install the extra: pip install 'pttui[safetensors]'"
        ) from None
    device = str(map_location) if isinstance(map_location, (str, torch.device)) else "cpu"
    try:
        return load_file(str(path), device=device)
    except Exception as exc:  # safetensors raises its own SafetensorError for a bad header
        raise CheckpointError(field, shown, _unreadable(exc)) from None


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike, field: str = "save") -> int:
    """A state_dict as safetensors (no pickle at all), atomically."""
    from safetensors.torch import save as to_bytes

    data = to_bytes({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    return atomic_write(path, lambda stream: stream.write(data), field)


def walk(obj: Any, field: str = "load", path: Any = "the checkpoint") -> Iterator[tuple[str, Any]]:
    """Every leaf of a checkpoint with a dotted key: tensors, numbers, strings (a model as its state_dict).

    Walked by engine.hardened: no recursion, each shared object once, and a CheckpointError
    naming `field` past its node or depth budget (a "billion laughs" pickle, a 100,000-deep list).
    """
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    try:
        yield from hardened.walk(obj)
    except ValueError as exc:
        raise CheckpointError(field, path, str(exc)) from None


def describe(obj: Any) -> str:
    """What kind of checkpoint an object is, in words."""
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return "pttui training checkpoint (model, optimizer, RNG states)"
    if isinstance(obj, torch.nn.Module):
        return f"whole model ({type(obj).__name__})"
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return "state_dict"
    return type(obj).__name__


# --- resumable training -------------------------------------------------------------------------


def _rng_states(generator: torch.Generator) -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "batches": generator.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def training_checkpoint(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    state: TrainState,
    generator: torch.Generator,
    values: dict[str, Any],
) -> dict[str, Any]:
    """Everything a resumed run needs, as tensors and plain containers (weights_only loads it)."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "torch": str(torch.__version__),  # a str subclass that weights_only would refuse
        "values": {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()},
        "epoch": state.epoch,
        "step": state.step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": _rng_states(generator),
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def restore_training(
    path: str | os.PathLike,
    values: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    generator: torch.Generator,
    field: str = "resume",
    warn: Callable[[str], None] | None = None,
) -> TrainState:
    """Load a training checkpoint (weights_only=True) into a freshly built run; returns where it stood."""
    loaded = load(path, field=field)
    for message in loaded.warnings:
        if warn is not None:
            warn(message)
    ck = loaded.obj
    if not (isinstance(ck, dict) and ck.get("format") == FORMAT):
        raise CheckpointError(field, path, f"is a {describe(ck)}, not a training checkpoint made with --save")
    check_training_fields(ck, path, field, values, model, optimizer, generator)
    # The optimizer's settings are this run's (pttui sets them from its values): a saved group's
    # amsgrad, betas or eps (crafted ones fail mid-step, or make NaN) never replace them.
    settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    epoch, step = ck["epoch"], ck["step"]
    if epoch >= values["epochs"]:
        raise ParamError(
            "epochs", values["epochs"], f"more than the {numbers.count(epoch, 'epoch')} {path} already holds"
        )
    try:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CheckpointError(field, path, f"does not fit this model: {str(exc).splitlines()[0]}") from None
    for group, own in zip(optimizer.param_groups, settings, strict=True):
        group.update(own)
    for group in optimizer.param_groups:  # this run's values win: resuming may change lr
        group["lr"] = values["lr"]
        group["weight_decay"] = values["weight_decay"]
        if "momentum" in group:
            group["momentum"] = values["momentum"]
    rng = ck["rng"]
    try:
        if scaler is not None and ck["scaler"]:
            scaler.load_state_dict(ck["scaler"])
        torch.set_rng_state(rng["torch"])
        generator.set_state(rng["batches"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            field, path, f"its RNG or scaler state is refused: {str(exc).splitlines()[0]}"
        ) from None
    return TrainState(epoch=epoch, step=step)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_training_fields(
    ck: dict[str, Any],
    path: Any,
    field: str,
    values: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> None:
    """Every field of a training checkpoint has the type and range `training_checkpoint` writes.

    Checked against this run's freshly built model, optimizer and generator, before anything is
    loaded into them, so a crafted file (a missing `rng`, `epoch=-5`, a 3-byte RNG state, an
    optimizer state of the wrong shape) is a CheckpointError naming the checkpoint's field
    instead of a KeyError, a crash mid-training, or the wrong number of epochs.
    """

    def bad(name: str, what: str) -> CheckpointError:
        return CheckpointError(field, path, f"its field {name!r} {what}")

    for name, kinds in (("version", int), ("epoch", int), ("step", int), ("model", dict),
                        ("optimizer", dict), ("rng", dict)):  # fmt: skip
        if name not in ck:
            raise bad(name, "is missing; it is not a whole training checkpoint")
        if not isinstance(ck[name], kinds) or isinstance(ck[name], bool):
            raise bad(name, f"is a {type(ck[name]).__name__}, not a {kinds.__name__}")
    if ck["version"] != FORMAT_VERSION:
        raise bad("version", f"is {ck['version']}; this pttui reads version {FORMAT_VERSION}")
    saved = ck.get("values", {})  # the exported script's checkpoints carry no values
    if not isinstance(saved, dict):
        raise bad("values", f"is a {type(saved).__name__}, not a dict")
    differ = [n for n in MUST_MATCH if n in saved and not _same(saved[n], values[n])]
    if differ:
        was = ", ".join(f"{n}={_text(saved[n])} (now {_text(values[n])})" for n in differ)
        raise CheckpointError(field, path, f"was saved with {was}; resume with the same values")
    epoch, step = ck["epoch"], ck["step"]
    if not 0 <= epoch <= 10**9:
        raise bad("epoch", f"is {epoch}; expected a whole number of completed epochs, 0 or more")
    if not epoch <= step <= 10**15:  # each epoch takes at least one step
        raise bad("step", f"is {step}; expected at least the {numbers.count(epoch, 'epoch')} completed")
    expected = model.state_dict()
    unexpected = [k for k in ck["model"] if k not in expected]
    if unexpected:
        raise bad(f"model.{unexpected[0]}", "is no parameter or buffer of this model")
    absent = [k for k in expected if k not in ck["model"]]
    if absent:
        raise bad(f"model.{absent[0]}", "is missing; this model has it")
    for key, tensor in ck["model"].items():
        if not isinstance(tensor, torch.Tensor):
            raise bad(f"model.{key}", f"is a {type(tensor).__name__}, not a tensor")
        if tensor.is_complex() and not expected[key].is_complex():  # load_state_dict drops .imag
            raise bad(f"model.{key}", f"is a {tensor.dtype} tensor; this model's is {expected[key].dtype}")
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise bad(
                f"model.{key}",
                f"has shape {numbers.shape(tensor.shape)}; this model's is {numbers.shape(expected[key].shape)}",
            )
    _check_optimizer(ck["optimizer"], optimizer, bad)
    if "scaler" not in ck:
        raise bad("scaler", "is missing; it is not a whole training checkpoint")
    if ck["scaler"] is not None and not isinstance(ck["scaler"], dict):
        raise bad("scaler", f"is a {type(ck['scaler']).__name__}, not a dict or None")
    rng = ck["rng"]
    for name, like in (("torch", torch.get_rng_state()), ("batches", generator.get_state())):
        state = rng.get(name)
        if not isinstance(state, torch.Tensor):
            raise bad(
                f"rng.{name}", "is missing" if state is None else f"is a {type(state).__name__}, not a tensor"
            )
        if state.dtype != torch.uint8 or tuple(state.shape) != tuple(like.shape):
            raise bad(
                f"rng.{name}",
                f"is a {state.dtype} tensor of shape {numbers.shape(state.shape)}; a generator's state is "
                f"uint8 of shape {numbers.shape(like.shape)}",
            )
    if "cuda" in rng and not (
        isinstance(rng["cuda"], (list, tuple))
        and all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in rng["cuda"])
    ):
        raise bad("rng.cuda", "is not a list of uint8 generator states")


def _check_optimizer(saved: dict[str, Any], optimizer: torch.optim.Optimizer, bad: Callable) -> None:
    """The saved optimizer state has this optimizer's groups, and each tensor the shape of its parameter."""
    fresh = optimizer.state_dict()
    groups, state = saved.get("param_groups"), saved.get("state")
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise bad("optimizer.param_groups", "is not a list of dicts")
    if not isinstance(state, dict):
        raise bad("optimizer.state", "is not a dict")
    if [g.get("params") for g in groups] != [g["params"] for g in fresh["param_groups"]]:
        raise bad("optimizer.param_groups", "does not list this model's parameters")
    shapes = {}
    for group, fresh_group in zip(optimizer.param_groups, fresh["param_groups"], strict=True):
        for p, index in zip(group["params"], fresh_group["params"], strict=True):
            shapes[index] = tuple(p.shape)
    needed = OPTIMIZER_STATE_KEYS.get(type(optimizer).__name__, ())
    for index, per_param in state.items():
        if index not in shapes:
            raise bad(f"optimizer.state.{index}", "belongs to no parameter of this model")
        if not isinstance(per_param, dict):
            raise bad(f"optimizer.state.{index}", f"is a {type(per_param).__name__}, not a dict")
        missing = [k for k in needed if per_param and k not in per_param]  # {}: made at the next step
        if missing:
            raise bad(f"optimizer.state.{index}.{missing[0]}", "is missing; the optimizer's step reads it")
        for name, value in per_param.items():
            where = f"optimizer.state.{index}.{name}"
            if name == "step":
                _check_step(value, where, bad)
            elif value is None and name == "momentum_buffer":
                continue  # SGD without momentum keeps None; with momentum it starts the buffer
            elif not isinstance(value, torch.Tensor):
                raise bad(where, f"is a {type(value).__name__}, not a tensor")
            elif tuple(value.shape) != shapes[index]:
                raise bad(
                    where,
                    f"has shape {numbers.shape(value.shape)}; its parameter's is {numbers.shape(shapes[index])}",
                )
            elif value.is_complex() or value.dtype == torch.bool:
                raise bad(where, f"is a {value.dtype} tensor; the optimizer keeps real numbers")


# What each optimizer's step reads from a parameter's non-empty state (a crafted file without
# them fails mid-step with a KeyError otherwise). SGD's momentum_buffer may be absent or None.
OPTIMIZER_STATE_KEYS = {"Adam": ("step", "exp_avg", "exp_avg_sq"), "AdamW": ("step", "exp_avg", "exp_avg_sq")}
MAX_STEP = 10**15  # as `step` in the checkpoint's top level


def _check_step(value: Any, where: str, bad: Callable) -> None:
    """A step count: one real, finite number from 0 to MAX_STEP (a negative one makes Adam's bias
    correction negative and its square root complex)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex() or value.dtype == torch.bool:
            raise bad(
                where,
                f"is a {value.dtype} tensor of shape {numbers.shape(value.shape)}; a step count is one number",
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(where, f"is a {type(value).__name__}, not a number")
    if not (0 <= value <= MAX_STEP):  # NaN fails too
        raise bad(where, f"is {value}; a step count is from 0 to {MAX_STEP:,}")


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


class SaveEveryEpoch(Hooks):
    """Saves a training checkpoint at each epoch's end (the last one is the end of training)."""

    def __init__(self, path, values, model, optimizer, scaler, state, generator, field="save"):
        self.path = path
        self.field = field
        self.snapshot = lambda: training_checkpoint(model, optimizer, scaler, state, generator, values)
        self.saves = 0
        self.bytes = 0
        self.seconds = 0.0

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        started = time.perf_counter()
        self.bytes = save(self.snapshot(), self.path, self.field)
        self.seconds += time.perf_counter() - started
        self.saves += 1


def saved(hooks: Hooks | None) -> dict[str, Any]:
    """The figures a run that saved reports: {"saved_to": absolute path, "checkpoint_bytes",
    "saves"}; {} for a run without --save (or none made yet)."""
    if not isinstance(hooks, SaveEveryEpoch) or not hooks.saves:
        return {}
    path = Path(hooks.path).expanduser().resolve()
    return {"saved_to": str(path), "checkpoint_bytes": hooks.bytes, "saves": hooks.saves}


def prepare_training(
    values: dict[str, Any], recipe: Any, scaler: Any, ctx: Any
) -> tuple[TrainState, Hooks | None]:
    """`--resume` and `--save` for a training lab: the state to start from and the saving hook."""
    state = TrainState()
    if values.get("resume"):
        warning = version_warning()
        if warning:
            ctx.warn(warning)
        state = restore_training(
            values["resume"], values, recipe.model, recipe.optimizer, scaler, recipe.generator, warn=ctx.warn
        )
        ctx.text("resumed", f"from {values['resume']} after epoch {state.epoch}, step {state.step}")
    hooks = None
    if values.get("save"):
        check_writable(values["save"])  # fail now, not after the first epoch's work
        hooks = SaveEveryEpoch(
            values["save"], values, recipe.model, recipe.optimizer, scaler, state, recipe.generator
        )
    return state, hooks
