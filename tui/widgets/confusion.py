"""The confusion matrix in the Tables tab: a coloured grid of counts, redrawn each epoch.

A `table` event titled as `engine.confusion_view` declares (after each epoch, at most once
a second, and at the end) comes here instead of a plain table and is drawn by the renderer
the headless printer uses, on the chart thread like every chart, in the theme's success
(the diagonal) and error (mistakes) colours.
"""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.color import Color

from pttui.engine import confusion_view
from pttui.engine import events as ev
from pttui.tui.widgets.drawn_chart import DrawnChart


class ConfusionView(DrawnChart):
    DEFAULT_CSS = """
    ConfusionView {
        height: auto;
        margin: 0 0 1 0;
    }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.counts: list[list[int]] = []
        self.note = ""

    def show(self, event: ev.Table) -> None:
        self.counts = confusion_view.counts_of(event.rows)
        self.note = event.note
        self.styles.height = len(self.counts) + 2 + (1 if len(self.counts) > 30 else 0)
        self.changed()

    def job(self, width: int, height: int):
        if not self.counts:
            return None
        v = self.app.theme_variables
        colors = (Color.parse(v["success"]).hex, Color.parse(v["error"]).hex)
        background = self.background_colors[1].hex
        counts = [list(row) for row in self.counts]
        return partial(confusion_view.render, counts, width, self.note, background, colors)

    def placeholder(self) -> Text:
        return Text("")
