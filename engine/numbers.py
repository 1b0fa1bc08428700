"""Numbers written for people, in one place: the human printer, `pttui runs` and the app use it.

Every figure a person reads goes through `number` (four significant digits, thousands
separated, no `2.000e-04`) or `quantity` (the same with the unit its key names: `load_s`
-> `1.475 ms`). `None` reads `n/a`. Nested results (a dict of figures, a list of records)
are never printed as Python reprs: `as_rows` turns them into the columns and rows of a
small table. The JSON output and the run record keep every value exactly as measured.

Torch-free and textual-free: the app process and `pttui --help` import it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SIGNIFICANT = 4  # digits a person compares at a glance; the JSON keeps the rest
NONE = "n/a"
INLINE_ITEMS = 8  # a list of numbers longer than this is summarised, not spelled out


def number(value: float | int, significant: int = SIGNIFICANT) -> str:
    """`value` with `significant` digits, thousands separated: 51390.2 -> `51,390`,
    0.00014745 -> `0.0001475`, 12.0 -> `12`, 3.2e-07 -> `3.2e-07`, nan -> `nan`.

    Integers keep every digit (`1,234,567`). Raises nothing; a bool reads `yes`/`no`.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0:
        return "0"
    mag = abs(x)
    if mag >= 1e15 or mag < 1e-4:  # too many digits either way: scientific, zeros trimmed
        mantissa, exp = f"{x:.{significant - 1}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{exp}"
    decimals = max(significant - 1 - math.floor(math.log10(mag)), 0)
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# Units named by a key's ending, longest first: (suffix, unit kind), and by whole keys.
_WHOLE = {"seconds": "s", "samples_per_s": "rate", "time_s": "s"}
_SUFFIXES = (
    ("_per_s", "rate"),
    ("_seconds", "s"),
    ("_ms", "ms"),
    ("_s", "s"),
    ("_mb", "MB"),
    ("_bytes", "B"),
    ("_pct", "%"),
)


# A figure's spread (engine.timing.Spread: `latency_b1_ms_spread`) is in the figure's unit,
# except the fields that count or judge rather than measure.
_SPREAD = "_spread"
_UNITLESS = frozenset({"rounds", "noisy", "noisy_above_iqr", "count", "n"})


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and its noun, singular for one: (1, "thread") -> `1 thread`, (3, "thread") ->
    `3 threads`, (1200, "step") -> `1,200 steps`. `plural` when it is not noun + "s"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def unit_of(key: str) -> str | None:
    """The unit a result's key names by its ending (`load_s` -> "s", `peak_mb` -> "MB",
    `latency_b1_ms_spread` -> "ms"), else None."""
    k = key.lower().removesuffix(_SPREAD)
    if k in _WHOLE:
        return _WHOLE[k]
    return next((unit for suffix, unit in _SUFFIXES if k.endswith(suffix)), None)


