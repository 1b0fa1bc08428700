"""Past runs: the runs kept on disk (engine.runs), newest first; Enter opens one.

Opening a run shows its events in its topic's tabs (chart, tables, summary, graph, log) and
its values in the form, so `r` runs it again and the chart compares the two. Space marks
runs and c overlays the marked runs of one topic on its chart, one curve per run, with a
legend naming each by the parameters that differ between them.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from pttui.engine import runs as run_store
from pttui.tui.widgets.topic_list import _MOVE


class RunsScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", tooltip="Open the run in its topic", id="open-run"),
        Binding("space", "mark", "Mark", tooltip="Mark the run for comparison", id="runs.mark"),
        Binding("c", "compare", "Compare", tooltip="Overlay the marked runs on one chart", id="runs.compare"),
        Binding("escape", "app.pop_screen", "Back", tooltip="Back", id="runs.back"),
        Binding("j", "cursor_down", "Down", group=_MOVE, tooltip="Next run", id="runs.down"),
        Binding("k", "cursor_up", "Up", group=_MOVE, tooltip="Previous run", id="runs.up"),
    ]

    def __init__(self):
        super().__init__()
        self.infos: list[run_store.RunInfo] = []
        self.marked: list[int] = []  # rows marked for comparison, in the order marked

    def compose(self) -> ComposeResult:
        yield Header(icon="▣")
        yield Static("", id="runs-where")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "past runs"
        self.reload()

    def reload(self) -> None:
        root = run_store.resolve_runs_dir()
        self.infos = run_store.list_runs(root)
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self.marked = []
        table.add_columns(" ", "when", "topic", "status", "final figures", "changed params")
        for info in self.infos:
            table.add_row(
                " ",
                run_store.when(info.started),
                info.topic,
                run_store.status_text(info),
                run_store.final_figures(info),
                run_store.key_params(info, limit=60),
            )
        count = len(self.infos)
        where = f"{count} run{'s' if count != 1 else ''} in {root}" if count else f"No runs yet in {root}."
        self.query_one("#runs-where", Static).update(where + "  Enter opens one; space marks, c compares.")
        table.focus()

    def action_mark(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        if not self.infos or row is None or row >= len(self.infos):
            return
        if row in self.marked:
            self.marked.remove(row)
        else:
            self.marked.append(row)
        table.update_cell_at((row, 0), "✓" if row in self.marked else " ")
        table.action_cursor_down()

    def action_compare(self) -> None:
        chosen = [self.infos[i] for i in self.marked]
        if len(chosen) < 2:
            self.notify("Mark two or more runs with space first.", severity="warning")
            return
        topics = {info.topic for info in chosen}
        if len(topics) > 1:
            self.notify(
                f"Compare runs of one topic (marked: {', '.join(sorted(topics))}).", severity="warning"
            )
            return
        self.app.compare_runs(chosen)  # type: ignore[attr-defined]

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.infos or table.cursor_row is None or table.cursor_row >= len(self.infos):
            return
        self.app.open_run(self.infos[table.cursor_row])  # type: ignore[attr-defined]
