"""The Code tab: the plain PyTorch script for the form's current values, highlighted.

`lab.code(values)` is torch-free, so it is recomputed as the values change (debounced by the
topic screen). Text events with pane="code" (code a run produced) follow the script.
"""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from pttui.engine import events as ev


class CodeView(ScrollableContainer):
    DEFAULT_CSS = """
    CodeView {
        height: 1fr;
        padding: 0 1;
        & > Static { width: auto; min-width: 100%; }
        & > .title { text-style: bold; color: $text-primary; margin: 1 0 0 0; }
        & > #note { color: $text-muted; }
    }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.code = ""
        self._drawn = ""  # the code the script widget shows: highlighting waits until it is seen
        self._seen = False

    def compose(self):
        yield Static("", id="note")
        yield Static("", id="script")

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.call_after_refresh(self._restyle))

    def _restyle(self) -> None:
        """Dark and light themes want different syntax colours: redraw the script."""
        self._drawn = ""
        self._draw()

    def show_code(self, code: str, note: str = "") -> None:
        self.query_one("#note", Static).update(Text(note, style="italic"))
        self.code = code
        self._draw()

    def on_show(self) -> None:
        self._seen = True
        self._draw()

    def on_hide(self) -> None:
        self._seen = False

    def _draw(self) -> None:
        """Highlight only while on show: a highlight costs 15-90 ms (the first imports
        pygments' lexer), and the Code tab is hidden when a topic opens."""
        if self.code != self._drawn and self._seen:
            self._drawn = self.code
            self.query_one("#script", Static).update(self._syntax(self.code))

    def show_error(self, message: str) -> None:
        self.query_one("#note", Static).update(Text(message, style="italic"))

    def add_text(self, event: ev.Text) -> None:
        self.mount(Static(event.title, classes="title"), Static(self._syntax(event.body), classes="extra"))

    def clear_extras(self) -> None:
        for widget in self.query(".extra, .title"):
            widget.remove()

    def _syntax(self, code: str) -> Syntax:
        # The ANSI themes follow the terminal's palette, so they suit dark, light and NO_COLOR.
        theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
        return Syntax(
            code, "python", theme=theme, line_numbers=False, word_wrap=False, background_color="default"
        )
