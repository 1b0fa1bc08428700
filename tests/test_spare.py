"""The app's warm spare engine (tui.spare): handed the run on `r`, a fresh one after each run,
none beside a run, and none left behind when the app quits or is killed.

Order and outcome only; the deadlines are generous and say what was waited for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pttui.tui.app import PlaygroundApp
from pttui.tui.child import live_children
from tests.test_app import built

TINY = {"dataset": "xor", "size": 200, "hidden": (8,), "epochs": 2, "batch_size": 50, "threads": 1}
WAIT_S = 120


def gone(pid: int) -> bool:
    """True once no process `pid` runs (a zombie nobody reaps counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not gone(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"{what} (pid {pid}) still ran {WAIT_S} s later")
        time.sleep(0.05)


async def until(pilot, check, what: str):
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}")
        await pilot.pause(0.05)


@pytest.mark.slow
def test_r_hands_the_run_to_the_spare_and_a_fresh_spare_follows_the_run(monkeypatch):
    monkeypatch.delenv("PTTUI_NO_SPARE")

    async def scenario():
        app = PlaygroundApp("training")
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await built(pilot)
            screen.form.set_values(TINY)
            await until(pilot, lambda: app.spares.child is not None, "the first spare")
            await until(pilot, lambda: app.spares._key == app.spares.key(1), "a spare for threads=1")
            spare = app.spares.child
            await pilot.press("r")
            assert screen.child is spare, "r did not hand the run to the spare"
            assert app.spares.child is None, "a spare waits beside the run"
            await until(pilot, lambda: screen.child is None, "the run's end")
            assert screen.state.state == "done"
            assert any(f"pid {spare.pid} (warm)" in line for line in screen.results.log_view.history)
            await until(pilot, lambda: app.spares.child is not None, "the next spare")
            fresh = app.spares.child
            assert fresh.pid != spare.pid, "the spare after a run must be a fresh process"
            wait_gone(spare.pid, "the run's engine")
            await pilot.press("q")
        return fresh.pid

    fresh = asyncio.run(scenario())
    wait_gone(fresh, "the spare after quit")
    assert [c for c in live_children() if c.pid == fresh] == []


@pytest.mark.slow
def test_a_spare_is_replaced_when_threads_change(monkeypatch):
    monkeypatch.delenv("PTTUI_NO_SPARE")

    async def scenario():
        app = PlaygroundApp("training")
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.spares.child is not None, "the first spare")
            first = app.spares.child
            app.screen.form.set_values({"threads": 1 if app.spares._key[0] != 1 else 2})
            await until(pilot, lambda: app.spares.child not in (None, first), "a spare for the new threads")
            wait_gone(first.pid, "the replaced spare")
            await pilot.press("q")

    asyncio.run(scenario())


@pytest.mark.slow
def test_no_spare_outlives_a_killed_app(tmp_path):
    """SIGKILL the app: no atexit, no cleanup. The spare reads EOF on its stdin and ends."""
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            from pttui.tui.app import PlaygroundApp

            async def main():
                app = PlaygroundApp()
                async with app.run_test() as pilot:
                    while app.spares.child is None or app.spares.child.pid is None:
                        await pilot.pause(0.05)
                    print(app.spares.child.pid, flush=True)
                    await asyncio.sleep(600)

            asyncio.run(main())
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PTTUI_NO_SPARE"}
    app = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = app.stdout.readline()
        assert line.strip().isdigit(), f"the app printed no spare pid: {line!r}"
        spare = int(line)
        assert not gone(spare)
        app.kill()
        app.wait(WAIT_S)
        wait_gone(spare, "the spare of a killed app")
    finally:
        app.kill()
