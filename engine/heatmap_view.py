"""Draws a `heatmap` event (a decision boundary) as coloured Rich Text: torch-free, thread-safe.

Both the headless printer and the app's boundary panel draw with this. Each terminal cell
shows two grid rows with an upper half block (foreground = top, background = bottom), so a
40x40 grid fits 40 columns by 20 lines. A cell's colour is its class's, blended towards the
background where the model is unsure (TF Playground's pale margins). Training points are
drawn as "●", validation points as "◆", in their true class's full colour on a cell of the
background (TF Playground rings its points in white for the same reason: contrast).

Why not plotext: plotext 5.3.2's heatmap is grayscale and plotext 6's colour maps are
continuous; a class map needs one hue per class and a lightness per confidence, which half
blocks give directly at two samples per cell (plotext draws one).
"""

from __future__ import annotations

from rich.color import Color
from rich.style import Style
from rich.text import Text

# TF Playground's orange and blue first, then distinct hues for more classes.
CLASS_COLORS = ("#f59322", "#0877bd", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#17becf")
TRAIN_MARK, VAL_MARK = "●", "◆"
# One glyph per class for terminals without colour (NO_COLOR): there every class's hue turns a
# near-identical grey, so the shape of the cell tells the classes apart instead.
CLASS_GLYPHS = ("░", "▓", "▒", "█", "╳", "┼", "○", "≡")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _rgb(color: str) -> tuple[int, int, int]:
    t = Color.parse(color).get_truecolor()
    return t.red, t.green, t.blue


def _blend(a: tuple[int, int, int], b: tuple[int, int, int], k: float) -> str:
    r, g, bl = (round(x + (y - x) * k) for x, y in zip(a, b, strict=True))
    return f"#{r:02x}{g:02x}{bl:02x}"


def cell_colors(background: str = "#1e1e1e") -> dict[tuple[int, int], str]:
    """(class, confidence digit) -> hex colour: full class colour at 9, mostly background at 0."""
    bg = _rgb(background)
    return {
        (c, level): _blend(bg, _rgb(CLASS_COLORS[c % len(CLASS_COLORS)]), 0.18 + 0.62 * level / 9)
        for c in range(36)
        for level in range(10)
    }


def cells(
    event,
    points: list[list[float]],
    width: int,
    height: int,
    background: str = "#1e1e1e",
    glyphs: bool = False,
):
    """The map resampled to `width` x `height` cells (each cell two grid rows), points on top:
    one list per line of runs [text, Style], neighbours of one style merged.

    `event` is an `events.Heatmap` (or anything with its fields); `points` the latest points
    sent ([x, y, class, split]). `glyphs`: each cell is its upper grid row's class glyph
    (CLASS_GLYPHS) instead of a half block, for terminals without colour.
    """
    width, height = max(width, 4), max(height, 2)
    gw, gh = event.width, event.height
    classes, confidence = event.classes, event.confidence
    colors = cell_colors(background)
    cols = [min(col * gw // width, gw - 1) for col in range(width)]
    # One colour per grid cell, looked up once; then each terminal cell picks two of them.
    grid = [colors[(max(_DIGITS.find(classes[i]), 0), int(confidence[i]))] for i in range(gw * gh)]
    shapes = [CLASS_GLYPHS[max(_DIGITS.find(c), 0) % len(CLASS_GLYPHS)] for c in classes] if glyphs else []

    marks: dict[tuple[int, int], tuple[str, str]] = {}
    (x0, x1), (y0, y1) = event.x_range, event.y_range
    for x, y, cls, split in points:
        col = int((x - x0) / (x1 - x0) * width) if x1 > x0 else 0
        line = int((y1 - y) / (y1 - y0) * height) if y1 > y0 else 0
        if 0 <= col < width and 0 <= line < height:
            mark = VAL_MARK if split else TRAIN_MARK
            if marks.get((line, col), ("", ""))[0] != VAL_MARK:  # validation points stay visible
                marks[(line, col)] = (mark, CLASS_COLORS[int(cls) % len(CLASS_COLORS)])
    styles: dict[tuple[str, str, bool], Style] = {}
    lines = []
    for line in range(height):
        top_row = min(2 * line * gh // (2 * height), gh - 1) * gw
        bottom_row = min((2 * line + 1) * gh // (2 * height), gh - 1) * gw
        runs: list[list] = []
        for col in range(width):
            mark = marks.get((line, col))
            if mark is not None:  # on the page's own background: a dot on its own class's hue would vanish
                key, char = (mark[1], background, True), mark[0]
            else:
                key = (grid[top_row + cols[col]], grid[bottom_row + cols[col]], False)
                char = shapes[top_row + cols[col]] if glyphs else "▀"
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(color=key[0], bgcolor=key[1], bold=key[2])
            if runs and runs[-1][1] is style and (not glyphs or runs[-1][0][-1] == char):
                runs[-1][0] += char
            else:
                runs.append([char, style])
        lines.append(runs)
    return lines


def render(
    event,
    points: list[list[float]],
    width: int,
    height: int,
    background: str = "#1e1e1e",
    glyphs: bool = False,
) -> Text:
    """`cells` as one Rich Text (the headless printer prints it)."""
    text = Text()
    for n, runs in enumerate(cells(event, points, width, height, background, glyphs)):
        if n:
            text.append("\n")
        for chars, style in runs:
            text.append(chars, style)
    return text


def legend_items(n_classes: int, glyphs: bool = False) -> list[Text]:
    """The legend's items, each to be kept whole: a class's colour (or glyph, see `cells`) and
    number, then what the point marks and the pale cells mean."""
    items = []
    for c in range(n_classes):
        swatch = CLASS_GLYPHS[c % len(CLASS_GLYPHS)] if glyphs else "■"
        item = Text(swatch, Style(color=CLASS_COLORS[c % len(CLASS_COLORS)]))
        item.append(f" {c}")
        items.append(item)
    items += [Text(f"{TRAIN_MARK} train"), Text(f"{VAL_MARK} validation"), Text("pale: unsure")]
    return items


def legend(n_classes: int, glyphs: bool = False) -> Text:
    """One line: each class's colour (or glyph), then what the point marks mean."""
    return Text("  ").join(legend_items(n_classes, glyphs))
