"""The app draws the views inside training: the boundary beside the loss chart, the
Histograms tab and the system figures, from a real run's events, at 80x24 and 120x40."""

from __future__ import annotations

import re
from importlib.util import find_spec

import pytest
from conftest import run_lab
from test_app import sync, wait_for

from pttui.engine import events as ev
from pttui.engine import heatmap_view
from pttui.tui.app import PlaygroundApp
from pttui.tui.widgets.boundary import BoundaryView
from pttui.tui.widgets.histograms import HistogramsView
from pttui.tui.widgets.status_line import StatusLine
from tests.test_app import built


@pytest.fixture(scope="module")
def spiral_run():
    final, sink = run_lab(
        "training", dataset="spiral", size=400, hidden="16", epochs=4, batch_size=32, threads=1, histograms=1
    )
    return final, sink.events


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@sync
async def test_boundary_and_histograms_tab(spiral_run, size):
    final, events = spiral_run
    app = PlaygroundApp("training")
    async with app.run_test(size=size) as pilot:
        screen = await built(pilot)
        screen.show_past_run(events, final and events[0].params, "spiral")
        screen.results.show_tab("chart")
        boundary = screen.query_one(BoundaryView)
        await wait_for(pilot, lambda: boundary.display and boundary.settled and boundary.text, 20, "the map")
        drawn = boundary.text
        assert "boundary · step" in drawn and "▀" in drawn  # narrow: "decision" goes, the step stays
        assert heatmap_view.TRAIN_MARK in drawn and heatmap_view.VAL_MARK in drawn
        assert boundary.region.width >= 20 and boundary.region.right <= size[0]
        lines = drawn.splitlines()
        assert len(lines) <= boundary.content_size.height
        assert all(len(line) <= boundary.content_size.width for line in lines)
        # Beside the loss chart, not over it.
        chart = screen.results.chart
        assert chart.region.right <= boundary.region.x

        screen.results.show_tab("histograms")
        view = screen.query_one(HistogramsView)
        await wait_for(pilot, lambda: view.settled and view.text, 20, "the histograms")
        text = view.text
        for layer in ("net.0", "net.2"):
            assert layer in text
        assert "grad norm" in text and "update/weight" in text and "weights" in text
        assert any(ch in text for ch in "░▒▓█")
        status = screen.query_one(StatusLine).render().plain
        if size[0] >= 120:
            if find_spec("psutil") is not None:  # a declared dependency; an older venv may lack it
                assert "cpu " in status and re.search(r"\d (MB|GB)", status), (
                    f"no system figures in {status!r}"
                )
            else:  # no figures, and the run's Log says why
                assert any(isinstance(e, ev.Text) and "psutil" in e.body for e in events)


@sync
async def test_a_new_run_clears_the_views():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        boundary = screen.query_one(BoundaryView)
        assert not boundary.display  # no map yet: the loss chart has the width
        screen.results.new_run()
        await pilot.pause(0.1)
        assert not boundary.display and not screen.query_one(HistogramsView).by_layer


def test_rebinning_keeps_every_count():
    from pttui.tui.widgets.histograms import rebin

    hist = {"edges": [0.0, 1.0, 2.0, 4.0], "counts": [3, 5, 8]}
    for cells in (1, 2, 3, 7, 40):
        out = rebin(hist, -1.0, 5.0, cells)
        assert len(out) == cells and abs(sum(out) - 16) < 1e-9
    assert rebin(hist, 0.0, 4.0, 4) == [3, 5, 4, 4]


@sync
async def test_compare_overlays_marked_runs_with_a_legend():
    from pttui.tui.screens.runs import RunsScreen
    from pttui.tui.screens.topic import TopicScreen
    from tests.test_app_runs import _record

    _record(lr=0.02)
    _record(lr=0.05)
    app = PlaygroundApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("h")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("c")  # nothing marked: a warning, no screen change
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("space", "space", "c")
        await pilot.pause(0.3)
        screen = await built(pilot)
        assert isinstance(screen, TopicScreen)
        snap = screen.results.chart.data.snapshot()
        curves = {c.name: c for c in snap.loss}
        assert {"lr=0.02", "lr=0.05"} <= set(curves)  # (their val_loss curves come along)
        assert curves["lr=0.02"].xs[-1] == curves["lr=0.05"].xs[-1] == 60 and not snap.previous_loss
        chart = screen.results.chart
        await wait_for(pilot, lambda: chart.settled and chart.drawing, 10, "the chart")
        legend = chart.drawing.splitlines()[0]
        assert "lr=0.02" in legend and "lr=0.05" in legend


