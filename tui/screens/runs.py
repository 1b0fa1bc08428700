"""Past runs: the runs kept on disk (engine.runs), newest first; Enter opens one.

Opening a run shows its events in its topic's tabs (chart, tables, summary, graph, log) and
its values in the form, so `r` runs it again and the chart compares the two. Space marks
runs and c overlays the marked runs of one topic on its chart, one curve per run, with a
legend naming each by the parameters that differ between them.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static

from pttui.engine import runs as run_store
from pttui.tui import notices
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

    def __init__(self, row: int = 0):
        """`row`: where the cursor starts (a list shown again after a run was opened from it)."""
        super().__init__()
        self._start_row = row
        self.infos: list[run_store.RunInfo] = []
        self.marked: list[int] = []  # rows marked for comparison, in the order marked
        self._where = ""
        self._notice_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="▣")
        yield Static("", id="runs-where")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "past runs"
        self.reload()
        if self._start_row and self.infos:
            self.query_one(DataTable).move_cursor(row=min(self._start_row, len(self.infos) - 1))

    @property
    def cursor_row(self) -> int:
        return self.query_one(DataTable).cursor_row or 0

    def reload(self) -> None:
        root = run_store.resolve_runs_dir()
        self.infos = run_store.list_runs(root)
        self.marked = []
        self._fill()
        count = len(self.infos)
        where = f"{count} run{'s' if count != 1 else ''} in {root}" if count else f"No runs yet in {root}."
        self._where = where + "  Enter opens one; space marks, c compares."
        self._show_where()
        self.query_one(DataTable).focus()

    def take_notice(self, message: str, title: str, severity: str, small: bool) -> bool:
        """On a small screen a notification takes the line above the table for a while, not a
        toast over the runs (PlaygroundApp.notify, tui.notices)."""
        if not small or not self.is_mounted:
            return False
        mark = notices.MARKS.get(severity, "")
        style = "bold red" if severity == "error" else "bold yellow" if severity == "warning" else "bold"
        self.query_one("#runs-where", Static).update(Text(f"{mark} {notices.words(message, title)}", style))
        if self._notice_timer is not None:
            self._notice_timer.stop()
        self._notice_timer = self.set_timer(notices.notice_s(severity), self._clear_notice)
        return True

    def _clear_notice(self) -> None:
        self._notice_timer = None
        self._show_where()

    def _show_where(self) -> None:
        """The line above the table: where the runs are, or the highlighted run's whole status
        when the table shows it as one word (`failed: device: 'cuda' is not available`)."""
        if self._notice_timer is not None:
            return
        row = self.query_one(DataTable).cursor_row
        text = self._where
        if self.infos and row is not None and row < len(self.infos):
            whole = run_store.status_text(self.infos[row], limit=max((self.size.width or 80) - 1, 20))
            if whole != short_status(self.infos[row]):
                text = whole
        self.query_one("#runs-where", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_where()

    def _fill(self) -> None:
        """The rows, with the two long columns cut to what the screen has left, so no column runs
        off the right edge: when, topic and status name the run and are never cut."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_columns(" ", "when", "topic", "status", "final figures", "changed params")
        width = self.size.width or self.app.size.width
        compact = width < 100  # the year goes: the long columns need the room at 80 columns
        rows = [
            [
                "✓" if i in self.marked else " ",
                when(info.started, compact),
                info.topic,
                short_status(info),
                run_store.final_figures(info),
                run_store.key_params(info, limit=1000),
            ]
            for i, info in enumerate(self.infos)
        ]
        # The four short columns as wide as their widest cell, each padded by 2; then the long
        # columns' padding and the scrollbar.
        fixed = sum(max((len(r[i]) for r in rows), default=0) + 2 for i in range(4)) + 8
        left = max(width - fixed, 24)
        figures = [_figures(info) for info in self.infos]
        params = [_PARAM.split(row[5]) for row in rows]
        # The params column gets what its first items need (up to half), the figures the rest.
        first = max((len(p[0]) + (3 if len(p) > 1 else 0) for p in params), default=0)
        whole = max((len(" ".join(p)) for p in params), default=0)
        params_w = min(whole, max(left * 2 // 5, min(first, left // 2)))
        for row, fig, par in zip(rows, figures, params, strict=True):
            row[4] = _whole(fig, left - params_w)
            row[5] = _whole(par, params_w)
            table.add_row(*row)
        if cursor is not None and rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    def on_resize(self) -> None:
        if self.infos:
            self.call_after_refresh(self._fill)  # after the layout: the table sizes its columns then

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


def when(started: str, compact: bool) -> str:
    """The run's start as the runs list shows it; `compact` drops the year ("11-30 04:13:02")."""
    text = run_store.when(started)
    return text[5:] if compact and len(text) == 19 else text


_PARAM = re.compile(r" (?=[a-z_]+=)")  # between "name=value" items (a value may hold spaces)


def short_status(info: run_store.RunInfo) -> str:
    """The status as one word (`failed`, `stopped`), so one long failure message does not take
    the figures' width from every row; the whole status shows when the run is highlighted."""
    return info.status.split(" ", 1)[0]


def _figures(info: run_store.RunInfo, most: int = 3) -> list[str]:
    """The run's final figures as "name value" items, most telling first."""
    items, before = [], ""
    for count in range(1, most + 1):
        text = run_store.final_figures(info, count)
        if text == before:
            break
        items.append(text[len(before) :].strip())
        before = text
    return items


def _whole(items: list[str], width: int) -> str:
    """As many whole items as fit in `width` cells, then "+N" for the rest; the first item is
    cut with an ellipsis only when it cannot stand whole (the opened run shows everything)."""
    for n in range(len(items), 0, -1):
        text = " ".join(items[:n]) + (f" +{len(items) - n}" if n < len(items) else "")
        if len(text) <= width:
            return text
    if items and len(items[0]) <= width:  # whole, without the count: better than a cut number
        return items[0]
    return _fit(" ".join(items), width)


def _fit(text: str, width: int) -> str:
    """`text` cut to `width` cells with an ellipsis (the whole text is in the opened run)."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
