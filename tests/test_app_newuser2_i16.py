"""The second new user's findings #12, #17, #13, #11 at 80x24 (Pilot)."""

from __future__ import annotations

import os

import pytest
from conftest import run_lab
from test_app import wait_for
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from pttui.engine import events as ev
from pttui.engine import heatmap_view
from pttui.engine.labs import get_lab
from pttui.engine.params import defaults, validate
from pttui.engine.runs import RunRecorder
from pttui.tui.app import PlaygroundApp
from pttui.tui.screens.help import MOVING_AROUND, HelpScreen, key_rows
from pttui.tui.screens.runs import RunsScreen
from pttui.tui.widgets.boundary import BoundaryView
from pttui.tui.widgets.topic_list import RUNNING_MARK, TopicList
from tests.test_app import built, long_run_going, sync
from tests.test_app_runs import _record


def _record_failed(message: str) -> None:
    lab = get_lab("training")
    values = validate(lab.params, defaults(lab.params))
    recorder = RunRecorder.create("training", values, os.environ["PTTUI_RUNS_DIR"])
    assert recorder is not None
    recorder.on_event(ev.Start(0.0, "training", values, "cpu", "2.x"))
    recorder.on_event(ev.Error(0.1, message, "device"))
    recorder.close()


@sync
async def test_one_failed_run_keeps_the_figures_width_and_shows_its_reason_when_highlighted():
    _record(lr=0.02)
    message = "device: 'cuda' is not available on this machine (torch.cuda.is_available() is False)"
    _record_failed(message)
    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await pilot.pause(0.2)
        runs = app.screen
        assert isinstance(runs, RunsScreen) and [i.status for i in runs.infos] == ["failed", "done"]
        table = runs.query_one(DataTable)
        statuses = [str(table.get_row_at(r)[3]) for r in range(2)]
        assert statuses == ["failed", "done"], statuses
        figures = str(table.get_row_at(1)[4])
        assert figures.startswith("val_acc 0.7") and "…" not in figures, figures
        # The failed run is highlighted: the line above says why it failed.
        where = str(runs.query_one("#runs-where", Static).render())
        assert "failed: device: 'cuda' is not" in where, where
        await pilot.press("j")
        await pilot.pause(0.1)
        where = str(runs.query_one("#runs-where", Static).render())
        assert "2 runs in" in where, where


@sync
async def test_the_help_shows_every_key_at_80x24_without_scrolling_and_says_how_to_close():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        below = app.screen
        rows = key_rows(below)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        keys = help_screen.query_one("#help-keys", Static)
        scroll = help_screen.query_one(VerticalScroll)
        seen = scroll.content_region
        # Every row of the key table (this screen's keys and the moving-around keys) lies inside
        # the part of the help that shows without scrolling.
        table_rows = len(rows) + len(MOVING_AROUND)
        assert keys.region.y >= seen.y and keys.region.bottom <= seen.bottom, (keys.region, seen)
        assert keys.region.height >= table_rows, (keys.region.height, table_rows)
        lines = keys.render_lines(keys.region.reset_offset)
        shown = "\n".join(strip.text for strip in lines)
        for key, _ in rows:
            assert key in shown, (key, shown)
        assert "Esc closes" in str(help_screen.query_one("#help-close", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is below


@pytest.mark.slow
@sync
async def test_no_color_boundary_draws_one_glyph_per_class_and_says_so_in_the_legend(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    final, sink = run_lab(
        "training", dataset="spiral", size=300, hidden="16", epochs=2, batch_size=32, threads=1, histograms=1
    )
    events = sink.events
    heatmap = [e for e in events if isinstance(e, ev.Heatmap)][-1]
    classes = sorted({heatmap_view._DIGITS.find(c) for c in heatmap.classes})
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        assert app.no_color
        screen.show_past_run(events, final and events[0].params, "spiral")
        screen.results.show_tab("chart")
        boundary = screen.query_one(BoundaryView)
        await wait_for(pilot, lambda: boundary.display and boundary.settled and boundary.text, 20, "the map")
        drawn = boundary.text
        assert "▀" not in drawn
        glyphs = [heatmap_view.CLASS_GLYPHS[c] for c in classes]
        assert len(set(glyphs)) == len(classes) >= 2
        for c, glyph in zip(classes, glyphs, strict=True):
            assert glyph in drawn, (c, glyph, drawn)
        for c in range(heatmap.n_classes):
            assert f"{heatmap_view.CLASS_GLYPHS[c]} {c}" in drawn, (c, drawn)


@pytest.mark.slow
@sync
async def test_the_topic_list_marks_a_topic_whose_run_is_going():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await long_run_going(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: bool(app.screen.query(TopicList)), 10, "the topic list")
        topics = app.screen.query_one(TopicList)

        def row(name: str) -> str:
            return topics.get_option(name).prompt.plain

        await wait_for(pilot, lambda: row("training").startswith(RUNNING_MARK), 10, "the running mark")
        others = [o.id for o in topics.options if o.id != "training"]
        assert others and not any(RUNNING_MARK in row(name) for name in others)
        screen.action_stop()
        await wait_for(pilot, lambda: screen.child is None, 10, "the child to end")
        await wait_for(pilot, lambda: not row("training").startswith(RUNNING_MARK), 10, "the mark to go")
