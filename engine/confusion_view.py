"""Draws a confusion matrix as a coloured grid of counts: torch-free, thread-safe.

The matrix travels as a `table` event (title TITLE, first column CORNER, a row per true
class: the class, then its counts by predicted class), so the JSON, the run record and any
table reader keep it as numbers. The headless printer and the app's Tables tab recognise it
by that title and draw it with `render`: each cell's background is the share of its row
(the true class) it holds, green on the diagonal (right) and red off it (the mistakes worth
a look), so a glance finds the classes confused with each other. Drawn with Rich styles for
the reason the boundary is (engine/heatmap_view.py): plotext has no per-cell colours.
"""

from __future__ import annotations

import math

from rich.color import Color
from rich.style import Style
from rich.text import Text

TITLE = "confusion matrix (validation)"
CORNER = "true \\ predicted"
RIGHT, WRONG = "#2ca02c", "#d62728"


def is_confusion(title: str, columns: list) -> bool:
    """True for the table event a confusion matrix travels as."""
    return title == TITLE and bool(columns) and columns[0] == CORNER


def counts_of(rows: list[list]) -> list[list[int]]:
    """counts[true][predicted] from the table's rows (a row: class, then counts); a cell that
    is not a finite, non-negative number (a hand-written record) counts 0."""

    def count(v) -> int:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        return int(v) if ok else 0

    return [[count(v) for v in row[1:]] for row in rows if isinstance(row, (list, tuple))]


def _blend(background: str, color: str, k: float) -> str:
    a, b = Color.parse(background).get_truecolor(), Color.parse(color).get_truecolor()
    mix = [round(x + (y - x) * k) for x, y in zip(a, b, strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*mix)


def _ink(fill: str) -> str:
    """Black or white, whichever reads on `fill` (light themes get pale cells)."""
    t = Color.parse(fill).get_truecolor()
    return "#000000" if 0.2126 * t.red + 0.7152 * t.green + 0.0722 * t.blue > 140 else "#ffffff"


def _title(note: str, accuracy: float | None, total: int, width: int) -> Text:
    """The longest of three wordings that fits `width` (the app's narrow pane), else cut."""
    tail = f" · {note}" if note else ""
    wordings = [(TITLE, ""), ("confusion", "")]
    if accuracy is not None:
        short = f" · acc {accuracy:.1%}"
        wordings = [(TITLE, f" · accuracy {accuracy:.1%} of {total:,}"), (TITLE, short), ("confusion", short)]
    for name, figure in wordings:
        if len(name) + len(tail) + len(figure) <= width:
            break
    head = Text(name, style="bold")
    head.append(tail, style="dim")
    head.append(figure)
    head.truncate(width, overflow="ellipsis")
    return head


def render(
    counts: list[list[int]],
    width: int = 80,
    note: str = "",
    background: str = "#1e1e1e",
    colors: tuple[str, str] | None = (RIGHT, WRONG),
) -> Text:
    """The matrix in at most `width` columns: a title line with the accuracy, a header of
    predicted classes, a row per true class with its recall, zeros as a dim "·".

    Cells narrow to fit (10 classes of up to 5-digit counts fit 80 columns with recall);
    the recall column goes first, then whatever still overflows is cut. `colors` are the
    diagonal's and the mistakes' hues (the app passes its theme's); None leaves the cell
    backgrounds out.
    """
    n = len(counts)
    cols = max([n, *map(len, counts)])  # a model may score more classes than the data has
    total = sum(map(sum, counts))
    right = sum(counts[i][i] for i in range(n) if i < len(counts[i]))
    out = Text()
    out.append_text(_title(note, right / total if total else None, total, width))
    digits = max([len(str(v)) for row in counts for v in row] + [len(str(cols - 1)), 1])
    label_w = max(len("true"), len(str(n - 1))) + 1  # and a space before the first cell
    recall_w = len(" recall ")  # "100.0%" right-aligned under it
    cell = digits + 2
    while cell > digits + 1 and label_w + cols * cell + recall_w > width:
        cell -= 1
    show_recall = label_w + cols * cell + recall_w <= width
    header = Text(f"{'true':>{label_w - 1}} ", style="dim")
    for p in range(cols):
        header.append(f"{p:>{cell - 1}} ", style="bold")
    if show_recall:
        header.append(" recall", style="dim")
    if header.cell_len + len("  ← predicted") <= width:
        header.append("  ← predicted", style="dim")
    header.truncate(width)
    out.append("\n")
    out.append_text(header)
    for t, row in enumerate(counts):
        line = Text(f"{t:>{label_w - 1}} ", style="bold")
        row_total = sum(row)
        for p, v in enumerate(row):
            share = v / row_total if row_total else 0.0
            if v == 0:
                line.append(f"{'·':>{cell - 1}} ", style="dim")
                continue
            style = Style(bold=p == t)
            if colors is not None:
                # a mistake starts further from the background: one wrong in forty still shows
                hue, floor = (colors[0], 0.25) if p == t else (colors[1], 0.4)
                fill = _blend(background, hue, floor + (0.9 - floor) * share)
                style += Style(bgcolor=fill, color=_ink(fill))
            line.append(f"{v:>{cell - 1}}", style=style)
            line.append(" ")  # unstyled: coloured neighbours stay apart
        if show_recall:
            recall = f"{row[t] / row_total:.1%}" if row_total and t < len(row) else "-"
            line.append(f"{recall:>{recall_w}}", style="dim")
        line.truncate(width)
        out.append("\n")
        out.append_text(line)
    return out
