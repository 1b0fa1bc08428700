"""The app under Pilot: topics open, bad values are refused inline, runs show up live,
stop and quit end the child, failures leave the app working, torch stays out of the app."""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
import time

import pytest
from textual.widgets import Input

from pttui.engine.labs import all_labs
from pttui.engine.params import defaults, validate
from pttui.tui.app import PlaygroundApp
from pttui.tui.child import live_children
from pttui.tui.screens.home import HomeScreen
from pttui.tui.screens.topic import TopicScreen
from pttui.tui.widgets.code_view import CodeView
from pttui.tui.widgets.param_field import ParamField
from pttui.tui.widgets.summary import SummaryPane
from pttui.tui.widgets.topic_list import TopicList


def sync(test):
    """Run an async Pilot test with asyncio.run (no async pytest plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


TINY = {"dataset": "xor", "size": 200, "hidden": (8,), "batch_size": 50, "threads": 1}


async def wait_for(pilot, predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)


async def built(pilot, timeout: float = 30.0) -> TopicScreen:
    """The topic screen on show, once every field and tab is mounted: the first frame shows
    only what fits on it, and the screen mounts the rest right after (TopicScreen._build)."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, TopicScreen) and app.screen.built,
        timeout,
        "the topic screen's fields and tabs to mount",
    )
    return app.screen


async def long_run_going(pilot) -> TopicScreen:
    """The training screen with a long run (10,000 epochs of TINY) started by `r` and at its first step."""
    screen = await built(pilot)
    screen.form.set_values({**TINY, "epochs": 10000})
    await pilot.press("r")
    await wait_for(pilot, lambda: screen.state.step > 0, 60, "the first step")
    return screen


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@sync
async def test_home_lists_every_topic_and_enter_opens_one():
    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        topics = app.screen.query_one(TopicList)
        assert [topics.get_option_at_index(i).id for i in range(topics.option_count)] == list(all_labs())
        await pilot.press("j", "k", "j")
        chosen = topics.highlighted_topic
        await pilot.press("enter")
        assert isinstance(app.screen, TopicScreen) and app.screen.lab.name == chosen
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)


@sync
async def test_every_topic_opens_with_its_form_and_code():
    """Each lab's form is built from its params alone, and its Code tab shows lab.code()."""
    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        for name, lab in all_labs().items():
            screen = app.open_topic(name)
            await pilot.pause()
            assert app.screen is screen
            await built(pilot)
            fields = screen.query(ParamField)
            assert [f.param.name for f in fields] == [p.name for p in lab.params]
            assert screen.form.errors == {}
            await wait_for(pilot, lambda s=screen: s.query_one(CodeView).code, 5, "code")
            assert screen.query_one(CodeView).code == lab.code(validate(lab.params, defaults(lab.params)))


@sync
async def test_a_bad_value_shows_inline_at_once_and_run_refuses():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        field = screen.form.field("lr")
        editor = field.query_one(Input)
        editor.focus()
        editor.value = ""
        await pilot.press(*"abc")
        await pilot.pause()
        error = field.query_one(".error")
        assert error.display and "expected a number from" in str(error.render())
        assert field.has_class("-invalid")
        screen.query_one("ContentTabs").focus()
        await pilot.press("r")
        await pilot.pause()
        assert screen.child is None and not live_children()
        assert app.focused is editor  # Run sent the person to the field to fix
        # 80x24: no toast over the results; the status line and the Log say it (tui.notices)
        assert "Fix lr" in str(screen.query_one("StatusLine").render())
        assert any("Fix lr" in line for line in screen.results.log_view.history)
        assert "Fix the marked fields" in str(screen.query_one("#note").render())
        editor.value = "0.01"
        await pilot.pause()
        assert not field.has_class("-invalid") and screen.form.errors == {}


@sync
async def test_code_follows_the_form():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        lab = screen.lab
        screen.form.set_values({"epochs": 7, "lr": 0.05})
        values = validate(lab.params, {**defaults(lab.params), "epochs": 7, "lr": 0.05})
        await wait_for(pilot, lambda: screen.query_one(CodeView).code == lab.code(values), 5, "new code")


@pytest.mark.slow
@sync
async def test_run_training_shows_points_and_the_done_state():
    app = PlaygroundApp("training")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await built(pilot)
        screen.form.set_values({**TINY, "epochs": 3})
        await pilot.press("r")
        assert screen.child is not None
        await wait_for(pilot, lambda: screen.state.state == "done", 90, "the run to finish")
        chart = screen.results.chart
        snap = chart.data.snapshot()
        assert snap.loss and len(snap.loss[0].xs) > 3 and snap.metric  # loss and accuracy curves
        await wait_for(pilot, lambda: chart.settled, 5, "the chart to draw")
        assert any("\u2801" <= ch <= "\u28ff" for ch in chart.drawing)
        assert screen.state.epoch == 3 and screen.state.device == "cpu"
        assert screen.query_one(SummaryPane).has_content
        assert screen.query_one("StatusLine").render().plain.startswith("✔ done")
        # A second run keeps the first one's curve, dimmed, for comparison.
        screen.form.set_values({"lr": 0.03})
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.state.state == "done" and screen.child is None, 90, "run 2")
        assert chart.data.snapshot().previous_loss


