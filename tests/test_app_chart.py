"""Chart data stays bounded and honest; the plot text is deterministic and fits its box."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pttui.engine import events as ev
from pttui.tui.chart_data import ChartData, Series
from pttui.tui.plot_render import Palette, render


def _feed(data: ChartData, steps: int, series: str = "train", rank=None, per_epoch: int = 50):
    rng = random.Random(0)
    for s in range(1, steps + 1):
        data.add(ev.Step(0.0, s, s // per_epoch, 2.0 * math.exp(-s / 300) + rng.random() * 0.2, series, rank))
        if s % per_epoch == 0:
            data.add(
                ev.Epoch(
                    0.0, s // per_epoch - 1, steps // per_epoch, {"val_acc": 1 - 1 / s}, series, rank=rank
                )
            )


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=3000), st.integers(8, 300))
@settings(max_examples=60, deadline=None)
def test_series_is_bounded_and_its_envelope_holds_every_point(values, capacity):
    series = Series(capacity)
    for i, v in enumerate(values):
        series.add(i, v)
    assert len(series.buckets) <= capacity
    assert sum(b[4] for b in series.buckets) == len(values)  # no point lost, none counted twice
    assert min(b[2] for b in series.buckets) == min(values)
    assert max(b[3] for b in series.buckets) == max(values)
    assert series.buckets[-1][0] == len(values) - 1  # the last bucket ends at the last point


def test_non_finite_losses_are_counted_not_drawn():
    series = Series()
    for v in (1.0, float("nan"), float("inf"), 0.5):
        series.add(0, v)
    assert series.count == 2 and series.skipped == 2


def test_a_million_steps_stay_within_the_capacity():
    data = ChartData(capacity=120)
    for s in range(1, 200_001):
        data.add(ev.Step(0.0, s, 0, 1.0 / s))
    curve = data.snapshot().loss[0]
    assert len(curve.xs) <= 120 and curve.xs[-1] == 200_000


def test_one_curve_per_series_and_rank_and_accuracy_on_its_own_plot():
    data = ChartData()
    _feed(data, 200, "fp32")
    _feed(data, 200, "bf16")
    _feed(data, 100, "train", rank=1)
    snap = data.snapshot()
    names = [c.name for c in snap.loss]
    assert {"fp32", "bf16", "train r1"} <= set(names)
    assert [c.name for c in snap.metric] == ["fp32 val acc", "bf16 val acc", "train r1 val acc"]


def test_new_run_keeps_the_previous_run_dimmed():
    data = ChartData()
    _feed(data, 100)
    data.new_run()
    _feed(data, 30)
    snap = data.snapshot()
    assert snap.previous_loss and snap.previous_loss[0].xs[-1] == 100
    assert snap.loss[0].xs[-1] == 30
    data.new_run(keep_previous=False)
    assert data.snapshot().empty


def test_labs_without_steps_get_an_epoch_axis():
    data = ChartData()
    for e in range(5):
        data.add(ev.Epoch(0.0, e, 5, {"train_loss": 1.0 / (e + 1), "accuracy": e / 5}))
    snap = data.snapshot()
    assert snap.x_label == "epoch" and snap.loss[0].xs == (1, 2, 3, 4, 5)


def test_render_fits_its_box_and_is_deterministic():
    data = ChartData(capacity=80)
    _feed(data, 1000)
    data.new_run()
    _feed(data, 600)
    for width, height in ((40, 18), (96, 30), (20, 4)):
        a = render(data.snapshot(), width, height, Palette())
        b = render(data.snapshot(), width, height, Palette())
        assert a.plain == b.plain and a.spans == b.spans
        lines = a.plain.split("\n")
        assert len(lines) == height
        assert max(len(line) for line in lines) <= width
    text = render(data.snapshot(), 60, 20, Palette()).plain
    assert "previous run" in text and "val accuracy" in text
    assert any("\u2801" <= ch <= "\u28ff" for ch in text)  # braille dots: the curve is drawn
