"""The Chart tab: live loss (EMA + min/max band), accuracy below, the previous run dimmed.

Step and epoch events go into a bounded `ChartData`. A redraw freezes it into a snapshot and
hands that to the one chart thread (widgets/drawn_chart.py), which draws it, turns it into
finished lines (Strips) and posts them back in one message; the UI thread only swaps them
in and hands them to the compositor line by line. The prototype measured UI lag p99 at
20-27 ms with the plot built on the UI thread (~13 ms a redraw), 7 ms off it; here,
profiling showed Textual turning a chart-sized Rich Text into lines cost more than drawing
it, so that happens off-thread too.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import partial

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.message import Message

from pttui.engine import events as ev
from pttui.tui import plot_render
from pttui.tui.chart_data import ChartData
from pttui.tui.widgets.drawn_chart import DrawnChart


def _draw(snapshot, width: int, height: int, palette: plot_render.Palette) -> Text:
    # plot_render.render looked up when it runs: a test may stand a failing one in its place
    return plot_render.render(snapshot, width, height, palette)


class LossChart(DrawnChart):
    DEFAULT_CSS = """
    LossChart {
        height: 1fr;
        padding: 0 1;
    }
    """

    class Failed(Message):
        """A drawing failed on the chart thread; it bubbles up so the screen can log it."""

        def __init__(self, key: tuple, reason: str):
            super().__init__()
            self.key = key
            self.reason = reason

    def __init__(self, **kw):
        super().__init__(**kw)
        self.data = ChartData()
        self.ran = False  # a run has started here: the empty chart then says why it is empty
        self.elsewhere: str | None = None  # once the run ended: the tabs with its results

    # -- feeding ---------------------------------------------------------------------
    def add(self, event: ev.Event) -> bool:
        return self.data.add(event)

    def new_run(self, keep_previous: bool = True) -> None:
        self.ran = True
        self.elsewhere = None
        self.data.new_run(keep_previous)
        self.redraw()

    # -- drawing ---------------------------------------------------------------------
    def data_version(self) -> Hashable:
        return self.data.version

    def job(self, width: int, height: int):
        snapshot = self.data.snapshot()
        if snapshot.empty:
            return None
        return partial(_draw, snapshot, width, height, self._palette())

    def drawing_failed(self, key: tuple, reason: str) -> None:
        super().drawing_failed(key, reason)
        self.post_message(self.Failed(key, reason))

    def on_resize(self) -> None:
        # before DrawnChart.on_resize redraws (Textual calls the handlers of each class, subclass first)
        self.data.resize(max(2 * self.content_size.width, 16))

    @property
    def drawing(self) -> str:
        """The chart on show as plain text ("" before the first drawing): for tests."""
        return self.text

    def ended(self, where: str) -> None:
        """The run ended; its results are in the tabs `where` ("Summary and Tables"; "" for
        none): an empty chart says so."""
        self.elsewhere = where
        self.refresh()

    def placeholder(self) -> Text:
        if self.ran:
            if self.elsewhere is None:  # running: curves may still come
                return Text("No curves yet.", style="dim")
            if not self.elsewhere:
                return Text("This run drew no curves.", style="dim")
            return Text(
                f"This run drew no curves: its results are in the {self.elsewhere} tabs.", style="dim"
            )
        return Text(
            "No run yet. Press r to run this topic.\n\nA topic that trains draws its loss here "
            "live, the accuracy below it, and keeps the last run dimmed for comparison. "
            "Tables, graphs and summaries land in their own tabs.",
            style="dim",
        )

    def _palette(self) -> plot_render.Palette:
        v = self.app.theme_variables
        background = self.background_colors[1]
        lines = [Color.parse(v[f"text-{k}"]) for k in ("primary", "warning", "success", "error", "accent")]
        text = Color.parse(v["foreground"])
        return plot_render.Palette(
            lines=tuple(Style(color=c.rich_color) for c in lines),
            bands=tuple(Style(bgcolor=background.blend(c, 0.16).rich_color) for c in lines),
            muted=Style(color=background.blend(text, 0.38).rich_color),
            axis=Style(color=background.blend(text, 0.6).rich_color),
            title=Style(bold=True, color=text.rich_color),
        )
