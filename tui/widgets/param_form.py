"""The parameter form of a topic, built from its lab's `params` (there is no second list).

It keeps every field's parsed value and error, posts `Changed` after each edit (the Code
tab follows it), and shows the focused field's help below the fields.

A field costs 4-12 ms of Textual's time to mount here (a Select the most), and `training`
has 35: the form composes only its first `first` fields, and draws the others' rows with one
FormPreview; `build` mounts their fields in its place after the first frame, a few at a time.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.message import Message
from textual.widgets import Static

from pttui.engine.common import not_used, not_used_notes, topic_of
from pttui.engine.params import Param
from pttui.tui.widgets.form_preview import FormPreview
from pttui.tui.widgets.param_field import ParamField


class ParamForm(Vertical):
    DEFAULT_CSS = """
    ParamForm {
        height: 1fr;
        & > VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
        & > #help { height: auto; max-height: 5; color: $text-muted; border-top: hkey $panel-lighten-2; }
    }
    """

    class Changed(Message):
        """The form's values changed; `field` is the one the user edited (None when set in code)."""

        def __init__(self, form: ParamForm, field: ParamField | None = None):
            super().__init__()
            self.form = form
            self.field = field

    def __init__(
        self,
        params: tuple[Param, ...],
        values: dict[str, Any] | None = None,
        blink: bool = True,
        first: int | None = None,
    ):
        """`first`: how many fields to compose before the first frame (None: all); `build`
        mounts the others."""
        super().__init__()
        self.params = params
        self._values = dict(values or {})
        self._blink = blink
        self._lost: set[str] = set()  # the fields greyed out now
        self.first = len(params) if first is None else max(0, min(first, len(params)))
        self.built = self.first == len(params)  # every field mounted: values() sees them all
        self._topic = topic_of(params)  # NEEDS facts that hold in some labs only

    def compose(self) -> ComposeResult:
        with VerticalScroll(can_focus=False):  # Tab goes field to field, not via the container
            for p in self.params[: self.first]:
                yield self._field(p)
            if not self.built:
                start = {p.name: self._values.get(p.name, p.default) for p in self.params}
                notes = {
                    name: note for name, (note, _) in not_used_notes(self.params, start, self._topic).items()
                }
                yield FormPreview(self.params[self.first :], self._values, notes)
        yield Static(self._help_text(self.params[0]) if self.params else "", id="help")

    def _field(self, p: Param) -> ParamField:
        return ParamField(p, self._values.get(p.name), blink=self._blink)

    async def build(self, batch: int = 4) -> None:
        """Mount the fields the first frame left out, `batch` at a time, in order. Between
        batches the event loop takes keys, so the fields on show answer while the rest come."""
        if self.built:
            return
        scroll = self.query_one(VerticalScroll)
        preview = self.query_one(FormPreview)
        rest = self.params[self.first :]
        for start in range(0, len(rest), batch):
            fields = [self._field(p) for p in rest[start : start + batch]]
            with self.app.batch_update():  # one frame shows the fields and the rows they replace gone
                await scroll.mount_all(fields, before=preview)
                preview.drop(len(fields))
        self.built = len(self.fields) == len(self.params)  # not when the app exits meanwhile
        if self.built:
            await preview.remove()
            self.show_overrides()

    @property
    def fields(self) -> list[ParamField]:
        return list(self.query(ParamField))

    def field(self, name: str) -> ParamField:
        return self.query_one(f"#param-{name}", ParamField)

    @property
    def errors(self) -> dict[str, str]:
        return {f.param.name: f.error for f in self.fields if f.error}

    def values(self) -> dict[str, Any] | None:
        """The parsed values, or None while any field is invalid."""
        fields = self.fields
        for f in fields:
            f.check()
        if any(f.error for f in fields):
            return None
        return {f.param.name: f.value for f in fields}

    def current(self) -> dict[str, Any]:
        """Each field's value as it stands, text fields as typed (for the checks as you type)."""
        return {f.param.name: f.raw() if f.param.kind in ("str", "path") else f.value for f in self.fields}

    def set_values(self, values: dict[str, Any]) -> None:
        for f in self.fields:
            if f.param.name in values:
                f.set_value(values[f.param.name])
        self._values.update(values)  # a field `build` has not mounted yet opens with its value
        self.post_message(self.Changed(self))

    def blame(self, name: str, message: str) -> bool:
        """Show an error the engine found at run time next to its field; False if no such field."""
        try:
            field = self.field(name)
        except Exception:
            return False
        field.show_error(message)
        return True

    def focus_first_error(self) -> None:
        for f in self.fields:
            if f.error:
                f.editor.focus()
                f.scroll_visible()
                return

    def on_param_field_edited(self, event: ParamField.Edited) -> None:
        event.stop()
        self.show_overrides()
        self.post_message(self.Changed(self, event.field))

    def on_mount(self) -> None:
        self.show_overrides()

    def show_overrides(self) -> None:
        """Grey out each field another one wins over (a --model-spec over --model) or that does
        nothing with the others' values (--momentum with Adam), saying why (common.WINS and
        common.NEEDS: the same rules the engine refuses typed flags by)."""
        if not self.built:
            return  # `build` calls it once every field is there
        lost = not_used_notes(self.params, self.current(), self._topic)
        changing = lost.keys() | self._lost  # only the fields whose state may change
        for f in self.fields:  # those composed so far
            if f.param.name in changing:
                note, why = lost.get(f.param.name, (None, None))
                f.show_overridden(note, why)
        self._lost = set(lost)
        focused = self.app.focused if self.is_attached else None
        for node in focused.ancestors_with_self if focused else ():
            if isinstance(node, ParamField) and node.param.name in changing:
                self.query_one("#help", Static).update(self._help_text(node))  # its why may have changed
                break

    def to_send(self, values: dict[str, Any]) -> dict[str, Any]:
        """What a run is given: the fields changed from their default and not greyed out, so the
        form's own defaults and greyed-out fields are never refused as typed where they lose."""
        lost = not_used(self.params, values, self._topic)
        defaults = {p.name: p.parse(p.default) for p in self.params}
        return {k: v for k, v in values.items() if k not in lost and v != defaults.get(k)}

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        for node in event.widget.ancestors_with_self:
            if isinstance(node, ParamField):
                self.query_one("#help", Static).update(self._help_text(node))
                return

    @staticmethod
    def _help_text(field: ParamField | Param) -> Text:
        """The help box's text for a field: its help, what is allowed, and why it is greyed out."""
        p = field if isinstance(field, Param) else field.param
        text = Text()
        text.append(p.name.replace("_", " "), style="bold")
        text.append(f": {p.help}. ")
        text.append(f"{p.allowed()}; default {p.to_text(p.default) or 'none'}", style="italic")
        why = None if isinstance(field, Param) else field.why_unused
        if why:
            text.append(f"\nNot used: {why}.", style="bold")
        return text
