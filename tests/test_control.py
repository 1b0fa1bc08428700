"""The control channel (engine.commands, engine.gate, engine.control): commands on stdin.

Order and outcome only: what arrives after each command, never how fast.
"""

from __future__ import annotations

import io
import json
import queue
import subprocess
import sys
import threading
import time

import pytest

from pttui.engine import commands as cmd
from pttui.engine import events as ev
from pttui.engine.control import Control
from pttui.engine.gate import Gate
from pttui.engine.labs import get_lab
from pttui.engine.lifecycle import EXIT_INTERRUPTED, EXIT_OK
from pttui.engine.runner import Runner
from pttui.engine.sinks import JsonLinesSink

TINY = {"dataset": "xor", "size": 200, "hidden": "8", "batch_size": 50, "threads": 1}
WAIT_S = 120  # generous: these hold on a machine with a load average of 10


# -- commands -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [cmd.Run("training", {"epochs": 3}), cmd.Pause(), cmd.Resume(), cmd.Step(), cmd.Stop(), cmd.Pace(2.5)],
)
def test_every_command_round_trips(command):
    assert cmd.parse(cmd.to_json(command)) == command


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("pause", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"cmd": "jump"}', "'jump' is not a command; allowed: run, pause"),
        ('{"command": "pause"}', "is not a command"),
        ('{"cmd": "pause", "now": true}', "unknown key 'now'"),
        ('{"cmd": "run", "values": {}}', "missing 'topic'"),
        ('{"cmd": "run", "topic": "training", "values": [1]}', "values must be an object"),
        ('{"cmd": "pace", "steps_per_s": -1}', "steps_per_s must be a number from 0"),
        ('{"cmd": "pace", "steps_per_s": "fast"}', "steps_per_s must be a number"),
    ],
)
def test_a_malformed_line_says_what_was_wrong(line, words):
    with pytest.raises(cmd.CommandError, match=None) as info:
        cmd.parse(line)
    assert words in str(info.value)


# -- the gate, on threads (no torch) ----------------------------------------------------------
class Loop:
    """A stand-in training loop: counts the turns the gate gives, records what it announces."""

    def __init__(self, pace: float = 0.0):
        self.stop = threading.Event()
        self.said: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self.gate = Gate(self.stop, pace, pausable=True, announce=lambda s: self.said.put((s, self.steps)))
        self.steps = 0
        self.holds = 0
        self.ended = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while self.gate.turn(self._hold):
            self.steps += 1
            time.sleep(0.001)
        self.ended.set()

    def _hold(self):
        self.holds += 1

    def next_said(self) -> tuple[str, int]:
        return self.said.get(timeout=WAIT_S)


def test_gate_pause_holds_step_takes_one_resume_goes_on_stop_ends():
    loop = Loop()
    loop.gate.pause()
    state, at = loop.next_said()
    assert state == "paused" and loop.holds == 1  # the loop sent what it had before holding
    time.sleep(0.3)
    assert loop.steps == at, "a paused loop took a step"
    loop.gate.step()
    assert loop.next_said() == ("paused", at + 1)  # exactly one step, then held again
    time.sleep(0.2)
    assert loop.steps == at + 1
    loop.gate.resume()
    assert loop.next_said()[0] == "running"
    deadline = time.monotonic() + WAIT_S
    while loop.steps < at + 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loop.steps >= at + 20, f"resumed loop stuck at {loop.steps}"
    loop.gate.pause()
    loop.next_said()
    loop.stop.set()  # a stop while paused ends the loop
    assert loop.ended.wait(WAIT_S)


def test_gate_pace_spaces_the_steps():
    started = time.perf_counter()
    loop = Loop(pace=20.0)
    deadline = time.monotonic() + WAIT_S
    while loop.steps < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    loop.stop.set()
    assert loop.ended.wait(WAIT_S)
    assert loop.steps >= 4, f"only {loop.steps} paced steps in {WAIT_S} s"
    # at 20 steps/s, n steps need at least (n - 1) / 20 s: a bound no load can break
    assert elapsed >= (4 - 1) / 20.0, f"4 steps in {elapsed:.3f} s at 20 steps/s"
    assert loop.gate.held_s > 0  # the waits are counted, so samples/s can leave them out


def test_a_lab_that_is_not_pausable_keeps_its_gate_open():
    stop = threading.Event()
    gate = Gate(stop, pausable=False)
    gate.pause()
    assert gate.turn() is True  # the pause does not hold it
    stop.set()
    assert gate.turn() is False


