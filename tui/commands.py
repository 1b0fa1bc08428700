"""The command palette (ctrl+p): run, stop, switch topic, export script, theme, past runs.

Its own module, as posting keeps its provider: the commands are the app's actions, found
by name, so the palette and the keys can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from pttui.engine.labs import all_labs


class PlaygroundCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.app
        screen_action = app.topic_action
        out: list[tuple[str, Callable[[], object], str]] = [
            ("Run", partial(screen_action, "run"), "run the current topic with the form's values (r)"),
            ("Stop", partial(screen_action, "stop"), "stop the run at its next step (s)"),
            ("Export script", partial(screen_action, "export"), "write the plain PyTorch script (e)"),
            ("Toggle dark/light theme", app.action_toggle_dark, "switch between the dark and light theme"),
            ("Past runs", app.action_runs, "open a run kept on disk (h)"),
            ("Topics", app.action_home, "back to the topic list"),
        ]
        for name, lab in all_labs().items():
            out.append((f"Switch topic: {name}", partial(app.open_topic, name), lab.summary))
        return out

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
