"""The list of topics, one line each: name, title and its one-line summary.

Built from the lab registry, so a new lab file shows up here with no UI code. j/k move like
the arrow keys; Enter opens the highlighted topic.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from pttui.engine.lab import Lab

_MOVE = Binding.Group("Move")
RUNNING_MARK = "▶"  # before a topic whose run is still going


class TopicList(OptionList):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", group=_MOVE, tooltip="Next topic", id="topics.down"),
        Binding("k", "cursor_up", "Up", group=_MOVE, tooltip="Previous topic", id="topics.up"),
        Binding("enter", "select", "Open", tooltip="Open the topic", id="topics.open"),
    ]

    DEFAULT_CSS = """
    TopicList {
        height: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        & > .option-list--option { padding: 0 1; }
    }
    """

    def __init__(self, labs: dict[str, Lab], **kw):
        self._labs = labs
        self._name_w = max((len(name) for name in labs), default=8) + 2
        self.running: str | None = None  # the topic marked RUNNING_MARK
        options = [Option(self._prompt(lab, self._name_w, False), id=name) for name, lab in labs.items()]
        super().__init__(*options, **kw)

    @staticmethod
    def _prompt(lab: Lab, name_w: int, running: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f"{RUNNING_MARK} " if running else "  ", style="bold green")
        text.append(f"{lab.name:<{name_w}}", style="bold")
        text.append(lab.summary, style="dim")
        return text

    def mark_running(self, topic: str | None) -> None:
        """Mark `topic`'s row as having a run going (None: no row), so leaving a topic with
        its run going shows on the list, not only at the next `r` elsewhere."""
        if topic == self.running:
            return
        for name in (self.running, topic):
            if name in self._labs:
                self.replace_option_prompt(name, self._prompt(self._labs[name], self._name_w, name == topic))
        self.running = topic

    @property
    def highlighted_topic(self) -> str | None:
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id
