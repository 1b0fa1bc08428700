"""A widget whose picture is drawn on the one chart thread: it only swaps finished lines in.

Every chart of the app (the loss chart, the decision boundary, the layer histograms, the
speed-up bars, the confusion matrix) is one of these, so the throttle, the hand-off to the
chart thread, the swap-in and the failure handling are written once. Subclasses say what to
draw (`job()`, returning a function that returns Rich Text or finished lines, called on the
chart thread) and when it changed (`data_version()`). Redraws come at most every MIN_REDRAW_S.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

from rich.text import Text
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from pttui.tui.chart_thread import ChartDrawn, chart_thread

# 5 drawings a second: smooth enough to watch, and half the cost of one per 10 Hz drain tick.
# The app measured ~3 ms of drawing and ~3 ms of compositing per loss-chart redraw, every one
# of them CPU time taken from the training beside it on a 2-core machine.
MIN_REDRAW_S = 0.2


class DrawnChart(Widget):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.version = 0  # bump (changed()) when the data changes
        self._strips: list[Strip] | None = None  # the drawing on show, one Strip per line
        self._wanted: tuple | None = None  # the key of the last redraw asked for
        self._drawn: tuple | None = None  # the key of the lines on show
        self._last_submit = -1e9
        self._deferred: Timer | None = None
        self._last_failure = ""
        self.redraws = 0
        self.failures = 0
        self.swap_ms: list[float] = []  # UI-thread CPU ms taking in each drawing (the bench reads it)

    # -- for subclasses ----------------------------------------------------------------
    def job(self, width: int, height: int) -> Callable[[], Text | list[Strip]] | None:
        """A function that draws the current data at this size on the chart thread (None:
        nothing to draw; the placeholder shows)."""
        return None

    def data_version(self) -> Hashable:
        """What changes whenever the data does (a chart with its own store overrides it)."""
        return self.version

    def placeholder(self) -> Text:
        return Text("")

    def drawing_failed(self, key: tuple, reason: str) -> None:
        """A drawing raised on the chart thread: one notification per distinct reason."""
        if reason != self._last_failure:
            self._last_failure = reason
            self.notify(f"a chart could not be drawn: {reason}", severity="error", timeout=4)

    # -- machinery ---------------------------------------------------------------------
    @property
    def settled(self) -> bool:
        """True when the lines on show are the latest data (tests and screenshots wait for it)."""
        if self._deferred is not None:
            return False
        return self._wanted is None or (
            self._drawn == self._wanted and self._wanted[0] == self.data_version()
        )

    def changed(self) -> None:
        self.version += 1
        self.redraw()

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
        if width <= 0 or height <= 0 or not self.display:
            return
        if self.region.area == 0:  # on a tab not on show: drawn when it is (on_show)
            return
        key = (self.data_version(), width, height, self.app.theme)
        if key == self._wanted:
            return
        self._wanted = key
        draw = self.job(width, height)
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
            if self._wanted == message.key:  # forget it: the next redraw (data, resize, theme) tries again
                self._wanted = None
            self.drawing_failed(message.key, message.error)
            return
        self._strips, self._drawn = message.strips, message.key
        self.redraws += 1
        self.refresh()

    def on_mount(self) -> None:
        # Colours come from the theme: a new theme means a new drawing of the same data.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.call_after_refresh(self.redraw))

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
        if strips is None:  # nothing drawn: the placeholder, through Textual's usual path
            return super().render_line(y)
        width = self.content_size.width
        if y < len(strips) and strips[y].cell_length == width:
            return strips[y]
        return Strip.blank(width, self.rich_style)  # a resize is being redrawn: blank, not torn

    def render(self) -> Text:
        return self.placeholder()
