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
        screen = pilot.app.screen
        screen.show_past_run(recorded_run(epochs=10), {"epochs": 10}, "first")
        screen.show_past_run(recorded_run(epochs=8), {"epochs": 8}, "second")
        await pilot.pause()
        chart = screen.results.chart
        for _ in range(100):
            if chart.settled:
                break
            await pilot.pause(0.02)

    assert snap_compare(PlaygroundApp("training"), terminal_size=size, run_before=show)


def test_inline_error(snap_compare):
    async def bad(pilot):
        screen = pilot.app.screen
        field = screen.form.field("lr")
        field.editor.focus()
        field.editor.value = "fast"
        await pilot.pause()

    assert snap_compare(PlaygroundApp("training"), terminal_size=(80, 24), run_before=bad)
