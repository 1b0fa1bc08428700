"""Readable results in the app: past runs reopen whole, nothing is cut, keys do what they say.

Each test runs at 80x24 and 120x40, with the form shown and hidden. Runs are written by the
engine's own recorder, as `pttui run` leaves them, so no engine process is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input

from pttui.engine import events as ev
from pttui.engine import numbers
from pttui.engine.labs import get_lab
from pttui.engine.params import defaults, validate
from pttui.engine.runs import RunRecorder
from pttui.tui.app import PlaygroundApp
from pttui.tui.screens.home import HomeScreen
from pttui.tui.screens.runs import RunsScreen
from pttui.tui.screens.topic import TopicScreen
from pttui.tui.widgets.graph import GraphPane
from pttui.tui.widgets.log_view import LogView
from pttui.tui.widgets.summary import SummaryPane
from pttui.tui.widgets.tables import TablesPane
from pttui.tui.widgets.topic_list import TopicList
from tests.test_app import sync, wait_for

SIZES = [(80, 24), (120, 40)]
LAYOUTS = [(size, form) for size in SIZES for form in (True, False)]
IDS = [f"{w}x{h}-{'form' if form else 'noform'}" for (w, h), form in LAYOUTS]

PROSE = (
    "When you save only the state_dict, you build the model in your own code and load the "
    "weights into it; a whole pickled model needs its class importable at load time, and "
    "so gradients do not matter here."
)
LOAD_S = {"state_dict": 0.0014745229998425202, "whole model": 0.02012}
BROADCASTS = [
    {"op": "torch.ones(3,1) + torch.ones(1,4)", "left": "(3, 1)", "right": "(1, 4)", "result": "(3, 4)"}
]
QUANT_COLUMNS = ["variant", "size MB", "latency b1 ms", "val acc", "max abs logit diff", "argmax agreement"]
QUANT_ROWS = [
    ["fp32", 0.4321, 0.0521, 0.97661, 0.0, 1.0],
    ["dynamic int8", 0.1187, 0.0412, 0.97492, 0.05912, 0.99872],
]


def _record(topic: str = "checkpoint", done_t: float = 2.0) -> Path:
    """A run with prose, a wide table, nested results and None, written by the recorder."""
    lab = get_lab(topic)
    values = validate(lab.params, defaults(lab.params))
    recorder = RunRecorder.create(topic, values, os.environ["PTTUI_RUNS_DIR"])
    assert recorder is not None
    emit = recorder.on_event
    emit(ev.Start(0.0, topic, values, "cpu", "2.x"))
    emit(ev.Text(0.5, "state_dict vs whole model", PROSE, pane="summary"))
    emit(ev.Table(1.0, "int8 against fp32", QUANT_COLUMNS, QUANT_ROWS, note="latency: median of 5 rounds"))
    emit(ev.Text(1.1, "warning", "inject_inf 99 is past the last step", level="warning"))
    result = {
        "load_s": LOAD_S,
        "broadcasts": BROADCASTS,
        "peak_mb": None,
        "lr": 2e-4,
        "samples_per_s": 51390.2,
    }
    emit(ev.Done(done_t, result))
    recorder.close()
    return recorder.path


async def _open_past_run(pilot, app, index: int = 0) -> TopicScreen:
    await pilot.press("h")
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the past runs screen")
    for _ in range(index):
        await pilot.press("down")
    await pilot.press("enter")
    await wait_for(
        pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, "the topic screen"
    )
    await pilot.pause(0.3)
    return app.screen  # type: ignore[return-value]


def _shown_text(widget: Widget) -> str:
    """What a widget draws, line by line, at its current size (all of it, scrolled or not)."""
    width, height = widget.size
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))


def _set_form(screen: TopicScreen, shown: bool) -> None:
    screen.query_one("#side").display = shown


@pytest.mark.parametrize(("size", "form"), LAYOUTS, ids=IDS)
@sync
async def test_a_past_run_reopens_whole_every_time(size, form):
    _record()
    app = PlaygroundApp()
    async with app.run_test(size=size) as pilot:
        seen = []
        for _ in range(3):  # the same run, three times (the second used to come back blank)
            screen = await _open_past_run(pilot, app)
            _set_form(screen, form)
            await pilot.pause(0.2)
            summary, tables = screen.query_one(SummaryPane), screen.query_one(TablesPane)
            assert summary.has_content and summary.plain(), "Summary came back empty"
            assert [t.row_count for t in tables.tables] == [2], "Tables came back empty"
            assert all(t.is_attached and t.size.height > 0 for t in tables.tables)
            seen.append((summary.plain(), [t.table.plain_text() for t in tables.tables]))
            await pilot.press("escape")
            await pilot.pause(0.1)
        assert seen[0] == seen[1] == seen[2]


@pytest.mark.parametrize(("size", "form"), LAYOUTS, ids=IDS)
@sync
async def test_summary_and_tables_fit_the_pane_and_read_as_numbers(size, form):
    _record()
    app = PlaygroundApp()
    async with app.run_test(size=size) as pilot:
        screen = await _open_past_run(pilot, app)
        _set_form(screen, form)
        results = screen.results
        for tab in ("summary", "tables"):
            results.show_tab(tab)
            await pilot.pause(0.3)
            pane = screen.query_one(SummaryPane if tab == "summary" else TablesPane)
            assert pane.max_scroll_x == 0, f"{tab} needs sideways scrolling at {size}"
            text = "\n".join(_shown_text(w) for w in pane.children if w.display)
            # Nothing cut: every word of the prose, every header word, every figure is on the screen.
            if tab == "summary":
                flat = " ".join(text.split())
                assert " ".join(PROSE.split()) in flat
                assert numbers.quantity(LOAD_S["state_dict"], "s") in text  # 1.475 ms, not a repr
                assert "{'" not in text and "None" not in text and "e-04" not in text
                assert "n/a" in text and "51,390/s" in text and "0.0002" in text
                assert BROADCASTS[0]["op"] in text
            for row in QUANT_ROWS if tab == "tables" else []:
                assert row[0] in text  # the column that names the row is always there
                for value in row[1:]:
                    assert numbers.number(value) in text
            if tab == "tables":
                words = " ".join(text.split())
                assert all(word in words for name in QUANT_COLUMNS for word in name.split())


@sync
async def test_the_logs_run_time_is_scaled_by_engine_numbers():
    """A run that took 12.3 ms says so in the Log, not `0.01 s` (issue 14: times through numbers)."""
    _record(done_t=0.0123)
    app = PlaygroundApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_past_run(pilot, app)
        screen.results.show_tab("log")
        await pilot.pause(0.8)  # the log writes at most every 0.5 s
        history = "\n".join(screen.query_one(LogView).history)
        shown = numbers.quantity(0.0123, "s")
        assert shown == "12.3 ms" and f"steps in {shown}" in history, history


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@sync
async def test_the_log_wraps_to_the_pane_and_says_warning_once(size):
    _record()
    app = PlaygroundApp()
    async with app.run_test(size=size) as pilot:
        screen = await _open_past_run(pilot, app)
        screen.results.show_tab("log")
        await pilot.pause(0.8)  # the log writes at most every 0.5 s
        log = screen.query_one(LogView)
        assert log.max_scroll_x == 0, "the Log needs sideways scrolling"
        history = "\n".join(log.history)
        assert "warning: inject_inf" in history and "warning: warning" not in history
        _set_form(screen, False)  # wider pane: the lines wrap again, to the new width
        await pilot.pause(0.6)
        assert log.max_scroll_x == 0 and log.virtual_size.width <= log.scrollable_content_region.width


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@sync
async def test_h_works_on_a_topic_screen_and_esc_returns_to_that_topic(size):
    app = PlaygroundApp("training")
    async with app.run_test(size=size) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, "the training screen"
        )
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 5, "h to open past runs")
        await pilot.press("escape")
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 5, "back on the topic"
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), 5, "back on the list")
        assert app.screen.query_one(TopicList).highlighted_topic == "training"


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@sync
async def test_checkboxes_draw_no_mark_when_off_and_labels_are_whole(size):
    app = PlaygroundApp("autograd")
    async with app.run_test(size=size) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, "the autograd screen"
        )
        await pilot.pause(0.2)
        screen = app.screen
        saved = screen.form.field("show_saved")
        assert saved.value is False
        assert "X" not in _shown_text(saved.editor) and "off" in _shown_text(saved.editor)
        assert "✔" in _shown_text(screen.form.field("requires_grad").editor)
        for field in screen.form.fields:
            label = field.query_one(".name")
            assert " ".join(_shown_text(label).split()) == field.param.name.replace("_", " ")


@sync
async def test_a_graph_points_only_at_ids_it_shows():
    root = {
        "label": "AddBackward0",
        "id": "n1",
        "children": [
            {"label": "MulBackward0", "id": "n7", "children": [{"label": "x", "id": "n9", "children": []}]},
            {"label": "MulBackward0", "id": "n7", "ref": "n7", "detail": "drawn above", "children": []},
        ],
    }
    app = PlaygroundApp("autograd")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, "the autograd screen"
        )
        screen = app.screen
        screen.results.apply([ev.Tree(0.1, "graph", root)])
        labels = []
        stack = [screen.query_one(GraphPane).root]
        while stack:
            node = stack.pop()
            labels.append(node.label.plain)
            stack.extend(node.children)
        text = "\n".join(labels)
        assert "see [n7]" in text and any(line.endswith("[n7]") and "see" not in line for line in labels)
        assert "n9" not in text and "n1" not in text  # ids nobody points at stay out of the way


@sync
async def test_a_model_spec_greys_out_the_model_list(tmp_path):
    (tmp_path / "net.py").write_text("import torch\n\nclass Net(torch.nn.Module):\n    pass\n")
    app = PlaygroundApp("modules")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, "the modules screen"
        )
        screen = app.screen
        model = screen.form.field("model")
        assert not model.has_class("-overridden")
        screen.form.field("model_spec").set_value(f"{tmp_path / 'net.py'}:Net")
        await wait_for(pilot, lambda: model.has_class("-overridden"), 5, "the model list greyed out")
        assert str(model.query_one(".error").content) == "↳ not used: model spec wins"  # the why: on focus
        screen.form.field("model_spec").set_value("")
        await wait_for(pilot, lambda: not model.has_class("-overridden"), 5, "the model list back")


CHECKED_AS_YOU_TYPE = [
    ("autograd", "expr", "(x * 2).sum(", "never closed"),
    ("autograd", "expr", "x.__class__", "'_'"),
    ("autograd", "expr", "y + 1", "'y' is not allowed"),
    ("autograd", "leaves", "x == 1", "name = value"),
    ("tensors", "expr", "__import__('os')", "not allowed"),
    ("modules", "input_shape", "1,a", "sizes like"),
    ("modules", "model_spec", "nowhere.py:Net", "not there"),
    ("modules", "model_spec", "net.py:Missing", "Net"),
    ("modules", "model_spec", "broken.py:Net", "line 2"),
]


@pytest.mark.parametrize(("topic", "name", "text", "says"), CHECKED_AS_YOU_TYPE)
@sync
async def test_field_syntax_is_checked_as_you_type_without_an_engine(tmp_path, topic, name, text, says):
    (tmp_path / "net.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\n")
    (tmp_path / "broken.py").write_text("import torch\nclass Net(:\n")
    app = PlaygroundApp(topic)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, f"the {topic} screen"
        )
        screen = app.screen
        field = screen.form.field(name)
        editor = field.editor
        assert isinstance(editor, Input)
        editor.value = text
        await wait_for(pilot, lambda: field.error, 5, f"the {name} field marked")
        assert says in field.error, field.error
        assert screen.child is None  # judged here: no engine process was started
        await pilot.press("r")  # refused with the field named, still without an engine
        assert screen.child is None and field.error
        editor.value = field.param.to_text(field.param.default) if name != "model_spec" else "net.py:Net"
        await wait_for(pilot, lambda: not field.error, 5, f"the {name} field cleared")


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@sync
async def test_s_stops_a_run_started_with_enter_in_a_field(size):
    from tests.test_app import TINY

    app = PlaygroundApp("training")
    async with app.run_test(size=size) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, "the training screen"
        )
        screen = app.screen
        screen.form.set_values({**TINY, "epochs": 10000})
        editor = screen.form.field("epochs").editor
        editor.focus()
        await pilot.pause()
        await pilot.press("enter")
        assert screen.focused is not None and screen.form not in screen.focused.ancestors
        await wait_for(pilot, lambda: screen.state.step > 0, 60, "the first step")
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.child is None, 10, "the child to end after s")
        assert screen.state.state == "stopped"
        assert editor.value == "10000"  # s stopped the run; it was not typed into the field


@pytest.mark.parametrize("acc", [0.88, 1.0, 0.0])
def test_chart_axes_span_the_drawn_data_and_accuracy_stays_in_0_1(acc):
    import math
    import re

    from pttui.tui.chart_data import ChartData
    from pttui.tui.plot_render import Palette, render

    data = ChartData()
    losses = [0.034 + 2.0 * math.exp(-s / 10) for s in range(1, 61)]
    for s, loss in enumerate(losses, start=1):
        data.add(ev.Step(0.0, s, 0, loss))
    data.add(ev.Epoch(0.0, 0, 5, {"val_acc": acc}, "train", 300))  # one epoch: a flat accuracy series
    lines = render(data.snapshot(), 60, 18, Palette()).plain.splitlines()
    split = next(i for i, line in enumerate(lines) if line.startswith("val acc"))
    label = re.compile(r"^\s*([-\d.,e+]+) ┤")

    def labels(part):
        return [float(m.group(1).replace(",", "")) for line in part if (m := label.match(line))]

    loss_labels, acc_labels = labels(lines[:split]), labels(lines[split:])
    assert min(loss_labels) == pytest.approx(min(losses), rel=0.02)  # the bottom is the smallest loss drawn
    assert max(loss_labels) == pytest.approx(max(losses), rel=0.02)
    assert acc_labels and all(0.0 <= a <= 1.0 for a in acc_labels), acc_labels
    assert min(acc_labels) <= acc <= max(acc_labels)


# Small, quick values for every topic: what the labs' own tests run.
QUICK = {
    "tensors": {},
    "autograd": {},
    "modules": {},
    "data": dict(dataset="moons", size=400, batch_size=64, epochs=1, sweep=False),
    "training": dict(dataset="spiral", size=300, hidden="16", epochs=2, batch_size=32, threads=1),
    "checkpoint": dict(
        dataset="spiral", size=300, hidden="16", epochs=2, batch_size=32, threads=1, device="cpu"
    ),
    "parallel": dict(
        dataset="moons", size=400, hidden="16", batch_size=16, epochs=2, threads=1, baseline=False
    ),
    "dynamic": {},
    "amp": dict(dataset="spiral", size=300, hidden="16", epochs=3, batch_size=32, threads=1, device="cpu"),
    "quantization": dict(
        hidden="256", side=8, epochs=2, rounds=2, calibration_batches=2, threads=1, torchao=False
    ),
    "visualize": dict(model="simplenet", steps=5),
}


@pytest.mark.slow
@pytest.mark.parametrize("topic", list(QUICK))
@sync
async def test_no_line_of_summary_is_cut_at_80x24_for_every_topic(topic, tmp_path):
    from pttui.engine.labs import all_labs
    from tests.conftest import run_lab

    assert set(QUICK) == set(all_labs()), "a topic without quick values here"
    params = dict(QUICK[topic])
    if topic == "checkpoint":
        params["folder"] = str(tmp_path / "kept")
    if topic == "visualize":
        params["dot"] = str(tmp_path / "g.dot")
    final, sink = run_lab(topic, **params)
    assert final.kind == "done", getattr(final, "message", final)
    app = PlaygroundApp(topic)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, TopicScreen) and app.screen.built, 10, f"the {topic} screen"
        )
        screen = app.screen
        screen.show_past_run(sink.events, {}, "test")
        screen.results.show_tab("summary")
        await pilot.pause(0.5)
        pane = screen.query_one(SummaryPane)
        width = pane.scrollable_content_region.width
        for block in pane.children:
            if not block.display:
                continue
            text = _shown_text(block)
            if block.has_class("pre"):  # kept whole: as wide as its longest line, the pane scrolls
                longest = max(len(line) for line in str(block.content).splitlines())
                assert block.size.width >= longest, f"{topic}: a preformatted block is cut"
            else:
                assert block.size.width <= width, f"{topic}: a block is wider than the pane"
                assert all(len(line.rstrip()) <= width for line in text.splitlines())
            if block.has_class("prose"):  # every word is on the screen
                assert " ".join(str(block.content).split()) == " ".join(text.split()), f"{topic}: prose cut"


def _record_training(steps: int = 120) -> Path:
    """A training-like run with step and epoch events, written by the recorder."""
    lab = get_lab("training")
    values = validate(lab.params, defaults(lab.params))
    recorder = RunRecorder.create("training", values, os.environ["PTTUI_RUNS_DIR"])
    assert recorder is not None
    recorder.on_event(ev.Start(0.0, "training", values, "cpu", "2.x"))
    for s in range(1, steps + 1):
        recorder.on_event(ev.Step(0.01 * s, s, (s - 1) // 40, 2.0 / s))
        if s % 40 == 0:
            recorder.on_event(
                ev.Epoch(0.01 * s, s // 40 - 1, steps // 40, {"val_loss": 1.0 / s, "val_acc": 0.5})
            )
    recorder.on_event(ev.Done(2.0, {"steps": steps}))
    recorder.close()
    return recorder.path


@sync
async def test_a_past_runs_chart_is_the_same_every_time_it_opens():
    _record_training()
    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        seen = []
        for _ in range(3):
            screen = await _open_past_run(pilot, app)
            snap = screen.results.chart.data.snapshot()
            assert not snap.previous_loss, "a past run is shown alone, not beside what was on screen"
            curves = [(c.name, list(c.xs)) for c in snap.loss]
            assert curves and curves[0][1][-1] == 120, curves
            seen.append(curves)
            await pilot.press("escape")
            await pilot.pause(0.1)
        assert seen[0] == seen[1] == seen[2]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@sync
async def test_the_past_runs_table_fits_the_screen(size):
    _record()
    _record_training()
    app = PlaygroundApp()
    async with app.run_test(size=size) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the past runs screen")
        await pilot.pause(0.2)
        table = app.screen.query_one("#runs")
        assert table.row_count == 2
        assert table.max_scroll_x == 0, (
            f"the runs table is {table.virtual_size.width} wide on a {size[0]} screen"
        )
        assert "checkpoint" in _shown_text(table) and "training" in _shown_text(table)
