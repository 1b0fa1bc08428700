"""The app's one warm spare engine: torch imported and first-time work done before `r`.

Measured here, a fresh engine showed nothing for ~2.4 s after `r`: import torch (1.1-1.6 s)
and the first optimizer step's lazy torch._dynamo import (~1.2 s). The spare (engine.control)
pays that while the learner reads the form; `r` hands it the run (`take`), and the next spare
starts only once that run has ended (`ensure`), never beside it: every run keeps a fresh
process (a crash cannot outlive its run), and the run keeps its cores (app vs bare).

A spare is replaced when what it warmed up with no longer holds: the `--threads` value, or
the environment (the runs folder, the threads rule). It is reaped on quit like any child,
and when the app is killed its stdin closes, which a controlled engine takes as stop.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the app imports this module before its first frame; tui.child waits for the spare
    from pttui.tui.child import Child

NO_SPARE_ENV = "PTTUI_NO_SPARE"  # "1": no spare (every run starts cold, as before)


def env_key(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(env.items()))


class Spares:
    """Keeps at most one warm spare engine. Thread-safe; `ensure` never blocks the caller."""

    def __init__(self, make: Callable[[int], Child] | None = None):
        self._make = make or _spare
        self._lock = threading.Lock()
        self.child: Child | None = None
        self._key: tuple | None = None
        self.closed = False
        self.started = 0  # spares started so far (tests and the bench read it)
        self._ready_seen = False

    def key(self, threads: int) -> tuple:
        return (threads, env_key(os.environ))

    def ensure(self, threads: int = 0, background: bool = True) -> None:
        """Have a live spare for `threads`, replacing one made for other settings. The start
        (fork + exec) runs on a worker thread unless `background` is False."""
        if background:
            threading.Thread(
                target=self.ensure, args=(threads, False), name="pttui-spare", daemon=True
            ).start()
            return
        key = self.key(threads)
        with self._lock:
            if self.closed:
                return
            old = self.child
            if old is not None and old.running and self._key == key:
                return
            self.child, self._key = None, None
            if old is not None:
                _reap(old)
            child = self._make(threads)
            try:
                child.start()
            except OSError:
                return  # no spare: `r` starts a cold engine, as without one
            self.child, self._key, self._ready_seen = child, key, False
            self.started += 1

    def ready(self) -> bool:
        """True once the spare has said `ready` (warm-up done). What it said is dropped: it
        is only its greeting, which `hand_over` drops anyway."""
        child = self.child
        if child is None or not child.running:
            return False
        if not self._ready_seen:
            from pttui.engine import events as ev

            self._ready_seen = any(
                isinstance(item, ev.State) and item.state == ev.READY for item in child.drain()
            )
        return self._ready_seen

    def take(self, threads: int) -> Child | None:
        """The spare, if there is a live one made for these settings; it is no longer kept here
        (the caller hands it its run). A spare made for other settings is reaped."""
        with self._lock:
            child, key = self.child, self._key
            self.child, self._key = None, None
        if child is None:
            return None
        if child.running and key == self.key(threads):
            return child
        _reap(child)
        return None

    def discard(self) -> None:
        """Reap the spare (settings changed while a run goes on; the next `ensure` makes one)."""
        with self._lock:
            child, self.child, self._key = self.child, None, None
        if child is not None:
            _reap(child)

    def close(self) -> None:
        """No more spares: reap the one there is (the app quits)."""
        with self._lock:
            self.closed = True
        self.discard()


def _spare(threads: int) -> Child:
    from pttui.tui.child import Child

    return Child.spare(threads)


def _reap(child: Child) -> None:
    """End a spare without waiting: EOF (it exits at once), SIGINT, SIGKILL after the grace;
    its reader thread waits for the process, so nothing is left behind."""
    child.end_input()
    child.stop()
