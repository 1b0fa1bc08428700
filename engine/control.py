"""The control channel: an engine started with `--control` takes commands on stdin.

Commands (engine.commands) come one JSON object per line; the engine answers on stdout with
the same JSON-lines events as `--json`: a `hello` first (the protocol version), a `state` event
on every change, and a non-fatal `error` for a line it cannot take, after which it keeps
serving. EOF on stdin means stop, so an engine whose front end died (even by SIGKILL) ends.

Two ways in:
- `run TOPIC --control ...`: runs at once; stdin can pause, step, pace and stop it.
- `run --control [--threads N]` (no topic): a warm spare. It imports torch and does the first
  run's one-time work on the very thread that will run the lab (two threads doing OpenMP work
  in one process ran 3x slower here), says `ready`, and waits for a `run` command. One run
  per process: after it, the engine exits, so every run keeps its own process.

Without `--control` the engine never reads stdin (pipelines, torchrun ranks and CI).
Stdin is read with os.read on its own thread, never through sys.stdin, so that a blocked read
cannot hold a lock the interpreter wants when it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pttui.engine import commands as cmd
from pttui.engine import events as ev
from pttui.engine.events import PAUSED, READY, RUNNING, WARMING
from pttui.engine.lifecycle import EXIT_BAD_PARAMS, EXIT_INTERRUPTED, EXIT_OK
from pttui.engine.sinks import JsonLinesSink

MAX_LINE = 1 << 20  # a longer command line is refused, not buffered without end


class Control:
    """Reads commands from file descriptor `fd` on its own thread and applies them to the run.

    `out` is the stdout sink the run's events share, so answers and events stay in order.
    """

    def __init__(self, out: JsonLinesSink, fd: int = 0, took_run: bool = True):
        self.out = out
        self.fd = fd
        # The clock of every event this engine sends (see `now`): set when the engine takes its
        # run, now for `run TOPIC --control`, at the `run` command for a warm spare.
        self.t0: float | None = time.perf_counter() if took_run else None
        self.runner: Any = None  # engine.runner.Runner, once a run is attached
        self.claimed = False  # a `run` was taken (it may still wait for the warm-up)
        self._early: list[tuple[cmd.Command, str]] = []  # gate commands before the run attached
        self.runs: queue.SimpleQueue[tuple[Any, dict[str, Any]] | None] = queue.SimpleQueue()
        self.stop_asked = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="pttui-control", daemon=True)

    # -- answers ------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the engine took its run (engine.events says when that is); 0 before it
        took one (a spare's hello, warming, ready). Never goes back: the run's events count on
        the same clock (`attach` hands it to the run)."""
        return 0.0 if self.t0 is None else time.perf_counter() - self.t0

    def send(self, event: ev.Event) -> None:
        try:
            self.out.on_event(event)
        except (OSError, ValueError):  # the front end went away: EOF on stdin follows
            pass

    def state(self, state: str) -> None:
        runner = self.runner
        step = runner.ctx.last_step if runner is not None else 0
        pace = runner.ctx.gate.pace if runner is not None else 0.0
        self.send(ev.State(self.now(), state, step, pace))

    def refuse(self, message: str, line: str = "", field: str | None = "cmd") -> None:
        self.send(ev.Error(self.now(), message, field, line[:200], fatal=False))

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> Control:
        self.send(ev.Hello(self.now(), cmd.PROTOCOL, os.getpid(), list(cmd.COMMANDS)))
        self._thread.start()
        return self

    def attach(self, runner: Any) -> None:
        """From now on commands act on this run (a stop that came first stops it at once)."""
        with self._lock:
            self.runner = runner
            self.claimed = True
            if self.t0 is None:
                self.t0 = time.perf_counter()
            runner.ctx.t0 = self.t0  # one clock for the answers and the run's events
            early, self._early = self._early, []
        if self.stop_asked.is_set():
            runner.stop()
        self.state(RUNNING)
        for command, line in early:  # a pause sent with the run: the run starts held
            self._gate(command, line)

    def wait_run(self) -> tuple[Any, dict[str, Any]] | None:
        """A spare's wait for its `run`: (lab, validated values), or None for stop/EOF."""
        while True:
            try:
                return self.runs.get(timeout=0.2)
            except queue.Empty:
                continue

    # -- the reader thread ------------------------------------------------------------------
    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self.handle(raw.decode("utf-8", "replace"))
            if len(pending) > MAX_LINE:
                self.refuse(f"a command line is at most {MAX_LINE} bytes; this one was dropped")
                pending = b""
        if pending.strip():
            self.handle(pending.decode("utf-8", "replace"))
        self.handle_stop()  # EOF: the front end is gone or done

    def handle(self, line: str) -> None:
        """Apply one line of stdin (public for tests and for front ends in the same process)."""
        if not line.strip():
            return
        try:
            command = cmd.parse(line)
        except cmd.CommandError as exc:
            self.refuse(str(exc), line)
            return
        if isinstance(command, cmd.Stop):
            self.handle_stop()
        elif isinstance(command, cmd.Run):
            self._run(command, line)
        else:
            self._gate(command, line)

    def handle_stop(self) -> None:
        self.stop_asked.set()
        with self._lock:
            runner = self.runner
        if runner is not None:
            runner.stop()
        else:
            self.runs.put(None)

    def _run(self, command: cmd.Run, line: str) -> None:
        from pttui.engine.labs import UnknownTopic, get_lab
        from pttui.engine.params import ParamError, validate

        if self.claimed or self.stop_asked.is_set():
            self.refuse("run: this engine has had its run; one run per engine process", line)
            return
        try:
            lab = get_lab(command.topic)
            values = validate(lab.params, command.values)
        except UnknownTopic as exc:
            self.refuse(f"run: {exc}", line, "topic")
            return
        except ParamError as exc:
            self.refuse(f"run {command.topic}: {exc}", line, exc.field)
            return
        self.claimed = True  # a second `run`, even before the first starts, is refused
        self.t0 = time.perf_counter()  # the run begins when the engine takes it
        self.runs.put((lab, values))

    def _gate(self, command: cmd.Command, line: str) -> None:
        with self._lock:
            runner = self.runner
            if runner is None:  # kept until the run attaches (a cold engine still imports)
                self._early.append((command, line))
                return
        lab = runner.lab
        if not lab.pausable:
            self.refuse(f"{command.name}: {lab.pause_words()}", line)
            return
        gate = runner.ctx.gate
        if isinstance(command, cmd.Pause):
            gate.pause()
        elif isinstance(command, cmd.Resume):
            gate.resume()
        elif isinstance(command, cmd.Step):
            gate.step()
        elif isinstance(command, cmd.Pace):
            gate.set_pace(command.steps_per_s)
            self.state(PAUSED if gate.paused else RUNNING)  # the new pace is a change too


