"""Screens say only true things: the footer in a field, a stop that races the run's end, a
past run that never reported its end, notifications that hide no results.

Each test says what it checks at 80x24 and 120x40. Past runs are written by the engine's own
recorder, so no engine process is needed; the one real run is tensors (a few ms of torch).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest
from textual.widgets import Input

from pttui.engine import events as ev
from pttui.engine import runs as run_store
from pttui.engine.labs import get_lab
from pttui.engine.params import defaults, validate
from pttui.engine.runs import RunRecorder
from pttui.tui import notices
from pttui.tui.app import PlaygroundApp
from pttui.tui.child import Exit
from pttui.tui.run_state import DONE, RUNNING, STOPPED, STOPPING, RunState
from pttui.tui.screens.runs import RunsScreen
from pttui.tui.screens.topic import TopicScreen
from pttui.tui.widgets.status_line import StatusLine
from tests.test_app import built, long_run_going, sync, wait_for

SIZES = [(80, 24), (120, 40)]


def _footer(screen) -> dict[str, str]:
    """key -> words of what the footer shows now (shown and enabled bindings)."""
    return {
        key: active.binding.description
        for key, active in screen.active_bindings.items()
        if active.binding.show and active.enabled
    }


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_footer_in_a_field_shows_what_its_keys_do_there(size):
    app = PlaygroundApp("training")
    async with app.run_test(size=size) as pilot:
        screen = await built(pilot)
        await pilot.pause()
        outside = _footer(screen)
        assert {"r", "s", "q", "escape"} <= set(outside) and outside["escape"] == "Back"
        editor = screen.form.field("epochs").query_one(Input)
        editor.focus()
        await pilot.pause()
        inside = _footer(screen)
        # Letters and - + type into the field: the footer offers only what works there.
        assert inside == {"enter": "Run", "escape": "Leave field"}, inside
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TopicScreen), "Esc in a field leaves the field, not the screen"
        assert app.focused is not editor
        assert _footer(screen) == outside
        editor.focus()
        editor.value = "1"
        await pilot.press("enter")  # what the footer promised
        await wait_for(pilot, lambda: screen.child is None and screen.state.state == DONE, 60, "the run")
        assert app.focused is not editor


@sync
async def test_a_stop_that_races_the_runs_natural_end_reads_done():
    app = PlaygroundApp("tensors")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.final is not None, 60, "the run's done event")
        if screen.child is not None:  # its process is only exiting now: s has nothing to stop
            await pilot.press("s")
            assert screen.state.state != STOPPING
        await wait_for(pilot, lambda: screen.child is None, 10, "the engine to exit")
        assert screen.state.state == DONE
        # The race itself, made exact: s landed after the done event was read, then the engine
        # exited. The run's own last word decides.
        for stopped, expected in ((False, DONE), (True, STOPPED)):
            screen.final = ev.Done(1.0, {}, stopped=stopped)
            screen._set_state(replace(RunState().update(screen.final), state=STOPPING))
            screen._finished(Exit(0, ""))
            await pilot.pause()
            assert screen.state.state == expected
            assert str(screen.query_one(StatusLine).render()).split()[1] == expected


@sync
async def test_an_engine_killed_from_outside_is_told_in_a_sentence():
    app = PlaygroundApp("tensors")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        await pilot.pause()
        screen._set_state(RunState(state=RUNNING))
        screen._finished(Exit(-9, ""))
        assert screen.state.message == "The engine was killed (SIGKILL) before it reported"
        screen._set_state(RunState(state=RUNNING))
        screen._finished(Exit(3, "Traceback ...\nMemoryError"))
        assert screen.state.message == "The engine exited with code 3 before it reported: MemoryError"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _record_unfinished(pid: int) -> str:
    """A training run that stepped and then never reported its end (as after SIGKILL)."""
    lab = get_lab("training")
    values = validate(lab.params, defaults(lab.params))
    recorder = RunRecorder.create("training", values, os.environ["PTTUI_RUNS_DIR"], pid=pid)
    assert recorder is not None
    recorder.on_event(ev.Start(0.0, "training", values, "cpu", "2.x"))
    for s in range(1, 41):
        recorder.on_event(ev.Step(0.01 * s, s, 0, 2.0 / s))
    recorder.close()
    return recorder.path.name


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_killed_past_run_reopens_as_killed_never_running(size):
    name = _record_unfinished(_dead_pid())
    [info] = run_store.list_runs()
    assert info.status == run_store.KILLED
    app = PlaygroundApp()
    async with app.run_test(size=size) as pilot:
        for _ in range(2):  # the same every time it opens
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the past runs")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, TopicScreen), 10, "the topic")
            screen = await built(pilot)
            await wait_for(pilot, lambda s=screen: s.state.message, 10, "the past run")
            assert screen.state.state == "killed" and not screen.state.active
            line = str(screen.query_one(StatusLine).render())
            assert line.startswith("✘ killed") and "running" not in line, line
            assert not screen.query_one("#run").disabled  # r runs these values again
            assert any("never reported its end" in h for h in screen.results.log_view.history)
            assert name in screen.state.message
            await pilot.press("escape")
            await pilot.pause()


@sync
async def test_a_past_run_still_recording_elsewhere_is_not_shown_as_running_here():
    _record_unfinished(os.getpid())  # alive: a run another app is recording now
    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the past runs")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TopicScreen), 10, "the topic")
        screen = await built(pilot)
        await wait_for(pilot, lambda: screen.state.message, 10, "the past run")
        assert not screen.state.active and not screen.query_one("#run").disabled
        assert any("still running elsewhere" in h for h in screen.results.log_view.history)


def _toasts(app) -> list:
    return list(app._notifications)


@pytest.mark.parametrize("size", [(80, 24), (60, 20), (120, 40)])
@sync
async def test_notifications_never_hide_results_on_a_small_screen_and_never_for_long(size):
    app = PlaygroundApp("training")
    async with app.run_test(size=size) as pilot:
        screen = await built(pilot)
        await pilot.pause()
        small = not notices.roomy(size)
        # 1. Run refused for a bad field ("Not run"), 2. a run that failed, 3. a run done
        screen.form.field("epochs").query_one(Input).value = ""
        await pilot.pause()
        screen.query_one("ContentTabs").focus()
        await pilot.press("r")
        await pilot.pause()
        screen._set_state(RunState(state=RUNNING))
        screen._finished(Exit(-9, ""))
        screen.final = ev.Done(2.0, {})
        screen._set_state(RunState(state=RUNNING))
        screen._finished(Exit(0, ""))
        await pilot.pause()
        log = "\n".join(screen.results.log_view.history)
        assert "Not run: Fix epochs first" in log
        assert log.count("The engine was killed") == 1, log  # logged once, not again as a notice
        if small:  # no toast over the chart and the status line: the status line says it
            assert _toasts(app) == []
            line = str(screen.query_one(StatusLine).render())
            assert "training failed: The engine" in line, line
            assert len(line) <= size[0]
        else:  # toasts, each gone within its severity's few seconds
            toasts = _toasts(app)
            assert {t.severity for t in toasts} >= {"error", "information"}, toasts
            assert all(t.timeout <= notices.TOAST_S[t.severity] for t in toasts), toasts
            assert max(t.timeout for t in toasts) <= 5.0


@sync
async def test_a_notice_on_the_past_runs_screen_at_80x24_takes_the_line_above_the_table():
    _record_unfinished(_dead_pid())
    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the past runs")
        await pilot.press("c")  # nothing marked
        await pilot.pause()
        assert _toasts(app) == []
        assert "Mark two or more runs" in str(app.screen.query_one("#runs-where").render())


LAYOUTS = [(size, form) for size in SIZES for form in (True, False)]
LAYOUT_IDS = [f"{w}x{h}-{'form' if form else 'noform'}" for (w, h), form in LAYOUTS]


def _two_ranks_with_a_boundary() -> list[ev.Event]:
    """What parallel and a 2-D training run send: rank 1 reports first; a decision boundary."""
    events: list[ev.Event] = []
    for s in range(1, 37):
        for rank in (1, 0):
            events.append(ev.Step(0.1 * s, s, (s - 1) // 12, 2.0 / s, rank=rank))
        if s % 12 == 0:
            for rank in (1, 0):
                metrics = {"val_loss": 1.0 / s, "val_acc": 0.5 + s / 100}
                events.append(ev.Epoch(0.1 * s, s // 12 - 1, 3, metrics, steps_total=36, rank=rank))
    n = 12
    events.append(
        ev.Heatmap(4.0, "decision boundary", 36, n, n, [-1.0, 1.0], [-1.0, 1.0], 3, "012" * 48, "9" * 144, [])
    )
    return events


@pytest.mark.parametrize(("size", "form"), LAYOUTS, ids=LAYOUT_IDS)
@sync
async def test_chart_legends_fit_whole_with_ranks_in_order(size, form):
    app = PlaygroundApp("training")
    async with app.run_test(size=size) as pilot:
        screen = await built(pilot)
        screen.query_one("#side").display = form
        await pilot.pause()
        screen.results.new_run(keep_previous=False)
        screen.results.apply(_two_ranks_with_a_boundary())
        chart, boundary = screen.results.chart, screen.query_one("BoundaryView")
        await wait_for(pilot, lambda: chart.settled and boundary.settled and chart.drawing, 10, "drawings")
        legend = [line for line in chart.drawing.splitlines() if "●" in line]
        text = " ".join(legend)
        assert "…" not in text, legend
        assert text.index("r0") < text.index("r1"), legend  # ranks in order, whatever came first
        assert "r0 val" in text and "r1 val" in text, legend  # the val loss curves are named too
        assert text.count("●") == 6, legend  # 4 loss curves, 2 accuracy curves: each named
        picture = boundary.text
        assert "…" not in picture, picture
        for item in ("■ 0", "■ 1", "■ 2", "train", "validation", "pale: unsure", "step 36"):
            assert item in picture, (item, picture)


def _a_training_run() -> list[ev.Event]:
    lab = get_lab("training")
    values = validate(lab.params, defaults(lab.params))
    events: list[ev.Event] = [ev.Start(0.0, "training", values, "cpu", "2.x")]
    events += [ev.Step(0.01 * s, s, 0, 2.0 / s) for s in range(1, 41)]
    events.append(ev.Epoch(0.4, 0, 1, {"val_loss": 0.5, "val_acc": 0.9}))
    events.append(ev.Done(0.5, {"val_acc": 0.9}))
    return events


def _a_tables_run() -> list[ev.Event]:
    lab = get_lab("tensors")
    values = validate(lab.params, defaults(lab.params))
    return [
        ev.Start(0.0, "tensors", values, "cpu", "2.x"),
        ev.Table(0.1, "tensor", ["field", "value"], [["shape", "[3]"]]),
        ev.Text(0.2, "what it shows", "A view shares its storage.", pane="summary"),
        ev.Done(0.3, {"numel": 3}),
    ]


@pytest.mark.parametrize(("size", "form"), LAYOUTS, ids=LAYOUT_IDS)
@sync
async def test_an_empty_graph_or_chart_says_the_run_drew_none_and_where_its_results_are(size, form):
    from pttui.tui.widgets.graph import GraphPane

    app = PlaygroundApp("training")
    async with app.run_test(size=size) as pilot:
        screen = await built(pilot)
        screen.query_one("#side").display = form
        graph = screen.query_one(GraphPane)
        screen.results.show_tab("graph")
        await pilot.pause()
        assert graph.max_scroll_x == 0, "the placeholder before a run fits the pane"
        screen.show_past_run(_a_training_run(), {}, "training")
        screen.results.show_tab("graph")
        await pilot.pause()
        lines = [str(node.label) for node in graph.root.children]
        assert lines[0] == "This run drew no graph.", lines
        assert "Chart and Summary." in lines, lines
        assert graph.max_scroll_x == 0, f"a line of the Graph tab is cut: {lines}"
        # A topic that draws no curves: the Chart says so and names the tabs with its results.
        screen.show_past_run(_a_tables_run(), {}, "tensors")
        screen.results.show_tab("chart")
        await pilot.pause()
        said = str(screen.results.chart.placeholder())
        assert said == "This run drew no curves: its results are in the Summary and Tables tabs.", said


def _record_spiral() -> None:
    """A finished training run with several figures and two changed parameters."""
    lab = get_lab("training")
    values = validate(lab.params, {**defaults(lab.params), "dataset": "spiral", "epochs": 30})
    recorder = RunRecorder.create("training", values, os.environ["PTTUI_RUNS_DIR"])
    assert recorder is not None
    recorder.on_event(ev.Start(0.0, "training", values, "cpu", "2.x"))
    recorder.on_event(ev.Done(2.0, {"val_acc": 0.98125, "val_loss": 0.0612345, "seconds": 2.25}))
    recorder.close()


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_past_runs_table_shows_whole_figures_and_params(size):
    _record_spiral()
    [info] = run_store.list_runs()
    app = PlaygroundApp()
    async with app.run_test(size=size) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the past runs")
        await pilot.pause(0.3)
        table = app.screen.query_one("#runs")
        assert table.max_scroll_x == 0, f"the runs table is {table.virtual_size.width} wide"
        _, when, topic, status, figures, params = (str(c) for c in table.get_row_at(0))
        assert (topic, status) == ("training", "done")
        assert when == run_store.when(info.started)[5 if size[0] < 100 else 0 :]  # 80: no year
        full_figures = run_store.final_figures(info)
        full_params = run_store.key_params(info, limit=1000)
        for cell, full in ((figures, full_figures), (params, full_params)):
            assert "…" not in cell, (cell, full)  # whole items, then "+N" for the rest
            shown = cell.rsplit(" +", 1)[0]
            assert full.startswith(shown), (cell, full)
        assert figures.startswith("val_acc 0.9812") and params.startswith("dataset=spiral")
        if size[0] >= 120:
            assert "+" not in figures + params, (figures, params)  # room for everything


@sync
async def test_a_run_stopped_early_is_charted_to_its_own_length_live_and_reopened():
    lab = get_lab("training")
    values = validate(lab.params, defaults(lab.params))
    events: list[ev.Event] = [ev.Start(0.0, "training", values, "cpu", "2.x")]
    for s in range(1, 41):
        events.append(ev.Step(0.01 * s, s, (s - 1) // 20, 2.0 / s))
        if s % 20 == 0:  # it planned 100 steps, and was stopped at 40
            events.append(ev.Epoch(0.01 * s, s // 20 - 1, 5, {"val_loss": 1.0 / s}, steps_total=100))
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        chart = screen.results.chart
        screen.results.new_run(keep_previous=False)
        screen.results.apply(events)
        assert chart.data.snapshot().x_total == 100  # live: the axis spans the planned steps
        screen.results.apply([ev.Done(0.5, {}, stopped=True)])
        assert chart.data.snapshot().x_total == 0
        await wait_for(pilot, lambda: chart.settled and chart.drawing, 10, "the drawing")
        live = chart.drawing
        axis = [line for line in live.splitlines() if "step" in line]
        assert axis and axis[0].split()[-1] == "40", axis  # its own length, not the 100 it planned
        screen.show_past_run([*events, ev.Done(0.5, {}, stopped=True)], {}, "stopped")
        await wait_for(pilot, lambda: chart.settled and chart.drawing, 10, "the drawing")
        assert chart.drawing == live  # reopened: the same chart


@pytest.mark.slow
@sync
async def test_enter_in_a_field_while_running_leaves_the_field_so_s_stops_the_run():

    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await long_run_going(pilot)
        editor = screen.form.field("lr").query_one(Input)
        editor.focus()
        before = editor.value
        await pilot.press("enter")  # "already running": said, and the focus leaves the field
        assert app.focused is not editor
        assert "already running" in str(screen.query_one(StatusLine).render())
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.child is None, 10, "the stop")
        assert screen.state.state == STOPPED and editor.value == before


@sync
async def test_a_status_line_notice_goes_after_its_few_seconds():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        screen.notify("as fast as it can", title="Pace")
        await pilot.pause()
        line = screen.query_one(StatusLine)
        assert "Pace: as fast as it can" in str(line.render())
        await wait_for(
            pilot, lambda: "Pace" not in str(line.render()), notices.notice_s("information") + 5, "it to go"
        )
        assert any("Pace: as fast as it can" in h for h in screen.results.log_view.history)  # kept there


@pytest.mark.slow
@sync
async def test_q_during_a_data_run_with_workers_records_it_stopped():
    import asyncio

    from pttui.tui.child import live_children

    app = PlaygroundApp("data")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        screen.form.set_values({"epochs": 200, "num_workers": 1, "sweep": False, "sample_cost_us": 20})
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.state.state == RUNNING, 60, "the run to start")
        await asyncio.sleep(3.0)  # its worker is up and loading
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to quit")
    assert not live_children()
    [info] = run_store.list_runs()
    assert info.status == run_store.STOPPED, (info.status, info.reason)
