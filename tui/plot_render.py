"""Draws a chart `Snapshot` as Rich Text with braille dots: pure Python, safe off the UI thread.

The chart widget calls `render` on its own thread and hands the finished Text to the UI
thread in one message, so a redraw never holds up the event loop (measured: UI lag p99
rose from ~7 ms to 20-27 ms on a prototype that built its chart on the UI thread).

Each cell is a 2x4 braille grid. Curves are drawn oldest first: the previous run in a muted
style, then this run's curves in the palette's colours, each over a shaded band that spans
the raw min and max of its bucket (the noise the smoothing hides). Deterministic: the same
snapshot and size give the same text, which the snapshot tests rely on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from pttui.engine import numbers
from pttui.tui.chart_data import Curve, Snapshot

_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [dot row][dot column]


# Plain ANSI defaults (tests, scripts); the chart widget passes the app theme's colours.
_LINES = (Style(color="blue"), Style(color="yellow"), Style(color="green"))
_BANDS = (Style(bgcolor="grey23"),)
_MUTED, _AXIS, _TITLE = Style(color="grey50"), Style(color="grey62"), Style(bold=True)


@dataclass(frozen=True)
class Palette:
    """Styles resolved from the app's theme on the UI thread (the render thread reads no CSS)."""

    lines: tuple[Style, ...] = _LINES
    bands: tuple[Style, ...] = _BANDS
    muted: Style = _MUTED
    axis: Style = _AXIS
    title: Style = _TITLE