class EngineThread:
    """The one thread that does a warm engine's torch work: the warm-up, then the lab."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="pttui-engine", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], None]) -> None:
        self._jobs.put(work)

    def _loop(self) -> None:
        while True:
            self._jobs.get()()


def serve(argv: list[str]) -> int:
    """`run --control` without a topic: a warm spare that waits for its `run` command."""
    parser = argparse.ArgumentParser(
        prog="python -m pttui.engine run --control",
        description="A warm engine: imports torch, warms up, then takes commands on stdin "
        "(JSON lines; see the README's control protocol).",
    )
    parser.add_argument("--control", action="store_true", required=True, help="take commands on stdin")
    parser.add_argument("--json", action="store_true", help="(implied) events as JSON lines on stdout")
    parser.add_argument(
        "--threads", type=int, default=0, metavar="N", help="CPU threads to warm up with (as --threads)"
    )
    parser.add_argument("--runs-dir", metavar="DIR", default=None, help="folder that keeps run records")
    parser.add_argument("--no-record", action="store_true", help="keep no record of the run on disk")
    args = parser.parse_args(argv)
    if args.threads < 0:
        print("pttui run --control: --threads: must be 0 or more", file=sys.stderr)
        return EXIT_BAD_PARAMS
    control = Control(JsonLinesSink(sys.stdout), took_run=False).start()
    engine = EngineThread()
    control.state(WARMING)
    warmed = threading.Event()

    def warm() -> None:
        from pttui.engine.warmup import warm_up

        try:
            warm_up(args.threads)
        except Exception as exc:  # the run itself will say what is broken
            control.send(ev.Text(control.now(), "warm-up", f"{type(exc).__name__}: {exc}", level="warning"))
        finally:
            control.state(READY)  # always, even when a `run` came during the warm-up: in order
            warmed.set()

    engine.submit(warm)
    try:
        job = control.wait_run()
        if job is not None:
            while not warmed.wait(0.2):  # `running` comes after `ready`, never before it
                pass
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if job is None:
        # Stop or EOF before any run: nothing ran, nothing to record. Leave at once, without
        # waiting on the engine thread (it may still be importing torch).
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os._exit(EXIT_OK)
    lab, values = job
    from pttui.engine.headless import execute

    args.json = True
    args.export_script = None
    return execute(lab, values, args, control=control, on=engine.submit)
