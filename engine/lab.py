"""What a lab is: a topic's declaration (name, parameters) plus its `run` and `code`.

A lab module defines `LAB = Lab(...)` at import time without importing torch; its `run`
imports torch when it is called. The registry in `pttui.engine.labs` finds every `LAB`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pttui.engine.params import Param

if TYPE_CHECKING:
    from pttui.engine.context import Context


@dataclass(frozen=True)
class Lab:
    name: str
    title: str
    summary: str
    order: int  # place in the syllabus: the topic list is sorted by it
    params: tuple[Param, ...]
    run: Callable[[dict[str, Any], Context], dict[str, Any]]
    code: Callable[[dict[str, Any]], str]
    # Pause and single step (engine.gate): for labs that train in one process to be watched.
    pausable: bool = False
    no_pause: str = ""  # why a lab that trains does not pause, for the app to say so

    def pause_words(self) -> str:
        """What the app says about pausing this lab: "" where it pauses."""
        if self.pausable:
            return ""
        return self.no_pause or f"{self.name} does not pause: it runs to the end"

    # The longest a run may take, in seconds, enforced by the supervisor (None: no limit).
    time_limit_s: float | None = None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "title": self.title, "summary": self.summary}
