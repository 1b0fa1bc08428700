"""The Chart tab: live loss (EMA + min/max band), accuracy below, the previous run dimmed.

Step and epoch events go into a bounded `ChartData`. A redraw freezes it into a snapshot and
hands that to one render thread, which draws it and turns it into finished lines (Strips) and
posts them back in one message; the UI thread only swaps them in and hands them to the
compositor line by line. The prototype measured UI lag p99 at 20-27 ms with the plot built on
the UI thread (~13 ms a redraw), 7 ms off it; here, profiling showed Textual turning a
chart-sized Rich Text into lines cost more than drawing it, so that happens off-thread too.
"""

from __future__ import annotations

import io
import threading
import time

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from pttui.engine import events as ev
from pttui.tui import plot_render
from pttui.tui.chart_data import ChartData

# 5 drawings a second: smooth enough to watch, and half the cost of one per 10 Hz drain tick.
# The app measured ~3 ms of drawing and ~3 ms of compositing per redraw, every one of them
# CPU time taken from the training beside it on a 2-core machine.
MIN_REDRAW_S = 0.2


class _RenderThread(threading.Thread):
    """Renders the latest job only: if redraws come faster than it draws, older jobs are dropped."""

    def __init__(self, chart: LossChart):
        super().__init__(name="pttui-chart", daemon=True)
        self.chart = chart
        self._job = None
        self._cond = threading.Condition()
        self._closed = False

    def submit(self, job) -> None:
        with self._cond:
            self._job = job
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, self._job = self._job, None
            key, snapshot, width, height, palette, base = job
            try:
                text = plot_render.render(snapshot, width, height, palette)
                strips = to_strips(text, width, base, self._console)
            except Exception as exc:  # the thread must outlive a bad drawing: report it, serve the next
                self.chart.post_message(LossChart.Failed(key, f"{type(exc).__name__}: {exc}"))
                continue
            self.chart.post_message(LossChart.Drawn(key, strips))  # thread-safe; once per redraw

    @property
    def _console(self) -> Console:
        console = getattr(self, "_own_console", None)
        if console is None:  # this thread's own: Rich consoles are not shared between threads
            console = self._own_console = _console()
        return console


def _console() -> Console:
    return Console(
        file=io.StringIO(), width=400, color_system="truecolor", force_terminal=True, legacy_windows=False
    )


def to_strips(text: Text, width: int, base: Style, console: Console) -> list[Strip]:
    """Lines of `width` cells on the widget's own colours: what render_line hands out."""
    lines = console.render_lines(text, console.options.update(width=width, height=None), pad=True)
    return [Strip(line, width).apply_style(base) for line in lines]


class LossChart(Widget):
    DEFAULT_CSS = """
    LossChart {
        height: 1fr;
        padding: 0 1;
    }
    """

    class Drawn(Message):
        def __init__(self, key: tuple, strips: list[Strip]):
            super().__init__()
            self.key = key
            self.strips = strips

    class Failed(Message):
        """A drawing failed on the render thread; it bubbles up so the screen can log it."""

        def __init__(self, key: tuple, reason: str):
            super().__init__()
            self.key = key
            self.reason = reason

    def __init__(self, **kw):
        super().__init__(**kw)
        self.data = ChartData()
        self._strips: list[Strip] | None = None  # the drawing on show, one Strip per line
        self._wanted: tuple | None = None  # the key of the last redraw asked for
        self._drawn: tuple | None = None  # the key of the text on show
        self._thread: _RenderThread | None = None
        self.redraws = 0
        self.failures = 0
        self._last_failure = ""
        self._restyles = 0
        self._last_submit = -1e9
        self._deferred: Timer | None = None
        self.ran = False  # a run has started here: the empty chart then says why it is empty

    # -- feeding ---------------------------------------------------------------------
    def add(self, event: ev.Event) -> bool:
        return self.data.add(event)

    def new_run(self, keep_previous: bool = True) -> None:
        self.ran = True
        self.data.new_run(keep_previous)
        self.redraw()

    @property
    def settled(self) -> bool:
        """True when the text on show is the latest data (tests and screenshots wait for it)."""
        if self._deferred is not None:
            return False
        return self._wanted is None or (self._drawn == self._wanted and self._wanted[0] == self.data.version)

    # -- drawing ---------------------------------------------------------------------
    def redraw(self) -> None:
        """Ask for a redraw if anything changed; cheap to call on every drain tick.

        At most one drawing every MIN_REDRAW_S: the rest of a burst waits for the next slot.
        """
        now = time.monotonic()
        wait = self._last_submit + MIN_REDRAW_S - now
        if wait > 0:
            if self._deferred is None:
                self._deferred = self.set_timer(wait, self._redraw_deferred)
            return
        width, height = self.content_size.width, self.content_size.height
        if width <= 0 or height <= 0:
            return
        key = (self.data.version, width, height, self.app.theme, self._restyles)
        if key == self._wanted:
            return
        self._wanted = key
        snapshot = self.data.snapshot()
        if snapshot.empty:
            self._strips, self._drawn = None, key
            self.refresh()
            return
        if self._thread is None:
            self._thread = _RenderThread(self)
            self._thread.start()
        self._last_submit = now
        self._thread.submit((key, snapshot, width, height, self._palette(), self.rich_style))

    def _redraw_deferred(self) -> None:
        self._deferred = None
        self.redraw()

    def on_loss_chart_drawn(self, message: Drawn) -> None:
        message.stop()
        self._strips, self._drawn = message.strips, message.key
        self.redraws += 1
        self.refresh()

    def on_loss_chart_failed(self, message: Failed) -> None:
        # Forget the failed drawing, so the next redraw (new data, resize, theme) tries again.
        if self._wanted == message.key:
            self._wanted = None
        self.failures += 1
        if message.reason != self._last_failure:  # one notification per distinct failure
            self._last_failure = message.reason
            self.notify(f"the chart could not be drawn: {message.reason}", severity="error", timeout=4)

    def on_resize(self) -> None:
        self.data.resize(max(2 * self.content_size.width, 16))
        self.redraw()

    def on_show(self) -> None:
        self.redraw()

    def on_mount(self) -> None:
        # The palette comes from the theme: a new theme means a new drawing, same data.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.call_after_refresh(self._restyle))

    def _restyle(self) -> None:
        self._restyles += 1
        self.redraw()

    def on_unmount(self) -> None:
        if self._thread is not None:
            self._thread.close()

    @property
    def drawing(self) -> str:
        """The chart on show as plain text ("" before the first drawing): for tests."""
        return "\n".join(strip.text for strip in self._strips or ())

    def render_line(self, y: int) -> Strip:
        strips = self._strips
        if strips is None:  # nothing drawn: the words below, through Textual's usual path
            return super().render_line(y)
        width = self.content_size.width
        if y < len(strips) and strips[y].cell_length == width:
            return strips[y]
        return Strip.blank(width, self.rich_style)  # a resize is being redrawn: blank, not torn

    def render(self) -> Text:
        if self.ran:
            return Text(
                "No curves yet: this topic reports in the Summary, Tables and Graph tabs.", style="dim"
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
