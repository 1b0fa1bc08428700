"""The Summary tab: text events with pane="summary" (model summaries, explanations) and the
run's final figures, each under its title. Bodies keep their layout: they are often tables.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from pttui.engine import events as ev


class SummaryPane(ScrollableContainer):
    DEFAULT_CSS = """
    SummaryPane {
        height: 1fr;
        padding: 0 1;
        & > Static { width: auto; min-width: 100%; margin: 0 0 1 0; }
        & > .title { text-style: bold; color: $text-primary; margin: 0; }
        & > .empty { width: 100%; }
    }
    """

    def __init__(self, intro: str = "", **kw):
        super().__init__(**kw)
        self.intro = intro

    def on_mount(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.remove_children()
        text = Text(self.intro + "\n\n" if self.intro else "")
        text.append("The run's summary appears here: what it built and what it found.", style="dim")
        self.mount(Static(text, classes="empty"))

    @property
    def has_content(self) -> bool:
        return not self.query(".empty")

    def add_text(self, event: ev.Text) -> None:
        self._section(event.title, Text(event.body, no_wrap=True))

    def add_result(self, event: ev.Done) -> None:
        lines = [f"{k:<18} {fmt_value(v)}" for k, v in event.result.items()]
        heading = "Result (stopped early)" if event.stopped else "Result"
        self._section(heading, Text("\n".join(lines) or "(no figures)", no_wrap=True))

    def _section(self, title: str, body: Text) -> None:
        for empty in self.query(".empty"):
            empty.remove()
        key = "s-" + "".join(c if c.isalnum() else "-" for c in title.lower())
        old = self.query(f"#{key}")
        if old:  # the same title again (a lab refining its summary): replace it in place
            old.first(Static).update(body)
            return
        self.mount(Static(title, classes="title"), Static(body, id=key))


def fmt_value(value: Any, limit: int = 72) -> str:
    """A figure as a person reads it: 4 significant decimals, thousands separated, short."""
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
