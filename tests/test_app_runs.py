"""Past runs: the app lists the runs kept on disk and opens one into its topic's tabs."""

from __future__ import annotations

import math
import os
from pathlib import Path

from pttui.engine import events as ev
from pttui.engine.labs import get_lab
from pttui.engine.params import defaults, validate
from pttui.engine.runs import RunRecorder
from pttui.tui.app import PlaygroundApp
from pttui.tui.screens.runs import RunsScreen
from pttui.tui.screens.topic import TopicScreen
from pttui.tui.widgets.tables import TablesPane
from tests.test_app import built, sync


def _record(epochs: int = 3, lr: float = 0.02) -> Path:
    """A run written by the engine's own recorder, as `pttui run` would have left it."""
    lab = get_lab("training")
    values = validate(lab.params, {**defaults(lab.params), "epochs": epochs, "lr": lr})
    recorder = RunRecorder.create("training", values, os.environ["PTTUI_RUNS_DIR"])
    assert recorder is not None
    emit = recorder.on_event
    emit(ev.Start(0.0, "training", values, "cpu", "2.x"))
    step = 0
    for epoch in range(epochs):
        for _ in range(20):
            step += 1
            emit(ev.Step(0.1 * step, step, epoch, 2.0 * math.exp(-step / 20)))
        emit(
            ev.Epoch(0.1 * step, epoch, epochs, {"val_acc": 0.5 + 0.1 * epoch, "val_loss": 1.0}, "train", 60)
        )
    emit(ev.Table(6.0, "results", ["metric", "value"], [["val_acc", 0.7], ["steps", 60]]))
    emit(ev.Done(6.1, {"val_acc": 0.7, "steps": 60}))
    recorder.close()
    return recorder.path


@sync
async def test_open_a_past_run_shows_its_chart_tables_and_values():
    path = _record(lr=0.02)
    app = PlaygroundApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("h")
        runs = app.screen
        assert isinstance(runs, RunsScreen) and [i.path for i in runs.infos] == [path]
        await pilot.press("enter")
        await pilot.pause(0.2)
        screen = await built(pilot)
        assert isinstance(screen, TopicScreen) and screen.lab.name == "training"
        snap = screen.results.chart.data.snapshot()
        assert snap.loss[0].xs[-1] == 60 and len(snap.metric[0].xs) == 3
        assert [t.row_count for t in screen.query_one(TablesPane).tables] == [2]
        assert screen.form.field("lr").value == 0.02 and screen.form.field("epochs").value == 3
        assert screen.state.state == "done" and path.name in screen.state.message


@sync
async def test_no_runs_yet_says_where_it_looked():
    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        assert "No runs yet" in str(app.screen.query_one("#runs-where").render())
        await pilot.press("enter", "escape")
        assert not isinstance(app.screen, RunsScreen)
