"""Runs a lab on the engine thread, fans its events out to sinks, turns failures into events.

What flows back is a stop request (`stop()` sets a flag the lab checks once per step) and,
through `ctx.gate`, pause, single step and pace (engine.control drives them).
Warnings a lab raises become log lines here, for every lab: nothing a lab does may print to
the screen the app draws on.

A sink that fails ends the run, in one of two ways:
- its reader went away (BrokenPipeError, or rich's SystemExit on a closed pipe): not a failure.
  The run stops at its next step and ends with `done`, stopped, reason `STOP_READER_GONE`;
- anything else (a full disk, a bug): the run stops at its next step and ends with an `error`
  event naming the sink and the failure, sent to the sinks that still work.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from pttui.engine import events as ev
from pttui.engine.context import Context
from pttui.engine.lab import Lab
from pttui.engine.lifecycle import STOP_READER_GONE
from pttui.engine.params import ParamError, validate
from pttui.engine.sinks import Sink
from pttui.engine.usermodel import UserModelError


class Runner:
    def __init__(
        self,
        lab: Lab,
        raw_params: dict[str, Any] | None = None,
        sinks: Iterable[Sink] = (),
        extras: dict[str, Any] | None = None,
    ):
        self.lab = lab
        self.values = validate(lab.params, raw_params)  # raises ParamError before any thread
        self.sinks = list(sinks)
        self.stop_event = threading.Event()
        self.ctx = Context(lab.name, self.values, self._fan_out, self.stop_event, lab.pausable)
        self.ctx.extras.update(extras or {})
        self.last: ev.Event | None = None  # the final Done or Error
        self.reader_gone = False  # a sink's reader went away (see the module docstring)
        self.sink_failure = ""  # the first other sink failure, as a message; "" when none
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()

    def _fan_out(self, event: ev.Event) -> None:
        for sink in list(self.sinks):
            try:
                sink.on_event(event)
            except (BrokenPipeError, SystemExit):
                # The reader went away (`| head`; rich turns that into SystemExit): stop the run.
                self.sinks.remove(sink)
                self.reader_gone = True
                self.stop()
            except Exception as exc:
                # A sink that cannot write loses events from here on: the run's output or record
                # would be silently short, so the run ends and says why on the sinks left.
                self.sinks.remove(sink)
                if not self.sink_failure:
                    self.sink_failure = f"{type(sink).__name__} failed: {type(exc).__name__}: {exc}"
                    print(f"pttui: {self.sink_failure}; the run stops", file=sys.stderr, flush=True)
                self.stop()

    def start(self, on: Callable[[Callable[[], None]], None] | None = None) -> Runner:
        """Run the lab on a new engine thread, or hand it to `on` (a warm engine's thread:
        `on(work)` must run `work` there, see engine.control)."""
        if on is not None:
            self._thread = threading.current_thread()  # join() waits on the event, not a thread
            on(self._main)
            return self
        self._thread = threading.Thread(target=self._main, name="pttui-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.ctx.gate.wake()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run; True once it has ended.

        Waits on an Event rather than Thread.join: on Python 3.11 a Ctrl-C that interrupts
        Thread.join can mark a running thread as finished, and the process then aborts.
        """
        assert self._thread is not None, "start() first"
        return self._finished.wait(timeout)

    def run(self) -> ev.Event:
        """Start, wait, and return the final event (Done or Error)."""
        self.start()
        self.join()
        assert self.last is not None
        return self.last

    def _outcome(self, final: ev.Event) -> ev.Event:
        """The final event, once sink failures are taken into account."""
        if self.sink_failure:
            return ev.Error(final.t, self.sink_failure)
        if self.reader_gone and isinstance(final, ev.Done):
            return ev.Done(final.t, final.result, stopped=True, reason=STOP_READER_GONE)
        return final

    def _main(self) -> None:
        ctx = self.ctx
        try:
            with reported_warnings(ctx):
                result = self.lab.run(self.values, ctx)
            final: ev.Event = ev.Done(ctx.now(), dict(result or {}), ctx.stopped)
        except ParamError as exc:
            final = ev.Error(ctx.now(), str(exc), exc.field, allowed=exc.allowed)
        except UserModelError as exc:  # the person's error: their frames only, their message first
            final = ev.Error(ctx.now(), f"{type(exc).__name__}: {exc}", None, exc.frames() or None)
        except BaseException as exc:
            # KeyboardInterrupt too: the engine thread never gets a real Ctrl-C) becomes an event
            final = ev.Error(ctx.now(), f"{type(exc).__name__}: {exc}", None, traceback.format_exc())
        final = self._outcome(final)
        self.last = final
        try:
            ctx.emit(final)
            if self.sink_failure and not isinstance(final, ev.Error):  # it failed on the last event
                self.last = ev.Error(ctx.now(), self.sink_failure)
                ctx.emit(self.last)
        finally:
            for sink in self.sinks:
                try:
                    sink.close()
                except (Exception, SystemExit):  # a sink that fails to close must not hide the outcome
                    pass
            self._finished.set()


@contextlib.contextmanager
def reported_warnings(ctx: Context):
    """Warnings raised inside become `text` events (log pane, level warning), each line once.

    `catch_warnings` is process-wide; the engine runs one lab at a time on one thread, so the
    capture covers exactly that lab's work.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                line = f"{w.category.__name__}: {w.message}"
                if line not in seen:
                    seen.add(line)
                    ctx.warn(line)
