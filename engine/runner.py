"""Runs a lab on the engine thread, fans its events out to sinks, turns failures into events.

Nothing flows back but a stop request: `stop()` sets a flag the lab checks once per step.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Iterable
from typing import Any

from pttui.engine import events as ev
from pttui.engine.context import Context
from pttui.engine.lab import Lab
from pttui.engine.params import ParamError, validate
from pttui.engine.sinks import Sink


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
        self.ctx = Context(lab.name, self.values, self._fan_out, self.stop_event)
        self.ctx.extras.update(extras or {})
        self.last: ev.Event | None = None  # the final Done or Error
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()

    def _fan_out(self, event: ev.Event) -> None:
        for sink in list(self.sinks):
            try:
                sink.on_event(event)
            except (BrokenPipeError, SystemExit):
                # The reader went away (`| head`; rich turns that into SystemExit): stop the run.
                self.sinks.remove(sink)
                self.stop()
            except Exception as exc:  # a broken sink (full disk, ...) is dropped; the run goes on
                self.sinks.remove(sink)
                print(f"pttui: {type(sink).__name__} failed and was dropped: {exc}", file=sys.stderr)

    def start(self) -> Runner:
        self._thread = threading.Thread(target=self._main, name="pttui-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()

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

    def _main(self) -> None:
        ctx = self.ctx
        try:
            result = self.lab.run(self.values, ctx)
            final: ev.Event = ev.Done(ctx.now(), dict(result or {}), ctx.stopped)
        except ParamError as exc:
            final = ev.Error(ctx.now(), str(exc), exc.field)
        except (Exception, SystemExit) as exc:  # any failure of a lab becomes an event, never a traceback
            final = ev.Error(ctx.now(), f"{type(exc).__name__}: {exc}", None, traceback.format_exc())
        self.last = final
        try:
            ctx.emit(final)
        finally:
            for sink in self.sinks:
                try:
                    sink.close()
                except (Exception, SystemExit):  # a sink that fails to close must not hide the outcome
                    pass
            self._finished.set()
