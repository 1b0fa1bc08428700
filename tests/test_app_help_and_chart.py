"""The help is read from the bindings of the screen it opens on; a failed chart drawing is reported
and the next redraw tries again (the render thread never dies silently)."""

from __future__ import annotations

import math

from test_app import sync, wait_for
from textual.widgets import Markdown

from pttui.engine import events as ev
from pttui.tui import plot_render
from pttui.tui.app import PlaygroundApp
from pttui.tui.screens.help import HelpScreen, key_rows
from tests.test_app import built


def _declared(screen) -> dict[str, str]:
    """key display -> words for the bindings with an id that are active on `screen`."""
    out = {}
    for active in screen.active_bindings.values():
        b = active.binding
        if b.id is not None:
            out[b.key_display or screen.app.get_key_display(b)] = b.tooltip or b.description
    return out


def help_text(help_screen: HelpScreen) -> str:
    """The help's key table as "| keys | what |" lines, then its closing words."""
    table = help_screen.keys
    keys, words = (list(column.cells) for column in table.columns)
    lines = [f"| {k} | {w} |" for k, w in zip(keys, words, strict=True)]
    return "\n".join(lines) + "\n" + help_screen.query_one(Markdown).source


async def _help_text(pilot, app) -> str:
    await pilot.press("question_mark")
    await pilot.pause()
    assert isinstance(app.screen, HelpScreen)
    return help_text(app.screen)


@sync
async def test_the_help_lists_exactly_the_keys_of_the_screen_below():
    app = PlaygroundApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for opened in ("home", "training"):
            if opened != "home":
                app.open_topic(opened)
                await pilot.pause()
            below = app.screen
            declared = _declared(below)
            rows = key_rows(below)
            assert declared and len(rows) >= len(set(declared.values())) - 1, (declared, rows)
            text = await _help_text(pilot, app)
            for key, words in declared.items():
                assert f"| {key}" in text or f" {key} |" in text or f"/ {key}" in text, (opened, key, text)
                assert words in text, (opened, words)
            assert "command palette" in text.lower() or "palette" in text.lower()
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is below
        # A key that only the topic screen binds is not claimed on the home screen, and vice versa.
        app.pop_screen()
        await pilot.pause()
        home_text = await _help_text(pilot, app)
        assert "Stop the run" not in home_text


@sync
async def test_a_failed_chart_drawing_is_logged_notified_and_retried(monkeypatch):
    real = plot_render.render
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("a drawing that cannot be drawn")
        return real(*args, **kw)

    monkeypatch.setattr(plot_render, "render", flaky)
    app = PlaygroundApp("training")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = await built(pilot)
        chart = screen.results.chart
        chart.new_run(keep_previous=False)
        chart.add(ev.Step(0.0, 1, 0, 1.0))
        chart.add(ev.Step(0.0, 2, 0, 0.5))
        chart.redraw()
        await wait_for(pilot, lambda: chart.failures == 1, 20, "the failed drawing to be reported")
        assert any("a drawing that cannot be drawn" in n.message for n in app._notifications)

        def logged() -> str:
            return "\n".join(screen.results.log_view.history)

        want = "chart: drawing failed (ValueError: a drawing that cannot be drawn)"
        await wait_for(pilot, lambda: want in logged(), 20, f"the Log line {want!r}")
        for s in range(3, 30):  # new data: the same thread draws again
            chart.add(ev.Step(0.0, s, 0, math.exp(-s / 10)))
        await wait_for(
            pilot,
            lambda: (chart.redraw() or True) and chart.redraws >= 1 and chart.settled,
            20,
            "a drawing after the failure",
        )
        assert any("\u2801" <= ch <= "\u28ff" for ch in chart.drawing)
