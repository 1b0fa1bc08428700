"""Runs side by side in the app: each recorded run's curves renamed for the run they come from.

The chart draws one curve per series name, coloured in turn, with the names in its legend,
so a comparison is the runs' step and epoch events with `series` set to a short label: the
parameters that differ between the runs (`engine.runs_compare.comparison`), else the time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pttui.engine import events as ev
from pttui.engine.runs_compare import comparison

MAX_LABEL = 28
# Parameters that change only how fast a run goes, never its curve: a label names them only
# when nothing else tells the runs apart.
SPEED_ONLY = frozenset({"pace"})


def labels(infos: list[Any]) -> list[str]:
    """One short, distinct label per run: "lr=0.01 seed=3", else its start time."""
    data = comparison(infos)
    telling = [k for k in data["differ"] if k not in SPEED_ONLY] or data["differ"]
    out = []
    for i, info in enumerate(infos):
        words = " ".join(f"{k}={_short(data['params'][k][i])}" for k in telling[:3])
        label = words or info.started[11:19]
        label = label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"
        out.append(label)
    if len(set(out)) < len(out):  # still alike: number them
        out = [f"{i + 1}: {label}" for i, label in enumerate(out)]
    return out


def _short(value: Any) -> str:
    if value is None or value == "" or value == [] or value == ():
        return "none"  # "resume=" reads as a label cut short
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def labelled(runs: list[tuple[Any, list[ev.Event]]]) -> list[tuple[str, Any, list[ev.Event]]]:
    """[(label, info, that run's step/epoch events renamed to the label)]."""
    names = labels([info for info, _ in runs])
    out = []
    for label, (info, events) in zip(names, runs, strict=True):
        curves = [
            replace(e, series=label if e.series == "train" else f"{label} {e.series}")  # type: ignore[attr-defined]
            for e in events
            if isinstance(e, (ev.Step, ev.Epoch))
        ]
        out.append((label, info, curves))
    return out
