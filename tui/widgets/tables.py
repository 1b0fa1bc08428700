"""The Tables tab: every table event as a DataTable under its title, in arrival order.

A table that comes again with the same title replaces the old one (labs refine results).
Numbers are right-aligned and shortened; the full value stays in the JSON and the run record.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from pttui.engine import events as ev
from pttui.tui.widgets.summary import fmt_value


class TablesPane(VerticalScroll):
    DEFAULT_CSS = """
    TablesPane {
        height: 1fr;
        padding: 0 1;
        & > .title { text-style: bold; color: $text-primary; }
        & > .note { color: $text-muted; margin: 0 0 1 0; }
        & > DataTable { height: auto; max-height: 24; margin: 0 0 1 0; }
        & > .empty { color: $text-muted; }
    }
    """

    def on_mount(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.remove_children()
        self.mount(Static("Tables of measured results appear here.", classes="empty"))

    def add_table(self, event: ev.Table) -> DataTable:
        for empty in self.query(".empty"):
            empty.remove()
        key = "t-" + "".join(c if c.isalnum() else "-" for c in event.title.lower())
        found = self.query(f"#{key}")
        if found:  # the same title again: refill it in place, keeping its place on the page
            table = found.first(DataTable)
            table.clear(columns=True)
        else:
            table = DataTable(id=key, zebra_stripes=True, cursor_type="row")
            self.mount(
                Static(event.title, classes="title"), table, Static("", classes="note", id=f"{key}-note")
            )
        numeric = [all(_is_number(r[i]) for r in event.rows if i < len(r)) for i in range(len(event.columns))]
        for name, right in zip(event.columns, numeric, strict=True):
            table.add_column(Text(str(name), justify="right" if right else "left"))
        for row in event.rows:
            table.add_row(*(_cell(v, right) for v, right in zip(row, numeric, strict=False)))
        note = self.query_one(f"#{key}-note", Static)
        note.update(event.note)
        note.display = bool(event.note)
        return table

    @property
    def tables(self) -> list[DataTable]:
        return list(self.query(DataTable))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any, right: bool) -> Text:
    text = fmt_value(value) if _is_number(value) else ("" if value is None else str(value))
    return Text(text, justify="right" if right else "left")
