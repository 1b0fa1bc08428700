"""The supervisor of every headless run: `pttui run` and `python -m pttui.engine run`.

It forks before torch is imported. The parent stays small (no torch) and watches; the child
is the engine and runs the lab exactly as before, writing its events to a pipe. Whatever the
lab does, the parent still answers:

- a native crash (SIGSEGV in MKL, a deep autograd graph freed) becomes a final `error` event
  naming the signal and the last event seen; the run record says `crashed`; exit 1;
- a hard memory ceiling binds the whole process tree (DDP ranks, DataLoader workers and the
  forkserver included): from the lab's `--max-mb` where it has one, else `--ceiling-mb`, else
  FREE_SHARE of the memory free at launch. On a breach the tree is ended and the error names
  the bound and the flag that sets it. A lab's declared time limit binds the same way;
- a stop (Ctrl-C reaches both processes; SIGTERM is forwarded once) gives the lab STOP_GRACE_S
  to end; past it the tree is killed and the run reports `stopped` (exit 130) with the last
  epoch's figures. Native ops that hold the GIL and ignore signals end this way;
- no process of the run outlives it: the parent is the tree's subreaper, and a watchdog
  process ends the tree if the parent itself is SIGKILLed.

The relay passes whole lines only, so the parent always knows the last event and never glues
its own event onto half a line. An engine that has sent its final event is never killed: it is
only flushing and reaping. The child inherits stdin; the parent never reads it, so `--control`
commands (pttui.engine.control) reach the engine as they would without a supervisor.

In JSON mode (`--json`, `--control`) the engine's `sys.stdout` is the pipe and its fd 1 is
stderr: what a library prints, C code included, cannot land inside an event line. For a person
(no `--json`) the engine prints to the terminal itself and sends its events on the pipe too.
The engine's line on the pipe that starts with HELLO_KEY says what binds the run.

Linux only (it reads /proc); elsewhere, and where torch is already imported (forking a
process with torch's threads running is unsafe), the run goes on in this process, unsupervised.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from pttui.engine import proctree
from pttui.engine.lifecycle import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, STOP_GRACE_S

POLL_S = 0.05  # memory and liveness poll: a climb of 5 GB/s overshoots by at most ~250 MB
TREE_EVERY_S = 0.25  # how often the tree's member list is re-read (new processes are rare)
# The ceiling where the lab has no --max-mb and none is given. Above hardened.FREE_MEMORY_SHARE
# on purpose: the bound checks refuse first, with their message; this is the backstop.
FREE_SHARE = 0.75
SLACK_MB = 256  # above the lab's footprint at start + 2 x --max-mb: temporaries, allocator slack
END_WITH_PARENT_ENV = "PTTUI_END_WITH_PARENT"  # the app sets it: a run ends when the app is gone
HELLO_KEY = "pttui_supervisor"
_HELLO = b'{"' + HELLO_KEY.encode() + b'":'
_FINAL = (b'{"event":"done"', b'{"event":"error"')
_START = b'{"event":"start"'
_EPOCH = b'{"event":"epoch"'


def hello_line(
    record: str | None, max_mb: int | None, ceiling_mb: int | None, time_limit_s: float | None
) -> str:
    """The engine's first line to its supervisor: what binds this run and where it is recorded."""
    info = {"record": record, "max_mb": max_mb, "ceiling_mb": ceiling_mb, "time_limit_s": time_limit_s}
    return json.dumps({HELLO_KEY: info}) + "\n"


_events: IO[str] | None = None  # in a supervised engine: the pipe to its supervisor


def events_pipe() -> IO[str] | None:
    """In a supervised engine, the pipe its events go to; None everywhere else."""
    return _events


def supervisable() -> bool:
    """Whether this process may fork a supervised engine (Linux, torch not yet imported)."""
    return sys.platform.startswith("linux") and proctree.HAS_PROC and "torch" not in sys.modules


def main(topic: str, argv: list[str]) -> int:
    """Run `topic` with `argv` under a supervisor; returns the exit code (see lifecycle)."""
    from pttui.engine.headless import main as run_here

    if not supervisable():
        return run_here(topic, argv)
    return Supervisor(topic, argv, lambda: run_here(topic, argv)).run()


