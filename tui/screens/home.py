"""The home screen: every topic with its one-line summary; Enter opens one."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static

from pttui.engine.labs import all_labs
from pttui.tui.widgets.topic_list import TopicList


class HomeScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "h", "app.runs", "Past runs", tooltip="Runs kept on disk: open one to see its results", id="runs"
        ),
    ]

    def compose(self) -> ComposeResult:
        # `pttui TOPIC` opens the topic over this screen at once: its parts wait until it is
        # first shown, so they cost nothing before the topic's first frame.
        if getattr(self.app, "start_topic", None) is None:
            yield from self._parts()

    def _parts(self) -> ComposeResult:
        yield Header(icon="▣")
        yield Static(
            "Pick a topic, edit its parameters, press r, and watch real PyTorch run.",
            id="intro",
        )
        yield TopicList(all_labs(), id="topics")
        yield Static("", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "the PyTorch playground"
        if self.query(TopicList):
            self._start_list()
        # A run left going on its topic's screen can end while this list is on show.
        self.set_interval(1.0, self._mark_running)

    def _mark_running(self) -> None:
        if self.app.screen is self and self.query(TopicList):
            self.query_one(TopicList).mark_running(self.app.running_topic())  # type: ignore[attr-defined]

    def _start_list(self) -> None:
        topics = self.query_one(TopicList)
        topics.highlighted = 0 if topics.option_count else None
        topics.focus()

    async def on_screen_resume(self) -> None:
        """Back from a topic: the list's cursor is on the topic you came from."""
        if not self.query(TopicList):
            if self.app.screen is not self:
                return  # resumed at start-up under the topic `pttui TOPIC` opens
            await self.mount_all(list(self._parts()))
            self._start_list()
        name = getattr(self.app, "last_topic", None)
        topics = self.query_one(TopicList)
        topics.mark_running(self.app.running_topic())  # type: ignore[attr-defined]
        for index in range(topics.option_count):
            if topics.get_option_at_index(index).id == name:
                topics.highlighted = index
                return

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.app.open_topic(event.option.id)  # type: ignore[attr-defined]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        lab = all_labs().get(event.option.id or "")
        if lab is None:
            return
        text = Text()
        text.append(lab.title, style="bold")
        text.append(f" — {lab.summary}.\n")  # a dash: summaries have colons of their own
        names = ", ".join(p.name for p in lab.params)
        text.append(f"parameters: {names or 'none'}", style="dim")
        self.query_one("#detail", Static).update(text)
