"""The gate a training loop passes before each optimizer step: pause, single step and pace.

A front end sets it from the control thread (`pause`, `resume`, `step`, `set_pace`); the engine
thread asks `turn()` before every step. Only labs that train in one process for the sake of
watching open their gate (`Lab.pausable`); the speed labs keep it shut to control, because a
pause would falsify their timings, and `parallel`'s ranks would trip their timeout.
Torch-free, so the control channel and its tests need no torch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pttui.engine.events import PAUSED, RUNNING

_SLICE_S = 0.05  # a held loop looks at the stop flag this often, whoever sets it (SIGINT too)


class Gate:
    """Pause, single step and pace for one run's training loop.

    `announce(state)` is called on the engine thread when the loop actually holds ("paused",
    after each single step too) and when it goes on again ("running"), so a front end's view
    follows the loop, not the commands. `pace` is in optimizer steps per second; 0 is as fast
    as possible.
    """

    def __init__(
        self,
        stop_event: threading.Event,
        pace: float = 0.0,
        pausable: bool = False,
        announce: Callable[[str], None] | None = None,
    ):
        self.stop_event = stop_event
        self.pausable = pausable
        self.announce = announce or (lambda state: None)
        self._cond = threading.Condition()
        self._paused = False
        self._steps = 0  # single steps granted while paused
        self._pace = max(float(pace), 0.0)
        self._last: float | None = None  # when the previous step got its turn (perf_counter)
        self.held_s = 0.0  # seconds the loop spent held (paused or paced), in all

    # -- the control thread -----------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def pace(self) -> float:
        return self._pace

    def pause(self) -> None:
        with self._cond:
            self._paused, self._steps = True, 0
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused, self._steps = False, 0
            self._cond.notify_all()

    def step(self) -> None:
        """One more optimizer step, then hold (a running loop holds after its next step)."""
        with self._cond:
            self._paused = True
            self._steps += 1
            self._cond.notify_all()

    def set_pace(self, steps_per_s: float) -> None:
        with self._cond:
            self._pace = max(float(steps_per_s), 0.0)
            self._cond.notify_all()

    def wake(self) -> None:
        """Let a held loop see a stop at once (it would within `_SLICE_S` anyway)."""
        with self._cond:
            self._cond.notify_all()

    # -- the engine thread --------------------------------------------------------------
    def turn(self, hold: Callable[[], None] | None = None) -> bool:
        """Wait until the next optimizer step may run; False once a stop was asked for.

        `hold` runs once before the loop holds (the loop's chance to send what it has, so a
        front end sees every step taken before the pause).
        """
        if not self.pausable and self._pace <= 0:
            return not self.stop_event.is_set()
        entered = time.perf_counter()
        try:
            return self._turn(hold)
        finally:
            self.held_s += time.perf_counter() - entered

    def _turn(self, hold: Callable[[], None] | None) -> bool:
        held = False
        while not self.stop_event.is_set():
            with self._cond:
                if self.pausable and self._paused and self._steps == 0:
                    wait_s: float | None = _SLICE_S
                else:
                    due = self._due()
                    wait_s = due - time.perf_counter() if due is not None else None
                    if wait_s is None or wait_s <= 0:
                        if self._paused:
                            self._steps -= 1
                        self._last = time.perf_counter()
                        was_held, going_on = held, not self._paused
                        break
                    wait_s = min(wait_s, _SLICE_S)
                paused_now = self._paused and self._steps == 0
            if paused_now and not held:
                if hold is not None:
                    hold()
                self.announce(PAUSED)
                held = True
            elif not paused_now and hold is not None and wait_s >= _SLICE_S:
                hold()  # a slow pace: show the last step while waiting for the next
            with self._cond:
                self._cond.wait(wait_s)
        else:
            return False
        if was_held and going_on:
            self.announce(RUNNING)
        return True

    def _due(self) -> float | None:
        if self._pace <= 0 or self._last is None:
            return None
        return self._last + 1.0 / self._pace
