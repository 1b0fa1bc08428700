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
        name_w = max((len(name) for name in labs), default=8) + 2
        options = [Option(self._prompt(lab, name_w), id=name) for name, lab in labs.items()]
        super().__init__(*options, **kw)

    @staticmethod
    def _prompt(lab: Lab, name_w: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f"{lab.name:<{name_w}}", style="bold")
        text.append(lab.summary, style="dim")
        return text

    @property
    def highlighted_topic(self) -> str | None:
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id
