"""A quiet room: what PyTorch prints while a block runs is caught, not spilled on the screen.

`torch.ao.quantization` warns that it is deprecated, torchao's C extensions print straight to
file descriptor 2, and torch.profiler's kineto writes `USDT: ... profiler_start` lines there
too. In the app those lines would land on the screen, and with `--json` beside the events, so
the calls that print run inside `captured()`, and the lab says what was caught in one note.
Emit no events inside the block: a printer that writes to sys.stdout would be caught too.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Captured:
    """What was printed or warned inside `captured()`: each distinct message once, in order."""

    messages: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        text = text.strip()
        if text and text not in self.messages:
            self.messages.append(text)

    def note(self, doing: str = "quantizing") -> str:
        """One note for the lab to show: how many messages, while `doing` what, and each first line."""
        lines = [f"- {_first_line(m)}" for m in self.messages]
        return (
            f"PyTorch printed {len(self.messages)} message(s) while {doing}; they were caught so "
            "they could not spill onto the screen:\n" + "\n".join(lines)
        )


def _first_line(message: str, limit: int = 240) -> str:
    line = next((" ".join(part.split()) for part in message.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


@contextlib.contextmanager
def captured(into: Captured | None = None) -> Iterator[Captured]:
    """Catch warnings, Python-level prints and, at the OS level, whatever C code writes to file
    descriptor 2, for the duration of the block. Emit no events inside it: a printer that
    writes to sys.stdout would be caught too.
    """
    into = into if into is not None else Captured()
    _flush()
    saved = None
    with tempfile.TemporaryFile() as sink:
        try:
            saved = os.dup(2)
            os.dup2(sink.fileno(), 2)
        except OSError:  # no file descriptor 2 (a detached process): Python-level capture only
            saved = None
        out, err = io.StringIO(), io.StringIO()
        try:
            with (
                warnings.catch_warnings(record=True) as caught,
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                warnings.simplefilter("always")
                yield into
        finally:
            _flush()  # lines buffered by handlers that hold the real sys.stderr land in the sink
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            raw = sink.read().decode("utf-8", "replace")
            for w in caught:
                into.add(f"{w.category.__name__}: {w.message}")
            for text in (err.getvalue(), out.getvalue(), raw):
                for line in text.splitlines():
                    into.add(line)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