@sync
async def test_compared_runs_stopped_early_span_the_steps_they_ran():
    """A run stopped at step 60 of 600 planned: the overlay's axis ends at 60, as its own chart does."""
    from pttui.tui.screens.runs import RunsScreen
    from tests.test_app_runs import _record

    for lr in (0.02, 0.05):
        path = _record(lr=lr)
        lines = (path / "events.jsonl").read_text().splitlines()
        (path / "events.jsonl").write_text(
            "\n".join(line.replace('"steps_total":60', '"steps_total":600') for line in lines) + "\n"
        )
        assert '"steps_total":600' in (path / "events.jsonl").read_text()
    app = PlaygroundApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("h")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("space", "space", "c")
        await pilot.pause(0.3)
        screen = await built(pilot)
        snap = screen.results.chart.data.snapshot()
        assert max(c.xs[-1] for c in snap.loss) == 60
        assert snap.x_total == 0.0, f"the axis waits for {snap.x_total} planned steps"
        chart = screen.results.chart
        await wait_for(pilot, lambda: chart.settled and chart.drawing, 10, "the chart")
        assert "600" not in chart.drawing, chart.drawing


@sync
async def test_speedup_tables_get_bars():
    from pttui.engine import events as ev
    from pttui.tui.widgets.bars import SpeedupBars

    table = ev.Table(
        1.0, "amp", ["variant", "samples/s", "speed-up"], [["fp32", 1000.0, 1.0], ["bf16", 1530.0, 1.53]]
    )
    plain = ev.Table(1.0, "other", ["a", "b"], [["x", 1.0]])
    app = PlaygroundApp("amp")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await built(pilot)
        screen.results.apply([table, plain])
        screen.results.show_tab("tables")
        await pilot.pause(0.1)
        shown = list(screen.query(SpeedupBars))
        assert len(shown) == 1  # the table without speed-ups gets none
        await wait_for(pilot, lambda: shown[0].settled and shown[0].text, 10, "the bars")
        lines = shown[0].text.splitlines()
        assert lines[0].startswith("speed-up")
        fp32, bf16 = lines[1], lines[2]
        assert fp32.rstrip().endswith("1.00x") and bf16.rstrip().endswith("1.53x")
        assert bf16.count("█") > fp32.count("█") > 0


@pytest.fixture(scope="module")
def digits_run():
    final, sink = run_lab("training", dataset="digits", epochs=3, threads=1)
    return final, sink.events


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@sync
async def test_confusion_matrix_is_a_coloured_grid_redrawn_each_epoch(digits_run, size):
    """Each epoch's matrix redraws one grid in the Tables tab; its counts are the final table's,
    the diagonal on the theme's success colour, and every line fits the pane."""
    from rich.color import Color as RichColor
    from textual.color import Color

    from pttui.engine import confusion_view
    from pttui.tui.widgets.confusion import ConfusionView
    from pttui.tui.widgets.tables import TablesPane

    _, events = digits_run
    matrices = [e for e in events if e.kind == "table" and e.title == confusion_view.TITLE]
    assert len(matrices) >= 2 and matrices[-1].note == "final", [m.note for m in matrices]
    app = PlaygroundApp("training")
    async with app.run_test(size=size) as pilot:
        screen = await built(pilot)  # the tabs' panes come after the first frame
        screen.results.new_run()
        screen.results.show_tab("tables")
        screen.results.apply(events[: events.index(matrices[0]) + 1])  # the first epoch's
        await pilot.pause(0.1)
        (view,) = screen.query(ConfusionView)
        await wait_for(pilot, lambda: view.settled and view.text, 20, "the first matrix")
        assert matrices[0].note in view.text.splitlines()[0]
        screen.results.apply(events[events.index(matrices[0]) + 1 :])
        await wait_for(pilot, lambda: view.settled and "final" in view.text, 20, "the final matrix")
        assert list(screen.query(ConfusionView)) == [view]  # redrawn in place, not stacked
        assert not screen.query_one(TablesPane).tables  # and no plain table beside it
        lines = view.text.splitlines()
        counts = confusion_view.counts_of(matrices[-1].rows)
        assert len(lines) == len(counts) + 2
        assert all(len(line.rstrip()) <= view.content_size.width for line in lines)
        for t, row in enumerate(counts):
            cells = lines[2 + t].split()
            assert cells[0] == str(t)
            assert [0 if c == "·" else int(c) for c in cells[1 : 1 + len(row)]] == row
        if size[0] >= 120:
            assert lines[2 + 0].split()[-1] == f"{counts[0][0] / sum(counts[0]):.1%}"
        # The diagonal's cells stand on the success colour (blended towards the background).
        success = Color.parse(app.theme_variables["success"]).rich_color.get_truecolor()
        strip = view._strips[2]
        first = next(seg for seg in strip if seg.text.strip() == str(counts[0][0]))
        bg = first.style.bgcolor.get_truecolor()
        base = RichColor.parse(view.background_colors[1].hex).get_truecolor()
        # nearer the success hue than the background is
        assert sum(abs(a - b) for a, b in zip(bg, success, strict=True)) < sum(
            abs(a - b) for a, b in zip(base, success, strict=True)
        )