def render(snapshot: Snapshot, width: int, height: int, palette: Palette) -> Text:
    """The whole chart: loss on top, the accuracy-like figures below when there are any."""
    width, height = max(width, 20), max(height, 4)
    has_loss = bool(snapshot.loss or snapshot.previous_loss)
    has_metric = bool(snapshot.metric or snapshot.previous_metric)
    panels: list[tuple[str, Sequence[Curve], Sequence[Curve], int]] = []
    if has_loss and has_metric and height >= 11:
        # A metric legend that wraps (a narrow chart) gets its lines on top of the plot's rows.
        legend = _legend(snapshot.metric_label, snapshot.metric, snapshot.previous_metric, width, palette, 2)
        metric_h = max(5, height // 3) + len(legend) - 1
        panels.append(("loss", snapshot.loss, snapshot.previous_loss, height - metric_h))
        panels.append((snapshot.metric_label, snapshot.metric, snapshot.previous_metric, metric_h))
    elif has_loss or not has_metric:
        panels.append(("loss", snapshot.loss, snapshot.previous_loss, height))
    else:
        panels.append((snapshot.metric_label, snapshot.metric, snapshot.previous_metric, height))
    # One x range for both plots, so an epoch's accuracy sits under the steps it ended on.
    xs = [
        x
        for c in (*snapshot.loss, *snapshot.metric, *snapshot.previous_loss, *snapshot.previous_metric)
        for x in (c.xs[:1] + c.xs[-1:])
    ]
    # From 0, where training began, to the run's last step when it said how many it will take,
    # so the curve grows across the chart instead of the axis rescaling under it.
    x_range = (min(0.0, *xs), max(*xs, snapshot.x_total)) if xs else (0.0, 1.0)
    # One width for the y labels of both plots, so their x axes line up column for column.
    label_w = max(_label_width(curves, previous, h) for _, curves, previous, h in panels)
    lines: list[Text] = []
    for title, curves, previous, h in panels:
        lines.extend(_panel(title, curves, previous, snapshot.x_label, width, h, palette, x_range, label_w))
    return Text("\n").join(lines)


def _y_range(curves: Sequence[Curve]) -> tuple[float, float]:
    """The y axis spans exactly what is drawn, so its labels are the data's own min and max.

    A flat series (one epoch so far) gets a small margin around its value, kept within what
    the data can be: never below 0 for data at or above 0 (losses), never above 1 for data
    within [0, 1] (accuracies).
    """
    y_lo = min(min(c.lo) for c in curves)
    y_hi = max(max(c.hi) for c in curves)
    if y_hi - y_lo < 1e-12:
        margin = max(abs(y_hi) * 0.05, 1e-3)
        lo, hi = y_lo - margin, y_hi + margin
        if y_lo >= 0:
            lo = max(lo, 0.0)
        if y_lo >= 0 and y_hi <= 1:
            hi = min(hi, 1.0)
        if hi - lo < 1e-12:  # exactly 0 or 1 with nowhere to go: open the other side
            lo, hi = (y_lo, y_lo + margin) if y_lo <= 0 else (y_hi - margin, y_hi)
        y_lo, y_hi = lo, hi
    return y_lo, y_hi


def _y_labels(y_lo: float, y_hi: float, plot_h: int) -> dict[int, str]:
    labels = {0: _fmt(y_hi), plot_h - 1: _fmt(y_lo)}
    if plot_h >= 5:
        labels[(plot_h - 1) // 2] = _fmt((y_hi + y_lo) / 2)
    return labels


def _label_width(curves: Sequence[Curve], previous: Sequence[Curve], height: int) -> int:
    everything = [c for c in (*previous, *curves) if c.xs]
    if not everything:
        return 0
    labels = _y_labels(*_y_range(everything), max(height - 2, 1))
    return max(len(s) for s in labels.values()) + 1


def _fmt(value: float) -> str:
    return numbers.number(value, 3)


def _fmt_x(value: float) -> str:
    return numbers.number(int(value) if float(value).is_integer() else value, 3)


def _panel(
    title: str,
    curves: Sequence[Curve],
    previous: Sequence[Curve],
    x_label: str,
    width: int,
    height: int,
    palette: Palette,
    x_range: tuple[float, float],
    label_w: int,
) -> list[Text]:
    everything = [c for c in (*previous, *curves) if c.xs]
    plot_h = max(height - 2, 1)
    if not everything:
        blank = [Text(title, style=palette.title)]
        return blank + [Text("") for _ in range(height - 1)]
    y_lo, y_hi = _y_range(everything)
    x_lo, x_hi = x_range
    if x_hi - x_lo < 1e-12:
        x_hi = x_lo + 1

    # The legend may wrap while the plot keeps 3 rows (top, middle and bottom labels).
    legend = _legend(title, curves, previous, width, palette, max_lines=max(1, min(3, height - 4)))
    plot_h = max(height - 1 - len(legend), 1)  # a legend that wraps takes rows from the plot
    labels = _y_labels(y_lo, y_hi, plot_h)
    plot_w = max(width - label_w - 1, 4)
    grid = _Grid(plot_w, plot_h, x_lo, x_hi, y_lo, y_hi)

    n_colors = len(palette.lines)
    for curve in previous:
        grid.draw(curve, color=-2, band=-1)
    for i, curve in enumerate(curves):
        grid.draw(curve, color=i % n_colors, band=-1 if curve.points else i % len(palette.bands))

    out = list(legend)
    for row in range(plot_h):
        line = Text()
        label = labels.get(row)
        line.append(f"{label:>{label_w - 1}} ┤" if label else " " * label_w + "│", palette.axis)
        grid.row_text(row, palette, line)
        out.append(line)
    lo_txt, hi_txt = _fmt_x(x_lo), _fmt_x(x_hi)
    gap = max(plot_w - len(lo_txt) - len(hi_txt), 1)
    mid = x_label.center(gap) if gap > len(x_label) + 2 else " " * gap
    out.append(Text(" " * (label_w + 1) + lo_txt + mid + hi_txt, palette.axis))
    return out[:height]


def _legend(
    title: str,
    curves: Sequence[Curve],
    previous: Sequence[Curve],
    width: int,
    palette: Palette,
    max_lines: int = 1,
) -> list[Text]:
    """The panel's title and one "● name" per curve, in at most `max_lines` lines of `width`.

    Names stay whole: when they do not fit one line, the words every curve's name shares are
    dropped ("train r0", "train r1" read "r0", "r1" under "loss"); then the items wrap onto
    the next lines; only what is still left over is cut, with an ellipsis.
    """
    colours = [palette.lines[i % len(palette.lines)] for i in range(len(curves))]
    for names in ([c.name for c in curves], legend_names([c.name for c in curves])):
        items = [Text(title, palette.title)]
        items += [Text("● ", colour).append(name) for name, colour in zip(names, colours, strict=True)]
        if previous:
            items.append(Text("● previous run", palette.muted))
        lines = wrap_items(items, width, max_lines, indent=" ")
        if len(lines) == 1:
            break
    return lines


def wrap_items(items: Sequence[Text], width: int, max_lines: int, indent: str = "") -> list[Text]:
    """Items two spaces apart, a new line (starting with `indent`) where the next would not
    fit, each item whole; past `max_lines` the last line ends in an ellipsis. Lines may still
    be longer than `width` only where one item is: they are cut there."""
    lines = [Text()]
    for item in items:
        line = lines[-1]
        if line.cell_len > len(indent) and line.cell_len + 2 + item.cell_len > width:
            lines.append(Text(indent))
            line = lines[-1]
        elif line.cell_len > len(indent):
            line.append("  ")
        line.append_text(item)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1].append(" …")
    for line in lines:
        line.truncate(width, overflow="ellipsis")
    return lines


def legend_names(names: Sequence[str]) -> list[str]:
    """Curve names without the words they all share: ["train r0", "train r1 val"] -> ["r0",
    "r1 val"]. The names as given where that would leave one empty or two alike."""
    if len(names) < 2:
        return list(names)
    common = set(names[0].split()).intersection(*(n.split() for n in names[1:]))
    short = [" ".join(w for w in n.split() if w not in common) for n in names]
    if not all(short) or len(set(short)) < len(short):
        return list(names)
    return short


class _Grid:
    """A braille canvas: dot bits, the colour of each cell's dots, and its band shading."""

    def __init__(self, w: int, h: int, x_lo: float, x_hi: float, y_lo: float, y_hi: float):
        self.w, self.h = w, h
        self.bits = [[0] * w for _ in range(h)]
        self.color = [[-1] * w for _ in range(h)]
        self.band = [[-1] * w for _ in range(h)]
        self._sx = (2 * w - 1) / (x_hi - x_lo)
        self._sy = (4 * h - 1) / (y_hi - y_lo)
        self._x_lo, self._y_hi = x_lo, y_hi

    def _dot(self, x: float, y: float) -> tuple[int, int]:
        return round((x - self._x_lo) * self._sx), round((self._y_hi - y) * self._sy)

    def _set(self, px: int, py: int, color: int) -> None:
        col, row = px >> 1, py >> 2
        if 0 <= col < self.w and 0 <= row < self.h:
            self.bits[row][col] |= _BITS[py & 3][px & 1]
            self.color[row][col] = color

    def draw(self, curve: Curve, color: int, band: int) -> None:
        if band >= 0:
            for x, lo, hi in zip(curve.xs, curve.lo, curve.hi, strict=True):
                px, py_hi = self._dot(x, hi)
                _, py_lo = self._dot(x, lo)
                col = px >> 1
                if 0 <= col < self.w:
                    for row in range(max(py_hi >> 2, 0), min(py_lo >> 2, self.h - 1) + 1):
                        self.band[row][col] = band
        prev: tuple[int, int] | None = None
        for x, y in zip(curve.xs, curve.ys, strict=True):
            px, py = self._dot(x, y)
            if prev is None:
                self._set(px, py, color)
            else:
                self._line(prev[0], prev[1], px, py, color)
            if curve.points and len(curve.xs) <= self.w // 3:
                for dx, dy in ((1, 0), (0, 1), (1, 1)):  # a 2x2 marker at each epoch's figure
                    self._set(px + dx - (px & 1), py + dy - (py & 1), color)
            prev = (px, py)

    def _line(self, x0: int, y0: int, x1: int, y1: int, color: int) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in range(1, steps + 1):
            self._set(x0 + round((x1 - x0) * k / steps), y0 + round((y1 - y0) * k / steps), color)

    def row_text(self, row: int, palette: Palette, out: Text) -> None:
        """Append one row, grouping neighbouring cells of the same style into one span."""
        bits, colors, bands = self.bits[row], self.color[row], self.band[row]
        run_chars: list[str] = []
        run_key: tuple[int, int] | None = None
        for col in range(self.w):
            b = bits[col]
            key = (colors[col] if b else -1, bands[col])
            if key != run_key and run_chars:
                out.append("".join(run_chars), _style(run_key, palette))
                run_chars = []
            run_key = key
            run_chars.append(chr(0x2800 + b) if b else " ")
        if run_chars:
            out.append("".join(run_chars), _style(run_key, palette))


def _style(key: tuple[int, int] | None, palette: Palette) -> Style | None:
    if key is None:
        return None
    color, band = key
    fg = palette.muted if color == -2 else palette.lines[color] if color >= 0 else None
    bg = palette.bands[band] if band >= 0 else None
    if fg and bg:
        return fg + bg
    return fg or bg
