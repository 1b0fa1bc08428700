"""Where events go. Every consumer (JSON printer, human printer, run recorder, tests) is a sink.

Hooks do nothing by default, as Lightning's callbacks do; a sink overrides what it needs.
"""

from __future__ import annotations

import threading
import time
from typing import IO

from pttui.engine import events as ev


class Sink:
    def on_event(self, event: ev.Event) -> None:
        """Called for every event, in order, on the thread that emitted it."""

    def close(self) -> None:
        """Called once after the run's last event."""


class JsonLinesSink(Sink):
    """One JSON object per line. Steps are flushed at most every `flush_s`; all else at once."""

    def __init__(self, stream: IO[str], flush_s: float = 0.05):
        self.stream = stream
        self.flush_s = flush_s
        self._last_flush = time.perf_counter()
        # The run's thread and the control channel's answers (engine.control) share one stdout.
        self._lock = threading.Lock()

    def on_event(self, event: ev.Event) -> None:
        line = event.to_json() + "\n"
        with self._lock:
            self.stream.write(line)
            now = time.perf_counter()
            if event.kind != "step" or now - self._last_flush >= self.flush_s:
                self.stream.flush()
                self._last_flush = now

    def close(self) -> None:
        with self._lock:
            self.stream.flush()


class CollectSink(Sink):
    """Keeps every event in a list: for tests and scripts."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def on_event(self, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[ev.Event]:
        return [e for e in self.events if e.kind == kind]
