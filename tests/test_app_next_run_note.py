"""A field edited while a run goes on says it applies to the next run (pace excepted)."""

from __future__ import annotations

from textual.widgets import Input

from pttui.tui.app import PlaygroundApp
from pttui.tui.run_state import RUNNING, RunState
from tests.test_app import built, sync


async def _type(pilot, screen, name: str, text: str) -> None:
    editor = screen.form.field(name).query_one(Input)
    editor.focus()
    editor.value = ""
    await pilot.press(*text)
    await pilot.pause()


@sync
async def test_editing_a_field_during_a_run_says_it_is_for_the_next_run():
    app = PlaygroundApp("training")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await built(pilot)
        line = screen.query_one("StatusLine")
        await _type(pilot, screen, "lr", "0.2")
        assert "next run" not in str(line.render())  # no run: the value is simply the form's
        screen._set_state(RunState(state=RUNNING, pace=20.0))  # the screen as a live run leaves it
        await _type(pilot, screen, "pace", "30")
        assert "next run" not in str(line.render())  # pace changes the live run itself
        await _type(pilot, screen, "lr", "0.3")
        assert "lr 0.3 applies to the next run" in str(line.render())