def serve(argv: list[str]) -> int:
    """A warm spare engine (`run --control` without a topic) under a supervisor."""
    from pttui.engine.control import serve as serve_here

    if not supervisable():
        return serve_here(argv)
    return Supervisor("--control", argv, lambda: serve_here(argv)).run()


def describe_signal(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} (signal {number})"
    except ValueError:
        return f"signal {number}"


def describe_event(line: bytes) -> str:
    """One event line in a few words, for the message that says where a run ended."""
    try:
        data = json.loads(line)
    except ValueError:
        return "none readable"
    kind = data.get("event", "?")
    if kind == "step":
        return f"step {data.get('step')} (epoch {data.get('epoch')}, loss {data.get('loss')})"
    if kind == "epoch":
        return f"epoch {data.get('epoch')} of {data.get('epochs')}"
    title = data.get("title") or data.get("topic")
    return f"{kind} {title!r}" if title else kind


class Supervisor:
    """One supervised run: fork the engine, relay its events, enforce the bounds, report."""

    def __init__(
        self,
        topic: str,
        argv: list[str],
        target: Callable[[], int],
        stdout: IO[bytes] | None = None,
    ):
        """`target` runs the engine in the forked child and returns its exit code."""
        self.topic = topic
        self.argv = argv
        self.target = target
        self.json_mode = "--json" in argv or "--control" in argv
        # Under torchrun one rank speaks (as the parallel lab does), or every line would print
        # world-size times; the others' ends go to stderr.
        self.json = self.json_mode and os.environ.get("RANK", "0") == "0"
        self.out = stdout if stdout is not None else sys.stdout.buffer
        self.pid = 0
        self.status: int | None = None
        self.watchdog: tuple[int, int] | None = None
        self.available = proctree.available_bytes()
        self.end_with_parent = os.environ.get(END_WITH_PARENT_ENV) == "1"
        self.ppid = os.getppid()
        self.others = set(proctree.children(os.getpid()))  # a host's own children are not the run's
        self.hello_at = 0.0
        # what the engine said
        self.buf = b""
        self.hello: dict[str, Any] | None = None
        self.last = b""
        self.last_at = time.monotonic()
        self.last_epoch = b""
        self.final = False
        self.started_at: float | None = None
        self.reader_gone = False
        self.out_failed = ""
        # the bounds
        self.tree: list[int] = []
        self.tree_at = 0.0
        self.baseline: int | None = None
        self.peak = 0
        self.stop_at: float | None = None
        self.stop_signal = 0
        self.forwarded = False
        self.ended: tuple[str, str, str | None] | None = None  # (why, message, field)

    # -- the life of a run ------------------------------------------------------------------
    def run(self) -> int:
        read_fd, write_fd = os.pipe()
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        proctree.become_subreaper()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        self.launched = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the engine
            os.close(read_fd)
            _engine(self.target, self.json_mode, write_fd)
        os.close(write_fd)
        self.pid = pid
        self.watchdog = _start_watchdog(pid, read_fd)
        if self.stop_at is not None:
            self._forward()  # a stop that came while we forked
        try:
            self._watch(read_fd)
            return self._outcome()
        finally:
            self._dismiss_watchdog()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _on_signal(self, signum: int, _frame) -> None:
        if self.stop_at is None:
            self.stop_at = time.monotonic()
            self.stop_signal = signum
            if self.pid:
                self._forward()

    def _forward(self) -> None:
        if not self.forwarded:
            self.forwarded = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, self.stop_signal or signal.SIGINT)

    def _watch(self, fd: int) -> None:
        """Relay and poll until the engine has exited; then end what is left of its tree."""
        reading = True
        while self.status is None:
            if reading:
                ready, _, _ = select.select([fd], [], [], POLL_S)
                if ready:
                    data = os.read(fd, 1 << 16)
                    if data:
                        self._take(data)
                    else:
                        reading = False  # EOF: the engine (and every holder of the pipe) closed it
                    if self.reader_gone:
                        # Pass the closed pipe on: the engine's next write fails as a write to
                        # stdout would have, and it ends the run as "stopped (reader gone)".
                        os.close(fd)
                        reading, fd = False, -1
            else:
                time.sleep(POLL_S)
            self._reap()
            if self.status is None:
                self._enforce()
        self._end_tree()  # orphans (a crashed engine's forkserver, its workers) go with it
        if fd >= 0:
            self._drain(fd)
            os.close(fd)

    def _drain(self, fd: int) -> None:
        """What the engine wrote before it exited is still in the pipe: relay all of it."""
        os.set_blocking(fd, False)
        quiet_until = time.monotonic() + 0.5
        while time.monotonic() < quiet_until:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                select.select([fd], [], [], 0.05)
                continue
            if not data:
                break
            self._take(data)

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == self.pid:
            self.status = status
        for orphan in self._orphans():  # ours as subreaper: reap them, or they stay zombies
            with contextlib.suppress(ChildProcessError):
                os.waitpid(orphan, os.WNOHANG)

    def _orphans(self) -> list[int]:
        skip = {self.pid, self.watchdog[0] if self.watchdog else 0, *self.others}
        return [p for p in proctree.children(os.getpid()) if p not in skip]

    def _end_tree(self) -> None:
        roots = ([self.pid] if self.status is None else []) + self._orphans()
        proctree.end_tree(roots)
        for pid in roots:
            if pid != self.pid:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)

    # -- the relay ---------------------------------------------------------------------------
    def _take(self, data: bytes) -> None:
        buf = self.buf + data
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            self.buf = buf
            return
        whole, self.buf = buf[:cut], buf[cut:]
        if self.hello is None:
            whole = self._find_hello(whole)
            if not whole:
                return
        if self.json and not self.reader_gone:
            self._write(whole)
        end = len(whole) - 1
        self.last = whole[whole.rfind(b"\n", 0, end) + 1 : end]
        self.last_at = time.monotonic()
        if self.last.startswith(_FINAL) and b'"fatal":false' not in self.last:
            self.final = True  # (a non-fatal error answers a control command: the run goes on)
        if self.started_at is None and _START in whole:
            self.started_at = time.monotonic()
            self.baseline = self._used()
        at = whole.rfind(_EPOCH)
        if at >= 0:
            self.last_epoch = whole[at : whole.index(b"\n", at)]

    def _find_hello(self, whole: bytes) -> bytes:
        """Take the hello line out of these lines, if it is among them (a warm engine's own
        hello and state events come first). Only until it has come: then this costs nothing."""
        if whole.startswith(_HELLO):
            at = 0
        else:
            at = whole.find(b"\n" + _HELLO) + 1
            if at == 0:
                return whole
        end = whole.index(b"\n", at) + 1
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self.hello = json.loads(whole[at:end])[HELLO_KEY]
            self.hello_at = time.monotonic()
        return whole[:at] + whole[end:]

    def _write(self, lines: bytes) -> None:
        try:
            self.out.write(lines)
            self.out.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            # Later lines go nowhere (the record keeps them). The reader left (`| head`): the
            # watch loop closes the events pipe, so the engine learns it as it would have.
            # Any other failure (a full disk) fails the run, with the reason.
            self.reader_gone = True
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.out.fileno())
            if not isinstance(exc, BrokenPipeError):
                self.out_failed = f"the events could not be written to stdout: {exc}"
                if not self.final and self.ended is None:
                    self._kill("output", self.out_failed, None)

    # -- the bounds ----------------------------------------------------------------------------
    def _used(self) -> int:
        now = time.monotonic()
        if now - self.tree_at >= TREE_EVERY_S:
            self.tree = proctree.descendants([self.pid, *self._orphans()])
            self.tree_at = now
        used = sum(map(proctree.anon_bytes, self.tree))
        self.peak = max(self.peak, used)
        return used

    def ceiling(self) -> tuple[float, str, str | None]:
        """The memory ceiling in bytes, how it was set, and the field that sets it (or None)."""
        hello = self.hello or {}
        if hello.get("ceiling_mb"):
            mb = int(hello["ceiling_mb"])
            return mb << 20, f"set by --ceiling-mb {mb}", None
        share = FREE_SHARE * self.available if self.available else float("inf")
        max_mb = hello.get("max_mb")
        if max_mb is not None and self.baseline is not None:
            bound = self.baseline + ((2 * int(max_mb) + SLACK_MB) << 20)
            if bound < share:
                how = (
                    f"set by --max-mb {max_mb}: the footprint at start ({self.baseline >> 20} MiB) "
                    f"+ 2 x {max_mb} MiB + {SLACK_MB} MiB"
                )
                return bound, how, "max_mb"
        return share, f"{FREE_SHARE:.0%} of the memory free at launch; set another with --ceiling-mb", None

    def _enforce(self) -> None:
        now = time.monotonic()
        if self.end_with_parent and self.stop_at is None and os.getppid() != self.ppid:
            self._on_signal(signal.SIGTERM, None)  # the app is gone: nobody reads this run
        if self.final or self.ended:
            return  # it has reported: only flushing and reaping are left, never killed
        if self.stop_at is not None and now - self.stop_at > STOP_GRACE_S:
            self._kill("stopped", f"the lab did not stop within {STOP_GRACE_S:g} s; it was killed", None)
            return
        used = self._used()
        limit, how, field = self.ceiling()
        if used > limit:
            message = (
                f"memory ceiling: the run's processes held {used >> 20:,} MiB, over the ceiling of "
                f"{int(limit) >> 20:,} MiB ({how}); the run was ended"
            )
            self._kill("memory", message, field)
            return
        limit_s = (self.hello or {}).get("time_limit_s")
        if limit_s and now - self.hello_at > limit_s:
            message = f"time limit: the {self.topic} lab allows {limit_s:g} s per run; the run was ended"
            self._kill("time", message, None)

    def _kill(self, why: str, message: str, field: str | None) -> None:
        self.ended = (why, message, field)
        self._end_tree()

    # -- the outcome ---------------------------------------------------------------------------
    def _outcome(self) -> int:
        from pttui.engine import events as ev

        status = self.status or 0
        signalled = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else EXIT_FAILED
        if self.out_failed and (self.ended is None or self.final):  # after the final event
            self._report(ev.Error(self._t(), self.out_failed), self.out_failed)
            return EXIT_FAILED
        if self.ended is not None and not self.final:
            why, message, field = self.ended
            if why == "stopped":
                result = self._recorded()
                result["killed_after_s"] = STOP_GRACE_S
                self._report(ev.Done(self._t(), result, True), f"stopped: {message}")
                return EXIT_INTERRUPTED
            cause = why if why in ("memory", "time") else ""
            self._report(ev.Error(self._t(), message, field, cause=cause), message)
            return EXIT_FAILED
        if signalled is not None and not self.final:
            last = describe_event(self.last) if self.last else "none"
            message = f"the engine crashed: killed by {describe_signal(signalled)}; last event: {last}"
            self._report(ev.Error(self._t(), message, None, cause="crashed"), message)
            return EXIT_FAILED
        if signalled is not None:  # after its final event: the outcome stands
            print(
                f"pttui run {self.topic}: the engine ended by {describe_signal(signalled)} after its final event",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED if b'"stopped":true' in self.last else EXIT_OK
        return code

    def _recorded(self) -> dict[str, Any]:
        """The figures of the last epoch the engine reported, where there was one."""
        with contextlib.suppress(ValueError, AttributeError):
            data = json.loads(self.last_epoch)
            return {**data.get("metrics", {}), "epochs_done": data.get("epoch", -1) + 1}
        return {}

    def _t(self) -> float:
        """Seconds since the run began, on the engine's clock (its last event's plus since then)."""
        with contextlib.suppress(ValueError, TypeError):
            return float(json.loads(self.last)["t"]) + time.monotonic() - self.last_at
        return 0.0

    def _report(self, event, words: str) -> None:
        line = (event.to_json() + "\n").encode()
        if self.json and not self.reader_gone:
            self._write(line)
        else:
            print(f"pttui run {self.topic}: {words}", file=sys.stderr, flush=True)
        record = (self.hello or {}).get("record")
        if record:
            append_event(record, line)

    def _dismiss_watchdog(self) -> None:
        if self.watchdog is None:
            return
        pid, fd = self.watchdog
        with contextlib.suppress(OSError):
            os.write(fd, b"x")  # all clear: the tree is gone, and its pids may be reused
            os.close(fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self.watchdog = None


def append_event(run_path: str, line: bytes) -> None:
    """Add the supervisor's final event to a run record, on a line of its own."""
    from pttui.engine.runs import EVENTS_FILE

    path = os.path.join(run_path, EVENTS_FILE)
    try:
        with open(path, "ab+") as stream:
            stream.seek(0, os.SEEK_END)
            if stream.tell():
                stream.seek(-1, os.SEEK_END)
                if stream.read(1) != b"\n":
                    line = b"\n" + line  # a line torn by the kill: ours starts on a fresh one
            stream.write(line)
    except OSError as exc:
        print(f"pttui: warning: could not record the run's end in {path}: {exc}", file=sys.stderr)


def _engine(target: Callable[[], int], json_mode: bool, fd: int) -> None:
    """The forked child: run `target` with events on `fd`, then leave at once (never returns)."""
    global _events
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = EXIT_FAILED
    events = None
    try:
        events = _events = os.fdopen(fd, "w", encoding="utf-8")
        if json_mode:  # stdout is for events: the pipe takes them, and fd 1 points at stderr
            sys.stdout.flush()
            sys.stdout = events
            os.dup2(2, 1)
        code = target()
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except SystemExit as exc:  # argparse: --help, or a bad flag (it has printed why)
        code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_FAILED)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        leave(code, events)


def leave(code: int, *streams) -> None:
    """Flush, reap this process's helper processes, and exit now (never returns).

    Measured: the interpreter's own teardown after a run (atexit, module and torch cleanup,
    joining multiprocessing's helpers) took 0.6-1.0 s on a busy 2-core machine. Everything
    that must reach disk or a pipe is flushed here first, so skipping that teardown loses
    nothing.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the flush
    for stream in (*streams, sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    reap_helpers()
    os._exit(code)


def reap_helpers(timeout: float = 0.5) -> None:
    """End multiprocessing's children (DataLoader workers), its forkserver and resource tracker.

    The forkserver is killed, not asked: asked, it runs its own interpreter teardown, and with
    torch preloaded there (the `data` lab does) that took 1.8-2.4 s, the whole of the linger
    after a `data` run. It only forks workers, which are gone by now: it has nothing to save.
    The resource tracker is asked (it unlinks what workers leaked) and ends in ~30 ms.
    """
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return
    with contextlib.suppress(Exception):
        alive = mp.active_children()
        for proc in alive:
            proc.terminate()
        for proc in alive:
            proc.join(timeout)
    server = getattr(sys.modules.get("multiprocessing.forkserver"), "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    tracker = getattr(sys.modules.get("multiprocessing.resource_tracker"), "_resource_tracker", None)
    with contextlib.suppress(Exception):
        tracker._stop()  # closes its pipe (it exits at EOF, after its cleanup) and waits for it


def _start_watchdog(engine: int, other_fd: int) -> tuple[int, int] | None:
    """A tiny process that ends the engine's tree if this one dies without saying "all clear"."""
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:
        try:
            os.close(write_fd)
            os.close(other_fd)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # it outlives a Ctrl-C of the group: that is its job
            null = os.open(os.devnull, os.O_RDWR)
            for std in (0, 1, 2):
                os.dup2(null, std)  # nobody waits on our stdout: the run's pipes close with the run
            if not os.read(read_fd, 1):  # EOF without "x": the supervisor died
                proctree.end_tree([engine])
        finally:
            os._exit(0)
    os.close(read_fd)
    return pid, write_fd
