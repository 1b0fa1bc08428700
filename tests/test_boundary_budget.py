"""The decision boundary's maps stay within 5% of training time (issue 16), whatever the run's length.

The hook's rule is checked on a clock the test drives, so the outcome does not depend on the
machine's load: a map costs 2 ms, training steps cost what the test says.
"""

from __future__ import annotations

import pytest

from pttui.engine import boundary


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Map:
    """Stands in for BoundaryMap's bookkeeping: each map costs `cost` seconds of the clock."""

    def __init__(self, clock: _Clock, cost: float):
        self.clock, self.cost, self.seconds, self.maps = clock, cost, 0.0, 0

    def make(self, step, final=False, t=0.0):
        self.clock.now += self.cost
        self.seconds += self.cost
        self.maps += 1
        return ("map", step, final)


class _Ctx:
    def __init__(self):
        self.emitted = []

    def emit(self, event):
        self.emitted.append(event)

    def now(self):
        return 0.0


@pytest.mark.parametrize("step_s, steps", [(0.001, 9), (0.001, 100), (0.01, 500), (0.0001, 20000)])
def test_maps_cost_at_most_five_percent_of_training(monkeypatch, step_s, steps):
    clock = _Clock()
    monkeypatch.setattr(boundary.time, "perf_counter", clock)
    bmap, ctx = _Map(clock, cost=0.002), _Ctx()
    hook = boundary.BoundaryHook(ctx, bmap)
    hook.on_epoch_start(0)
    started = clock.now
    for step in range(1, steps + 1):
        clock.now += step_s
        hook.on_step_end(step, None)
    trained = clock.now - started - bmap.seconds
    assert bmap.seconds <= boundary.SHARE * trained + 1e-12, (
        f"{bmap.maps} maps cost {bmap.seconds:.4f} s of {trained:.4f} s of training"
    )
    # and the interval still rules a long run: about one map per EVERY_S of training
    if trained > 10 * boundary.EVERY_S:
        assert bmap.maps >= trained / boundary.EVERY_S * 0.8, (bmap.maps, trained)
    hook.emit(steps, final=True)  # the final map is always drawn
    assert ctx.emitted[-1] == ("map", steps, True)


def test_the_first_map_waits_for_training_worth_twenty_maps(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(boundary.time, "perf_counter", clock)
    bmap, ctx = _Map(clock, cost=0.002), _Ctx()
    hook = boundary.BoundaryHook(ctx, bmap)
    hook.on_epoch_start(0)
    hook.on_step_end(1, None)  # at once: 0 s trained
    assert not ctx.emitted
    clock.now += 0.05  # 50 ms trained: 5% is 2.5 ms >= one map of ~2 ms
    hook.on_step_end(2, None)
    assert [e[1] for e in ctx.emitted] == [2]
