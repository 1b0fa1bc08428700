"""The Log tab: every event in words (steps only as a count: they are on the Chart),
warnings and errors highlighted, plus whatever the engine wrote on stderr.

Lines wrap to the pane's width, and wrap again when it changes (the form hidden or shown,
the terminal resized): RichLog renders a line once, at the width it has then, so the lines
are kept and rewritten on a resize.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from pttui.engine import events as ev
from pttui.engine import numbers

FLUSH_S = 0.5
_LEVEL_STYLE = {"warning": "bold yellow", "error": "bold red"}


class LogView(RichLog):
    DEFAULT_CSS = """
    LogView { height: 1fr; padding: 0 1; background: $surface; }
    """

    def __init__(self, **kw):
        super().__init__(max_lines=5000, min_width=1, wrap=True, markup=False, highlight=False, **kw)
        self.history: deque[str] = deque(maxlen=5000)  # the plain text, for tests and copying
        self._lines: deque[Text] = deque(maxlen=5000)  # what was written, to wrap again on a resize
        self._width = 0
        self._reflow_timer = None
        self._steps = 0
        self._pending: list[Text] = []

    def note(self, message: str, level: str = "info", when: float | None = None) -> None:
        line = Text()
        if when is not None:
            line.append(f"{when:8.2f}s ", style="dim")
        style = _LEVEL_STYLE.get(level)
        if style and not message.startswith(f"{level}: "):
            line.append(f"{level}: ", style=style)
        line.append(message, style=style.replace("bold ", "") if style else "")
        self._add(line)

    def _add(self, line: Text) -> None:
        """Queue a line; what is queued goes out in one write at most every FLUSH_S.

        Each RichLog write re-lays out the whole screen (its virtual size changes). Measured
        with a fast run (an epoch line every 40 ms), a write per line made the visible Log tab
        cost the app 20% of a core, taken from the training beside it.
        """
        self.history.append(line.plain)
        self._lines.append(line)
        if not self._pending:
            self.set_timer(FLUSH_S, self._flush)
        self._pending.append(line)

    def _flush(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self.write(Text("\n").join(lines))

    def on_resize(self, event) -> None:
        width = self.scrollable_content_region.width
        if width and self._width and width != self._width and self._lines:
            if self._reflow_timer is not None:
                self._reflow_timer.stop()
            self._reflow_timer = self.set_timer(0.15, self._reflow)  # one rewrite per drag, not per cell
        self._width = width or self._width

    def _reflow(self) -> None:
        self._reflow_timer = None
        self._pending = []
        self.clear()
        self.write(Text("\n").join(self._lines), scroll_end=True)

    def add_event(self, event: ev.Event) -> None:
        """One line per event (a step only counts: a line per step would bury everything)."""
        if isinstance(event, ev.Step):
            self._steps += 1
            return
        t = event.t
        if isinstance(event, ev.Start):
            self._steps = 0
            self.note(f"start {event.topic} on {event.device}, torch {event.torch}", when=t)
            shown = ", ".join(f"{k}={v}" for k, v in event.params.items())
            self.note(f"  params: {shown}")
        elif isinstance(event, ev.Epoch):
            figures = "  ".join(f"{k} {numbers.field(k, v)}" for k, v in event.metrics.items())
            who = "" if event.series == "train" else f"[{event.series}] "
            rank = "" if event.rank is None else f"rank {event.rank} "
            self.note(f"{rank}{who}epoch {event.epoch + 1}/{event.epochs}  {figures}", when=t)
        elif isinstance(event, ev.Table):
            self.note(f"table: {event.title} ({len(event.rows)} rows, see Tables)", when=t)
        elif isinstance(event, ev.Tree):
            self.note(f"tree: {event.title} (see Graph)", when=t)
        elif isinstance(event, ev.Text):
            if event.pane == "log":
                titled = event.title and event.title != event.level  # ctx.warn's title is its level
                self.note(f"{event.title}: {event.body}" if titled else event.body, event.level, when=t)
            else:
                self.note(f"{event.pane}: {event.title} (see {event.pane.capitalize()})", when=t)
        elif isinstance(event, ev.Done):
            how = "stopped" if event.stopped else "done"
            self.note(
                f"{how} after {self._steps:,} steps in {numbers.quantity(t, 's')}",
                "warning" if event.stopped else "info",
                t,
            )
            for k, v in event.result.items():
                if numbers.nested(v, k):  # a table: one line here would be a wall of numbers
                    self.note(f"  {k}: {len(v):,} entries, a table in Summary")
                else:
                    self.note(f"  {k}: {numbers.field(k, v)}")
        elif isinstance(event, ev.State):
            if event.state == "paused":
                self.note(f"paused after step {event.step:,}", when=t)
            elif event.state == "running" and event.step:  # resumed (not the run's first word)
                pace = f" at {event.pace:g} steps/s" if event.pace else ""
                self.note(f"running{pace}", when=t)
        elif isinstance(event, ev.Error) and not event.fatal:
            self.note(f"engine refused a command: {event.message}", "warning", when=t)
        elif isinstance(event, ev.Error):
            where = f" (parameter {event.field})" if event.field else ""
            self.note(f"{event.message}{where}", "error", when=t)
            if event.detail:
                self._add(Text(event.detail.rstrip(), style="dim"))
