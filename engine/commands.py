"""The control commands a front end sends to an engine started with `--control`, declared once.

What flows back to the engine is this small set, one JSON object per line on its stdin, beside
the events (`pttui.engine.events`) that flow out:

    {"cmd": "run", "topic": "training", "values": {"epochs": 5, "lr": "0.01"}}
    {"cmd": "pause"}    {"cmd": "resume"}    {"cmd": "step"}    {"cmd": "stop"}
    {"cmd": "pace", "steps_per_s": 4}

`parse` turns a line into a command or raises `CommandError` with a one-line message naming
what was wrong and what is allowed; the engine answers that with a non-fatal `error` event and
keeps serving. EOF on stdin means `stop`. Torch-free.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

PROTOCOL = 1  # bumped when a command or its meaning changes; the `hello` event carries it
PACE_MAX = 1000.0  # steps per second: the `pace` parameter's bound, declared here once


class CommandError(ValueError):
    """A control line that is not a command: the message says what was wrong and what is allowed."""


@dataclass(frozen=True)
class Command:
    name: ClassVar[str] = ""


@dataclass(frozen=True)
class Run(Command):
    """Run `topic` with these parameter values (text or JSON values, as `pttui run` flags take)."""

    name: ClassVar[str] = "run"
    topic: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Pause(Command):
    """Hold the training loop before its next optimizer step."""

    name: ClassVar[str] = "pause"


@dataclass(frozen=True)
class Resume(Command):
    """Let a paused loop run on."""

    name: ClassVar[str] = "resume"


@dataclass(frozen=True)
class Step(Command):
    """Take exactly one optimizer step, then stay paused (pauses a running loop after one step)."""

    name: ClassVar[str] = "step"


@dataclass(frozen=True)
class Stop(Command):
    """End the run at its next step (it still reports `done`, stopped); a spare just exits."""

    name: ClassVar[str] = "stop"


@dataclass(frozen=True)
class Pace(Command):
    """Hold the loop to at most `steps_per_s` optimizer steps a second (0: as fast as it can)."""

    name: ClassVar[str] = "pace"
    steps_per_s: float


COMMANDS: dict[str, type[Command]] = {cls.name: cls for cls in (Run, Pause, Resume, Step, Stop, Pace)}


def to_json(command: Command) -> str:
    """The command as one line of JSON (no newline), as `parse` reads it back."""
    data: dict[str, Any] = {"cmd": command.name}
    data.update({f.name: getattr(command, f.name) for f in fields(command)})
    return json.dumps(data, separators=(",", ":"))


def parse(line: str) -> Command:
    """One line of stdin as a command. Raises CommandError naming what was wrong."""
    allowed = ", ".join(COMMANDS)
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise CommandError(f"not JSON ({exc.msg} at column {exc.colno}): {_short(line)}") from None
    if not isinstance(data, dict):
        raise CommandError(f'a command is a JSON object such as {{"cmd": "pause"}}, not {_short(line)}')
    name = data.get("cmd")
    if name not in COMMANDS:
        raise CommandError(f"cmd: {name!r} is not a command; allowed: {allowed}")
    cls = COMMANDS[name]
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - {"cmd", *names})
    if unknown:
        takes = ", ".join(names) or "nothing else"
        raise CommandError(f"{name}: unknown key {unknown[0]!r}; it takes {takes}")
    missing = [n for n in names if n not in data]
    if missing:
        raise CommandError(f"{name}: missing {missing[0]!r}")
    if cls is Run:
        if not isinstance(data["topic"], str) or not data["topic"]:
            raise CommandError('run: topic must be a topic name such as "training"')
        if not isinstance(data["values"], dict):
            raise CommandError('run: values must be an object of parameter values, such as {"epochs": 5}')
        return Run(data["topic"], data["values"])
    if cls is Pace:
        value = data["steps_per_s"]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not 0 <= value <= PACE_MAX:
            raise CommandError(
                f"pace: steps_per_s must be a number from 0 to {PACE_MAX:g} (0: as fast as it can)"
            )
        return Pace(float(value))
    return cls()


def _short(text: str, width: int = 60) -> str:
    text = text.strip()
    return repr(text if len(text) <= width else text[: width - 1] + "…")
