"""The Tables tab: every table event under its title, in arrival order.

A table fits the pane by layout, not by cutting (engine.layout.FitTable): one line per row
when it fits, two-line headers when that is enough, else one stacked block per row, named
by its first column. It re-lays out whenever the pane's width changes (the form hidden or
shown, the terminal resized). A table that comes again with the same title replaces the
old one (labs refine results). The full values stay in the JSON and the run record.

Tables are tracked here, not looked up in the DOM (removal is asynchronous: see summary.py).
A table with speed-up columns gets bars beneath it (widgets/bars.py); a confusion matrix is
drawn as a coloured grid instead of a table (widgets/confusion.py).
"""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Static

from pttui.engine import confusion_view
from pttui.engine import events as ev
from pttui.engine.layout import FitTable
from pttui.tui.widgets.bars import SpeedupBars, speed_columns
from pttui.tui.widgets.confusion import ConfusionView


class ResultTable(Static):
    """One table event, laid out to the pane's width each time it is drawn."""

    def __init__(self, event: ev.Table, **kw):
        self.table = FitTable(event.columns, event.rows, title=event.title, note=event.note)
        super().__init__(self.table, **kw)

    def refill(self, event: ev.Table) -> None:
        self.table = FitTable(event.columns, event.rows, title=event.title, note=event.note)
        self.update(self.table)

    @property
    def row_count(self) -> int:
        return len(self.table.cells)


class TablesPane(VerticalScroll):
    DEFAULT_CSS = """
    TablesPane {
        height: 1fr;
        padding: 0 1;
        & > ResultTable { width: 100%; margin: 0 0 1 0; }
        & > .empty { color: $text-muted; }
    }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self._tables: dict[str, ResultTable] = {}
        self._bars: dict[str, SpeedupBars] = {}
        self._matrices: dict[str, ConfusionView] = {}
        self._empty: Static | None = None

    def on_mount(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.remove_children()
        self._tables = {}
        self._bars = {}
        self._matrices = {}
        self._empty = Static("Tables of measured results appear here.", classes="empty")
        self.mount(self._empty)

    def add_table(self, event: ev.Table) -> ResultTable | ConfusionView:
        if self._empty is not None:
            self._empty.remove()
            self._empty = None
        if confusion_view.is_confusion(event.title, event.columns):
            matrix = self._matrices.get(event.title)
            if matrix is None:  # each epoch's matrix redraws the one grid in place
                matrix = self._matrices[event.title] = ConfusionView()
                self.mount(matrix)
            matrix.show(event)
            return matrix
        table = self._tables.get(event.title)
        if table is not None:  # the same title again: refill it in place, keeping its place
            table.refill(event)
            bars = self._bars.get(event.title)
            if bars is not None:
                bars.show(event)
            return table
        table = self._tables[event.title] = ResultTable(event)
        self.mount(table)
        if speed_columns(event):
            bars = self._bars[event.title] = SpeedupBars()
            self.mount(bars)
            bars.show(event)
        return table

    @property
    def tables(self) -> list[ResultTable]:
        return list(self._tables.values())

    @property
    def matrices(self) -> list[ConfusionView]:
        return list(self._matrices.values())

    @property
    def has_content(self) -> bool:
        return bool(self._tables or self._matrices)
