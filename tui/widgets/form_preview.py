"""The form's rows before their fields are mounted: one widget that draws what they will show.

A field costs 4-12 ms of Textual's time to mount here (a Select the most) and `training`
shows 29 of them at 120x40, so a first frame that waited for them came ~0.3 s later. This
draws the same rows (name, value, a Select's arrow, a Checkbox's box) as text, in one
widget; ParamForm.build mounts the real fields in its place a few at a time, right after the
first frame, and drops the rows they replace. It takes no input: a row's field can be
focused once it is mounted, the first ones some 30 ms after the first frame.
"""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from pttui.engine.params import Param
from pttui.tui.policy import Policy

NAME_W = 15  # ParamField's name column (grid-columns: 15 1fr)


class FormPreview(Widget):
    DEFAULT_CSS = """
    FormPreview { height: auto; color: $text-muted; }  /* the names' colour, as ParamField's */
    """

    def __init__(
        self, params: tuple[Param, ...], values: dict[str, Any], notes: dict[str, str] | None = None
    ):
        """`notes`: field -> why it is greyed out (ParamForm.show_overrides' one-line notes)."""
        super().__init__()
        policy = Policy.from_env()  # pttui serve's limits: a field it turns off says why below it
        notes = notes or {}
        self.rows = [
            (p, values.get(p.name, p.default), policy.disabled(p.name), notes.get(p.name)) for p in params
        ]
        self._drawn: tuple[int, int, list[Content]] | None = None  # (width, rows, lines) last drawn

    def drop(self, n: int) -> None:
        """Forget the first `n` fields' rows: their fields are mounted above this widget now."""
        self.rows = self.rows[n:]
        self.refresh(layout=True)

    def _lines(self, width: int) -> list[Content]:
        # Layout asks for the height and then the picture at one width: build the lines once.
        if self._drawn is None or self._drawn[:2] != (width, len(self.rows)):
            self._drawn = (width, len(self.rows), [line for row in self.rows for line in _row(*row, width)])
        return self._drawn[2]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> Content:
        return Content("\n").join(self._lines(self.size.width))


def _names(p: Param) -> list[Content]:
    """The field's name as its Label wraps it: 14 columns and a gap (ParamField's .name)."""
    name = Content(p.name.replace("_", " "))
    return [name] if name.cell_length < NAME_W else name.wrap(NAME_W - 1)


def _row(p: Param, value: Any, off: str | None, unused: str | None, width: int) -> list[Content]:
    """One field's lines as it draws them (compact editor): the name, the value beside its
    first line; a long name wraps onto more lines, as the Label does. A field pttui serve
    turns off (ParamField.on_mount), or that another field leaves unused (show_overridden),
    is struck through, with why below it."""
    first, *more = _names(p)
    name = first.pad_right(NAME_W - first.cell_length)
    room = max(0, width - NAME_W)
    if off:
        editor = Content.styled(p.to_text(value)[:room].ljust(room), "strike on $surface 45%")
        return [name.stylize("strike") + editor, *more, *_note(f"⊘ {off}", width)]
    # ParamField's -overridden: the name and an Input struck through and muted, a Select's label
    # struck through (its own colour wins), a Checkbox as it is
    text = "strike $foreground 70% on $surface" if unused and p.kind != "bool" else "$foreground on $surface"
    if p.kind == "choice":
        label = p.to_text(value)[: max(0, room - 3)].ljust(max(0, room - 2))
        style = "strike $foreground on $surface" if unused else text
        arrow = ("strike " if unused else "") + "$foreground 50% on $surface"
        editor = Content.styled(label, style) + Content.styled("▼ ", arrow)
    elif p.kind == "bool":  # Textual's compact Checkbox: a box on $panel, then the label
        mark = Content.styled("✔", "$text-success on $panel") if value else Content.styled(" ", "on $panel")
        edge = "$panel on $surface"
        label = f" {'on' if value else 'off'}".ljust(max(0, room - 3))
        editor = Content.styled("▐", edge) + mark + Content.styled("▌", edge) + Content.styled(label, text)
    else:
        editor = Content.styled(p.to_text(value)[:room].ljust(room), text)
    if unused:
        return [name.stylize("strike") + editor, *more, *_note(f"↳ {unused}", width)]
    return [name + editor, *more]


def _note(text: str, width: int) -> list[Content]:
    """The line(s) under a field that say why it is off (ParamField's .error: 2 cells in)."""
    return [line.pad_left(2) for line in Content(text).wrap(max(1, width - 2))]
