"""A new user's second round (newuser2 findings 1, 2, 6, 7) under Pilot at 80x24: the focus
order after ← →, trees wider than their pane, the export notice's file name, the tensors table
beside a scrollbar, and Esc back to the runs list."""

from __future__ import annotations

import os

import pytest
from textual.widgets import Input

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import defaults, validate
from pttui.engine.runs import RunRecorder
from pttui.tui.app import PlaygroundApp
from pttui.tui.screens.home import HomeScreen
from pttui.tui.screens.runs import RunsScreen
from pttui.tui.screens.topic import TopicScreen
from pttui.tui.widgets.graph import GraphPane
from pttui.tui.widgets.status_line import StatusLine
from pttui.tui.widgets.tables import ResultTable, TablesPane
from tests.test_app import built, sync, wait_for


@sync
async def test_tab_after_switching_tabs_goes_to_the_first_field():
    app = PlaygroundApp("autograd", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        screen.results.query_one("ContentTabs").focus()
        await pilot.press("right", "left", "left")
        await pilot.press("tab")
        first = screen.form.fields[0]
        assert app.focused is first.editor, f"Tab after ← → focused {app.focused!r}, not the first field"
        assert isinstance(app.focused, Input)
        await pilot.press("e")  # typed into the field, not the export shortcut
        assert first.editor.value.endswith("e")


@sync
async def test_export_notice_names_the_file_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pttui_autograd.py").write_text("# taken\n")  # the export takes pttui_autograd_2.py
    app = PlaygroundApp("autograd", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        screen.results.query_one("ContentTabs").focus()
        await pilot.press("e")
        await wait_for(pilot, lambda: (tmp_path / "pttui_autograd_2.py").exists(), what="the export")
        await pilot.pause()
        status = screen.query_one(StatusLine).render().plain
        assert "./pttui_autograd_2.py" in status, f"the status line at 80x24 reads {status!r}"


@sync
async def test_a_tree_line_wider_than_its_pane_ends_in_an_ellipsis():
    long_detail = "[5, 10], requires_grad=True, a detail far wider than the pane beside the form"
    root = {
        "label": "AddBackward0",
        "children": [
            {"label": "AccumulateGrad", "detail": long_detail, "children": []},
            {"label": "x", "children": []},
        ],
    }
    app = PlaygroundApp("dynamic", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        screen.results.apply([ev.Tree(0.1, "graph", root)])
        screen.results.show_tab("graph")
        await pilot.pause()
        pane = screen.query_one(GraphPane)
        assert 0 < pane.size.width < len(long_detail), "the pane is narrower than the line at 80x24"
        rows = [pane.render_line(y).text for y in range(4)]
        wide = next(r for r in rows if "AccumulateGrad" in r)
        assert wide.rstrip().endswith("…") and len(wide) == pane.size.width, f"the cut line reads {wide!r}"
        short = next(r for r in rows if r.rstrip().endswith(" x"))  # lines that fit keep their end
        assert "…" not in short


BROADCAST = ev.Table(
    1.4,
    "broadcasting",
    ["operation", "shapes", "lined up from the right (1s added)", "result"],
    [["torch.ones(2,3) + torch.zeros(4,1,3)", "[2, 3] & [4, 1, 3]", "[1, 2, 3] & [4, 1, 3]", "[4, 2, 3]"]],
    "dimensions of size 1 stretch to match; other sizes must be equal",
)
TENSOR_ROWS = [
    ["shape", "[4, 2, 3]"],
    ["dtype", "torch.float32"],
    ["device", "cpu"],
    ["strides", "[6, 3, 1]"],
    ["contiguous", True],
    ["numel", 24],
    ["element size (bytes)", 4],
    ["bytes (numel × element size)", 96],
    ["storage bytes", 96],
    ["requires_grad", False],
    ["is_leaf", True],
    ["grad_fn", "None"],
]


@sync
async def test_the_tensor_table_stays_a_table_beside_a_scrollbar():
    """The engine's tables for `torch.ones(2,3) + torch.zeros(4,1,3)` (as `pttui run tensors
    --json` writes them): the broadcasting table makes the pane scroll, and the tensor's
    property/value table still has one line per property."""
    app = PlaygroundApp("tensors", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        screen.results.apply([BROADCAST, ev.Table(1.5, "tensor", ["property", "value"], TENSOR_ROWS, "")])
        screen.results.show_tab("tables")
        await pilot.pause()
        pane = screen.query_one(TablesPane)
        assert pane.max_scroll_y > 0, "the pane scrolls (the case the finding is about)"
        table = next(t for t in pane.query(ResultTable) if t.table.title == "tensor")
        # title, header, rule, one line a property, one more for the longest name wrapped
        assert table.size.height <= len(TENSOR_ROWS) + 4, f"the tensor table takes {table.size.height} lines"


def _two_autograd_runs() -> None:
    """Two finished autograd runs in the test's runs folder, as the recorder writes them."""
    lab = get_lab("autograd")
    values = validate(lab.params, defaults(lab.params))
    for i in range(2):
        recorder = RunRecorder.create("autograd", values, os.environ["PTTUI_RUNS_DIR"])
        assert recorder is not None
        recorder.on_event(ev.Start(0.0, "autograd", values, "cpu", "2.x"))
        recorder.on_event(ev.Done(1.0 + i, {"value": float(i)}))
        recorder.close()


@pytest.mark.parametrize("start", [None, "autograd"], ids=["from-topics", "from-its-topic"])
@sync
async def test_esc_from_a_past_run_goes_back_to_the_runs_list(start):
    _two_autograd_runs()
    app = PlaygroundApp(start, spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        if start:
            await built(pilot)
        await pilot.press("h")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.infos, 10, "the runs list"
        )
        await pilot.press("down", "enter")
        await built(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TopicScreen), 5, "Esc to leave the run")
        assert isinstance(app.screen, RunsScreen), f"Esc went to {app.screen!r}, not the runs list"
        await wait_for(pilot, lambda: app.screen.cursor_row == 1, 5, "the cursor on the run opened")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), 5, "Esc again to the topics")
