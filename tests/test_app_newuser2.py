"""A new user's second round (newuser2 findings 1, 2, 6, 7) under Pilot at 80x24: the focus
order after ← →, trees wider than their pane, the export notice's file name, the tensors table
beside a scrollbar, and Esc back to the runs list."""

from __future__ import annotations

from textual.widgets import Input

from pttui.tui.app import PlaygroundApp
from pttui.tui.widgets.status_line import StatusLine
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
