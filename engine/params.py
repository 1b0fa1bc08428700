"""Parameter declarations: each parameter is declared once, and everything else derives from it.

Validation, command-line flags, `--help`, the TUI form and the `start` event all read the same
`Param` objects, so there is no second list to keep in step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("int", "float", "bool", "choice", "str", "ints", "device", "path")


class ParamError(ValueError):
    """A value that a parameter does not allow: names the field, the value and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str):
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: {value!r} is not allowed; expected {allowed}")


# The device grammar, declared once: the CPU, Apple's MPS, or CUDA with an optional index.
# A parameter adds its own word in front (auto for where to run, keep for "do not move").
_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d{1,2})?)$")
DEVICE_WORDS = "cpu, cuda, cuda:N or mps"
DEVICE_EXAMPLES = ("cpu", "cuda", "cuda:0", "cuda:1", "mps")  # what the form suggests


def is_device(text: str, extra: str = "auto") -> bool:
    """Whether `text` (already stripped and lower-cased) is a device, or the word `extra`."""
    return text == extra or bool(_DEVICE_RE.match(text))


def writable_file(path: str) -> str | None:
    """A `Param.check` for a file the run will write: checked before the run, not after it.

    Returns what is allowed when `path` is a folder or lies in a folder that does not exist;
    None when it can be written there (or is empty: nothing is written). The one rule for every
    path a run writes: a missing folder is refused, never made (`--save /no/such/dir/ck.pt`).
    """
    import os

    if not path:
        return None
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        return f"a file path, not the folder {path!r}"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"a file in a folder that exists ({folder!r} does not)"
    return None


def writable_folder(path: str) -> str | None:
    """A `Param.check` for a folder the run writes into: it exists, or the folder it would be
    made in does (one level is made, as `mkdir` would; a missing parent is refused)."""
    import os

    if not path:
        return None
    path = os.path.expanduser(path)
    if os.path.exists(path) and not os.path.isdir(path):
        return f"a folder, not the file {path!r}"
    if not os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            return f"a folder in a folder that exists ({parent!r} does not)"
    return None


def readable_file(path: str) -> str | None:
    """A `Param.check` for a file the run reads (`--resume`, `--load`): it is there, a file,
    and readable; what is inside is judged by the run. Checked before torch is imported."""
    import os

    if not path:
        return None
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        return "a file that exists; there is no such file"
    if os.path.isdir(path):
        return f"a file, not the folder {path!r}"
    if not os.access(path, os.R_OK):
        return "a file you can read (permission denied)"
    return None


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


@dataclass(frozen=True)
class Param:
    """One parameter of a lab: its name, kind, default, limits and one line of help."""

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    max_len: int = 4000
    check: Callable[[Any], str | None] | None = None  # extra rule: returns what is allowed, or None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TypeError(f"unknown parameter kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise TypeError(f"choice parameter {self.name} needs choices")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        """What this parameter accepts, in words (used in errors, help and the form)."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "device":
            return "auto, " + DEVICE_WORDS
        if self.kind == "ints":
            rng = self._range_words()
            return "comma-separated whole numbers" + (f", each {rng}" if rng else "")
        if self.kind in ("int", "float"):
            noun = "a whole number" if self.kind == "int" else "a number"
            rng = self._range_words()
            return noun + (f" {rng}" if rng else "")
        if self.kind == "path":
            return "a file path (or empty)"
        return f"text of at most {self.max_len} characters"

    def _range_words(self) -> str:
        if self.low is not None and self.high is not None:
            return f"from {_fmt(self.low)} to {_fmt(self.high)}"
        if self.low is not None:
            return f"of at least {_fmt(self.low)}"
        if self.high is not None:
            return f"of at most {_fmt(self.high)}"
        return ""

    def parse(self, raw: Any) -> Any:
        """Turn a raw value (text from a flag or a form, or a Python value) into a valid one."""
        value = self._convert(raw)
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ParamError(self.name, raw, problem)
        return value

    def _convert(self, raw: Any) -> Any:
        kind = self.kind
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ParamError(self.name, raw, self.allowed())
        if kind == "int":
            return self._bounded(self._to_int(raw), raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ParamError(self.name, raw, self.allowed())
            try:
                value = float(raw)
            except (TypeError, ValueError, OverflowError):
                raise ParamError(self.name, raw, self.allowed()) from None
            if not math.isfinite(value):
                raise ParamError(self.name, raw, self.allowed())
            return self._bounded(value, raw)
        if kind == "ints":
            items: Iterable[Any]
            if isinstance(raw, (list, tuple)):
                items = raw
            else:
                text = str(raw).strip()
                # "1,,2" or "1,2," is a typo, not 1,2: every comma-separated item must be there
                items = [p.strip() for p in text.split(",")] if "," in text else text.split()
                if any(not p for p in items):
                    raise ParamError(self.name, raw, self.allowed() + " (an item between commas is empty)")
            values = tuple(self._bounded(self._to_int(item, raw), raw) for item in items)
            if not values:
                raise ParamError(self.name, raw, self.allowed())
            return values
        text = "" if raw is None else str(raw)
        if kind == "choice":
            text = text.strip().lower()
            if text not in self.choices:
                raise ParamError(self.name, raw, self.allowed())
            return text
        if kind == "device":
            text = text.strip().lower()
            if not is_device(text):
                raise ParamError(self.name, raw, self.allowed())
            return text
        if len(text) > self.max_len or "\x00" in text:
            raise ParamError(self.name, raw, self.allowed())
        return text.strip() if kind == "path" else text

    def _to_int(self, item: Any, raw: Any = None) -> int:
        raw = item if raw is None else raw
        if isinstance(item, bool):
            raise ParamError(self.name, raw, self.allowed())
        if isinstance(item, int):
            return item
        if isinstance(item, float):
            if item.is_integer():
                return int(item)
            raise ParamError(self.name, raw, self.allowed())
        text = str(item).strip().replace("_", "")
        if not re.fullmatch(r"[+-]?\d{1,19}", text):  # int64 has 19 digits
            raise ParamError(self.name, raw, self.allowed())
        return int(text)

    def _bounded(self, value: float, raw: Any) -> Any:
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ParamError(self.name, raw, self.allowed())
        return value

    def to_text(self, value: Any) -> str:
        """The value as one would type it in a flag or a form field."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "ints":
            return ",".join(str(v) for v in value)
        return str(value)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


def validate(params: Iterable[Param], raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Fill defaults and validate every given value; unknown names are an error too, and so is a
    field given beside the one that wins over it (`--hidden` with `--model-spec`: common.WINS) or
    with a value of its own where it does nothing (`--momentum` with Adam: common.NEEDS)."""
    declared = {p.name: p for p in params}
    raw = dict(raw or {})
    for name in raw:
        if name not in declared:
            raise ParamError(name, raw[name], "one of the parameters " + ", ".join(declared))
    values = {
        name: (p.parse(raw[name]) if name in raw else p.parse(p.default)) for name, p in declared.items()
    }
    from pttui.engine.common import check_needs, check_overrides, check_value_needs, topic_of

    check_overrides(declared, values, raw)  # a field typed beside the one that wins over it
    check_needs(declared, values, raw, topic_of(declared.values()))  # ... or where it does nothing
    check_value_needs(declared, values)  # a value that cannot work beside the others (cnn: digits)
    return values


def defaults(params: Iterable[Param]) -> dict[str, Any]:
    return {p.name: p.default for p in params}
