"""A widget whose picture is drawn on the chart thread: it only swaps finished lines in.

Subclasses say what to draw (`drawing()`, a function returning Rich Text, called on the
chart thread) and when it changed (`version`). Redraws come at most every MIN_REDRAW_S.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from pttui.tui.chart_thread import ChartDrawn, chart_thread

MIN_REDRAW_S = 0.2


class DrawnChart(Widget):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.version = 0  # bump when the data changes
        self._strips: list[Strip] | None = None
        self._wanted: tuple | None = None
        self._drawn: tuple | None = None
        self._last_submit = -1e9
        self._deferred: Timer | None = None
        self.redraws = 0
        self.failures = 0
        self.swap_ms: list[float] = []  # UI-thread CPU ms taking in each drawing (the bench reads it)

    # -- for subclasses ----------------------------------------------------------------
    def drawing(self, width: int, height: int) -> Callable[[], Text] | None:
        """A function that draws the current data at this size (None: nothing to draw)."""
        return None

    def placeholder(self) -> Text:
        return Text("")

    # -- machinery ---------------------------------------------------------------------
    @property
    def settled(self) -> bool:
        """True when the lines on show are the latest data (tests wait for it)."""
        if self._deferred is not None:
            return False
        return self._wanted is None or (self._drawn == self._wanted and self._wanted[0] == self.version)

    def changed(self) -> None:
        self.version += 1
        self.redraw()

    def redraw(self) -> None:
        now = time.monotonic()
        wait = self._last_submit + MIN_REDRAW_S - now
        if wait > 0:
            if self._deferred is None:
                self._deferred = self.set_timer(wait, self._redraw_deferred)
            return
        width, height = self.content_size.width, self.content_size.height
        if width <= 0 or height <= 0 or not self.display:
            return
        if self.region.area == 0:  # on a tab not on show: drawn when it is (on_show)
            return
        key = (self.version, width, height, self.app.theme)
        if key == self._wanted:
            return
        self._wanted = key
        draw = self.drawing(width, height)
        if draw is None:
            self._strips, self._drawn = None, key
            self.refresh()
            return
        self._last_submit = now
        chart_thread().submit(self, key, draw, width, self.rich_style)

    def _redraw_deferred(self) -> None:
        self._deferred = None
        self.redraw()

    def on_chart_drawn(self, message: ChartDrawn) -> None:
        message.stop()
        started = time.thread_time()  # the UI thread's own CPU time, not preemption by others
        try:
            self._take(message)
        finally:
            self.swap_ms.append((time.thread_time() - started) * 1000)
            del self.swap_ms[:-1000]

    def _take(self, message: ChartDrawn) -> None:
        if message.strips is None:
            self.failures += 1
            if self._wanted == message.key:
                self._wanted = None
            self.notify(f"a chart could not be drawn: {message.error}", severity="error", timeout=4)
            return
        self._strips, self._drawn = message.strips, message.key
        self.redraws += 1
        self.refresh()

    def on_resize(self) -> None:
        self.redraw()

    def on_show(self) -> None:
        self.redraw()

    @property
    def text(self) -> str:
        """The picture on show as plain text ("" before the first drawing): for tests."""
        return "\n".join(strip.text for strip in self._strips or ())

    def render_line(self, y: int) -> Strip:
        strips = self._strips
        if strips is None:
            return super().render_line(y)
        width = self.content_size.width
        if y < len(strips) and strips[y].cell_length == width:
            return strips[y]
        return Strip.blank(width, self.rich_style)

    def render(self) -> Text:
        return self.placeholder()
