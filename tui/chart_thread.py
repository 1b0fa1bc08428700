"""The one chart thread: every chart of the app is drawn here, off the UI thread.

Each chart widget submits its latest drawing job (a function returning Rich Text); the thread
runs the newest job of each widget, turns the Text into finished lines (Strips) and posts
them back in one message, so the UI thread only swaps lines in. One thread for all of them:
a chart library that draws on one figure per process (plotext, 5.x and 6) must not draw on
two threads at once, and Python drawing on two threads only shares one GIL anyway.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.strip import Strip


class ChartDrawn(Message):
    """A drawing is done (`strips`), or failed (`error`); posted to the widget that asked."""

    def __init__(self, key: tuple, strips: list[Strip] | None, error: str = ""):
        super().__init__()
        self.key = key
        self.strips = strips
        self.error = error


class ChartThread(threading.Thread):
    """Runs the newest job of each widget; older jobs of the same widget are dropped."""

    def __init__(self):
        super().__init__(name="pttui-charts", daemon=True)
        self._jobs: dict[int, tuple] = {}
        self._cond = threading.Condition()
        self._console: Console | None = None

    def submit(
        self, widget, key: tuple, draw: Callable[[], Text | list[Strip]], width: int, base: Style
    ) -> None:
        with self._cond:
            self._jobs[id(widget)] = (widget, key, draw, width, base)
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                # the longest-waiting widget first (a resubmitted job goes to the back): none starves
                job = self._jobs.pop(next(iter(self._jobs)))
            widget, key, draw, width, base = job
            try:
                drawn = draw()  # Rich Text, or finished lines where a chart builds them itself
                strips = drawn if isinstance(drawn, list) else to_strips(drawn, width, base, self.console)
            except Exception as exc:  # the thread outlives a bad drawing: report it, serve the next
                widget.post_message(ChartDrawn(key, None, f"{type(exc).__name__}: {exc}"))
                continue
            widget.post_message(ChartDrawn(key, strips))

    @property
    def console(self) -> Console:
        if self._console is None:  # this thread's own: Rich consoles are not shared between threads
            self._console = Console(
                file=io.StringIO(),
                width=400,
                color_system="truecolor",
                force_terminal=True,
                legacy_windows=False,
            )
        return self._console


def to_strips(text: Text, width: int, base: Style, console: Console) -> list[Strip]:
    """Lines of `width` cells on the widget's own colours."""
    lines = console.render_lines(text, console.options.update(width=width, height=None), pad=True)
    return [Strip(line, width).apply_style(base) for line in lines]


_thread: ChartThread | None = None
_lock = threading.Lock()


def chart_thread() -> ChartThread:
    """The process's one chart thread, started on first use."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = ChartThread()
            _thread.start()
        return _thread