TORCH_FREE = """
import asyncio, sys, time
from pttui.engine.labs import all_labs
from pttui.tui.app import PlaygroundApp

async def main():
    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        for name in all_labs():
            app.open_topic(name)
            await pilot.pause()
        screen = app.open_topic("training")
        await pilot.pause()
        screen.form.set_values({"dataset": "xor", "size": 200, "hidden": "8", "epochs": 2, "threads": 1})
        screen.action_run()
        deadline = time.monotonic() + 90
        while (screen.child is not None or screen.state.state != "done") and time.monotonic() < deadline:
            await pilot.pause(0.1)
        print(screen.state.state, screen.results.chart.data.steps > 0, "torch" in sys.modules)

asyncio.run(main())
"""


@pytest.mark.slow
def test_the_app_never_imports_torch():
    """In a fresh process (pytest's own may hold torch): open every topic, train, no torch."""
    out = subprocess.run(
        [sys.executable, "-c", TORCH_FREE],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert out.stdout.split() == ["done", "True", "False"], out.stdout + out.stderr[-2000:]


@pytest.mark.slow
@sync
async def test_stop_mid_run():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await long_run_going(pilot)
        pid = screen.child.pid
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.child is None, 5, "the child to end")
        assert screen.state.state == "stopped"
        assert _gone(pid)
        assert screen.query_one("#run").disabled is False  # ready for the next run


@pytest.mark.slow
@sync
async def test_quit_mid_run_leaves_no_child():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await long_run_going(pilot)
        pid = screen.child.pid
        asked = time.monotonic()
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, 5, "the app to exit")
    assert time.monotonic() - asked < 3
    assert _gone(pid) and not live_children()


@pytest.mark.slow
@sync
async def test_failures_notify_and_the_app_keeps_working():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        severities = []  # what was notified (the toasts themselves expire after 8 s)
        notify = app.notify
        app.notify = lambda *a, **k: (severities.append(k.get("severity")), notify(*a, **k))[1]
        # 1. the engine refuses a value only the run can check: the field is blamed inline
        # (mps: on Linux only the run can tell; a CUDA device on a CPU-only build is refused early)
        screen.form.set_values({**TINY, "epochs": 1, "device": "mps"})
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.child is None and screen.state.state == "failed", 60, "error")
        assert screen.form.field("device").has_class("-invalid")
        assert "error" in severities
        assert app.focused is screen.form.field("device").editor  # sent to the field to fix
        # 2. a child killed from outside: a notification and a Log message, nothing more
        screen.form.set_values({"device": "cpu", "epochs": 10000})
        await pilot.press("enter")  # Enter in a field runs
        await wait_for(pilot, lambda: screen.state.step > 0, 60, "the first step")
        os.killpg(screen.child.pid, 9)
        await wait_for(pilot, lambda: screen.child is None, 10, "the killed child")
        assert screen.state.state == "failed" and "killed (SIGKILL)" in screen.state.message
        assert "was killed (SIGKILL)" in "\n".join(screen.results.log_view.history)
        # 3. the next run starts cleanly; Enter moved the focus out of the field, so r is a key
        screen.form.set_values({"epochs": 1})
        assert screen.focused is not None and screen.form not in screen.focused.ancestors
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.child is None and screen.state.state == "done", 60, "run 3")


@sync
async def test_palette_commands_and_theme():
    from pttui.tui.commands import PlaygroundCommands

    app = PlaygroundApp()
    async with app.run_test(size=(80, 24)) as pilot:
        provider = PlaygroundCommands(app.screen)
        commands = {name: callback for name, callback, _ in provider._commands()}
        assert {"Run", "Stop", "Export script", "Toggle dark/light theme"} <= set(commands)
        assert all(f"Switch topic: {name}" in commands for name in all_labs())
        commands["Switch topic: training"]()
        await pilot.pause()
        assert isinstance(app.screen, TopicScreen) and app.screen.lab.name == "training"
        dark = app.current_theme.dark
        commands["Toggle dark/light theme"]()
        await pilot.pause()
        assert app.current_theme.dark is not dark
        commands["Export script"]()
        await pilot.pause()
        assert os.path.exists("pttui_training.py")  # the tests run in a tmp folder
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        assert isinstance(app.screen, TopicScreen)


@sync
async def test_no_color_is_honoured(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.no_color


@pytest.mark.parametrize("returncode", [-9, -2, 1])
@sync
async def test_an_engine_that_ends_without_a_word_after_a_stop_was_stopped(returncode):
    # r then s at once: the engine may be killed once the grace period runs out, or end before
    # the lab began (CPython's own abort included). The person asked for a stop; it is one.
    from dataclasses import replace

    from pttui.tui.child import Exit
    from pttui.tui.run_state import STOPPED, STOPPING

    app = PlaygroundApp("tensors")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = await built(pilot)
        screen._set_state(replace(screen.state, state=STOPPING))
        screen._finished(Exit(returncode, "Fatal Python error: init_import_site" if returncode == 1 else ""))
        await pilot.pause()
        assert screen.state.state == STOPPED, screen.state
        assert not any(n.severity == "error" for n in app._notifications)
