"""The engine as a child process: the app's one way to run a lab.

`python -m pttui.engine run TOPIC --json <flags>` prints one event per line. A reader thread parses
the lines into events and puts them on a queue; the app drains that queue on a timer (<= 10
Hz), so the UI thread never blocks on the pipe and never gets a message per step.

Why a process and not a thread: measured on a prototype, an engine thread inside the UI
process trained at 0.48-0.77x of a bare loop once a live chart was drawn (both want the
GIL); a child kept 0.90-0.97x. It also keeps torch out of the UI process, so a crash in a
lab cannot take the app down, and stop is reliable: SIGINT (the engine stops at the next
step and still reports `done`). The child is the engine's supervisor
(`pttui.engine.supervisor`): it kills an engine that outstays STOP_GRACE_S and reports
`stopped`, so the app kills the group only REPORT_S after that, as a last resort, and never
once the final event (`done` or `error`) has come: the engine is then only flushing.

The child runs in its own process group so a stop reaches everything it started (DDP
workers too), and `atexit` kills any group still alive when the app goes away. The
supervisor also ends the run when the app is gone (END_WITH_PARENT_ENV).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pttui.engine import commands as cmd
from pttui.engine import events as ev
from pttui.engine.lifecycle import REPORT_S, STOP_GRACE_S
from pttui.engine.params import Param
from pttui.engine.supervisor import END_WITH_PARENT_ENV

GRACE_S = STOP_GRACE_S + REPORT_S  # SIGINT, then this long before the last-resort SIGKILL

_live: set[Child] = set()
_live_lock = threading.Lock()


def flags(params: tuple[Param, ...] | list[Param], values: Mapping[str, Any]) -> list[str]:
    """Command-line flags for these values, from the same declarations `pttui run` parses.

    `--name=value` keeps values that start with "-" or are empty intact through argparse.
    """
    out = []
    for p in params:
        if p.name not in values:
            continue
        value = values[p.name]
        if p.kind == "bool":
            out.append(p.flag if value else "--no-" + p.flag[2:])
        else:
            out.append(f"{p.flag}={p.to_text(value)}")
    return out


@dataclass(frozen=True)
class Line:
    """A line the child wrote that is not an event: stderr, or stray stdout."""

    text: str
    stream: str  # "stderr" or "stdout"


@dataclass(frozen=True)
class Exit:
    """The child is gone: its exit status (negative: killed by that signal)."""

    returncode: int
    stderr_tail: str


Item = ev.Event | Line | Exit


class Child:
    """One engine run in a child process; `drain()` hands over what it has said so far.

    Started with `--control` (the app's way): it takes commands on its stdin (`send`), and
    ends when that pipe closes, so it cannot outlive the app even when the app is killed.
    `topic=None` makes a warm spare (engine.control): torch imported, first-time work done,
    waiting for `hand_over`.
    """

    def __init__(
        self,
        topic: str | None,
        args: list[str],
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        control: bool = True,
    ):
        self.topic = topic
        self.control = control or topic is None
        run = ["run", topic, "--json"] if topic is not None else ["run", "--json"]
        self.argv = [python, "-m", "pttui.engine", *run, *(["--control"] if self.control else []), *args]
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PTTUI_LEAVE_A_CORE", "1")  # see engine.devices.LEAVE_A_CORE_ENV
        self.env.pop("NO_COLOR", None)  # nothing the engine prints in JSON mode is coloured anyway
        self.env[END_WITH_PARENT_ENV] = "1"
        self.queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop_requested_at: float | None = None
        self.exited = threading.Event()
        self.reported = threading.Event()  # the final event came: never kill it from then on
        self._stderr: deque[str] = deque(maxlen=40)
        self._threads: list[threading.Thread] = []
        self._stdin_lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> Child:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if self.control else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            start_new_session=True,  # its own process group: stop and kill reach its workers
        )
        with _live_lock:
            _live.add(self)
        out = threading.Thread(target=self._read_stdout, name="pttui-child-out", daemon=True)
        err = threading.Thread(target=self._read_stderr, name="pttui-child-err", daemon=True)
        self._threads = [out, err]
        out.start()
        err.start()
        return self

    @classmethod
    def spare(cls, threads: int = 0, env: Mapping[str, str] | None = None, **kw: Any) -> Child:
        """A warm spare engine (not started): it warms up with `threads` (the `--threads` value
        its run must have, see `hand_over`) and this environment."""
        return cls(None, [f"--threads={threads}"], env=env, **kw)

    def send(self, command: cmd.Command) -> bool:
        """Write one command to the engine's stdin; False when it cannot take it (gone)."""
        if not self.control or self.proc is None or self.proc.stdin is None or not self.running:
            return False
        try:
            with self._stdin_lock:
                self.proc.stdin.write((cmd.to_json(command) + "\n").encode())
                self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def hand_over(
        self, topic: str, params: tuple[Param, ...] | list[Param], values: Mapping[str, Any]
    ) -> bool:
        """Give a spare its run: `topic` with these values (as the text the flags carry).
        What the spare said before (hello, warming, ready) is dropped. False if it is gone."""
        self.drain()
        texts = {p.name: p.to_text(values[p.name]) for p in params if p.name in values}
        if not self.send(cmd.Run(topic, texts)):
            return False
        self.topic = topic
        return True

    def end_input(self) -> None:
        """Close the engine's stdin: EOF, which a controlled engine takes as stop."""
        if self.proc is not None and self.proc.stdin is not None:
            with self._stdin_lock, contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and not self.exited.is_set()

    def stop(self, grace: float = GRACE_S) -> None:
        """Ask the run to stop (SIGINT, like Ctrl-C); kill it if it is still there after `grace`."""
        if not self.running:
            return
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
            self._signal(signal.SIGINT)
            timer = threading.Timer(grace, self.kill)
            timer.daemon = True
            timer.start()

    def kill(self) -> None:
        """SIGKILL the run's process group, unless it has sent its final event."""
        if self.running and not self.reported.is_set():
            self._signal(signal.SIGKILL)

    def close(self, grace: float = GRACE_S) -> int | None:
        """Stop, wait up to `grace`, kill, and reap: after this no process of ours is left."""
        if self.proc is None:
            return None
        self.end_input()
        self.stop(grace)
        if not self.exited.wait(grace):
            self.kill()
            self.exited.wait(1.0 if not self.reported.is_set() else grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(0.5)
        return self.proc.returncode

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)  # the group id is the child's pid (new session)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    # -- the reader threads ------------------------------------------------------------
    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        put = self.queue.put
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                continue
            try:
                event = ev.from_json(line)
            except (ValueError, KeyError, TypeError):  # not an event: show it, never crash on it
                put(Line(line, "stdout"))
                continue
            if event.kind == "done" or (isinstance(event, ev.Error) and event.fatal):
                self.reported.set()  # (a non-fatal error answers a control command: not the end)
            put(event)
        self.proc.stdout.close()
        for thread in self._threads[1:]:
            thread.join(2.0)  # stderr first, so its last words arrive before Exit
        returncode = self.proc.wait()
        self.end_input()
        with _live_lock:
            _live.discard(self)
        self.exited.set()
        put(Exit(returncode, "\n".join(self._stderr)))

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                self._stderr.append(line)
                self.queue.put(Line(line, "stderr"))
        self.proc.stderr.close()

    def drain(self, limit: int = 20000) -> list[Item]:
        """Everything said since the last call (at most `limit` items: the rest waits a tick)."""
        items: list[Item] = []
        get = self.queue.get_nowait
        try:
            while len(items) < limit:
                items.append(get())
        except queue.Empty:
            pass
        return items


def live_children() -> list[Child]:
    with _live_lock:
        return list(_live)


@atexit.register
def _kill_leftovers() -> None:
    """Last line of defence: a child outliving the app would train on, unseen."""
    for child in live_children():
        child.kill()
        with contextlib.suppress(Exception):
            child.proc.wait(1.0)  # type: ignore[union-attr]
