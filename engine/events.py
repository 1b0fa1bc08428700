"""The events a lab speaks in. The UI has one renderer per kind, never one per lab.

Each event is a small frozen dataclass that turns into one JSON object with `"event"` (its
kind) and `"t"`. `from_dict` turns such an object back into the event, so the app, the
recorder and tests read the same protocol that `--json` prints.

`t` is seconds since the engine took the run, on one monotonic clock for every event of the
stream, so it never goes back: for `pttui run TOPIC` (with or without `--control`) the moment
the engine has read its flags, before torch is imported (so `start`'s `t` says what importing
torch and choosing a device took); for a warm spare the moment its `run` command arrived.
What a spare sends before it has a run (`hello`, `warming`, `ready` when no run came yet)
carries t = 0.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, ClassVar, Literal, get_args, get_origin, get_type_hints

# Where a text block belongs, and how loud it is: the fixed sets a Text event takes.
Pane = Literal["summary", "log", "code"]
Level = Literal["info", "warning", "error"]
Cause = Literal["", "crashed", "memory", "time"]  # why the supervisor ended a run ("": it did not)


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""
    t: float

    def __post_init__(self) -> None:
        # Fields typed Literal[...] take one of a fixed set: a typo fails here, where the
        # event is made, not in the UI that cannot place it.
        for name, allowed in _literal_fields(type(self)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"{type(self).__name__}.{name}: {value!r} is not one of {', '.join(map(repr, allowed))}"
                )

    def to_dict(self) -> dict[str, Any]:
        # A shallow copy: json.dumps walks nested values itself, and asdict's deep copy
        # cost more than the rest of a step event's trip to the pipe.
        data = {"event": self.kind, "t": round(self.t, 6)}
        for name in _field_names(type(self)):
            data[name] = getattr(self, name)
        return data

    def to_json(self) -> str:
        """One line of JSON, whatever the event carries (see `plain` for the encoding)."""
        data = self.to_dict()
        try:
            return json.dumps(data, separators=(",", ":"), allow_nan=False)
        except (ValueError, TypeError):  # NaN, inf or a non-JSON value: rare, so only then walk
            return json.dumps(plain(data), separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Start(Event):
    """The run began: what runs, with which validated parameters, where."""

    kind: ClassVar[str] = "start"
    topic: str
    params: dict[str, Any]
    device: str
    torch: str


@dataclass(frozen=True)
class Step(Event):
    """One optimizer step; `series` names the curve when a lab trains more than one."""

    kind: ClassVar[str] = "step"
    step: int
    epoch: int
    loss: float
    series: str = "train"
    rank: int | None = None


# The units of the figures every training lab reports per epoch (train.fit's metrics).
METRIC_UNITS = {
    "train_loss": "loss",
    "val_loss": "loss",
    "val_acc": "fraction",
    "samples_per_s": "samples/s",
    "seconds": "s",
}


@dataclass(frozen=True)
class Epoch(Event):
    """The end of an epoch, with its figures (train/val loss, val accuracy, samples/s, ...)."""

    kind: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    metrics: dict[str, float]
    series: str = "train"
    steps_total: int | None = None
    rank: int | None = None
    # Each metric's unit where it has one: a "fraction" (0..1, such as accuracy) gets the
    # chart's accuracy plot, by this declaration, never by its name. The default declares
    # the figures `train.fit` reports; a lab with other figures passes its own.
    units: dict[str, str] = field(default_factory=lambda: dict(METRIC_UNITS))


@dataclass(frozen=True)
class Table(Event):
    """A table of results: a title, column names and rows of plain values."""

    kind: ClassVar[str] = "table"
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass(frozen=True)
class Tree(Event):
    """A tree (the autograd graph, a model's layers): nodes are {"label", "children", ...}."""

    kind: ClassVar[str] = "tree"
    title: str
    root: dict[str, Any]


@dataclass(frozen=True)
class Text(Event):
    """A block of text; `pane` says where it belongs: "summary", "log" (default) or "code"."""

    kind: ClassVar[str] = "text"
    title: str
    body: str
    pane: Pane = "log"
    level: Level = "info"


@dataclass(frozen=True)
class Done(Event):
    """The run ended: the lab's final figures, and whether it was stopped early.

    `reason` says why a stopped run stopped when nobody asked it to: "" for a stop that was
    asked for, `lifecycle.STOP_READER_GONE` when the reader of its output went away.
    """

    kind: ClassVar[str] = "done"
    result: dict[str, Any]
    stopped: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Error(Event):
    """The run failed; `field` names the parameter to blame, where one is, and `allowed`
    says in words what that parameter takes (the form shows it beside the field).

    `fatal` is False when the error answers a control command (a malformed line, a pause a
    lab cannot honour): the engine keeps serving and the run, if any, goes on.

    `cause` is "" where the lab raised; the supervisor sets it when it ended the run:
    "crashed" (the engine died by a signal), "memory" (the memory ceiling) or "time" (the
    lab's time limit).
    """

    kind: ClassVar[str] = "error"
    message: str
    field: str | None = None
    detail: str = ""
    fatal: bool = True
    cause: Cause = ""
    allowed: str = ""


@dataclass(frozen=True)
class Hello(Event):
    """The first word of an engine started with `--control`: the protocol it speaks
    (`pttui.engine.commands.PROTOCOL`), its process id and the commands it takes."""

    kind: ClassVar[str] = "hello"
    protocol: int
    pid: int
    commands: list[str]


# What a controlled engine can be doing (State.state), declared once.
StateName = Literal["warming", "ready", "running", "paused"]
WARMING, READY, RUNNING, PAUSED = get_args(StateName)


@dataclass(frozen=True)
class State(Event):
    """Where a controlled engine stands, sent on every change: "warming" (importing torch),
    "ready" (a spare waiting for `run`), "running" or "paused" (at `step`, the last optimizer
    step taken). `pace` is the steps per second it holds to (0: as fast as it can)."""

    kind: ClassVar[str] = "state"
    state: StateName
    step: int = 0
    pace: float = 0.0


@dataclass(frozen=True)
class Heatmap(Event):
    """A 2-D model's decision boundary over a grid, and the data it learns from.

    The grid has `width` columns spanning `x_range` and `height` rows spanning `y_range`,
    row-major, top row (highest y) first; cell (row r, column c) is centred at
    x = x0 + (c + 0.5) * (x1 - x0) / width, y = y1 - (r + 0.5) * (y1 - y0) / height.
    `classes` holds one character per cell, the predicted class in base 36 ("0".."9", "a"..);
    `confidence` one digit per cell, "0" at chance to "9" certain (the top softmax
    probability, rescaled from [1/n_classes, 1]). Strings, not lists: a 40x40 grid costs
    3.2 kB a line. `points` ([x, y, class, split], split 0 train / 1 validation, a sample
    of at most a few hundred) comes with the first and the final map only; an empty list
    means "the same points as before".
    """

    kind: ClassVar[str] = "heatmap"
    title: str
    step: int
    width: int
    height: int
    x_range: list[float]
    y_range: list[float]
    n_classes: int
    classes: str
    confidence: str
    points: list[list[float]]
    final: bool = False


@dataclass(frozen=True)
class Histogram(Event):
    """One layer's weights and gradients as histograms, with its health figures.

    `weights`/`grads` are {"edges": [bins + 1 floats], "counts": [bins ints]} over all the
    layer's own parameters (weight and bias together), so the counts sum to `numel`; `grads`
    is None before the first backward. `grad_norm` is the L2 norm of the layer's gradients;
    `update_ratio` is |last update| / |weights| (healthy training sits near 1e-3), None when
    no update was seen.
    """

    kind: ClassVar[str] = "histogram"
    layer: str
    step: int
    numel: int
    weights: dict[str, list[float]]
    grads: dict[str, list[float]] | None
    grad_norm: float | None
    update_ratio: float | None


@dataclass(frozen=True)
class System(Event):
    """The machine beside the run, at most once a second.

    `cpu_percent` is the CPU use of the engine's whole process tree (100 = one core busy),
    `rss_mb` its resident memory in MiB, `processes` how many processes that tree has.
    `cuda` (None off CUDA) has allocated_mb, reserved_mb, peak_mb and, with nvidia-ml-py,
    util_percent.
    """

    kind: ClassVar[str] = "system"
    cpu_percent: float
    rss_mb: float
    processes: int
    cuda: dict[str, float] | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (Start, Step, Epoch, Table, Tree, Text, Heatmap, Histogram, System, Done, Error, Hello, State)
}


