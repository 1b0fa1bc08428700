"""The Histograms tab: each layer's weights and gradients through time, TensorBoard-style.

Each layer gets two strips side by side (weights, gradients): one line per histogram set,
newest at the bottom, each cell's shade the count in that value range, over the range all
kept sets span. Beside them, the layer's gradient norm and update/weight ratio (healthy near
1e-3) with a sparkline of their history. Drawn on the chart thread; keeps HISTORY sets a layer.
"""

from __future__ import annotations

import math
from collections import deque
from functools import partial

from rich.style import Style
from rich.text import Text
from textual.color import Color

from pttui.engine import events as ev
from pttui.engine import numbers
from pttui.tui.widgets.drawn_chart import DrawnChart

HISTORY = 12  # sets kept per layer: the lines of each strip
SHADES = " ░▒▓█"
SPARK = "▁▂▃▄▅▆▇█"


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return numbers.number(value, 3)


def rebin(hist: dict, lo: float, hi: float, cells: int) -> list[float]:
    """A histogram's counts spread onto `cells` equal columns over lo..hi, each bin's count
    shared by the columns it overlaps (so wide columns add bins up, narrow ones split them)."""
    out = [0.0] * cells
    edges, counts = hist["edges"], hist["counts"]
    width = (hi - lo) / cells if hi > lo else 1.0
    for i, count in enumerate(counts):
        a, b = edges[i], edges[i + 1]
        if not count:
            continue
        if b <= a:
            out[min(max(int((a - lo) / width), 0), cells - 1)] += count
            continue
        first, last = max(int((a - lo) / width), 0), min(int((b - lo) / width), cells - 1)
        for col in range(first, last + 1):
            c0, c1 = lo + col * width, lo + (col + 1) * width
            overlap = min(b, c1) - max(a, c0)
            if overlap > 0:
                out[col] += count * overlap / (b - a)
    return out


def strip(history: list[dict], cells: int, color: str) -> tuple[list[Text], float, float]:
    """One Text line per set (oldest first), shaded by count, and the value range shown."""
    lo = min(h["edges"][0] for h in history)
    hi = max(h["edges"][-1] for h in history)
    lines = []
    style = Style(color=color)
    for h in history:
        row = rebin(h, lo, hi, cells)
        top = max(row) or 1.0
        line = Text(no_wrap=True)
        for v in row:
            level = 0 if v == 0 else 1 + min(int(v / top * (len(SHADES) - 1)), len(SHADES) - 2)
            line.append(SHADES[level], style)
        lines.append(line)
    return lines, lo, hi


def spark(values: list[float | None]) -> str:
    """A sparkline of log10 of the positive values (ratios span decades)."""
    logs = [math.log10(v) for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not logs:
        return ""
    lo, hi = min(logs), max(logs)
    span = hi - lo or 1.0
    return "".join(SPARK[min(int((v - lo) / span * len(SPARK)), len(SPARK) - 1)] for v in logs)


def draw(layers: dict[str, list[ev.Histogram]], width: int, colors: tuple[str, str]) -> Text:
    """Every layer's block; runs on the chart thread."""
    text = Text()
    cells = max((width - 3) // 2, 8)
    for n, (name, sets) in enumerate(layers.items()):
        last = sets[-1]
        head = Text(f"{name}", style="bold")
        head.append(f"  {last.numel:,} params  step {last.step:,}", style="dim")
        norm = f"grad norm {_fmt(last.grad_norm)} {spark([s.grad_norm for s in sets])}"
        # The final set has no ratio (the weights before its update were not kept): the latest measured.
        measured = next((s.update_ratio for s in reversed(sets) if s.update_ratio is not None), None)
        ratio = f"update/weight {_fmt(measured)} {spark([s.update_ratio for s in sets])}"
        head.append(f"\n  {norm}\n  {ratio}")
        if n:
            text.append("\n")
        text.append_text(head)
        weights, wlo, whi = strip([s.weights for s in sets], cells, colors[0])
        grads_hist = [s.grads for s in sets if s.grads]
        grads, glo, ghi = strip(grads_hist, cells, colors[1]) if grads_hist else ([], 0.0, 0.0)
        label_w = f"weights {_fmt(wlo)}..{_fmt(whi)}"
        label_g = f"grads {_fmt(glo)}..{_fmt(ghi)}" if grads else "grads -"
        text.append(f"\n {label_w[:cells]:<{cells}}  {label_g[:cells]}", style="dim")
        for i, line in enumerate(weights):
            text.append("\n ")
            text.append_text(line)
            text.append("  ")
            j = i - (len(weights) - len(grads))
            if 0 <= j < len(grads):
                text.append_text(grads[j])
    return text


class HistogramsView(DrawnChart):
    DEFAULT_CSS = """
    HistogramsView {
        height: auto;
        min-height: 1;
        padding: 0 1;
    }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.by_layer: dict[str, deque[ev.Histogram]] = {}

    def add(self, event: ev.Histogram) -> None:
        self.by_layer.setdefault(event.layer, deque(maxlen=HISTORY)).append(event)

    def clear(self) -> None:
        self.by_layer.clear()
        self.changed()

    @property
    def lines_needed(self) -> int:
        return sum(4 + len(sets) + (1 if i else 0) for i, sets in enumerate(self.by_layer.values()))

    def changed(self) -> None:
        self.styles.height = max(self.lines_needed, 1)
        super().changed()

    def job(self, width: int, height: int):
        if not self.by_layer:
            return None
        v = self.app.theme_variables
        colors = (Color.parse(v["text-primary"]).hex, Color.parse(v["text-warning"]).hex)
        return partial(draw, {k: list(s) for k, s in self.by_layer.items()}, width, colors)

    def placeholder(self) -> Text:
        return Text(
            "Layer histograms appear here with --histograms N (weights and gradients every N steps, "
            "each layer's gradient norm and update/weight ratio).",
            style="dim",
        )