def quantity(value: Any, unit: str | None) -> str:
    """A number with its unit, scaled to read well: seconds -> s/ms/µs, bytes -> KB/MB/GB."""
    if value is None:
        return NONE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or unit is None:
        return text(value, unit)
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if unit in ("s", "ms"):
        seconds = x if unit == "s" else x / 1000
        mag = abs(seconds)
        if mag == 0:
            return "0 s"
        if mag < 1e-3:
            return f"{number(seconds * 1e6)} µs"
        if mag < 1:
            return f"{number(seconds * 1e3)} ms"
        return f"{number(seconds)} s"
    if unit == "MB":  # a key's MB are MiB (as torchsummary's): scaled like bytes, 4e-05 MB -> 40 B
        x, value, unit = x * (1 << 20), x * (1 << 20), "B"
    if unit == "B":
        for scale, name in ((1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")):
            if abs(x) >= scale:
                return f"{number(x / scale)} {name}"
        return f"{number(value)} B"
    if unit == "rate":
        return f"{number(round(x) if abs(x) >= 100 else x)}/s"
    if unit == "%":
        return f"{number(x)}%"
    return f"{number(value)} {unit}"


def text(value: Any, unit: str | None = None) -> str:
    """Any value as a person reads it, on one line: numbers by `number` (with `unit`, scaled by
    `quantity`), None as `n/a`, lists inline at every depth (`[[0.01374, -0.0216], [0.5, 1]]`,
    the first INLINE_ITEMS items of each), dicts as `name=value; ...`, anything else by `str`.
    Inside a list a number drops its thousands separators: there the commas part the items.
    A dict's values keep them (`median=80,597/s; min=79,454/s`, as the figure itself reads):
    semicolons part its items.
    Nested records that read better as a table: see `as_rows`."""
    if value is None:
        return NONE
    if isinstance(value, bool) or (isinstance(value, (int, float)) and not unit):
        return number(value)
    if isinstance(value, (int, float)):
        return quantity(value, unit)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={_value(v, inner_unit(str(k), unit))}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_item(v, unit) for v in value[:INLINE_ITEMS])
        more = f", … {len(value):,} values" if len(value) > INLINE_ITEMS else ""
        return f"[{shown}{more}]"
    return str(value)


def inner_unit(name: str, unit: str | None) -> str | None:
    """The unit of the field `name` inside a result whose key names `unit`: its own ending's,
    else the outer one, except for fields that count or judge (`rounds`, `noisy`)."""
    return unit_of(name) or (None if name.lower() in _UNITLESS else unit)


def _value(value: Any, unit: str | None) -> str:
    """One value of a dict: a number as everywhere (thousands separated), a dict in braces."""
    if isinstance(value, Mapping):
        return "{" + text(value, unit) + "}"
    return text(value, unit)


def _item(value: Any, unit: str | None) -> str:
    """One item inside a list or dict: no thousands separators, a dict in braces."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return text(value, unit).replace(",", "")
    if isinstance(value, Mapping):
        return "{" + text(value, unit) + "}"
    return text(value, unit)


# Keys whose values are tensor sizes: written the one way a shape is written (see `shape`).
_SHAPE_KEYS = ("shape", "shapes", "stride", "strides")
_SHAPE_SUFFIXES = ("_shape", "_shapes", "_strides", "_stride")


def is_shape_key(key: str) -> bool:
    """Whether a result's key names a shape or strides (`shape`, `input_shape`, `strides`)."""
    k = key.lower()
    return k in _SHAPE_KEYS or k.endswith(_SHAPE_SUFFIXES)


def shape(dims: Any) -> str:
    """A tensor's sizes (or strides) the one way pttui writes them, as torch.Size does inside its
    brackets: (3,) and torch.Size([3]) -> `[3]`, a scalar's () -> `[]`, 28 -> `[28]`, no thousands
    separators. Several shapes (a list of them) are parted by `; `: `[1, 10]; [1, 5]`.
    A value that is not sizes (None, text) reads as `text` writes it."""
    if isinstance(dims, (list, tuple)) and dims and all(isinstance(d, (list, tuple)) for d in dims):
        return "; ".join(shape(d) for d in dims)
    if isinstance(dims, (list, tuple)) and all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        return "[" + ", ".join(str(int(d)) for d in dims) + "]"
    if isinstance(dims, int) and not isinstance(dims, bool):
        return f"[{dims}]"
    try:  # torch.Size, numpy shapes: sequences of ints without being lists
        return shape([int(d) for d in dims])
    except (TypeError, ValueError):
        return text(dims)


def field(key: str, value: Any) -> str:
    """`value` as the result `key` holds it: with the unit the key names, where it names one;
    a shape key's value as a shape (`shape`)."""
    if is_shape_key(str(key)) and value is not None and not isinstance(value, str):
        return shape(value)
    return quantity(value, unit_of(key))


def nested(value: Any, key: str = "") -> bool:
    """True for a value that reads better as a small table than on one line (never a shape)."""
    if key and is_shape_key(key):
        return False
    if isinstance(value, Mapping):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return bool(value) and not all(_scalar(v) for v in value)
    return False


def as_rows(key: str, value: Any) -> tuple[list[str], list[list[str]]]:
    """A nested result as (columns, rows) of strings, the first column naming the row.

    {name: figure}            -> columns [key, value]
    {name: {field: figure}}   -> columns [key, field1, field2, ...]
    [{field: figure}, ...]    -> columns [field1, field2, ...] (the first field names the row)
    [[a, b], ...]             -> columns ["#", "1", "2", ...]
    Units come from the key (`load_s` -> ms) or the inner field's own name.
    """
    unit = unit_of(key)
    if isinstance(value, Mapping):
        inner = [v for v in value.values() if isinstance(v, Mapping)]
        if inner and len(inner) == len(value):
            fields = _union(inner)
            rows = [[str(name), *(_cell(f, rec.get(f), unit) for f in fields)] for name, rec in value.items()]
            return [key, *fields], rows
        return [key, "value"], [[str(k), _cell(k, v, unit)] for k, v in value.items()]
    items = list(value)
    if items and all(isinstance(v, Mapping) for v in items):
        fields = _union(items)
        return fields, [[_cell(f, rec.get(f), unit) for f in fields] for rec in items]
    width = max((len(v) if isinstance(v, (list, tuple)) else 1) for v in items)
    rows = []
    for i, v in enumerate(items):
        cells = list(v) if isinstance(v, (list, tuple)) else [v]
        rows.append([str(i), *(_cell(key, c, unit) for c in cells), *([""] * (width - len(cells)))])
    return ["#", *(str(i + 1) for i in range(width))], rows


def _cell(name: str, value: Any, unit: str | None) -> str:
    if is_shape_key(str(name)):
        return field(str(name), value)
    return quantity(value, inner_unit(str(name), unit))


def _union(records: Sequence[Mapping[str, Any]]) -> list[str]:
    fields: dict[str, None] = {}
    for rec in records:
        fields.update(dict.fromkeys(map(str, rec)))
    return list(fields)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))