@cache
def _literal_fields(cls: type[Event]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """(field, allowed values) for each field of `cls` typed Literal[...]."""
    hints = get_type_hints(cls)
    return tuple(
        (f.name, get_args(hints[f.name])) for f in fields(cls) if get_origin(hints[f.name]) is Literal
    )


@cache
def _field_names(cls: type[Event]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name != "t")


def from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON object; unknown keys are ignored (newer producers)."""
    cls = EVENT_TYPES[data["event"]]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def from_json(line: str) -> Event:
    return from_dict(json.loads(line))


_NON_FINITE = {math.inf: "inf", -math.inf: "-inf"}


def _number(value: float) -> float | str:
    # JSON has no NaN or infinity: they are written as the strings "nan", "inf" and "-inf",
    # so every line stays valid JSON (documented in the README's JSON section).
    if math.isfinite(value):
        return float(value)
    return "nan" if math.isnan(value) else _NON_FINITE[value]


def _key(key: Any) -> str | int | float | bool | None:
    if key is None or isinstance(key, (str, int, bool)):
        return key
    if isinstance(key, float):
        return _number(key)
    return str(plain(key))


_MAX_DEPTH = 200  # deeper (or self-referencing) containers end in a marker, not a RecursionError


def plain(value: Any, _depth: int = 0) -> Any:
    """`value` as JSON-native data, so that any event can be written.

    - float NaN/inf -> "nan"/"inf"/"-inf"; complex -> {"real": .., "imag": ..};
    - tensors, NumPy arrays and scalars -> their `.tolist()` (nested lists or a number);
    - sets -> sorted lists; tuples -> lists; mappings -> dicts with string-able keys;
    - dtypes, devices, paths, enums and anything else -> `str(value)` (enums by value).
    Torch-free: tensors and arrays are recognised by their `tolist`, not by type.
    """
    if _depth > _MAX_DEPTH:
        return "<nested too deep>"
    if value is None or isinstance(value, (str, bool, int)):
        return value if type(value) in (str, bool, int) or value is None else _subclass(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, complex):
        return {"real": _number(value.real), "imag": _number(value.imag)}
    if isinstance(value, dict):
        return {_key(k): plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, _depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [plain(v, _depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:  # mixed kinds: order by their text, so the output is stable
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, enum.Enum):
        return plain(value.value, _depth + 1)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), _depth + 1) for f in fields(value)}
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and not isinstance(value, type):
        try:  # tensors, NumPy arrays and NumPy scalars (a 0-d tensor gives a number)
            return plain(tolist(), _depth + 1)
        except Exception:  # a meta tensor, a sparse layout, ...: fall back to its text
            pass
    if isinstance(value, Mapping):
        return {_key(k): plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, type) and not hasattr(value, "__fspath__"):
        try:
            return [plain(v, _depth + 1) for v in value]
        except Exception:
            pass
    try:
        return str(value)  # dtypes, devices, paths, and whatever else: their usual text
    except Exception:  # a __str__ that raises must not cost the run its record
        return f"<{type(value).__name__}>"


def _subclass(value: Any) -> Any:
    # IntEnum, numpy.bool_ lookalikes, str subclasses: plain built-ins
    if isinstance(value, enum.Enum):
        return plain(value.value)
    for base in (bool, int, str):
        if isinstance(value, base):
            return base(value)
    return value
