"""The decision boundary beside the loss chart: the latest `heatmap` event, redrawn as it learns.

Drawn by `pttui.engine.heatmap_view` (the same picture the headless printer ends with) on
the chart thread; hidden until a run sends a map, so topics without one keep the full width.
"""

from __future__ import annotations

from functools import partial

from rich.text import Text

from pttui.engine import events as ev
from pttui.engine import heatmap_view
from pttui.tui.widgets.drawn_chart import DrawnChart


def draw(event: ev.Heatmap, points: list[list[float]], width: int, height: int, background: str) -> Text:
    """Title, map and legend in `width` x `height` cells (runs on the chart thread)."""
    text = Text(f"{event.title} · step {event.step:,}", style="bold", no_wrap=True, overflow="ellipsis")
    text.append("\n")
    text.append_text(heatmap_view.render(event, points, width, max(height - 2, 2), background))
    legend = heatmap_view.legend(event.n_classes)
    legend.truncate(width, overflow="ellipsis")
    text.append("\n")
    text.append_text(legend)
    return text


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

    def drawing(self, width: int, height: int):
        if self.heatmap is None:
            return None
        background = self.background_colors[1].hex
        return partial(draw, self.heatmap, list(self.points), width, height, background)
