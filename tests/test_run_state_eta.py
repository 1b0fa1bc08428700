"""The status line's ETA leaves out time the run did not train (paused, single steps)."""

from pttui.engine import events as ev
from pttui.tui.run_state import RunState

TOTAL, PACE = 5000, 20.0


def _steps(first: int, last: int, t0: float, rate: float) -> list[ev.Event]:
    """Steps first..last at `rate` steps/s, the first at time t0."""
    return [ev.Step(t=t0 + (n - first) / rate, step=n, epoch=0, loss=1.0) for n in range(first, last + 1)]


def _scenario(fold_each: bool) -> RunState:
    """The issue's run: 20 steps/s to step 300, a 15 s pause, two single steps, then on to step 445."""
    events: list[ev.Event] = [
        ev.Start(t=0.0, topic="training", params={}, device="cpu", torch="x"),
        ev.State(t=0.0, state="running", pace=PACE),
    ]
    events += [ev.Epoch(t=0.01, epoch=0, epochs=200, metrics={}, steps_total=TOTAL)]
    events += _steps(1, 300, 1.0, PACE)
    t_pause = 1.0 + 299 / PACE
    events.append(ev.State(t=t_pause, state="paused", step=300, pace=PACE))
    events += [
        ev.Step(t=t_pause + 5, step=301, epoch=0, loss=1.0),
        ev.State(t=t_pause + 5, state="paused", step=301),
    ]
    events += [
        ev.Step(t=t_pause + 9, step=302, epoch=0, loss=1.0),
        ev.State(t=t_pause + 9, state="paused", step=302),
    ]
    t_resume = t_pause + 15
    events.append(ev.State(t=t_resume, state="running", step=302, pace=PACE))
    events += _steps(303, 445, t_resume + 1 / PACE, PACE)
    state = RunState(state="starting")
    if fold_each:
        for event in events:
            state = state.update(event)
        return state
    return state.update_all(events)


def test_eta_leaves_out_paused_time_and_single_steps():
    for fold_each in (True, False):
        state = _scenario(fold_each)
        assert state.state == "running" and state.step == 445
        left = (TOTAL - 445) / PACE  # 3:48 at the steady 20 steps/s the run keeps
        assert state.eta_s is not None
        assert abs(state.eta_s - left) < 0.05 * left, (
            f"ETA {state.eta_s:.1f} s, expected ~{left:.1f} s ({fold_each=})"
        )


def test_eta_never_below_remaining_steps_at_the_pace():
    # Steps reported in a burst (faster than the pace) must not promise more than the pace allows.
    events = [
        ev.Start(t=0.0, topic="training", params={}, device="cpu", torch="x"),
        ev.State(t=0.0, state="running", pace=PACE),
    ]
    events += [ev.Epoch(t=0.01, epoch=0, epochs=200, metrics={}, steps_total=TOTAL)]
    events += _steps(1, 100, 1.0, 1000.0)
    state = RunState(state="starting").update_all(events)
    assert state.eta_s is not None and state.eta_s >= (TOTAL - 100) / PACE


def test_system_words_scale_sizes_as_engine_numbers_does():
    """The status line's memory figures are MiB scaled by engine.numbers: 0.5 MiB reads `512 KB`,
    not `0 MiB`; 1,536 MiB reads `1.5 GB` (issue 14)."""
    from pttui.tui.run_state import system_words

    words = system_words(ev.System(1.0, 180.4, 0.5, 2))
    assert words == "cpu 180% 512 KB", words  # 0.5 MiB = 512 KiB
    cuda = {"allocated_mb": 1536.0, "reserved_mb": 2048.0, "peak_mb": 0.25}
    words = system_words(ev.System(1.0, 50.0, 1536.0, 1, cuda))
    assert words == "cpu 50% 1.5 GB · gpu 1.5 GB/2 GB peak 256 KB", words
