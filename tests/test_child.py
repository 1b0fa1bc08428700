"""The app's engine child process: flags from params, events back, stop, kill, failures."""

from __future__ import annotations

import os
import sys
import time

import pytest

from pttui.engine import events as ev
from pttui.engine.headless import parse
from pttui.engine.labs import all_labs, get_lab
from pttui.engine.params import defaults, validate
from pttui.tui.child import Child, Exit, Line, flags, live_children

TINY = {"dataset": "xor", "size": 200, "hidden": (8,), "epochs": 2, "batch_size": 50, "threads": 1}


def _collect(child: Child, timeout: float = 60) -> list:
    items: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items += child.drain()
        if items and isinstance(items[-1], Exit):
            return items
        time.sleep(0.02)
    child.kill()
    raise AssertionError(f"the child did not finish in {timeout} s: {items[-5:]}")


@pytest.mark.parametrize("topic", list(all_labs()))
def test_flags_round_trip_through_the_cli_parser(topic):
    """The flags the app builds parse back, with `pttui run`'s own parser, to the same values."""
    lab = get_lab(topic)
    values = validate(lab.params, defaults(lab.params))
    raw, _ = parse(lab, flags(lab.params, values))
    assert validate(lab.params, raw) == values


def test_bool_flags_and_awkward_values():
    from pttui.engine.params import Param

    params = (
        Param("shuffle", "bool", True, "h"),
        Param("offset", "int", 0, "h", low=-10),
        Param("path", "path", "", "h"),
    )
    assert flags(params, {"shuffle": False, "offset": -3, "path": ""}) == [
        "--no-shuffle",
        "--offset=-3",
        "--path=",
    ]
    assert flags(params, {"shuffle": True}) == ["--shuffle"]


@pytest.mark.slow
def test_a_run_reports_events_and_stop_ends_it_at_the_next_step():
    lab = get_lab("training")
    child = Child("training", [*flags(lab.params, {**TINY, "epochs": 10000}), "--no-record"]).start()
    seen: list = []
    deadline = time.monotonic() + 60
    while not any(isinstance(i, ev.Epoch) for i in seen):
        assert time.monotonic() < deadline, "no epoch within 60 s"
        seen += child.drain()
        time.sleep(0.02)
    asked = time.monotonic()
    child.stop()
    items = seen + _collect(child, timeout=60)
    took = time.monotonic() - asked
    # Order and outcome, not speed: stop -> `done` with stopped=true -> exit 130, never a kill.
    kinds = [i.kind for i in items if isinstance(i, ev.Event) and i.kind not in ("hello", "state")]
    assert kinds[0] == "start" and "step" in kinds and kinds[-1] == "done", kinds[-5:]
    assert [i.stopped for i in items if isinstance(i, ev.Done)] == [True]  # it still reports
    assert isinstance(items[-1], Exit), items[-3:]
    assert items[-1].returncode == 130, f"exit {items[-1].returncode}, {took:.2f} s after the stop"
    assert child not in live_children() and not child.running


def test_a_child_that_ignores_sigint_is_killed_after_the_grace_period():
    child = Child("training", [])
    child.argv = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print('not json', flush=True); time.sleep(60)",
    ]
    child.start()
    deadline = time.monotonic() + 10
    items: list = []
    while not items:
        assert time.monotonic() < deadline
        items += child.drain()
        time.sleep(0.02)
    assert items[0] == Line("not json", "stdout")  # stray output is shown, never a crash
    started = time.monotonic()
    child.stop(grace=0.3)
    items += _collect(child, timeout=30)
    took = time.monotonic() - started
    assert items[-1].returncode < 0, f"exit {items[-1].returncode} {took:.2f} s after the stop"  # killed
    with pytest.raises(ProcessLookupError):
        os.killpg(child.pid, 0)  # nothing of its process group is left


def test_bad_parameters_come_back_on_stderr_with_exit_2():
    child = Child("training", ["--epochs=0", "--no-record"]).start()
    items = _collect(child)
    exit_item = items[-1]
    assert exit_item.returncode == 2
    assert "epochs" in exit_item.stderr_tail
    assert any(isinstance(i, Line) and i.stream == "stderr" for i in items)


def test_close_reaps_the_child():
    child = Child("training", [])
    child.argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    child.start()
    pid = child.pid
    started = time.monotonic()
    child.close(grace=1.0)
    took = time.monotonic() - started
    assert child.proc.returncode is not None, f"not reaped {took:.2f} s after close"  # no zombie
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_an_engine_that_has_reported_is_never_killed():
    """After its final event an engine only flushes and reaps: a stop past the grace waits."""
    child = Child("training", [])
    done = ev.Done(1.0, {"loss": 0.5}, True).to_json()
    child.argv = [
        sys.executable,
        "-c",
        "import signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        f"print({done!r}, flush=True); time.sleep(1.5); sys.exit(130)",
    ]
    child.start()
    items = []
    deadline = time.monotonic() + 30
    while not any(isinstance(i, ev.Done) for i in items):
        assert time.monotonic() < deadline, f"no done event in 30 s: {items}"
        items += child.drain()
        time.sleep(0.02)
    child.stop(grace=0.1)
    items += _collect(child, timeout=30)
    assert isinstance(items[-1], Exit) and items[-1].returncode == 130, items[-1]  # not -9
