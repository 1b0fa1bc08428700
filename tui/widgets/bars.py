"""Bars under a table that measured speed-ups (amp, quantization, data): the ratios at a glance.

A table event with a numeric column whose name starts with "speed" (speed-up, speed-up b1,
...) gets one bar per row for each such column, scaled to the largest, with a tick at 1x
(no change). Drawn on the chart thread like the other charts.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.color import Color

from pttui.engine import events as ev
from pttui.tui.widgets.drawn_chart import DrawnChart


def speed_columns(event: ev.Table) -> list[int]:
    """Indexes of the columns named speed... that hold numbers."""
    found = []
    for i, name in enumerate(event.columns):
        values = [r[i] for r in event.rows if i < len(r)]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if str(name).lower().startswith("speed") and numbers:
            found.append(i)
    return found


def draw(columns: list[str], labels: list[str], series: list[list[Any]], width: int, color: str) -> Text:
    """One block of bars per column: `label  ████████▏ 1.53x`."""
    text = Text()
    label_w = min(max((len(s) for s in labels), default=4), 18)
    bar_w = max(width - label_w - 9, 4)
    style = Style(color=color)
    for n, (name, values) in enumerate(zip(columns, series, strict=True)):
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        top = max([*numbers, 1.0])
        if n:
            text.append("\n")
        text.append(name, "bold")
        for label, v in zip(labels, values, strict=True):
            text.append(f"\n{label[:label_w]:<{label_w}} ")
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                text.append("-", "dim")
                continue
            cells = max(v, 0) / top * bar_w
            bar = "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")
            one = round(1.0 / top * bar_w)  # where 1x (no change) falls
            line = Text(bar.ljust(bar_w), style)
            if 0 < one < bar_w and len(bar) <= one:
                line = Text(bar, style) + Text(" " * (one - len(bar)) + "┆" + " " * (bar_w - one - 1), "dim")
            text.append_text(line)
            text.append(f" {v:.2f}x")
    return text


class SpeedupBars(DrawnChart):
    DEFAULT_CSS = """
    SpeedupBars {
        height: auto;
        margin: 0 0 1 0;
    }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.table: ev.Table | None = None

    def show(self, event: ev.Table) -> None:
        self.table = event
        cols = speed_columns(event)
        self.styles.height = sum(1 + len(event.rows) for _ in cols) or 1
        self.display = bool(cols)
        self.changed()

    def job(self, width: int, height: int):
        event = self.table
        if event is None:
            return None
        cols = speed_columns(event)
        if not cols:
            return None
        labels = [str(r[0]) if r else "" for r in event.rows]
        series = [[r[i] if i < len(r) else None for r in event.rows] for i in cols]
        color = Color.parse(self.app.theme_variables["text-success"]).hex
        return partial(draw, [str(event.columns[i]) for i in cols], labels, series, width, color)
