"""A topic's first frame composes only what it shows; the rest mounts right after, and works.

The first frame draws the form's rows with one FormPreview and mounts only the Chart tab's
pane (tui.screens.topic). These tests show the laziness is real and costs nothing: the first
frame has fewer widgets, draws the same rows the fields then draw, every field and pane does
arrive, and a field below the fold is reached by keyboard and its value reaches the run.
"""

from __future__ import annotations

import asyncio

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Input

from pttui.engine import events as ev
from pttui.tui.app import PlaygroundApp
from pttui.tui.widgets.code_view import CodeView
from pttui.tui.widgets.form_preview import FormPreview
from pttui.tui.widgets.graph import GraphPane
from pttui.tui.widgets.histograms import HistogramsView
from pttui.tui.widgets.log_view import LogView
from pttui.tui.widgets.param_field import ParamField
from pttui.tui.widgets.summary import SummaryPane
from pttui.tui.widgets.tables import TablesPane
from tests.test_app import TINY, built, sync, wait_for

SIDE_W = 33  # the form's columns (app.tcss: #side is 34 wide with its border)


def _drawn(app: PlaygroundApp, rows: range) -> list[str]:
    """The text the screen draws in the form's columns, row by row."""
    strips = app.screen._compositor.render_strips()
    return [strips[y].text[:SIDE_W] for y in rows]


class FirstFrame(PlaygroundApp):
    """Records what its first frame (on_ready) had: widgets, fields, the form's drawn rows."""

    seen: dict

    def on_ready(self) -> None:
        screen = self.screen
        self.seen = {
            "screen": type(screen).__name__,
            "widgets": len(list(screen.walk_children())),
            "fields": len(screen.query(ParamField)),
            "previews": len(screen.query(FormPreview)),
            "rows": _drawn(self, range(3, self.size.height - 8)),
        }


@sync
async def test_the_first_frame_composes_less_and_the_rest_mounts_after_it():
    app = FirstFrame("training", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        await pilot.pause(0.2)
        first, lab = app.seen, screen.lab
        whole = len(list(screen.walk_children()))
        assert first["screen"] == "TopicScreen"
        assert first["fields"] < len(lab.params) and first["previews"] == 1
        assert first["widgets"] < whole / 2, f"first frame {first['widgets']} widgets, whole {whole}"
        # Everything arrives: every field in order, the preview gone, every tab's pane.
        assert [f.param.name for f in screen.query(ParamField)] == [p.name for p in lab.params]
        assert not screen.query(FormPreview)
        for pane in (CodeView, LogView, SummaryPane, GraphPane, TablesPane, HistogramsView):
            assert len(screen.query(pane)) == 1, pane.__name__
        # The first frame drew the rows the fields draw now: nothing jumps when they arrive.
        assert first["rows"] == _drawn(app, range(3, app.size.height - 8))
        assert any(row.startswith("lr ") for row in first["rows"])


@pytest.mark.slow
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_topics_first_frame_draws_its_form_as_the_fields_then_do(size):
    """Cell for cell (character, colour, strike): names that wrap, greyed-out fields and their
    notes, a Select's arrow, a Checkbox's box. Spaces may differ in foreground only (unseen)."""
    from pttui.engine.labs import all_labs

    def cells(app: PlaygroundApp) -> list[list[tuple[str, str]]]:
        strips = app.screen._compositor.render_strips()
        return [[(ch, str(seg.style)) for seg in strip for ch in seg.text][:SIDE_W] for strip in strips]

    def seen(cell: tuple[str, str]) -> tuple[str, str]:
        ch, style = cell
        return (ch, style) if ch != " " else (ch, style.split("on ")[-1] if "on " in style else "")

    class Cells(PlaygroundApp):
        def on_ready(self) -> None:
            self.first = cells(self)

    async def one(topic: str) -> None:
        app = Cells(topic, spares=False)
        async with app.run_test(size=size) as pilot:
            await built(pilot)
            await pilot.pause(0.2)
            now = cells(app)
            for y, (a, b) in enumerate(zip(app.first[:-1], now[:-1], strict=True)):  # the footer fills later
                assert [seen(c) for c in a] == [seen(c) for c in b], (topic, y, "".join(c for c, _ in b))

    async def every() -> None:
        for topic in all_labs():
            await one(topic)

    asyncio.run(every())


@sync
async def test_values_set_before_the_form_is_whole_are_kept():
    """Values set before the last fields are mounted (a past run's, `pttui TOPIC --flag`) are
    not lost: the fields open with them."""
    app = PlaygroundApp("training", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.form.set_values({"seed": 11, "val_fraction": 0.25})
        screen = await built(pilot)
        values = screen.form.values()
        assert values is not None and values["seed"] == 11 and values["val_fraction"] == 0.25


@pytest.mark.slow
@sync
async def test_a_field_below_the_fold_is_reached_by_keyboard_and_its_value_reaches_the_run():
    app = PlaygroundApp("training", spares=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        field = screen.form.field("seed")
        fold = screen.form.query_one(VerticalScroll).size.height
        assert field.virtual_region.y >= fold, "seed should start below the fold at 80x24"
        screen.form.set_values({**TINY, "epochs": 1})
        await pilot.pause()
        editor = field.query_one(Input)
        for _ in range(60):  # Tab, field by field, as a person would
            if app.focused is editor:
                break
            await pilot.press("tab")
        assert app.focused is editor, "Tab never reached the seed field"
        await pilot.press("end", *["backspace"] * 8, "4", "2")
        await pilot.pause()
        assert field.value == 42 and field.error is None
        seen: list[ev.Event] = []
        apply = screen.results.apply
        screen.results.apply = lambda events: (seen.extend(events), apply(events))[1]  # type: ignore[method-assign]
        await pilot.press("escape", "r")
        await wait_for(
            pilot, lambda: screen.final is not None and screen.child is None, 120, "the run to end"
        )
        assert screen.final.kind == "done", screen.final
        start = next(e for e in seen if e.kind == "start")
        assert start.params["seed"] == 42
