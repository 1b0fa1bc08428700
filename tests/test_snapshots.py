"""SVG snapshots of every screen at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic on purpose: no clock in the header, no cursor blink (headless), torch's
version pinned, and the chart fed a recorded run rather than a live one. The topic tests
are parametrized over the registry: a new lab fails here until someone looks at its
screen and accepts it with `python -m pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import math

import pytest

from pttui.engine import events as ev
from pttui.engine.labs import all_labs
from pttui.tui.app import PlaygroundApp
from pttui.tui.widgets import status_line
from tests.test_app import built

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def _pinned(monkeypatch):
    monkeypatch.setattr(status_line, "installed_torch", lambda: "2.x")
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home(snap_compare, size):
    assert snap_compare(PlaygroundApp(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("topic", list(all_labs()))
def test_topic(snap_compare, topic, size):
    assert snap_compare(PlaygroundApp(topic), terminal_size=size)


def recorded_run(epochs: int = 8, per_epoch: int = 25) -> list[ev.Event]:
    """A training run's events, made up but shaped like the real thing (noisy, falling loss)."""
    out: list[ev.Event] = [ev.Start(0.0, "training", {}, "cpu", "2.x")]
    step = 0
    for epoch in range(epochs):
        for _ in range(per_epoch):
            step += 1
            noise = 0.25 * math.sin(step * 1.7) * math.exp(-step / 150)
            out.append(ev.Step(0.05 * step, step, epoch, 2.3 * math.exp(-step / 40) + 0.08 + abs(noise)))
        metrics = {
            "train_loss": 0.3,
            "val_loss": 0.1 + 1.5 * math.exp(-step / 40),
            "val_acc": 0.97 - 0.8 * math.exp(-step / 30),
            "samples_per_s": 12000.0,
        }
        out.append(ev.Epoch(0.05 * step, epoch, epochs, metrics, "train", epochs * per_epoch))
    out.append(ev.Table(10.0, "result", ["figure", "value"], [["val_acc", 0.97], ["steps", step]]))
    out.append(ev.Text(10.0, "model", "MLP(64 -> 128 -> 64 -> 10)\nparameters: 17,226", pane="summary"))
    out.append(ev.Done(10.1, {"val_acc": 0.97, "steps": step}))
    return out


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_finished_run_with_the_previous_run_dimmed(snap_compare, size, theme):
    async def show(pilot):
        pilot.app.theme = theme
        screen = await built(pilot)
        screen.show_past_run(recorded_run(epochs=10), {"epochs": 10}, "first")
        # A new run's events arrive as a live run's do: the one on screen stays, dimmed.
        screen.results.new_run(keep_previous=True)
        screen.results.apply(recorded_run(epochs=8))
        await pilot.pause()
        chart = screen.results.chart
        for _ in range(100):
            if chart.settled:
                break
            await pilot.pause(0.02)

    assert snap_compare(PlaygroundApp("training"), terminal_size=size, run_before=show)


def test_inline_error(snap_compare):
    async def bad(pilot):
        screen = await built(pilot)
        field = screen.form.field("lr")
        field.editor.focus()
        field.editor.value = "fast"
        await pilot.pause()

    assert snap_compare(PlaygroundApp("training"), terminal_size=(80, 24), run_before=bad)


def inside_run() -> list[ev.Event]:
    """A spiral run's boundary and histograms, made up but shaped like the real thing."""
    out = recorded_run(epochs=4)
    n, side = 3, 40
    classes = "".join(
        str(
            int((math.atan2(r - 20, c - 20) + math.pi + math.hypot(r - 20, c - 20) / 6) / (2 * math.pi) * n)
            % n
        )
        for r in range(side)
        for c in range(side)
    )
    confidence = "".join(
        str(min(9, int(math.hypot(r - 20, c - 20) / 3))) for r in range(side) for c in range(side)
    )
    points = [
        [round(math.cos(k / 9) * k / 60, 3), round(math.sin(k / 9) * k / 60, 3), k % n, int(k % 5 == 0)]
        for k in range(1, 60)
    ]
    heatmap = ev.Heatmap(
        9.0,
        "decision boundary",
        200,
        side,
        side,
        [-1.1, 1.1],
        [-1.1, 1.1],
        n,
        classes,
        confidence,
        points,
        True,
    )
    hists = []
    for s in range(5):
        for layer, numel in (("net.0", 96), ("net.2", 528), ("net.4", 51)):
            counts = [max(0, 12 - abs(i - 10 - s) * 2) for i in range(24)]
            edges = [round(-0.5 + i / 24, 4) for i in range(25)]
            grads = {"edges": [e / 50 for e in edges], "counts": list(reversed(counts))}
            hists.append(
                ev.Histogram(
                    9.0,
                    layer,
                    40 * (s + 1),
                    numel,
                    {"edges": edges, "counts": counts},
                    grads,
                    0.1 * (s + 1),
                    1e-3 * (s + 1),
                )
            )
    system = ev.System(9.5, 95.0, 412.0, 1)
    return [*out[:-1], heatmap, *hists, system, out[-1]]


@pytest.mark.parametrize("tab", ["chart", "histograms"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_boundary_and_histograms(snap_compare, size, tab):
    async def show(pilot):
        screen = await built(pilot)
        screen.show_past_run(inside_run(), {"dataset": "spiral"}, "spiral")
        screen.results.show_tab(tab)
        await pilot.pause()
        from pttui.tui.widgets.drawn_chart import DrawnChart

        charts = [screen.results.chart, *screen.query(DrawnChart)]
        for _ in range(150):
            if all(c.settled for c in charts if c.display):
                break
            await pilot.pause(0.02)

    assert snap_compare(PlaygroundApp("training"), terminal_size=size, run_before=show)


def confusion_table(note: str = "final") -> ev.Table:
    """A 10-class matrix shaped like digits' (made up, fixed): mostly right, 8 and 9 confused."""
    rows = []
    for t in range(10):
        row = [2 if (t, p) in {(8, 1), (9, 3), (1, 2), (7, 1)} else 0 for p in range(10)]
        row[t] = 30 + (t * 7) % 11
        if t == 8:
            row[3], row[1] = 5, 10
        rows.append([str(t), *row])
    return ev.Table(
        9.0, "confusion matrix (validation)", ["true \\ predicted", *map(str, range(10))], rows, note
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_confusion_matrix(snap_compare, size):
    async def show(pilot):
        from pttui.tui.widgets.confusion import ConfusionView

        screen = await built(pilot)
        run = recorded_run(epochs=4)
        screen.show_past_run([*run[:-1], confusion_table(), run[-1]], {"dataset": "digits"}, "digits")
        screen.results.show_tab("tables")
        await pilot.pause()
        views = list(screen.query(ConfusionView))
        for _ in range(150):
            if views and all(v.settled and v.text for v in views):
                break
            await pilot.pause(0.02)

    assert snap_compare(PlaygroundApp("training"), terminal_size=size, run_before=show)
