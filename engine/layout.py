"""Tables and text laid out to the width they get: the human printer and the app share it.

A results table never cuts the figure a person came for. `FitTable` is a rich renderable
that looks at the width it is given each time it is drawn (a terminal, a pane that resized):
- it fits: a plain table, cells on one line;
- it fits once long headers take two lines: so;
- it fits once its widest text column wraps (a sentence beside short figures): so, every
  other cell on one line;
- a few rows (variants) with many figures each: transposed, the figures as rows and the
  row names as the header (`variant  fp32  dynamic int8 ...`), so the variants stand side
  by side;
- it does not: a stacked layout, one block per row, named by the row's first cell, with
  one "column  value" line per other column. Nothing is abbreviated or dropped, and the
  column that names the row is always shown.
`body_blocks` splits a text body into prose (wraps to the width) and preformatted blocks
(model summaries, tensor previews: they keep their lines and scroll sideways in the app).

Torch-free; rich only (the app and the headless printer both have it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from pttui.engine import numbers

_PRE = re.compile(r"[─━│┃═║┌┐└┘├┤┬┴┼╭╮╰╯]|\S {2,}\S|^\s*(tensor\(|\[\[)|={4,}|-{4,}")


WRAP_MIN = 16  # a wrapped column keeps at least this many characters a line, else rows stack
TRANSPOSE_ROWS = 6  # a table of at most this many rows may turn figures into rows before stacking


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class FitTable:
    """A table that fits any width by switching layout, never by cutting a cell.

    `columns`: names; `rows`: lists of plain values (numbers are formatted by
    `engine.numbers`, with the unit a column's name gives); `title`/`note` are drawn above
    and below. The first column names each row. `transpose=False` keeps rows as rows (a
    listing such as `pttui runs`, whose rows are items, not variants to compare).
    """

    def __init__(
        self,
        columns: Sequence[Any],
        rows: Sequence[Sequence[Any]],
        title: str = "",
        note: str = "",
        transpose: bool = True,
    ):
        self.columns = [str(c) for c in columns]
        widest = max((len(r) for r in rows), default=0)
        self.columns += [""] * (widest - len(self.columns))  # a row longer than its header still shows
        n = len(self.columns)
        self.numeric = [
            all(is_number(r[i]) for r in rows if i < len(r) and r[i] is not None) for i in range(n)
        ]
        self.cells = [
            [_cell(self.columns[i] if i < n else "", v) for i, v in enumerate(row)] + [""] * (n - len(row))
            for row in rows
        ]
        self.title = title
        self.note = note
        self.transpose = transpose
        self.two_line_headers = True  # a transposed table keeps its headers (row names) whole

    # -- the three layouts ---------------------------------------------------------------
    def table(
        self,
        two_line_headers: bool = False,
        wrap: int | None = None,
        blank: bool = False,
        wrap_all: bool = False,
    ) -> Table:
        """The table; `wrap` is the index of one text column whose cells may wrap over lines
        (at least WRAP_MIN wide); every other cell stays on one line. `blank` empties that
        column (to measure what the others take). `wrap_all`: every column but the first
        wraps at spaces, never narrower than its header (a transposed table's variants)."""
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1),
            header_style="bold",
            expand=False,
        )
        for i, (name, right) in enumerate(zip(self.columns, self.numeric, strict=True)):
            header = _two_lines(name) if two_line_headers else name
            if i == wrap:
                table.add_column(
                    Text("" if blank else header), overflow="fold", min_width=0 if blank else WRAP_MIN
                )
            elif wrap_all and i > 0:
                table.add_column(
                    Text(header), justify="right" if right else "left", overflow="fold", min_width=len(header)
                )
            else:
                table.add_column(Text(header), justify="right" if right else "left", no_wrap=True)
        for row in self.cells:  # Text, never markup: a value such as "[fc.weight]" is data
            table.add_row(*(Text("" if blank and i == wrap else cell) for i, cell in enumerate(row)))
        return table

    def stacked(self, width: int) -> Group:
        keys = self.columns[1:]
        key_w = min(max((len(k) for k in keys), default=0), max(width // 2, 8))
        parts: list[Any] = []
        for row in self.cells:
            name = Text(row[0] if row else "", style="bold")
            if self.columns:
                name = Text.assemble((f"{self.columns[0]} ", "dim"), (row[0] if row else "", "bold"))
            parts.append(name)
            grid = Table.grid(padding=(0, 2), pad_edge=False)
            grid.add_column(width=key_w, style="dim", overflow="fold")
            grid.add_column(overflow="fold")
            for key, value in zip(keys, row[1:], strict=False):
                grid.add_row(Text(key), Text(value))
            parts.append(grid)
        return Group(*parts)

    def natural_width(self, console: Console, options: ConsoleOptions) -> int:
        return Measurement.get(console, options.update(width=10_000), self.table()).maximum

    def layout(self, console: Console, options: ConsoleOptions) -> Any:
        """The layout for `options.max_width`: table, table with two-line headers, the table
        with its widest text column wrapped (a long sentence beside short figures), then with
        its row names wrapped; then, for a few rows of many figures, the same transposed; or
        stacked."""
        fitted = self.fitted(console, options)
        if fitted is None and self.transposable():
            fitted = self.transposed().fitted(console, options)
        return fitted if fitted is not None else self.stacked(options.max_width)

    def fitted(self, console: Console, options: ConsoleOptions) -> Table | None:
        """The first table layout that fits `options.max_width`, or None (it would stack)."""
        width = options.max_width
        wide = options.update(width=10_000)
        for two in (False, True)[: 2 if self.two_line_headers else 1]:
            table = self.table(two)
            if Measurement.get(console, wide, table).maximum <= width:
                return table
        widest = self._widest_text_column(console, wide)
        # The names wrapped before the rows stack: a property/value table of short values
        # (`bytes (numel × element size)`, 96) loses 2 columns to a scrollbar and stays a table.
        for wrap in dict.fromkeys(c for c in (widest, self._wrappable_names(console, wide)) if c is not None):
            for two in (False, True)[: 2 if self.two_line_headers else 1]:
                # Every other column whole, and the wrapped one at least WRAP_MIN wide (and as
                # wide as its longest word): rich would otherwise cut the others with "…".
                rest = Measurement.get(console, wide, self.table(two, wrap, blank=True)).maximum
                words = max(
                    (len(word) for row in self.cells for word in row[wrap].split()),
                    default=0,
                )
                if rest + max(WRAP_MIN, words) <= width:
                    return self.table(two, wrap)
        if not self.two_line_headers:  # transposed: the variants' cells wrap at spaces, side by side
            table = self.table(wrap_all=True)
            if Measurement.get(console, wide, table).minimum <= width:
                return table
        return None

    def transposable(self) -> bool:
        """A few named rows with more figures than rows: a comparison of variants."""
        rows = len(self.cells)
        return (
            self.transpose
            and 2 <= rows <= TRANSPOSE_ROWS
            and len(self.columns) - 1 > rows
            and not self.numeric[0]
            and all(row[0] for row in self.cells)
        )

    def transposed(self) -> FitTable:
        """The figures as rows, the rows' names as the header (after the first column's name)."""
        flipped = FitTable(
            [self.columns[0], *(row[0] for row in self.cells)],
            [[name, *(row[i] for row in self.cells)] for i, name in enumerate(self.columns) if i > 0],
        )
        flipped.numeric = [False] + [any(self.numeric[1:])] * len(self.cells)  # figures right-aligned
        flipped.two_line_headers = False
        return flipped

    def _wrappable_names(self, console: Console, options: ConsoleOptions) -> int | None:
        """0 when the first column is text with a cell wider than WRAP_MIN, else None."""
        if not self.columns or self.numeric[0]:
            return None
        widest = max(
            (console.measure(Text(row[0]), options=options).maximum for row in self.cells), default=0
        )
        return 0 if widest > WRAP_MIN else None

    def _widest_text_column(self, console: Console, options: ConsoleOptions) -> int | None:
        """The text column (never the first, which names the row) with the longest cell."""
        widths = {
            i: max((console.measure(Text(row[i]), options=options).maximum for row in self.cells), default=0)
            for i in range(1, len(self.columns))
            if not self.numeric[i]
        }
        if not widths:
            return None
        best = max(widths, key=lambda i: widths[i])
        return best if widths[best] > WRAP_MIN else None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.title:
            yield Text(self.title, style="bold")
        yield self.layout(console, options)
        if self.note:
            yield Text(self.note, style="dim")

    def plain_text(self) -> str:
        """Every header and cell, tab-separated, one row a line (for tests and copying)."""
        lines = [self.title] if self.title else []
        lines += ["\t".join(row) for row in [self.columns, *self.cells]]
        return "\n".join(lines)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        natural = self.natural_width(console, options)
        return Measurement(min(natural, 20), max(natural, len(self.title)))


def _cell(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    return numbers.field(column, value)  # nested values inline: `[[1, 2], [3, 4]]`, `a=1, b=2`


def _two_lines(name: str) -> str:
    """Break a header at the space nearest its middle (`max abs logit diff` -> two lines)."""
    spaces = [i for i, c in enumerate(name) if c == " "]
    if not spaces:
        return name
    mid = len(name) / 2
    cut = min(spaces, key=lambda i: abs(i - mid))
    return name[:cut] + "\n" + name[cut + 1 :]


def body_blocks(body: str) -> list[tuple[bool, str]]:
    """Split a text body into (preformatted, text) blocks, in order.

    Paragraphs are separated by blank lines; one is preformatted when any of its lines has
    box drawing, aligned columns (two spaces between words) or a tensor preview. Everything
    else is prose, which wraps to the width it gets.
    """
    blocks: list[tuple[bool, str]] = []
    for para in re.split(r"\n\s*\n", body.strip("\n")):
        pre = any(_PRE.search(line) for line in para.splitlines())
        if blocks and blocks[-1][0] == pre:
            blocks[-1] = (pre, blocks[-1][1] + "\n\n" + para)
        else:
            blocks.append((pre, para))
    return blocks


def result_tables(result: dict[str, Any]) -> list[FitTable]:
    """A run's final figures as tables: the flat figures first (name, value), then one small
    table per nested figure, titled by its key. No reprs."""
    flat = [[k, numbers.field(k, v)] for k, v in result.items() if not numbers.nested(v, k)]
    tables = [FitTable(["figure", "value"], flat)] if flat else []
    for key, value in result.items():
        if numbers.nested(value, key):
            columns, rows = numbers.as_rows(key, value)
            tables.append(FitTable(columns, rows, title="" if columns[0] == key else key))
    return tables


def tree_refs(root: dict[str, Any]) -> set[str]:
    """The ids that some node of a tree points back to (`ref`): only those get their id shown,
    so every "see n7" names an id that is on the screen."""
    refs: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.get("ref") is not None:
            refs.add(str(node["ref"]))
        stack.extend(node.get("children") or [])
    return refs


def tree_label(node: dict[str, Any], refs: set[str]) -> Text:
    """A tree node's one line: label, dimmed detail, its id when something refers to it, and
    for a node drawn elsewhere, the id to look for."""
    label = Text(str(node.get("label", "?")))
    if node.get("detail"):
        label.append(f"  {node['detail']}", style="dim")
    if node.get("id") is not None and str(node["id"]) in refs and node.get("ref") is None:
        label.append(f"  [{node['id']}]", style="bold cyan")
    if node.get("ref") is not None:
        label.append(f"  → see [{node['ref']}] above", style="italic dim")
    return label
