"""The events a lab speaks in. The UI has one renderer per kind, never one per lab.

Each event is a small frozen dataclass that turns into one JSON object with `"event"` (its
kind) and `"t"` (seconds since the run started). `from_dict` turns such an object back into
the event, so the app, the recorder and tests read the same protocol that `--json` prints.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""
    t: float

    def to_dict(self) -> dict[str, Any]:
        # A shallow copy: json.dumps walks nested values itself, and asdict's deep copy
        # cost more than the rest of a step event's trip to the pipe.
        data = {"event": self.kind, "t": round(self.t, 6)}
        for name in _field_names(type(self)):
            data[name] = getattr(self, name)
        return data

    def to_json(self) -> str:
        data = self.to_dict()
        try:
            return json.dumps(data, separators=(",", ":"), allow_nan=False)
        except ValueError:  # a NaN or inf somewhere: rare, so only then walk the object
            return json.dumps(_finite(data), separators=(",", ":"))


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
    pane: str = "log"
    level: str = "info"


@dataclass(frozen=True)
class Done(Event):
    """The run ended: the lab's final figures, and whether it was stopped early."""

    kind: ClassVar[str] = "done"
    result: dict[str, Any]
    stopped: bool = False


@dataclass(frozen=True)
class Error(Event):
    """The run failed; `field` names the parameter to blame, where one is."""

    kind: ClassVar[str] = "error"
    message: str
    field: str | None = None
    detail: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Start, Step, Epoch, Table, Tree, Text, Done, Error)
}


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


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity; write them as strings so every line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
