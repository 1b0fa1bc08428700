"""Watching a run in the app: p pauses and resumes, n takes one step, - and + change the pace;
the status line and the Chart tab show it. Labs that must not pause do not offer the keys."""

from __future__ import annotations

import asyncio
import time

import pytest

from pttui.tui.app import PlaygroundApp
from pttui.tui.run_state import PAUSED, RUNNING
from pttui.tui.screens.topic import next_pace
from tests.test_app import built

TINY = {"dataset": "xor", "size": 200, "hidden": (8,), "epochs": 10000, "batch_size": 50, "threads": 1}
WAIT_S = 120


async def until(pilot, check, what: str):
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}")
        await pilot.pause(0.05)


def test_pace_keys_step_through_the_levels():
    assert next_pace(0, -1) == 20.0  # slower, from as fast as possible
    assert next_pace(20, -1) == 10.0
    assert next_pace(0.5, -1) == 0.5  # the slowest stays
    assert next_pace(20, 1) == 50.0
    assert next_pace(200, 1) == 0.0  # past the top: as fast as possible
    assert next_pace(0, 1) == 0.0


def test_labs_that_must_not_pause_do_not_offer_the_keys():
    async def scenario():
        app = PlaygroundApp("amp")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screen = await built(pilot)
            for action in ("pause", "step", "pace"):
                assert screen.check_action(action, ()) is False
            assert "timings" in screen.lab.pause_words()
            training = app.open_topic("training")
            await pilot.pause()
            # Idle: p and n are live keys (n starts a run held after step 1); pace waits for a run.
            assert training.check_action("pause", ()) is True
            assert training.check_action("step", ()) is True
            assert training.check_action("pace", ()) is None

    asyncio.run(scenario())


@pytest.mark.slow
def test_pause_step_resume_pace_and_stop_from_the_keyboard():
    async def scenario():
        app = PlaygroundApp("training")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await built(pilot)
            screen.form.set_values(TINY)
            await pilot.pause()
            await pilot.press("r")
            await until(pilot, lambda: screen.state.state == RUNNING and screen.state.step > 0, "steps")
            await pilot.press("p")
            await until(pilot, lambda: screen.state.state == PAUSED, "paused")
            assert str(screen.results.tabs.get_tab("chart").label) == "Chart ⏸"
            assert "paused" in str(screen.query_one("StatusLine").render())
            held = screen.state.step
            await pilot.pause(0.5)
            assert screen.state.step == held, "steps arrived while paused"
            await pilot.press("n")
            await until(pilot, lambda: screen.state.step == held + 1, "one step")
            await pilot.pause(0.5)
            assert screen.state.step == held + 1 and screen.state.state == PAUSED
            await pilot.press("minus")
            await until(pilot, lambda: screen.state.pace == 20.0, "pace 20 steps/s")
            await pilot.press("plus")
            await until(pilot, lambda: screen.state.pace == 50.0, "pace 50 steps/s")
            await pilot.press("p")
            await until(pilot, lambda: screen.state.state == RUNNING, "running again")
            await until(pilot, lambda: screen.state.step > held + 2, "steps after resume")
            assert str(screen.results.tabs.get_tab("chart").label) == "Chart"
            await pilot.press("p")
            await until(pilot, lambda: screen.state.state == PAUSED, "paused again")
            await pilot.press("s")  # a stop while paused
            await until(pilot, lambda: screen.child is None, "the run's end")
            assert screen.final.kind == "done" and screen.final.stopped

    asyncio.run(scenario())


@pytest.mark.slow
def test_n_with_nothing_running_starts_a_run_held_after_its_first_step_and_p_says_so():
    async def scenario():
        app = PlaygroundApp("training")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await built(pilot)
            screen.form.set_values(TINY)
            await pilot.pause()
            await pilot.press("p")  # idle: never silent
            await pilot.pause(0.2)
            said = "\n".join(screen.results.log_view.history)  # at 80x24 notices go to the log
            assert "Nothing is running: r runs it, n runs it held after step 1." in said, said
            assert screen.child is None
            await pilot.press("n")
            await until(pilot, lambda: screen.state.state == PAUSED, "held after its first step")
            await pilot.pause(0.5)
            assert screen.state.step == 1, screen.state.step
            await pilot.press("n")
            await until(pilot, lambda: screen.state.step == 2, "one more step")
            await pilot.press("s")
            await until(pilot, lambda: screen.child is None, "the run's end")
            assert screen.final.kind == "done" and screen.final.stopped

    asyncio.run(scenario())
