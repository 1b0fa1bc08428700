"""The handle a lab runs with: it stamps and emits events and tells the lab when to stop.

Labs speak only through these helpers, so every event carries the time since the run began
and goes to every sink in order, whichever thread emitted it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pttui.engine import events as ev
from pttui.engine.gate import Gate


class Context:
    def __init__(
        self,
        topic: str,
        params: dict[str, Any],
        emit: Callable[[ev.Event], None],
        stop_event: threading.Event | None = None,
        pausable: bool = False,
    ):
        self.topic = topic
        self.params = params
        self._emit = emit
        self._lock = threading.Lock()
        self.stop_event = stop_event or threading.Event()
        self.t0 = time.perf_counter()
        self.started = False
        self.extras: dict[str, Any] = {}  # options that sinks or hosts hand to labs (runs dir, ...)
        self.last_step = 0  # the latest optimizer step reported: a pause says where it holds
        # Pause, single step and pace (engine.gate): open to control only where the lab allows it.
        self.gate = Gate(self.stop_event, params.get("pace", 0.0) or 0.0, pausable, self.announce)

    @property
    def stopped(self) -> bool:
        """True once a stop was asked for; labs check it once per step."""
        return self.stop_event.is_set()

    def proceed(self, hold: Callable[[], None] | None = None) -> bool:
        """The training loop's check before each optimizer step: waits while paused or while
        the pace says so, and is False once a stop was asked for. `hold` runs before a wait
        (send the steps taken so far)."""
        return self.gate.turn(hold)

    @property
    def held_s(self) -> float:
        """Seconds the training loop has spent held by a pause or the pace (not training)."""
        return self.gate.held_s

    def announce(self, state: str) -> None:
        """A `state` event: where the run stands now (see events.State)."""
        self.emit(ev.State(self.now(), state, self.last_step, self.gate.pace))

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def emit(self, event: ev.Event) -> None:
        with self._lock:
            self._emit(event)

    def start(self, device: str) -> None:
        import torch  # a lab calls this after importing torch itself

        self.started = True
        self.emit(ev.Start(self.now(), self.topic, dict(self.params), str(device), torch.__version__))

    def step(self, step: int, epoch: int, loss: float, series: str = "train", rank=None) -> None:
        self.last_step = step
        self.emit(ev.Step(self.now(), step, epoch, loss, series, rank))

    def epoch(self, epoch: int, epochs: int, metrics: dict[str, float], **kw: Any) -> None:
        self.emit(ev.Epoch(self.now(), epoch, epochs, metrics, **kw))

    def table(self, title: str, columns: list[str], rows: list[list[Any]], note: str = "") -> None:
        self.emit(ev.Table(self.now(), title, list(columns), [list(r) for r in rows], note))

    def tree(self, title: str, root: dict[str, Any]) -> None:
        self.emit(ev.Tree(self.now(), title, root))

    def text(self, title: str, body: str, pane: str = "log", level: str = "info") -> None:
        self.emit(ev.Text(self.now(), title, body, pane, level))

    def warn(self, message: str) -> None:
        self.text("warning", message, pane="log", level="warning")
