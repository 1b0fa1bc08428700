"""The help screen (`?`): the keys, and how the app works, in a few lines."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# pttui keys

| key | what it does |
| --- | --- |
| ↑ ↓ or j k | move in lists and trees |
| Enter | open the topic; in a field: run |
| Tab / Shift+Tab | next / previous field, then the tabs |
| ← → | switch result tab (when the tabs have focus) |
| r | run the topic with the form's values |
| s | stop the run (it ends at its next step) |
| e | export the plain PyTorch script for these values |
| f | hide or show the form (wider results) |
| h | past runs kept on disk |
| Esc | leave a field, back to the topic list |
| ctrl+p | command palette: run, stop, switch topic, export, theme |
| q | quit (a running run is stopped first) |
| ? | this help |

A field that holds a bad value says so next to it, and Run waits until it is fixed.
The run is a separate process (`pttui run TOPIC --json`); the chart keeps the previous run's
curve dimmed, so two runs compare at a glance. Every run is kept on disk (`pttui runs`).
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)
