"""The Summary tab: text events with pane="summary" (explanations, model summaries) and the
run's final figures, each under its title.

Prose wraps to the pane; preformatted blocks (a torchsummary table, a tensor preview) keep
their lines and the pane scrolls sideways for them (engine.layout.body_blocks decides which
is which). The final figures are tables that fit the pane (engine.layout.FitTable): nested
results are small tables, never Python reprs.

Sections are tracked here, not looked up in the DOM: removing widgets is asynchronous, so a
query right after `clear()` would find (and fill) the widgets about to go, and a past run
opened twice would come back blank.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from pttui.engine import events as ev
from pttui.engine.layout import body_blocks, result_tables


class SummaryPane(ScrollableContainer):
    DEFAULT_CSS = """
    SummaryPane {
        height: 1fr;
        padding: 0 1;
        & > .title { text-style: bold; color: $text-primary; margin: 0; width: 100%; }
        & > .prose { width: 100%; }
        & > .pre { width: auto; }
        & > .figures { width: 100%; margin: 0 0 1 0; }
        & > .last { margin: 0 0 1 0; }
        & > .empty { width: 100%; }
    }
    """

    def __init__(self, intro: str = "", **kw):
        super().__init__(**kw)
        self.intro = intro
        self._sections: dict[str, tuple[Static, list[Static]]] = {}  # title -> (heading, blocks)
        self._empty: Static | None = None

    def on_mount(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.remove_children()
        self._sections = {}
        text = Text(self.intro + "\n\n" if self.intro else "")
        text.append("The run's summary appears here: what it built and what it found.", style="dim")
        self._empty = Static(text, classes="empty")
        self.mount(self._empty)

    @property
    def has_content(self) -> bool:
        return bool(self._sections)

    def add_text(self, event: ev.Text) -> None:
        blocks = [
            Static(Text(block, no_wrap=True), classes="pre") if pre else Static(Text(block), classes="prose")
            for pre, block in body_blocks(event.body)
        ]
        self._section(event.title, blocks)

    def add_result(self, event: ev.Done) -> None:
        heading = "Result (stopped early)" if event.stopped else "Result"
        tables = [Static(table, classes="figures") for table in result_tables(event.result)]
        self._section(heading, tables or [Static("(no figures)", classes="prose")])

    def add_error(self, event: ev.Error) -> None:
        """A failed run's words where the person reads results (the status line cuts them), with
        its traceback (for a model's own error, only the frames in its file) below."""
        where = f" (parameter {event.field})" if event.field else ""
        blocks = [Static(Text(event.message + where, style="bold red"), classes="prose")]
        if event.detail:
            blocks.append(Static(Text(event.detail.rstrip(), no_wrap=True, style="dim"), classes="pre"))
        self._section("Failed", blocks)

    def _section(self, title: str, blocks: list[Static]) -> None:
        if self._empty is not None:
            self._empty.remove()
            self._empty = None
        blocks[-1].add_class("last")
        old = self._sections.get(title)
        if old is not None:  # the same title again (a lab refining its summary): replace it in place
            heading, shown = old
            for block in shown:
                block.remove()
            self.mount_all(blocks, after=heading)
            self._sections[title] = (heading, blocks)
            return
        heading = Static(title, classes="title")
        self._sections[title] = (heading, blocks)
        self.mount(heading, *blocks)

    def plain(self) -> str:
        """What the pane says, as text (for tests and copying)."""
        parts = []
        for title, (_, blocks) in self._sections.items():
            parts.append(title)
            parts.extend(_plain(block.content) for block in blocks)
        return "\n".join(parts)


def _plain(content: object) -> str:
    if isinstance(content, Text):
        return content.plain
    if hasattr(content, "plain_text"):  # a FitTable
        return content.plain_text()  # type: ignore[attr-defined]
    return str(content)
