"""A stop asked for by a signal never takes a lock in the handler (engine.stop_signal).

An engine child was found hung for an hour: a second SIGINT landed while its handler was inside
threading.Event.set(), and the nested handler waited on the Event's own lock. These tests hold
that lock when the signal lands, which is the moment that deadlocked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from pttui.engine.lifecycle import EXIT_INTERRUPTED
from pttui.engine.stop_signal import Flag, StopSignals


def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    for _ in range(1000):  # the handler runs at the next bytecode boundary on this thread
        pass


def test_a_signal_that_lands_inside_a_held_lock_only_sets_the_flag():
    event = threading.Event()
    with StopSignals() as stop:
        with event._cond:  # as inside Event.set() when a second signal lands
            _deliver(signal.SIGINT)
            _deliver(signal.SIGTERM)
        assert stop.fired.is_set() and stop.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_flag_is_set_from_other_threads():
    flag = Flag()
    assert not flag.is_set()
    threading.Thread(target=flag.set).start()
    for _ in range(200):
        if flag.is_set():
            break
        threading.Event().wait(0.01)
    assert flag.is_set()


def test_sigint_twice_stops_a_headless_engine_and_it_exits_130():
    """Ctrl-C reaches the engine twice (the group, and the supervisor's forward): it still stops."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pttui.engine", "run", "training", "--dataset", "moons", "--size", "200",
         "--epochs", "10000", "--threads", "1", "--json", "--no-record"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        for line in proc.stdout:
            if json.loads(line)["event"] == "step":
                break
        for _ in range(50):
            os.killpg(proc.pid, signal.SIGINT)
        rest = [json.loads(line) for line in proc.stdout]
        assert proc.wait(timeout=120) == EXIT_INTERRUPTED
        assert rest and rest[-1]["event"] == "done" and rest[-1]["stopped"], rest[-1:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
