"""The decision boundary beside the loss chart: the latest `heatmap` event, redrawn as it learns.

Drawn by `pttui.engine.heatmap_view` (the same picture the headless printer ends with) on
the chart thread; hidden until a run sends a map, so topics without one keep the full width.
"""

from __future__ import annotations

from functools import partial

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from pttui.engine import events as ev
from pttui.engine import heatmap_view
from pttui.tui.plot_render import wrap_items
from pttui.tui.widgets.drawn_chart import DrawnChart

_CONSOLE = Console(width=400, color_system="truecolor", force_terminal=True, legacy_windows=False)


def draw(
    event: ev.Heatmap,
    points: list[list[float]],
    width: int,
    height: int,
    background: str,
    base: Style,
    glyphs: bool = False,
) -> list[Strip]:
    """Title, map and legend as finished lines of `width` cells (runs on the chart thread);
    `glyphs`: one glyph per class, for NO_COLOR (heatmap_view.cells).

    The map's lines are built from segments directly: through Rich Text and its line
    renderer they cost about twice as much, at ~1,300 styled cells a map.
    """
    step = f"step {event.step:,}"
    # Narrow (beside the chart at 80 columns): the step is what changes, so it stays.
    words = next((t for t in (f"{event.title} · {step}", f"boundary · {step}") if len(t) <= width), step)
    title = Text(words, style="bold")
    title.truncate(width, overflow="ellipsis", pad=True)
    legend = wrap_items(
        heatmap_view.legend_items(event.n_classes, glyphs), width, max_lines=max(1, height // 6)
    )
    out = [_strip(title, width, base)]
    for runs in heatmap_view.cells(
        event, points, width, max(height - 1 - len(legend), 2), background, glyphs
    ):
        segments = [Segment(chars, style) for chars, style in runs]
        out.append(Strip(segments, width).apply_style(base))
    out += [_strip(line, width, base) for line in legend]
    return out


def _strip(text: Text, width: int, base: Style) -> Strip:
    segments = [Segment(s.text, s.style) for s in text.render(_CONSOLE)]
    return Strip(segments, width).apply_style(base).crop_extend(0, width, base)


class BoundaryView(DrawnChart):
    DEFAULT_CSS = """
    BoundaryView {
        width: 45%;
        min-width: 24;
        height: 1fr;
        padding: 0 1 0 0;
        display: none;
        &.-shown { display: block; }
    }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.heatmap: ev.Heatmap | None = None
        self.points: list[list[float]] = []

    def add(self, event: ev.Heatmap) -> None:
        self.heatmap = event
        if event.points:
            self.points = event.points
        if not self.has_class("-shown"):
            self.add_class("-shown")
            self.call_after_refresh(self.redraw)
        self.changed()

    def clear(self) -> None:
        self.heatmap, self.points = None, []
        self.remove_class("-shown")
        self.changed()

    def job(self, width: int, height: int):
        if self.heatmap is None:
            return None
        background = self.background_colors[1].hex
        return partial(
            draw,
            self.heatmap,
            list(self.points),
            width,
            height,
            background,
            self.rich_style,
            self.app.no_color,
        )
