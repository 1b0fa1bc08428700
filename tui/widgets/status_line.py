"""The status line: device, torch version, run state, step/epoch, samples/s, ETA, progress.

It draws from a `RunState` and fits what it can into the width, most important first, so
at 80 columns the state and progress stay while the less urgent figures drop out.
"""

from __future__ import annotations

from functools import cache

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from pttui.tui import notices
from pttui.tui.run_state import (
    DONE,
    FAILED,
    IDLE,
    KILLED,
    PAUSED,
    RUNNING,
    STOPPED,
    STOPPING,
    RunState,
    fmt_seconds,
)

_STATE_STYLE = {
    "information": "bold",  # a notice's severity (tui.notices)
    "warning": "bold $warning",
    "error": "bold $error",
    RUNNING: "bold $success",
    PAUSED: "bold $warning",
    STOPPING: "bold $warning",
    DONE: "bold $success",
    STOPPED: "bold $warning",
    FAILED: "bold $error",
    KILLED: "bold $error",
}
_MARK = {
    RUNNING: "▶",
    PAUSED: "⏸",
    STOPPING: "■",
    DONE: "✔",
    STOPPED: "■",
    FAILED: "✘",
    KILLED: "✘",
    IDLE: "○",
}


@cache
def installed_torch() -> str:
    """torch's version, known before a run, without importing torch.

    Read from torch/version.py, found by `find_spec` (which imports nothing): the first frame
    draws this line, and package metadata cost ~0.13 s to scan here. Metadata is the fallback.
    """
    import importlib.util
    import re
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("torch")
        if spec is not None and spec.origin:
            text = Path(spec.origin).with_name("version.py").read_text(encoding="utf-8")
            found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
            if found:
                return found.group(1)
    except (OSError, ImportError, ValueError):
        pass
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "not installed"


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    state: reactive[RunState] = reactive(RunState, always_update=False)
    device_hint: reactive[str] = reactive("")  # the form's device value, until a run reports its own
    # (words, severity): a notification on a small screen (tui.notices), shown after the state
    notice: reactive[tuple[str, str]] = reactive(("", ""))

    def render(self) -> Text:
        s = self.state
        width = max(self.size.width, 20)
        parts: list[tuple[int, Text]] = []  # (priority: lower stays longer, text)
        mark = _MARK.get(s.state, "•")
        parts.append((0, Text(f"{mark} {s.state}", style=self._style(s.state))))
        words, severity = self.notice
        if words:  # the news of the moment, before everything else; the Log has it whole
            bar_w = 18 if s.progress is not None else 0
            note = Text(f"{notices.MARKS.get(severity, '')} {words}", style=self._style(severity))
            note.truncate(max(width - bar_w - len(s.state) - 5, 12), overflow="ellipsis")
            parts.append((0, note))
        if s.message:  # what failed, or which past run is on show
            message = Text(s.message, style="italic")
            message.truncate(max(width - 40, 16), overflow="ellipsis")
            parts.append((1, message))
        if s.device or self.device_hint:
            parts.append((3, Text(s.device or self.device_hint, style="bold")))
        parts.append((5, Text(f"torch {s.torch or installed_torch()}")))
        if s.epochs:
            parts.append((1, Text(f"epoch {s.epoch}/{s.epochs}")))
        if s.step:
            parts.append((2, Text(f"step {s.step:,}")))
        if s.pace and s.active:
            parts.append((2, Text(f"pace {s.pace:g} steps/s")))
        if s.samples_per_s:
            parts.append((4, Text(f"{s.samples_per_s:,.0f} samples/s")))
        if s.system:  # the machine beside the run: CPU %, memory, CUDA memory
            parts.append((4, Text(s.system, style="dim")))
        if s.eta_s is not None:
            parts.append((2, Text(f"ETA {fmt_seconds(s.eta_s)}")))
        elif s.seconds is not None and s.state != RUNNING:
            parts.append((2, Text(f"{s.seconds:.1f} s")))
        bar = self._bar(s.progress)
        keep = self._fit(parts, width - (len(bar) + 1 if bar else 0))
        line = Text(" │ ", style="dim").join(keep)
        if bar:
            line.append(" " * max(width - line.cell_len - len(bar), 1))
            line.append_text(bar)
        line.truncate(width, overflow="ellipsis")
        return line

    def _style(self, state: str) -> str:
        style = _STATE_STYLE.get(state, "bold")
        if "$" not in style:
            return style
        name = style.split("$")[1]
        color = self.app.theme_variables.get(f"text-{name}") or self.app.theme_variables.get(name, "")
        return style.replace(f"${name}", color)

    @staticmethod
    def _fit(parts: list[tuple[int, Text]], width: int) -> list[Text]:
        """Drop the least important parts until the rest fit, keeping their order."""
        chosen = list(parts)
        while chosen:
            total = sum(t.cell_len for _, t in chosen) + 3 * (len(chosen) - 1)
            if total <= width:
                break
            worst = max(range(len(chosen)), key=lambda i: (chosen[i][0], i))
            if chosen[worst][0] == 0:
                break
            chosen.pop(worst)
        return [t for _, t in chosen]

    def _bar(self, progress: float | None) -> Text:
        if progress is None:
            return Text()
        cells = 12
        filled = round(progress * cells)
        bar = Text()
        bar.append("█" * filled, style=self._style(RUNNING).replace("bold ", ""))
        bar.append("░" * (cells - filled), style="dim")
        bar.append(f" {progress * 100:3.0f}%")
        return bar
