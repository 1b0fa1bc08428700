"""The Textual app: a home screen of topics, a screen per topic, past runs, help.

Small on purpose: each screen and pane lives in its own module. The app never imports
torch (its runs are child processes, see tui.child); it reads torch's version from package
metadata and everything else from the runs' events.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from pttui.engine.labs import all_labs, get_lab
from pttui.tui.commands import PlaygroundCommands
from pttui.tui.screens.home import HomeScreen
from pttui.tui.spare import NO_SPARE_ENV, Spares

if TYPE_CHECKING:  # the topic screen (tabs, tables, trees, the chart) loads when first opened
    from pttui.tui.screens.topic import TopicScreen

from pttui.engine.lifecycle import STOP_GRACE_S as QUIT_GRACE_S  # the whole quit stays well under 3 s


class PlaygroundApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "pttui"
    SUB_TITLE = "the PyTorch playground"
    COMMANDS = App.COMMANDS | {PlaygroundCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Quit (a running run is stopped first)", id="quit"),
        Binding(
            "question_mark",
            "help",
            "Help",
            key_display="?",
            tooltip="This help: the keys of this screen",
            id="help",
        ),
    ]

    def __init__(
        self,
        topic: str | None = None,
        values: dict[str, Any] | None = None,
        spares: bool | None = None,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.start_topic = topic
        self.start_values = values  # from `pttui TOPIC --flag value`: the form opens with them
        self.last_topic: str | None = topic
        self.started_at = time.perf_counter()
        self.first_frame_s: float | None = None  # from App() to the first frame: the UI bench reads it
        self.spares = Spares()  # the warm spare engine (tui.spare): started after the first frame
        # PTTUI_NO_SPARE=1 turns it off (the test suite does, but for the tests of the spare).
        self.spares_wanted = spares if spares is not None else os.environ.get(NO_SPARE_ENV) != "1"

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification passes here (widgets' and screens' too): tui.notices decides
        where it goes. A screen's `take_notice(message, title, severity, small)` may show it
        itself (True); otherwise it is a toast, shown briefly."""
        from pttui.tui import notices

        small = not notices.roomy(self.size)
        take = getattr(self.screen, "take_notice", None)
        if take is not None and take(str(message), title, severity, small):
            return
        timeout = notices.toast_s(severity, timeout)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def get_default_screen(self) -> HomeScreen:
        return HomeScreen()

    def on_mount(self) -> None:
        if self.start_topic:
            self.open_topic(self.start_topic)

    def on_ready(self) -> None:
        self.first_frame_s = time.perf_counter() - self.started_at
        # Everything alive now lives as long as the app: out of the collector's sight, so a
        # full collection never walks it (on torch-sized heaps that stalled 100-190 ms).
        gc.collect()
        gc.freeze()
        gc.enable()  # off since start-up, when started by `pttui` (cli.quiet_start)
        if self.spares_wanted:  # after the first frame, and on a worker thread: never delays the UI
            self.call_after_refresh(self._first_spare)

    def _first_spare(self) -> None:
        for_form = getattr(self.screen, "spare_for_form", None)  # a topic on show: its threads
        if for_form is not None:
            for_form()
        elif self.running_topic() is None:
            self.spares.ensure(0)

    # -- navigation ------------------------------------------------------------------------
    def topic_screen(self, name: str) -> TopicScreen:
        """The topic's screen, made once and kept, so its run and results survive a switch."""
        from pttui.tui.screens.topic import TopicScreen

        key = f"topic-{name}"
        if not self.is_screen_installed(key):
            values = self.start_values if name == self.start_topic else None
            self.install_screen(TopicScreen(get_lab(name), values), key)
        return self.get_screen(key)  # type: ignore[return-value]

    def open_topic(self, name: str) -> TopicScreen:
        screen = self.topic_screen(name)
        self.last_topic = name  # the list selects it again when you come back
        self._to_home()
        self.push_screen(screen)
        return screen

    def open_run(self, info) -> None:
        """Open a run kept on disk in its topic's screen."""
        from pttui.engine.runs import UNREADABLE, read_events

        if info.status == UNREADABLE:
            self.notify(f"{info.path.name} cannot be read: {info.reason}", severity="error")
            return
        if info.topic not in all_labs():
            self.notify(f"This version has no topic {info.topic!r}.", severity="error")
            return
        screen = self._open_from_runs(info.topic)
        events = read_events(info.path)
        screen.when_built(screen.show_past_run, events, info.params, info.path.name, info.status)

    def compare_runs(self, infos) -> None:
        """Overlay runs of one topic kept on disk on its chart, one curve per run."""
        from pttui.engine.runs import read_events

        screen = self._open_from_runs(infos[0].topic)
        runs = [(info, read_events(info.path)) for info in infos]
        screen.when_built(screen.show_comparison, runs)

    def _open_from_runs(self, name: str) -> TopicScreen:
        """The topic's screen for a run chosen in the runs list, pushed over the list so that
        Esc goes back to it. A screen cannot be in the stack twice: when the topic's screen is
        already below the list (`h` from that topic), the stack becomes the topics, a fresh list
        at the same row, the topic."""
        from pttui.tui.screens.runs import RunsScreen

        runs = self.screen
        if not isinstance(runs, RunsScreen):
            return self.open_topic(name)
        screen = self.topic_screen(name)
        self.last_topic = name
        if screen in self.screen_stack:
            row = runs.cursor_row
            self._to_home()
            self.push_screen(RunsScreen(row))
        self.push_screen(screen)
        return screen

    def _to_home(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_home(self) -> None:
        self._to_home()

    def action_runs(self) -> None:
        from pttui.tui.screens.runs import RunsScreen

        self.push_screen(RunsScreen())

    def action_help(self) -> None:
        from pttui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            from pttui.tui.screens.help import key_rows

            self.push_screen(HelpScreen(key_rows(self.screen)))

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def topic_action(self, action: str) -> None:
        """Run/stop/export from the palette: on the topic on show, else say how to get one."""
        from pttui.tui.screens.topic import TopicScreen

        if isinstance(self.screen, TopicScreen):
            getattr(self.screen, f"action_{action}")()
        else:
            self.notify("Open a topic first (Enter on the list).", severity="warning")

    def running_topic(self) -> str | None:
        from pttui.tui.child import live_children  # not before the first frame: it has no run

        for child in live_children():
            if child.topic is not None:  # a spare has no topic until it is handed a run
                return child.topic
        return None

    # -- quitting --------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Stop every run (SIGINT, then SIGKILL), reap it, then exit: no orphans, within 3 s."""
        from pttui.tui.child import live_children

        self.spares.close()
        children = live_children()
        if children:
            self.notify("Stopping the run…", severity="warning")
            for child in children:
                child.stop(QUIT_GRACE_S)
            deadline = time.monotonic() + QUIT_GRACE_S + 0.5
            while any(c.running for c in children) and time.monotonic() < deadline:
                await asyncio.sleep(0.03)
            for child in children:
                child.close(grace=0.0)
        self.exit()

    def on_unmount(self) -> None:
        from pttui.tui.child import live_children

        self.spares.close()
        for child in live_children():  # any other way out (ctrl+c, an exception): same promise
            child.close(grace=0.5)


def main(topic: str | None = None, values: dict[str, Any] | None = None) -> int:
    PlaygroundApp(topic, values).run()
    return 0
