"""A topic's screen: the parameter form, the result tabs, the status line, and its run.

The run is an engine child process (tui.child). A timer drains its queue ten times a second
and hands each batch to the result tabs, so the UI thread sees one batch per tick however
fast the lab emits. The same tabs show a past run read from disk.

The first frame shows only what fits on it: the fields the form's height holds and the Chart
tab. A worker (`_build`) mounts the rest right after it, a few widgets at a time; what needs
every field (run, export, the checks, the Code tab, the spare) waits for that (`when_built`).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import ScreenResume
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Header, Input

from pttui.engine import events as ev
from pttui.engine import numbers
from pttui.engine.lab import Lab
from pttui.tui import notices
from pttui.tui.run_state import DONE, FAILED, IDLE, KILLED, PAUSED, STARTING, STOPPED, STOPPING, RunState
from pttui.tui.widgets.chart import LossChart
from pttui.tui.widgets.param_field import ParamField
from pttui.tui.widgets.param_form import ParamForm
from pttui.tui.widgets.results import ResultTabs
from pttui.tui.widgets.status_line import StatusLine

if TYPE_CHECKING:  # a run's modules load with its first run, not before the first frame
    from textual.css.query import QueryType
    from textual.widget import Widget

    from pttui.tui.child import Child, Exit

DRAIN_S = 0.1  # 10 Hz: smooth enough for a chart, rare enough to leave the training its CPU


class TopicScreen(Screen):
    AUTO_FOCUS = "ContentTabs"  # the tabs, not a field: r and s work at once; Tab reaches the form
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "Run", tooltip="Run with these values (Enter in a field too)", id="topic.run"),
        Binding("s", "stop", "Stop", tooltip="Stop the run at its next step", id="topic.stop"),
        Binding(
            "h",
            "app.runs",
            "Past runs",
            tooltip="Runs kept on disk: open one to see its results",
            id="topic.runs",
        ),
        Binding(
            "p", "pause", "Pause", tooltip="Pause the training loop; p again resumes it", id="topic.pause"
        ),
        Binding(
            "n",
            "step",
            "Step",
            tooltip="One optimizer step, then hold (pauses a running loop)",
            id="topic.step",
        ),
        Binding(
            "minus",
            "pace(-1)",
            "Slower",
            key_display="-",
            show=False,  # the footer must fit 80 columns; ? lists it, the status line shows the pace
            tooltip="Fewer steps per second",
            id="topic.slower",
        ),
        Binding(
            "plus,equals_sign",
            "pace(1)",
            "Faster",
            key_display="+",
            show=False,
            tooltip="More steps per second (past the top: as fast as it can)",
            id="topic.faster",
        ),
        Binding(
            "e",
            "export",
            "Export",
            tooltip="Write the plain PyTorch script for these values",
            id="topic.export",
        ),
        Binding(
            "f",
            "toggle_form",
            "Form",
            show=False,
            tooltip="Hide or show the form (wider results)",
            id="topic.toggle_form",
        ),
        # In a field the footer shows what its keys do there (letters type into it): Enter
        # runs, Esc leaves the field. Elsewhere Esc goes back. check_action picks the one.
        Binding(
            "enter",
            "run_from_field",
            "Run",
            priority=True,  # before the field's own Enter, so the footer can show it
            tooltip="Run with these values (from a text field)",
            id="topic.run_from_field",
        ),
        Binding(
            "escape",
            "leave_field",
            "Leave field",
            tooltip="Leave the field: r, s, q and the other keys work again",
            id="topic.leave_field",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Back to the topics (a run goes on)",
            id="topic.back",
        ),
    ]

    def __init__(self, lab: Lab, values: dict[str, Any] | None = None):
        super().__init__(name=f"topic-{lab.name}")
        self.lab = lab
        self._values = values
        self.child: Child | None = None
        self.state = RunState()
        self.final: ev.Event | None = None
        self._timer: Timer | None = None
        self._code_timer: Timer | None = None
        self._notice_timer: Timer | None = None
        self._run_threads = 0
        self._told_no_pause = False
        self._fields: dict[str, ParamField | None] = {}
        self.built = False  # every field and tab mounted (`_build`, after the first frame)
        self._shown = False  # shown once (_on_screen_resume)
        self._built = asyncio.Event()
        self._when_built: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.sub_title = f"{lab.title}"

    def compose(self) -> ComposeResult:
        yield Header(icon="▣")
        with Horizontal(id="main"):
            with Vertical(id="side"):
                with Horizontal(id="actions"):
                    yield Button("▶ Run", id="run", variant="success", compact=True)
                    yield Button("■ Stop", id="stop", variant="error", compact=True, disabled=True)
                # The first frame draws the fields' rows (FormPreview); `_build` mounts them.
                yield ParamForm(self.lab.params, self._values, blink=not self.app.is_headless, first=0)
            yield ResultTabs(f"{self.lab.title} — {self.lab.summary}.", id="results")
        yield StatusLine()
        yield Footer(compact=True, show_command_palette=False)  # 80 columns: ? lists ctrl+p

    def on_loss_chart_failed(self, message: LossChart.Failed) -> None:
        if not self.results.built:
            return  # it draws again with the next data, by then the Log is there
        self.results.log_view.note(
            f"chart: drawing failed ({message.reason}); the next redraw tries again", "error"
        )

    def on_mount(self) -> None:
        self.query_one(StatusLine).device_hint = self._device()
        self.call_after_refresh(self._start_build)

    def _start_build(self) -> None:
        # A worker, so the screen's own messages (keys, buttons) are handled while it mounts.
        self.run_worker(self._build(), name="build", group="build")

    async def _build(self) -> None:
        """After the first frame: mount the fields and tabs it left out, then do what needs them."""
        try:
            await self.form.build()
            await self.results.build()
        except NoMatches:
            if self.app.is_running and self.app.return_code is None:
                raise
            return  # the app exits meanwhile and takes its widgets down: nothing left to build
        if not (self.form.built and self.results.built):
            return  # the same, caught between two mounts
        self.built = True
        self._built.set()
        self.query_one(StatusLine).device_hint = self._device()
        # The checks as you type, once now: values given on the command line are judged at
        # once, and the first keystroke does not pay for their first use (~30 ms).
        self._early_check(self.form.current())
        self._update_code()  # the Code tab is not on show at first: its script waits till now
        self.spare_for_form()
        pending, self._when_built = self._when_built, []
        for callback, args in pending:
            callback(*args)

    def when_built(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call back once every field and tab is mounted: after the next refresh if they are."""
        if self.built:
            self.app.call_after_refresh(callback, *args)
        else:
            self._when_built.append((callback, args))

    async def wait_built(self) -> None:
        """Return once every field and tab is mounted (tests, the bench)."""
        await self._built.wait()

    def _on_screen_resume(self, event: ScreenResume) -> None:
        # Textual restyles every widget of a screen it shows (pushed, or back on top), in case
        # the theme changed while it was away. The first time, each widget was styled as it
        # mounted, a moment ago: doing it all again cost ~30 ms of this screen's first frame.
        if not self._shown:
            self._shown = True
            event = ScreenResume(refresh_styles=False)
        super()._on_screen_resume(event)

    def on_screen_resume(self) -> None:
        self.spare_for_form()

    def spare_for_form(self) -> None:
        """The spare warms up with this form's threads: replace it when they differ (never
        while a run goes on: the next spare starts when the run ends)."""
        if not self.built or self.app.running_topic() is not None or not self.app.spares_wanted:  # type: ignore[attr-defined]
            return  # (`_build` calls this once the form is whole)
        threads = self._threads()
        if threads is not None:
            self.app.spares.ensure(threads)  # type: ignore[attr-defined]

    def _threads(self) -> int | None:
        """The form's `--threads` (0 for a lab without it); None while that field is invalid."""
        field = self._field_of("threads")
        if field is None:
            return 0
        field.check()
        return None if field.error else int(field.value)

    def _field_of(self, name: str) -> ParamField | None:
        """A field by parameter name, found once (each query walks the form's DOM)."""
        if name not in self._fields:
            try:
                self._fields[name] = self.form.field(name)
            except NoMatches:
                if not self.built:
                    return None  # maybe not mounted yet: ask again later
                self._fields[name] = None
        return self._fields[name]

    # -- parts ---------------------------------------------------------------------------
    @property
    def form(self) -> ParamForm:
        return self.query_one(ParamForm)

    @property
    def results(self) -> ResultTabs:
        return self.query_one(ResultTabs)

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.running

    def _device(self) -> str:
        device = next((p for p in self.lab.params if p.kind == "device"), None)
        if device is None:
            return ""
        field = self._field_of(device.name)
        if field is None:  # not mounted yet: the value it will open with
            return f"device {(self._values or {}).get(device.name, device.default)}"
        return f"device {field.value}"

    def _set_state(self, state: RunState) -> None:
        before = self.state
        self.state = state
        self.query_one(StatusLine).state = state
        self.query_one("#run", Button).disabled = state.active
        self.query_one("#stop", Button).disabled = not state.active or state.state == STOPPING
        if (before.state == PAUSED) != (state.state == PAUSED) or before.active != state.active:
            self.refresh_bindings()  # Pause <-> Resume, and the watch keys only while a run goes
            tab = self.results.tabs.get_tab("chart")
            tab.label = "Chart ⏸" if state.state == PAUSED else "Chart"  # type: ignore[assignment]

    # -- watching a run: pause, single step, pace (engine.gate) ---------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run_from_field":
            return isinstance(self.focused, Input) and self._in_form(self.focused)
        if action in ("leave_field", "back"):
            return self._in_form(self.focused) == (action == "leave_field")
        if action in ("pause", "step", "pace"):
            if not self.lab.pausable:
                return False  # not offered: the log says why when a run starts
            if self.state.active and self.child is not None:
                return True
            # Idle: n starts a run held after its first step, p says so; pace waits for a run.
            return None if action == "pace" else True
        return True

    def action_pause(self) -> None:
        if self.lab.pausable and not self.running:
            self.notify("Nothing is running: r runs it, n runs it held after step 1.", severity="information")
            return
        if not self._watchable():
            return
        assert self.child is not None
        if self.state.state == PAUSED:
            self.child.send(_commands().Resume())
        else:
            self.child.send(_commands().Pause())

    def action_step(self) -> None:
        if self.lab.pausable and not self.running:
            self._run_held()
            return
        if self._watchable():
            assert self.child is not None
            self.child.send(_commands().Step())

    def _run_held(self) -> None:
        """Start a run that holds after its first optimizer step (engine command `step`),
        so a learner can step through it from step 1; n steps on, p runs on."""
        if not self.built:
            self.when_built(self._run_held)
            return
        self.action_run()
        if self.running and self.child is not None:
            self.child.send(_commands().Step())
            self.notify("Runs one step, then holds: n steps on, p runs on.", title="Step", timeout=3)

    def action_pace(self, direction: int) -> None:
        if not self._watchable():
            return
        assert self.child is not None
        pace = next_pace(self.state.pace, direction)
        self.child.send(_commands().Pace(pace))
        self.notify("as fast as it can" if pace == 0 else f"{pace:g} steps/s", title="Pace", timeout=1.5)

    def _watchable(self) -> bool:
        if not self.lab.pausable:
            self.notify(self.lab.pause_words(), severity="warning")
            return False
        if not self.running or self.state.state == STOPPING:
            self.notify("Nothing is running: r runs it.", severity="information")
            return False
        return True

    # -- actions ---------------------------------------------------------------------------
    def action_run(self) -> None:
        if not self.built:  # r within a moment of opening: run once the whole form is there
            self.when_built(self.action_run)
            return
        values = self.form.values()
        if values is not None and self._early_check(values):
            values = None
        if values is None:
            bad = ", ".join(self.form.errors)
            self.notify(
                f"Fix {bad} first: the message next to the field says what is allowed.",
                title="Not run",
                severity="error",
            )
            self.form.focus_first_error()
            return
        if self.child is not None and self.final is not None:
            # The run has reported its end and its process is exiting: wait for that (ms).
            if not self.child.exited.wait(2.0):
                self.child.kill()
                self.child.exited.wait(1.0)
            self.drain()
        self._leave_field()  # r and s are keys again, not letters typed into the field
        if self.running:
            self.notify("This topic is already running: s stops it.", severity="warning")
            return
        busy = self.app.running_topic()  # type: ignore[attr-defined]
        if busy:
            self.notify(f"{busy} is still running: stop it first (s on its screen).", severity="warning")
            return
        self.results.new_run(keep_previous=True)
        self.final = None
        self._run_threads = int(values.get("threads", 0))
        spare = self.app.spares.take(self._run_threads)  # type: ignore[attr-defined]
        sent = self.form.to_send(values)
        warm = spare is not None and spare.hand_over(self.lab.name, self.lab.params, sent)
        try:
            from pttui.tui.child import Child, flags

            self.child = spare if warm else Child(self.lab.name, flags(self.lab.params, sent)).start()
        except OSError as exc:
            self.notify(f"Could not start the engine: {exc}", title="Not run", severity="error")
            return
        assert self.child is not None
        self.results.log_view.note(f"run {self.lab.name}: pid {self.child.pid}" + (" (warm)" if warm else ""))
        if self.lab.no_pause:  # a lab that trains but must not pause: say so, once a screen
            self.results.log_view.note(self.lab.pause_words())
            if not self._told_no_pause:
                self._told_no_pause = True
                self.notify(self.lab.pause_words(), title="No pause here", timeout=4)
        self._set_state(RunState(state=STARTING))
        if self._notice_timer is not None:  # the last run's news is old now
            self._clear_notice()
        self._timer = self.set_interval(DRAIN_S, self.drain, name="drain")

    def action_stop(self) -> None:
        if not self.running:
            self.notify("Nothing is running.", severity="information")
            return
        if self.final is not None:  # it has reported its end; its process is only exiting (ms)
            self.notify("The run has already ended: nothing to stop.", severity="information")
            return
        assert self.child is not None
        self.child.stop()
        self._set_state(replace(self.state, state=STOPPING))
        self.results.log_view.note("stop asked: the run ends at its next step", "warning")

    def action_export(self) -> None:
        if not self.built:
            self.when_built(self.action_export)
            return
        values = self.form.values()
        if values is None:
            self.notify("Fix the marked fields first.", severity="error")
            self.form.focus_first_error()
            return
        from pttui.engine.export import write_script
        from pttui.engine.params import ParamError

        path = _free_path(Path.cwd() / f"pttui_{self.lab.name}.py")
        try:  # the run's checks first: a refused expression is never written into a script
            write_script(self.lab, values, path)
        except ParamError as exc:
            self.notify(f"Not exported: {exc}", severity="error")
            return
        # The short name first: at 80 columns the status line keeps ~50 characters of it.
        self.notify(f"Wrote ./{path.name}  (in {path.parent}; python {path.name} runs it)", title="Exported")
        self.results.log_view.note(f"exported the script to {path}")

    def action_toggle_form(self) -> None:
        side = self.query_one("#side")
        side.display = not side.display

    def action_back(self) -> None:
        """Back to the topics (Esc outside the form; in a field Esc leaves the field)."""
        if self._leave_field():
            return
        self.app.pop_screen()

    def action_leave_field(self) -> None:
        self._leave_field()

    def action_run_from_field(self) -> None:
        self.action_run()

    def focus_next(self, selector: str | type[QueryType] = "*") -> Widget | None:
        """Tab from the tabs or a result pane goes to the form's first field while the form is
        shown (fields -> tabs -> fields): letters typed after ← → land in a field, not on the
        one-key shortcuts (`e` export, `r` run, `q` quit)."""
        if selector == "*" and self._in_results(self.focused) and self.query_one("#side").display:
            first = next((f.editor for f in self.form.fields if f.editor.focusable), None)
            if first is not None:
                first.focus()
                return first
        return super().focus_next(selector)

    def _in_results(self, widget) -> bool:
        return widget is not None and (widget is self.results or self.results in widget.ancestors)

    def _in_form(self, widget) -> bool:
        return widget is not None and any(isinstance(node, ParamForm) for node in widget.ancestors)

    def _leave_field(self) -> bool:
        """Move the focus from a form field to the tabs; False when it was not in the form."""
        if self._in_form(self.focused):
            self.results.query_one("ContentTabs").focus()
            self.refresh_bindings()  # the footer: r, s, q are keys again
            return True
        return False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run":
            self.action_run()
        elif event.button.id == "stop":
            self.action_stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_run()

    # -- the run -----------------------------------------------------------------------
    def drain(self) -> None:
        """Take what the child said since the last tick and show it (runs at 10 Hz)."""
        if self.child is None:
            return
        from pttui.tui.child import Exit, Line  # loaded by the run's start already

        items = self.child.drain()
        if not items:
            return
        state = self.state
        events: list[ev.Event] = []
        log = self.results.log_view
        exit_item: Exit | None = None
        for item in items:
            if isinstance(item, ev.Event):
                events.append(item)
                if item.kind == "done" or (isinstance(item, ev.Error) and item.fatal):
                    self.final = item
                elif isinstance(item, ev.Error):
                    self.notify(item.message, title="The engine refused a command", severity="warning")
            elif isinstance(item, Line):
                if (
                    isinstance(self.final, ev.Error)
                    and self.final.message
                    and self.final.message in item.text
                ):
                    continue  # the engine's stderr repeats its error event for a shell: logged once
                log.note(item.text, "warning" if item.stream == "stderr" else "info")
            elif isinstance(item, Exit):
                exit_item = item
        state = state.update_all(events)
        if self.state.state == STOPPING and state.active:  # a late step must not undo "stopping"
            state = replace(state, state=STOPPING)
        self.results.apply(events)
        self._set_state(state)
        if exit_item is not None:
            self._finished(exit_item)

    def _finished(self, item: Exit) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        final, state = self.final, self.state
        log = self.results.log_view
        if isinstance(final, ev.Error):
            if final.field and self.form.blame(final.field, final.message):
                self.form.focus_first_error()
            self.notify(final.message, title=f"{self.lab.name} failed", severity="error")
        elif isinstance(final, ev.Done):
            how = "stopped" if final.stopped else "done"
            self._tell(f"{self.lab.name} {how} in {numbers.quantity(final.t, 's')}", title="Run " + how)
            # The run's own last word decides, whatever was asked meanwhile: a stop that raced
            # the natural end must not leave the status line on "stopping".
            state = replace(state, state=STOPPED if final.stopped else DONE)
        elif state.state == STOPPING:
            # The person asked for the stop and the engine ended without a final event: before
            # the lab began (torch still importing, or CPython itself still starting, which it
            # reports as a fatal error of its own), or killed once the grace period ran out.
            # Either way it is the stop that was asked for, not a failure.
            how = "killed after the grace period" if item.returncode == -9 else "stopped before the run began"
            log.note(how)
            self._tell(f"{self.lab.name} stopped ({how})", title="Run stopped")
            state = replace(state, state=STOPPED)
        else:  # no last word: killed, or crashed before it could report
            tail = item.stderr_tail.strip().splitlines()[-1:] if item.stderr_tail.strip() else []
            message = engine_end_words(item.returncode) + (f": {tail[0]}" if tail else "")
            log.note(message, "error")
            self.notify(message, title=f"{self.lab.name} failed", severity="error")
            state = replace(state, state=FAILED, message=message)
        self._set_state(state)
        self.child = None
        self._show_results()
        self.app.spares.ensure(self._run_threads)  # type: ignore[attr-defined]  # the next run's spare

    def _tell(self, message: str, title: str) -> None:
        """News that the status line already shows: a short toast on a roomy screen, and on a
        small one only the Log (tui.notices)."""
        if notices.roomy(self.app.size):
            self.notify(message, title=title)
        else:
            self._log_notice(message, title, "information")

    def take_notice(self, message: str, title: str, severity: str, small: bool) -> bool:
        """A notification for this screen (PlaygroundApp.notify): always into the Log; on a
        small screen onto the status line instead of a toast over the results (True)."""
        self._log_notice(message, title, severity)
        if not small:
            return False
        try:
            line = self.query_one(StatusLine)
        except NoMatches:  # not composed yet: the Log has it, or will
            return True
        line.notice = (notices.words(message, title), severity)
        if self._notice_timer is not None:
            self._notice_timer.stop()
        self._notice_timer = self.set_timer(notices.notice_s(severity), self._clear_notice)
        return True

    def _log_notice(self, message: str, title: str, severity: str) -> None:
        if not self.built:  # the Log is mounted after the first frame (`_build`)
            self.when_built(self._log_notice, message, title, severity)
            return
        level = severity if severity in ("warning", "error") else "info"
        try:
            log = self.results.log_view
        except NoMatches:
            return
        said = notices.words(message)
        if any(said in line for line in list(log.history)[-3:]):
            return  # the Log said it a moment ago (a failed run's error event): once is enough
        log.note(notices.words(message, title), level)

    def _clear_notice(self) -> None:
        if self._notice_timer is not None:
            self._notice_timer.stop()
            self._notice_timer = None
        self.query_one(StatusLine).notice = ("", "")

    def _show_results(self) -> None:
        """A topic that draws no curves: leave the empty Chart for the tab that has its results."""
        results = self.results
        results.run_ended()
        if results.tabs.active == "chart":
            best = results.tab_with_results()
            if best:
                results.show_tab(best)

    # -- past runs -----------------------------------------------------------------------
    def show_past_run(
        self, events: list[ev.Event], params: dict[str, Any], label: str, status: str | None = None
    ) -> None:
        """Show a recorded run in the tabs, its values in the form; r runs it again.

        `status` is the record's (engine.runs): a run without a final event is shown as the
        record judges it, killed when its process is gone, never as running from its events."""
        if self.running:
            self.notify("Stop the current run first.", severity="warning")
            return
        known = {p.name for p in self.lab.params}
        self.form.set_values({k: v for k, v in params.items() if k in known})
        # A past run is shown alone: what was on screen before must not change its chart, or the
        # same run would read differently each time it is opened.
        self.results.new_run(keep_previous=False)
        self.results.log_view.note(f"past run {label}")
        state = RunState().update_all(events)
        self.results.apply(events)
        if state.active:  # no final event: the events alone cannot say how it ended
            from pttui.engine import runs as run_store

            if status == run_store.RUNNING:  # its recording process lives: another app's run
                state = replace(state, state=IDLE)  # nothing runs here; r runs these values
                self.results.log_view.note(
                    f"{label} is still running elsewhere: this is what it wrote so far"
                )
            else:
                state = replace(state, state=KILLED)
                self.results.log_view.note(
                    f"{label} never reported its end and its process is gone: it was killed "
                    "(SIGKILL, out of memory) or its machine stopped",
                    "warning",
                )
        self._set_state(replace(state, message=f"past run {label}"))
        self._show_results()

    def show_comparison(self, runs: list) -> None:
        """Overlay recorded runs [(RunInfo, events)] on the chart, each curve named for its run."""
        from pttui.tui.compare import labelled

        if self.running:
            self.notify("Stop the current run first.", severity="warning")
            return
        self.results.new_run(keep_previous=False)
        log = self.results.log_view
        for label, info, events in labelled(runs):
            for event in events:
                self.results.chart.add(event)
            log.note(f"compare: {label} = {info.path.name}")
        self.results.chart.data.end()  # recorded runs: the axis spans the steps they ran, not those planned
        self.results.chart.redraw()
        self._set_state(replace(RunState(), message=f"comparing {len(runs)} runs"))
        self.results.show_tab("chart")

    # -- the code tab follows the form ----------------------------------------------------
    def _early_check(self, values: dict[str, Any]) -> bool:
        """Mark the fields whose syntax is wrong, from this process, at once (no engine, no
        torch: engine.early); clear the marks it made before. True when any field is marked."""
        from pttui.engine import early

        problems = {p.field: str(p) for p in early.check(values)}
        for field in self.form.fields:
            field.mark(problems.get(field.param.name))
        return any(field.marked for field in self.form.fields)

    def on_param_form_changed(self, event: ParamForm.Changed) -> None:
        if not self.built:
            return  # `_build` runs these checks once every field is there
        self.query_one(StatusLine).device_hint = self._device()
        if event.field is not None and self.state.active:
            self._next_run_note(event.field)
        values = self.form.current()
        self._early_check(values)
        if self._code_timer is not None:
            self._code_timer.stop()
        self._code_timer = self.set_timer(0.15, self._form_settled)

    def _next_run_note(self, field: ParamField) -> None:
        """A field edited while a run goes on: say it is for the next run (pace excepted: its
        keys change the live run), on the status line for a while."""
        if field.param.name == "pace":
            return
        shown = field.raw()
        shown = ("on" if shown else "off") if isinstance(shown, bool) else str(shown).strip() or "none"
        line = self.query_one(StatusLine)
        line.notice = (f"{field.param.name} {shown} applies to the next run", "information")
        if self._notice_timer is not None:
            self._notice_timer.stop()
        self._notice_timer = self.set_timer(notices.notice_s("information"), self._clear_notice)

    def _form_settled(self) -> None:
        """The form stopped changing: the code follows it, and the spare its threads."""
        self.spare_for_form()
        self._update_code()

    def _update_code(self) -> None:
        from pttui.tui.widgets.code_view import CodeView

        view = self.query_one(CodeView)
        values = self.form.values()
        if values is None:
            view.show_error("Fix the marked fields to see the code for them.")
            return
        try:
            view.show_code(self.lab.code(values), note="# the plain PyTorch for these values: e exports it")
        except Exception as exc:  # a lab's code() must never take the screen down
            view.show_error(f"code() failed: {type(exc).__name__}: {exc}")


def engine_end_words(returncode: int) -> str:
    """What happened to an engine that ended without its final event, as a sentence start:
    "The engine was killed (SIGKILL) before it reported" / "The engine exited with code 1 ..."."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"The engine was killed ({name}) before it reported"
    return f"The engine exited with code {returncode} before it reported"


PACES = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)  # steps per second, slow to fast


def next_pace(pace: float, direction: int) -> float:
    """The pace one key press away: slower from "as fast as it can" (0) starts at 20 steps/s;
    faster past the top is 0 again."""
    if direction < 0:
        if pace <= 0:
            return 20.0
        slower = [p for p in PACES if p < pace]
        return slower[-1] if slower else PACES[0]
    if pace <= 0:
        return 0.0
    faster = [p for p in PACES if p > pace]
    return faster[0] if faster else 0.0


def _free_path(path: Path) -> Path:
    n = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        n += 1
    return candidate


def _commands():
    """engine.commands, loaded with the first use of a watch key (not before the first frame)."""
    from pttui.engine import commands

    return commands
