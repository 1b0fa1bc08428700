"""`python -m pttui.tui.screenshots`: pictures of the app made by the app, from real runs.

Runs the app headless, trains and inspects for real (engine child processes, nothing
faked), and saves what the screen shows as SVG into screenshots/, plus PNG where
`rsvg-convert` (Debian: librsvg2-bin) is on the PATH: it renders Textual's SVG with aligned
columns. Rerun it after changing how the app looks; the README embeds the PNGs.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pttui.tui.app import PlaygroundApp
from pttui.tui.screens.topic import TopicScreen

OUT = Path(__file__).resolve().parent.parent / "screenshots"
TRAIN = {"dataset": "digits", "epochs": 15, "hidden": (128, 64), "threads": 1}


async def _settle(pilot, screen: TopicScreen, timeout: float = 180) -> None:
    """Wait for the run to end and the chart to show the final data."""
    deadline = time.monotonic() + timeout
    while screen.child is not None or not screen.results.chart.settled:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{screen.lab.name} did not finish in {timeout} s")
        await pilot.pause(0.1)
    await pilot.pause(0.3)


async def _run(
    pilot, topic: str, values: dict[str, Any] | None = None, tab: str | None = None
) -> TopicScreen:
    app = pilot.app
    screen = app.open_topic(topic)
    await screen.wait_built()  # its fields and tabs mount after its first frame
    if values:
        screen.form.set_values(values)
    await pilot.pause(0.2)
    screen.action_run()
    await _settle(pilot, screen)
    if tab:
        screen.results.show_tab(tab)
        await pilot.pause(0.3)
    return screen


async def home(pilot) -> None:
    await pilot.pause(0.2)


async def training(pilot) -> None:
    """Two runs of the training loop: the first, dimmed, against a higher learning rate."""
    await _run(pilot, "training", {**TRAIN, "lr": 0.001})
    await _run(pilot, "training", {**TRAIN, "lr": 0.01})


async def training_code(pilot) -> None:
    screen = pilot.app.open_topic("training")
    await screen.wait_built()
    screen.form.set_values({**TRAIN, "lr": 0.01})
    await pilot.pause(0.5)
    screen.results.show_tab("code")
    await pilot.pause(0.3)


SPIRAL = {"dataset": "spiral", "epochs": 80, "hidden": (32, 32), "histograms": 5, "threads": 1, "lr": 0.01}


async def spiral_boundary(pilot) -> None:
    """The decision boundary of a spiral, learned live, beside its loss curve."""
    await _run(pilot, "training", SPIRAL)


async def spiral_histograms(pilot) -> None:
    await _run(pilot, "training", SPIRAL, tab="histograms")


async def digits_confusion(pilot) -> None:
    """The digits' confusion matrix after training, in the Tables tab."""
    await _run(pilot, "training", TRAIN, tab="tables")


async def autograd(pilot) -> None:
    await _run(pilot, "autograd", tab="graph")


async def amp(pilot) -> None:
    await _run(pilot, "amp", tab="tables")


SHOTS: dict[str, tuple[tuple[int, int], Callable[[Any], Awaitable[None]]]] = {
    "home": ((100, 30), home),
    "training": ((120, 36), training),
    "training-80x24": ((80, 24), training),
    "code": ((120, 36), training_code),
    "autograd-graph": ((120, 36), autograd),
    "spiral-boundary": ((120, 36), spiral_boundary),
    "histograms": ((120, 36), spiral_histograms),
    "confusion": ((120, 36), digits_confusion),
    "amp-tables": ((120, 36), amp),
}


async def shoot(name: str, out: Path) -> Path:
    size, action = SHOTS[name]
    app = PlaygroundApp()
    async with app.run_test(size=size) as pilot:
        await action(pilot)
        path = out / f"{name}.svg"
        app.save_screenshot(str(path.name), str(out))
    return path


_LEADING = re.compile(
    r'(<text [^>]*?x=")([\d.]+)("[^>]*?textLength=")([\d.]+)("[^>]*>)((?:&#160;)+)([^<]*</text>)'
)


def _shift_leading_spaces(svg: str) -> str:
    """Move a text run's leading spaces into its x position.

    rsvg-convert (librsvg 2.54) lays out a <text> that starts with no-break spaces with the
    spaces at its end, so indented code loses its indentation in the PNG. Browsers are fine.
    """

    def fix(m: re.Match[str]) -> str:
        spaces = m.group(6).count("&#160;")
        rest = html.unescape(m.group(7)[: -len("</text>")])
        width = float(m.group(4)) / (spaces + len(rest))
        x = float(m.group(2)) + spaces * width
        length = float(m.group(4)) - spaces * width
        return f"{m.group(1)}{x:g}{m.group(3)}{length:g}{m.group(5)}{m.group(7)}"

    return _LEADING.sub(fix, svg)


def to_png(svg: Path) -> Path | None:
    converter = shutil.which("rsvg-convert")
    if converter is None:
        return None
    png = svg.with_suffix(".png")
    with tempfile.NamedTemporaryFile("w", suffix=".svg", encoding="utf-8", delete=False) as fixed:
        fixed.write(_shift_leading_spaces(svg.read_text(encoding="utf-8")))
    try:
        subprocess.run([converter, fixed.name, "-o", str(png)], check=True)
    finally:
        os.unlink(fixed.name)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pttui.tui.screenshots", description=__doc__.splitlines()[0]
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"which of {', '.join(SHOTS)} (default all)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder (default {OUT})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SHOTS]
    if unknown:
        parser.error(f"unknown screenshot {', '.join(unknown)}; choose from {', '.join(SHOTS)}")
    # The runs these pictures make are not worth keeping: record them in a temporary folder.
    os.environ.setdefault("PTTUI_RUNS_DIR", tempfile.mkdtemp(prefix="pttui-screenshots-"))
    args.out.mkdir(parents=True, exist_ok=True)
    if shutil.which("rsvg-convert") is None:
        print("rsvg-convert not found: SVG only (apt-get install librsvg2-bin for PNG)", file=sys.stderr)
    for name in args.names or list(SHOTS):
        started = time.perf_counter()
        svg = asyncio.run(shoot(name, args.out))
        png = to_png(svg)
        shown = f"{svg}" + (f" and {png.name}" if png else "")
        print(f"{name}: {shown} ({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
