"""One parameter in the form: its name, an editor that fits its kind, and an inline error.

The editor comes from the `Param` declaration alone (choice -> Select, bool -> Checkbox,
everything else -> Input), and every edit is checked with `Param.parse`, the same function
the command line uses, so the form can never accept what `pttui run` would refuse.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from pttui.engine.params import DEVICE_EXAMPLES, Param, ParamError
from pttui.tui.policy import Policy

_DEVICES = ["auto", *DEVICE_EXAMPLES]


class ParamField(Widget):
    # A grid, not rows of containers: a topic's form is most of its screen's widgets, and
    # every widget costs styling time when the screen opens.
    DEFAULT_CSS = """
    ParamField {
        layout: grid;
        grid-size: 2;
        grid-columns: 15 1fr;
        grid-rows: auto;
        height: auto;
        & .name { width: 15; padding: 0 1 0 0; color: $text-muted; }
        &:focus-within .name { color: $text; text-style: bold; }
        & Input, & Select, & Checkbox { width: 1fr; }
        & .error { column-span: 2; color: $text-error; display: none; padding: 0 0 0 2; }
        &.-invalid .error { display: block; }
        &.-invalid Input { color: $text-error; }
        &.-overridden .error { display: block; color: $text-muted; }
        &.-overridden Input, &.-overridden Select, &.-overridden .name { text-style: strike; color: $text-muted; }
    }
    """

    class Edited(Message):
        """The field's value changed (valid or not)."""

        def __init__(self, field: ParamField):
            super().__init__()
            self.field = field

    def __init__(self, param: Param, value: Any = None, blink: bool = True):
        super().__init__(id=f"param-{param.name}")
        self.param = param
        self._initial = param.default if value is None else value
        self._blink = blink
        self.error: str | None = None  # what the field shows: its own parse error, else a mark
        self._own: str | None = None
        self.marked: str | None = None  # from engine.early, checked as you type
        self.value: Any = self._initial
        self.policy = Policy.from_env()  # pttui serve's limits; none in the plain app
        self._note = ""  # shown under the field while it has no error: why it is off or overridden
        self.why_unused: str | None = (
            None  # the whole sentence behind an "unused" note (the help box shows it)
        )
        # The editor's value as this field last took it in. Input and Select post Changed when
        # they mount, with the value they were given: not an edit, and 35 of them checked the
        # whole form 35 times before a topic's first frame.
        self._seen: Any = None

    def compose(self) -> ComposeResult:
        p = self.param
        tip = f"{p.help}\n{p.allowed()}; default {p.to_text(p.default) or 'none'}"
        yield Label(p.name.replace("_", " "), classes="name")
        yield self._editor(tip)
        # The error line is mounted with the first error (show_error): a form opens valid, and
        # a widget per field that nobody sees would cost styling time on every topic's first frame.

    def _editor(self, tip: str) -> Widget:
        p, text = self.param, self.param.to_text(self._initial)
        if p.kind == "choice":
            editor: Widget = Select(
                [(c, c) for c in p.choices], value=text, allow_blank=False, compact=True, id="editor"
            )
        elif p.kind == "bool":
            # "on"/"off" in words: the box alone differs only by colour, lost under NO_COLOR
            editor = Checkbox(_on_off(self._initial), bool(self._initial), compact=True, id="editor")
            editor.BUTTON_INNER = _mark(self._initial)
        else:
            suggester = SuggestFromList(_DEVICES) if p.kind == "device" else None
            editor = Input(text, compact=True, suggester=suggester, select_on_focus=False, id="editor")
            editor.cursor_blink = self._blink
        self._seen = editor.value  # type: ignore[attr-defined]
        editor.tooltip = tip
        off = self.policy.disabled(p.name)
        if off:
            editor.disabled = True
            editor.tooltip = f"{tip}\n{off}"
        return editor

    def on_mount(self) -> None:
        off = self.policy.disabled(self.param.name)
        if off:
            self._note = f"⊘ {off}"
            self.add_class("-overridden")
            self.show_error(self.error)

    @property
    def editor(self) -> Widget:
        return self.query_one("#editor")

    def raw(self) -> Any:
        """The editor's value as it stands: a bool, the Select's choice or the Input's text."""
        return self.editor.value  # type: ignore[attr-defined]

    def check(self) -> str | None:
        """Parse the editor's value; keep the value or show the error next to the field.

        A mark from the checks as you type (`mark`) stays until those checks run again."""
        try:
            self.value = self.param.parse(self.raw())
            refused = self.policy.refusal(self.param.name, self.param.kind, self.value)
            self._own = f"expected {refused}" if refused else None
        except ParamError as exc:
            self._own = f"expected {exc.allowed}"
        self.show_error(self._own or self.marked)
        return self.error

    def show_overridden(self, note: str | None, why: str | None = None) -> None:
        """Dim the field with a one-line `note` (`not used: dataset digits`; None: it counts
        again); `why`, the whole sentence, is shown in the form's help box when it has the focus."""
        if self.policy.disabled(self.param.name):
            return  # its own reason stays
        self._note = f"↳ {note}" if note else ""
        self.why_unused = why if note else None
        self.set_class(note is not None, "-overridden")
        self.show_error(self.error)

    def mark(self, message: str | None) -> None:
        """Show (or clear) what the checks as you type found, unless the value does not parse."""
        self.marked = message
        self.show_error(self._own or message)

    def show_error(self, message: str | None) -> None:
        self.error = message
        self.set_class(message is not None, "-invalid")
        text = f"✘ {message}" if message else self._note
        lines = self.query(".error")
        if lines:
            lines.first(Static).update(text)
        elif text:
            self.mount(Static(text, classes="error"))

    def set_value(self, value: Any) -> None:
        editor = self.editor
        if isinstance(editor, Checkbox):
            editor.value = bool(value)
        elif isinstance(editor, Select):
            editor.value = self.param.to_text(value)
        else:
            assert isinstance(editor, Input)
            editor.value = self.param.to_text(value)
        self.check()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._edited(event)

    def on_select_changed(self, event: Select.Changed) -> None:
        self._edited(event)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = _on_off(event.value)
        event.checkbox.BUTTON_INNER = _mark(event.value)
        self._edited(event)

    def _edited(self, event: Message) -> None:
        event.stop()
        value = self.raw()
        if value == self._seen:
            return  # posted on mount: the value it was given, already parsed
        self._seen = value
        self.check()
        self.post_message(self.Edited(self))


def _on_off(value: Any) -> str:
    return "on" if value else "off"


def _mark(value: Any) -> str:
    # The box's mark: a tick when on, nothing when off (Textual draws an X in both states).
    return "✔" if value else " "
