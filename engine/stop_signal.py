"""A stop asked for by a signal, noted without taking a lock.

Python runs a signal handler on the main thread between any two bytecodes, even inside
`threading.Event.set()`, whose Condition lock is not re-entrant. A handler that sets an Event
therefore deadlocks when a second signal lands while the first handler is inside `set()`: Ctrl-C
reaches the whole process group and the supervisor forwards it too, so two SIGINTs close together
are the normal case. Seen here: an engine child hung for an hour in `Event.set()` under its own
handler, and its control thread, at EOF, hung behind it. So handlers only assign a flag (atomic
under the GIL), and the main thread's wait loop acts on it.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any


class Flag:
    """`set()`/`is_set()` like threading.Event, with no lock: safe to set from a signal handler
    and from other threads. It cannot be waited on; poll `is_set()`."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class StopSignals:
    """While entered, SIGINT and SIGTERM only set `fired` (and `signum`, the first one).

    Outside the main thread a handler cannot be installed: then nothing changes (the caller's
    own stop path still works). The previous handlers come back on exit.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)):
        self.signals = signals
        self.fired = Flag()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, _frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        self.fired.set()

    def __enter__(self) -> StopSignals:
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *_exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
