"""The help screen (`?`): the keys of the screen it was opened on, read from its bindings.

The key table is built from the bindings that are active on that screen (those declared with
an `id`, plus the command palette), so the help cannot drift from the keys: a key added to a
screen's BINDINGS appears here, and a key the help shows is one the screen answers.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown, Static

# Keys that widgets handle themselves (lists, inputs, tabs): not bindings of ours.
MOVING_AROUND = (
    ("↑ ↓", "move in lists, trees and tables"),
    ("Tab / Shift+Tab", "next / previous field, then the result tabs"),
    ("← →", "switch result tab (when the tabs have focus)"),
    ("Enter / Esc", "in a field: run / leave it (letters type into a field)"),
)

ABOUT = """\
A field that holds a bad value says so next to it, and Run waits until it is fixed.
The run is a separate process (`pttui run TOPIC --json`); the chart keeps the previous run's
curve dimmed, so two runs compare at a glance. Every run is kept on disk (`pttui runs`).
"""

PALETTE_ACTION = "command_palette"


def key_rows(screen: Screen) -> list[tuple[str, str]]:
    """(keys, what they do) for the bindings active on `screen`, in declaration order.

    Only bindings with an `id` (ours) and the command palette are listed; keys bound to the
    same action are shown together ("j / down").
    """
    app = screen.app
    by_action: dict[tuple[str, str], list[str]] = {}
    words: dict[tuple[str, str], str] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.id is None and binding.action != PALETTE_ACTION:
            continue
        what = (binding.action, binding.id or binding.action)
        by_action.setdefault(what, []).append(binding.key_display or app.get_key_display(binding))
        words.setdefault(what, binding.tooltip or binding.description)
    return [(" / ".join(dict.fromkeys(keys)), words[what]) for what, keys in by_action.items()]


def key_table(rows: list[tuple[str, str]]) -> Table:
    """This screen's keys, then the keys widgets handle themselves: one line a key where the
    words fit, no rules between rows, so every key shows at 80x24 without scrolling."""
    table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False, expand=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("what it does", ratio=1)
    for keys, what in (*rows, *MOVING_AROUND):
        table.add_row(keys, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Modal help; `rows` come from `key_rows(screen)` of the screen below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
        border-title-align: left; border-subtitle-align: right;
    }
    HelpScreen #help-close { color: $text-muted; }
    HelpScreen #help-about { margin: 1 0 0 0; }
    """

    def __init__(self, rows: list[tuple[str, str]]):
        super().__init__()
        self.rows = rows
        self.keys = key_table(rows)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "pttui keys"
            scroll.border_subtitle = "Esc closes"
            yield Static("Esc closes this help; ↑ ↓ scroll it.", id="help-close")
            yield Static(self.keys, id="help-keys")
            yield Markdown(ABOUT, id="help-about")