# -- the control object, in process ------------------------------------------------------------
def _answers(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_speed_lab_refuses_pause_and_says_why():
    out = io.StringIO()
    control = Control(JsonLinesSink(out), fd=-1)
    control.attach(Runner(get_lab("amp"), {}))
    control.handle('{"cmd": "pause"}')
    control.handle("garbage")
    errors = [a for a in _answers(out) if a["event"] == "error"]
    assert [e["fatal"] for e in errors] == [False, False]
    assert "amp does not pause" in errors[0]["message"] and "timings" in errors[0]["message"]
    assert "not JSON" in errors[1]["message"]


def test_a_bad_run_command_names_the_field_and_the_engine_keeps_serving():
    out = io.StringIO()
    control = Control(JsonLinesSink(out), fd=-1)
    control.handle('{"cmd": "run", "topic": "training", "values": {"epochs": 0}}')
    control.handle('{"cmd": "run", "topic": "nope", "values": {}}')
    control.handle('{"cmd": "run", "topic": "training", "values": {"epochs": 2}}')
    errors = [a for a in _answers(out) if a["event"] == "error"]
    assert [(e["field"], e["fatal"]) for e in errors] == [("epochs", False), ("topic", False)]
    lab, values = control.runs.get_nowait()
    assert lab.name == "training" and values["epochs"] == 2


# -- a real engine, over real pipes ----------------------------------------------------------
class Engine:
    """`python -m pttui.engine run ... --control` with its stdout read into a list of events."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pttui.engine", "run", *args, "--control", "--no-record"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[ev.Event] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self.events.append(ev.from_json(line))
                self._cond.notify_all()

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, pred, after: int = 0, what: str = "") -> int:
        """Index of the first event from `after` on that matches `pred`."""
        deadline = time.monotonic() + WAIT_S
        with self._cond:
            while True:
                for i in range(after, len(self.events)):
                    if pred(self.events[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._more()):
                    tail = [e.kind for e in self.events[-8:]]
                    raise AssertionError(f"no {what or 'such event'} within {WAIT_S} s; last: {tail}")
                self._cond.wait(min(left, 0.2))

    def _more(self) -> bool:
        return not self.proc.stdout.closed

    def steps_after(self, index: int) -> list[ev.Step]:
        with self._cond:
            return [e for e in self.events[index + 1 :] if isinstance(e, ev.Step)]

    def finish(self) -> int:
        try:
            return self.proc.wait(WAIT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def is_state(name):
    return lambda e: isinstance(e, ev.State) and e.state == name


def is_kind(kind):
    return lambda e: e.kind == kind


@pytest.mark.slow
def test_pause_step_resume_and_stop_while_paused_over_stdin():
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    engine = Engine("training", "--epochs=10000", *flags)
    try:
        hello = engine.wait_for(is_kind("hello"), what="hello")
        assert engine.events[hello].protocol == cmd.PROTOCOL
        first = engine.wait_for(is_kind("step"), what="a first step")

        engine.send("this is not a command")
        bad = engine.wait_for(is_kind("error"), first, "an error for the bad line")
        assert engine.events[bad].fatal is False and "not JSON" in engine.events[bad].message
        engine.wait_for(is_kind("step"), bad, "a step after the bad line (the engine keeps serving)")

        engine.send('{"cmd": "pause"}')
        paused = engine.wait_for(is_state("paused"), bad, "paused")
        held_at = engine.events[paused].step
        before = [e for e in engine.events[:paused] if isinstance(e, ev.Step)]
        assert before[-1].step == held_at  # every step taken was sent before the pause
        time.sleep(1.0)
        assert engine.steps_after(paused) == [], "steps arrived while paused"

        engine.send('{"cmd": "step"}')
        again = engine.wait_for(is_state("paused"), paused + 1, "paused after one step")
        one = engine.steps_after(paused)
        assert [s.step for s in one] == [held_at + 1], "step must take exactly one optimizer step"
        assert engine.events[again].step == held_at + 1
        time.sleep(0.5)
        assert engine.steps_after(again) == []

        engine.send('{"cmd": "pace", "steps_per_s": 50}')
        paced = engine.wait_for(lambda e: isinstance(e, ev.State) and e.pace == 50, again, "the new pace")
        engine.send('{"cmd": "resume"}')
        engine.wait_for(is_state("running"), paced, "running again")
        engine.wait_for(
            lambda e: isinstance(e, ev.Step) and e.step > held_at + 2, again, "steps after resume"
        )

        engine.send('{"cmd": "pause"}')
        last_pause = engine.wait_for(is_state("paused"), paced + 1, "paused again")
        engine.send('{"cmd": "stop"}')
        done = engine.wait_for(is_kind("done"), last_pause, "done after a stop while paused")
        assert engine.events[done].stopped is True
        assert engine.finish() == EXIT_INTERRUPTED
    finally:
        engine.proc.kill()


@pytest.mark.slow
def test_eof_on_stdin_stops_the_run():
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    engine = Engine("training", "--epochs=10000", *flags)
    try:
        engine.wait_for(is_kind("step"), what="a first step")
        engine.proc.stdin.close()
        done = engine.wait_for(is_kind("done"), what="done after EOF")
        assert engine.events[done].stopped is True
        assert engine.finish() == EXIT_INTERRUPTED
    finally:
        engine.proc.kill()


@pytest.mark.slow
def test_a_spare_runs_what_it_is_handed_like_a_cold_engine():
    """The warm-up leaves torch's RNG alone: the spare's run ends where a cold run does."""
    from tests.conftest import run_lab

    values = {**TINY, "epochs": 2}
    engine = Engine()
    try:
        hello = engine.wait_for(is_kind("hello"), what="hello")
        assert engine.events[hello].protocol == cmd.PROTOCOL
        engine.send(cmd.to_json(cmd.Run("training", values)))
        done = engine.wait_for(is_kind("done"), what="the handed run's done")
        assert engine.events[done].stopped is False
        assert engine.finish() == EXIT_OK
        kinds = [e.kind for e in engine.events]
        assert kinds.index("start") > kinds.index("hello")
        final, _ = run_lab("training", **values)
        assert engine.events[done].result["train_loss"] == pytest.approx(final.result["train_loss"], rel=1e-6)
    finally:
        engine.proc.kill()


@pytest.mark.slow
def test_a_spare_ends_on_eof_before_any_run():
    engine = Engine()
    engine.wait_for(is_kind("hello"), what="hello")
    engine.proc.stdin.close()
    assert engine.finish() == EXIT_OK
    assert not [e for e in engine.events if e.kind in ("start", "done")]


@pytest.mark.slow
def test_without_control_the_engine_reads_no_stdin():
    proc = subprocess.Popen(
        [sys.executable, "-m", "pttui.engine", "run", "autograd", "--json", "--no-record"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    proc.stdin.write('{"cmd": "stop"}\n')  # a pipeline's stray input; the pipe stays open
    proc.stdin.flush()
    try:
        out = proc.stdout.read()  # to the end: the engine finished without any EOF on stdin
        proc.wait(WAIT_S)
    finally:
        proc.kill()
        proc.stdin.close()
    events = [ev.from_json(line) for line in out.splitlines()]
    assert proc.returncode == EXIT_OK
    assert events[-1].kind == "done" and events[-1].stopped is False
    assert not [e for e in events if e.kind in ("hello", "state")]


def test_pttui_run_help_mentions_control():
    from tests.conftest import pttui

    done = pttui("run", "training", "--help")
    assert "--control" in done.stdout


# -- the events' clock: one per stream, never back (README "Headless use") -------------------
def _times_never_go_back(events: list[ev.Event]) -> None:
    times = [e.t for e in events]
    assert times == sorted(times), [(e.kind, getattr(e, "state", ""), e.t) for e in events]


@pytest.mark.slow
def test_a_spare_handed_its_run_while_warming_says_warming_ready_running_in_order():
    engine = Engine()
    try:
        engine.send(cmd.to_json(cmd.Run("tensors", {})))  # at once: the spare is still warming up
        engine.wait_for(is_kind("done"), what="the run's done")
        assert engine.finish() == EXIT_OK
        states = [e.state for e in engine.events if isinstance(e, ev.State)]
        assert states[:3] == ["warming", "ready", "running"], states
        _times_never_go_back(engine.events)
        hello = engine.events[0]
        assert (hello.kind, hello.t) == ("hello", 0.0)  # sent before stdin is read: before any run
    finally:
        engine.proc.kill()


@pytest.mark.slow
def test_a_cold_controlled_run_and_a_json_run_count_from_the_engine_taking_the_run():
    engine = Engine("tensors")
    try:
        engine.wait_for(is_kind("done"), what="done")
        engine.proc.stdin.close()
        assert engine.finish() == EXIT_OK
        _times_never_go_back(engine.events)
        start = next(e for e in engine.events if e.kind == "start")
        running = next(e for e in engine.events if isinstance(e, ev.State) and e.state == "running")
        assert running.t <= start.t  # `start` waits for torch; `running` came when the run was taken
    finally:
        engine.proc.kill()
    out = subprocess.run(
        [sys.executable, "-m", "pttui.engine", "run", "tensors", "--json", "--no-record"],
        capture_output=True, text=True, timeout=WAIT_S,
    )  # fmt: skip
    assert out.returncode == EXIT_OK, out.stderr
    _times_never_go_back([ev.from_json(line) for line in out.stdout.splitlines()])
